"""Spark Connect sessions: telling one apart, probing the server, starting a client."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pytest_dcs.spark.config import (
    CONNECT_CLIENT_HINT,
    CONNECT_DEFAULT_PORT,
    CONNECT_MODE_VAR,
    CONNECT_PROBE_SECONDS,
    PROXY_VARS,
    EngineError,
    redact,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def is_connect_session(session: SparkSession) -> bool:
    return type(session).__module__.startswith("pyspark.sql.connect")


def connect_unreachable(url: str, timeout: float = CONNECT_PROBE_SECONDS) -> str | None:
    """Why nothing answers at a Spark Connect URL's address, or None when something does.

    The client retries an unreachable server for about ten minutes (a remote cluster may be
    starting); a refused connection is told at once instead. Behind a proxy the client's own
    connection is the only test, so there is no probe then.
    """
    if any(os.environ.get(var) for var in PROXY_VARS):
        return None
    parts = urlsplit(url.split(";", 1)[0])
    host, port = parts.hostname, parts.port or CONNECT_DEFAULT_PORT
    if not host:
        return (
            f"--dcs-cluster={redact(url)}: no host in the Spark Connect URL; write sc://host:port"
        )
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return (
            f"--dcs-cluster={redact(url)}: no Spark Connect server answers at {host}:{port} "
            f"({exc.strerror or exc}); start one (sbin/start-connect-server.sh) or fix the URL"
        )


def start_connect(url: str, conf: Mapping[str, str], shipped: list[Path]) -> SparkSession:
    """A new Spark Connect session on `url`, with `shipped` files added as Python artifacts.

    The server owns the engine: nothing is launched here, and Java is not needed.
    """
    try:
        from pyspark.sql.connect.session import SparkSession as ConnectSession
    except ImportError as exc:
        raise EngineError(f"--dcs-cluster={redact(url)}: {CONNECT_CLIENT_HINT} ({exc})") from None
    problem = connect_unreachable(url)
    if problem:
        raise EngineError(problem)
    builder = ConnectSession.builder.remote(url)
    for key, value in conf.items():
        builder = builder.config(key, value)
    # pyspark's own builder sets this too: functions, UDFs and Columns are built for Connect
    # from now on, until the session is stopped (see `Engines.stop`).
    os.environ[CONNECT_MODE_VAR] = "1"
    try:
        session = builder.create()  # sets the conf: the first call to the server
        for path in shipped:
            session.addArtifacts(str(path), pyfile=True)
    except BaseException:
        os.environ.pop(CONNECT_MODE_VAR, None)
        raise
    # A Connect session stands in for a classic one: the same DataFrame API.
    return session  # type: ignore[return-value]
