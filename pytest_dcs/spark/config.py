"""What an engine is: its master, its Spark conf, and the checks of both before a JVM starts."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pytest_dcs.rungs import Engine

if TYPE_CHECKING:
    pass


LOOPBACK = "127.0.0.1"
LOOPBACK_HOSTS = frozenset({LOOPBACK, "localhost", "::1"})

# "stopped": its SparkContext was stopped (spark.stop(), or in the JVM); "jvm_gone": the JVM died.
SessionState = Literal["live", "stopped", "jvm_gone"]

# JVMs that live for one run, where a fast start beats peak speed (C1 only, serial GC). And let
# the JIT compile Spark's generated methods over HotSpot's 8000-byte limit: a wide aggregate (the
# survey of a tiny sample, hundreds of columns) otherwise runs interpreted, measured 1.5-2x slower.
JVM_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-DontCompileHugeMethods"
# Test-sized defaults of a classic session; anything in dcs_spark_conf wins.
BASE_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.extraJavaOptions": JVM_OPTS,
    # A data error fails the same way every time: retrying only quadruples its cost. (Executors
    # lost for reasons outside the task do not count as failures.)
    "spark.task.maxFailures": "1",
    # A killed task (a cancelled job, a failed stage's siblings) holds its core until its Python
    # worker is killed: 2 s after Spark notices by default, at once with this.
    "spark.python.task.killTimeout": "0s",
    # Python workers talk to their JVM over a Unix socket, not TCP on loopback: each Python task
    # otherwise waits out a TCP delayed ACK, ~40 ms a task (20 one-row tasks: 0.58 s against
    # 0.16 s in local[2], 0.70 s against 0.31 s in local-cluster). Big jobs run as fast either way.
    "spark.python.unix.domain.socket.enabled": "true",
}
# The Python daemon of executors on this machine (`pytest_dcs.spark.quiet_daemon`).
QUIET_DAEMON = "pytest_dcs.spark.quiet_daemon"
# Executors on this machine: the driver's options.
EXECUTOR_OPTS = JVM_OPTS
# A Spark Connect session can set only runtime SQL confs; the server owns the rest.
CONNECT_CONF: dict[str, str] = {
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.session.timeZone": "UTC",
}
CONNECT_DEFAULT_PORT = 15002
CONNECT_PROBE_SECONDS = 10.0
PROXY_VARS = ("grpc_proxy", "https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY")
# What makes pyspark.sql.functions and friends build Spark Connect objects (`is_remote()`).
CONNECT_MODE_VAR = "SPARK_CONNECT_MODE_ENABLED"
CONNECT_CLIENT_HINT = (
    "the Spark Connect client needs pandas, pyarrow, grpcio, grpcio-status, "
    "googleapis-common-protos and zstandard: pip install 'pytest-dcs[connect]'"
)


# Parameters of an sc:// URL that hold credentials, e.g. a Databricks personal access token.
_SECRET_PARAM = re.compile(r"(?<=;)(token|password|secret)=[^;/\s]*", re.IGNORECASE)


class EngineError(RuntimeError):
    """An engine that cannot start; the message says why and what to do."""


def is_connect(master: str) -> bool:
    return master.startswith("sc://")


def redact(text: str) -> str:
    """`text` with the secrets a Spark Connect URL may carry (`;token=...`) replaced."""
    return _SECRET_PARAM.sub(lambda m: f"{m.group(1)}=<redacted>", text)


def master_hosts(master: str) -> tuple[str, ...]:
    """The hosts a `spark://` (several for a standby master) or `sc://` URL names; else ()."""
    scheme, sep, rest = master.partition("://")
    if not sep or scheme not in ("spark", "sc"):
        return ()
    hosts = []
    for address in rest.split("/", 1)[0].split(","):
        host = urlsplit(f"{scheme}://{address}").hostname
        if host:
            hosts.append(host)
    return tuple(hosts)


def runs_on_this_machine(master: str) -> bool:
    """True for local masters and for clusters whose master listens on a loopback address.

    Their executors share this machine with the driver: they can reach it on the loopback
    address and run its Python interpreter.
    """
    if master.startswith("local"):
        return True
    hosts = master_hosts(master)
    return bool(hosts) and all(h in LOOPBACK_HOSTS for h in hosts)


def java_problem() -> str | None:
    """Why Spark cannot start a JVM here, or None when Java looks usable."""
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
        return (
            "Java was not found (Spark needs Java 17 or 21). Install it, for example "
            "'apt-get install openjdk-17-jre-headless', or set JAVA_HOME."
        )
    return None


@dataclass
class EngineConfig:
    """Masters and extra configuration of the two engines."""

    local_master: str
    cluster_master: str
    spark_conf: Mapping[str, str] = field(default_factory=dict)
    ship: tuple[Path, ...] = ()

    def master(self, engine: Engine) -> str:
        return self.local_master if engine == "local" else self.cluster_master

    def conf(self, engine: Engine) -> dict[str, str]:
        """The Spark configuration a session of `engine` starts with."""
        master = self.master(engine)
        if is_connect(master):
            return {**CONNECT_CONF, **self.spark_conf}
        conf = {"spark.master": master, "spark.app.name": f"pytest-dcs-{engine}", **BASE_CONF}
        if runs_on_this_machine(master):
            # Nothing leaves the machine; a remote cluster's executors need a reachable driver.
            conf["spark.driver.host"] = LOOPBACK
            conf["spark.driver.bindAddress"] = LOOPBACK
            conf["spark.executor.extraJavaOptions"] = EXECUTOR_OPTS
        if engine == "local":
            # Python workers of the local engine see what the test sees (sys.path at start).
            conf["spark.executorEnv.PYTHONPATH"] = os.pathsep.join(
                p for p in sys.path if p and os.path.exists(p)
            )
        if runs_on_this_machine(master) and _executors_import_us(engine):
            conf["spark.python.daemon.module"] = QUIET_DAEMON
        if not _arrow_available():
            # Without pyarrow Spark falls back anyway; say so once here instead of per UDF.
            conf["spark.sql.execution.pythonUDF.arrow.enabled"] = "false"
        conf.update(self.spark_conf)
        return conf


def _executors_import_us(engine: Engine) -> bool:
    """Whether executors' Python workers on this machine can import this package: they run the
    driver's interpreter (`worker_python`), and see its sys.path (the local engine) or find the
    package installed in it without (checked once, in a child interpreter)."""
    python = os.environ.get("PYSPARK_PYTHON")
    if python is not None and os.path.realpath(python) != os.path.realpath(sys.executable):
        return False
    return engine == "local" or _installed()


@functools.cache
def _installed() -> bool:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", f"import {QUIET_DAEMON}"],
            env=env,
            cwd=tempfile.gettempdir(),
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _arrow_available() -> bool:
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def jvm_environment(conf: Mapping[str, str]) -> Iterator[None]:
    """The environment a JVM is launched in: without PYTHONPATH (its executors must not inherit
    the driver's), and, for a session kept on this machine, with SPARK_LOCAL_IP on loopback
    unless set: local-cluster workers and executors bind by it, not by the driver's conf."""
    saved = os.environ.pop("PYTHONPATH", None)
    pinned = conf.get("spark.driver.bindAddress") == LOOPBACK and "SPARK_LOCAL_IP" not in os.environ
    if pinned:
        os.environ["SPARK_LOCAL_IP"] = LOOPBACK
    try:
        yield
    finally:
        if saved is not None:
            os.environ["PYTHONPATH"] = saved
        if pinned:
            os.environ.pop("SPARK_LOCAL_IP", None)


@contextlib.contextmanager
def worker_python(master: str) -> Iterator[None]:
    """Python workers on this machine run the driver's interpreter (and so its installed packages).

    PySpark reads PYSPARK_PYTHON when a context starts (`spark.pyspark.python` is not consulted
    there), defaulting to whatever `python3` is on PATH.
    """
    if not runs_on_this_machine(master) or "PYSPARK_PYTHON" in os.environ:
        yield
        return
    os.environ["PYSPARK_PYTHON"] = sys.executable
    try:
        yield
    finally:
        os.environ.pop("PYSPARK_PYTHON", None)
