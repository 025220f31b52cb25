"""The two engines a ladder runs on, and the one SparkSession that is alive at a time.

PySpark allows one SparkContext per process, so switching engines means stopping one session and
starting another (11-14 s into `local-cluster` on a 2-core machine). The plugin orders items so
that each engine is started at most once per process; `Engines.starts` counts, and the report
shows the count.

A Spark Connect engine (`sc://`) is a client session: nothing is launched here. It can follow a
classic session in the same process, as pyspark's Connect mode is switched on only while it is up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_dcs.rungs import Engine
from pytest_dcs.spark.config import (
    CONNECT_MODE_VAR,
    EngineConfig,
    EngineError,
    SessionState,
    is_connect,
    java_problem,
    redact,
    worker_python,
)
from pytest_dcs.spark.connect import is_connect_session, start_connect
from pytest_dcs.spark.gateway import (
    forget_dead_gateway,
    launch_jvm,
    quiet_lost_updates,
    session_state,
    shutdown_gateway,
    socket_folder,
    stop_python_daemons,
)
from pytest_dcs.spark.ship import ShipError, py_files
from pytest_dcs.spark.warmup import (
    EXECUTOR_WAIT_SECONDS,
    expected_executors,
    wait_for_executors,
    warm_up,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class Engines:
    """Starts, switches and stops the SparkSessions of the run, one alive at a time."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.starts: Counter[str] = Counter()
        self.start_seconds: dict[str, float] = {}
        # Per engine, what its last warm-up covered: executors registered (and expected), and the
        # executors' Python daemons that ran a task.
        self.warm_up: dict[str, dict[str, int]] = {}
        self._engine: Engine | None = None
        self._session: SparkSession | None = None
        self._launched_jvm = False
        self._jvm_tmp: Path | None = None
        self._dead_tmps: list[Path] = []
        self._ship_dir: Path | None = None
        self._shipped: list[Path] | None = None

    @property
    def active(self) -> Engine | None:
        return self._engine if self._session is not None else None

    @property
    def current(self) -> SparkSession | None:
        """The session that is up, if any, whatever its state."""
        return self._session

    def state(self) -> SessionState | None:
        """The state of the session that is up; None when there is none."""
        return session_state(self._session) if self._session is not None else None

    def session(self, engine: Engine) -> SparkSession:
        """The session of `engine`, starting it (and stopping the other) if needed.

        A session that was stopped, or whose JVM died, is replaced by a fresh one (and the JVM
        relaunched), so one test's panic does not fail the tests after it.
        """
        if self._engine == engine and self._session is not None and self.state() == "live":
            return self._session
        self.stop()
        self._session = self._start(engine)
        self._engine = engine
        return self._session

    def _start(self, engine: Engine) -> SparkSession:
        master = self.config.master(engine)
        # Only the cluster engine: the local engine's workers see the driver's sys.path.
        shipped = self._py_files() if engine == "cluster" else []
        began = time.perf_counter()
        try:
            if is_connect(master):
                session = start_connect(master, self.config.conf(engine), shipped)
            else:
                session = self._start_classic(master, self.config.conf(engine), shipped)
        except EngineError:
            raise
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise EngineError(
                redact(
                    f"The {engine} engine ({master}) did not start: {type(exc).__name__}: {first}"
                )
            ) from exc
        self.warm_up[engine] = self._warm(session, master)
        self.starts[engine] += 1
        self.start_seconds[engine] = self.start_seconds.get(engine, 0.0) + (
            time.perf_counter() - began
        )
        return session

    def _warm(self, session: SparkSession, master: str) -> dict[str, int]:
        """Wait for a classic cluster's executors, then warm the engine up: what it found."""
        expected = 0 if is_connect(master) else expected_executors(master, self.config.spark_conf)
        registered = 0
        if expected:
            with contextlib.suppress(Exception):  # the first test will tell what is wrong
                registered = wait_for_executors(session, expected, EXECUTOR_WAIT_SECONDS)
        daemons = warm_up(session, min(expected, registered))
        return {"executors": registered, "expected": expected, "python_daemons": len(daemons)}

    def _start_classic(
        self, master: str, conf: Mapping[str, str], shipped: list[Path]
    ) -> SparkSession:
        problem = java_problem()
        if problem:
            raise EngineError(problem)
        from pyspark.sql import SparkSession

        # A Spark Connect session before this one left pyspark in Connect mode.
        os.environ.pop(CONNECT_MODE_VAR, None)
        launched, tmp = launch_jvm(conf)
        if launched:
            self._launched_jvm, self._jvm_tmp = True, tmp
        sockets, folder = socket_folder(conf)
        if folder is not None:
            self._dead_tmps.append(folder)
        builder = SparkSession.builder
        for key, value in {**conf, **sockets}.items():
            builder = builder.config(key, value)
        with worker_python(master):
            session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        quiet_lost_updates(session)
        for path in shipped:
            session.sparkContext.addPyFile(str(path))
        return session

    def _py_files(self) -> list[Path]:
        """The `dcs_ship` paths as addPyFile and addArtifacts take them, directories zipped once."""
        if self._shipped is None and self.config.ship:
            self._ship_dir = Path(tempfile.mkdtemp(prefix="pytest-dcs-ship-"))
            try:
                self._shipped = py_files(self.config.ship, self._ship_dir)
            except (ShipError, OSError) as exc:
                raise EngineError(f"dcs_ship: {exc}") from exc
        return self._shipped or []

    def stop(self) -> None:
        """Stop the live session, if any; the JVM stays up for the next one, unless it died."""
        session, self._session, self._engine = self._session, None, None
        if session is not None:
            if not is_connect_session(session):
                stop_python_daemons()
            with contextlib.suppress(Exception):
                session.stop()
        if session is not None and is_connect_session(session):
            os.environ.pop(CONNECT_MODE_VAR, None)
        if forget_dead_gateway():
            self._launched_jvm = False
            self._remove_jvm_tmp()

    def _remove_jvm_tmp(self) -> None:
        """Delete the temporary folder of the JVM this run launched, once that JVM is gone:
        what a killed JVM left there, no shutdown hook deleted. Its executors may still be
        writing theirs while they notice: the folders are deleted again at shutdown."""
        if self._jvm_tmp is not None:
            self._dead_tmps.append(self._jvm_tmp)
            self._jvm_tmp = None
        for folder in self._dead_tmps:
            shutil.rmtree(folder, ignore_errors=True)

    def shutdown(self) -> None:
        """Stop the session and end the JVM this run launched, so nothing outlives pytest."""
        self.stop()
        if self._launched_jvm:
            shutdown_gateway()
            self._launched_jvm = False
        self._remove_jvm_tmp()
        if self._ship_dir is not None:
            shutil.rmtree(self._ship_dir, ignore_errors=True)
            self._ship_dir = self._shipped = None


# How long a starting cluster engine waits for its executors to register before the warm-up;
# a local-cluster executor JVM starts in 3-10 s on a loaded 2-core machine.
