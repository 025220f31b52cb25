"""The two engines a ladder runs on, and the one SparkSession that is alive at a time.

PySpark allows one SparkContext per process, so switching engines means stopping one session and
starting another (11-14 s into `local-cluster` on a 2-core machine). The plugin orders items so
that each engine is started at most once per process; `Engines.starts` counts, and the report
shows the count.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pytest_dcs.rungs import Engine
from pytest_dcs.ship import ShipError, py_files

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LOOPBACK = "127.0.0.1"

# "stopped": its SparkContext was stopped (spark.stop(), or in the JVM); "jvm_gone": the JVM died.
SessionState = Literal["live", "stopped", "jvm_gone"]

# Test-sized defaults; anything in dcs_spark_conf wins.
BASE_CONF: dict[str, str] = {
    "spark.driver.host": LOOPBACK,
    "spark.driver.bindAddress": LOOPBACK,
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
}
LOCAL_CLUSTER_EXECUTOR_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


class EngineError(RuntimeError):
    """An engine that cannot start; the message says why and what to do."""


def is_local_cluster(master: str) -> bool:
    return master.startswith("local-cluster")


def is_connect(master: str) -> bool:
    return master.startswith("sc://")


def runs_on_this_machine(master: str) -> bool:
    return master.startswith("local")


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
        conf = {"spark.master": master, "spark.app.name": f"pytest-dcs-{engine}", **BASE_CONF}
        if runs_on_this_machine(master):
            # A data error fails the same way every time: retrying only quadruples its cost.
            conf["spark.task.maxFailures"] = "1"
            # A killed task (a cancelled job, a failed stage's siblings) holds its core until its
            # Python worker is killed: 2 s after Spark notices by default, at once with this.
            conf["spark.python.task.killTimeout"] = "0s"
        if is_local_cluster(master):
            conf["spark.executor.extraJavaOptions"] = LOCAL_CLUSTER_EXECUTOR_OPTS
        if engine == "local":
            # Python workers of the local engine see what the test sees (sys.path at start).
            conf["spark.executorEnv.PYTHONPATH"] = os.pathsep.join(
                p for p in sys.path if p and os.path.exists(p)
            )
        if not _arrow_available():
            # Without pyarrow Spark falls back anyway; say so once here instead of per UDF.
            conf["spark.sql.execution.pythonUDF.arrow.enabled"] = "false"
        conf.update(self.spark_conf)
        return conf


def _arrow_available() -> bool:
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def _without_pythonpath() -> Iterator[None]:
    """Hide PYTHONPATH from a JVM being launched: its executors must not inherit the driver's."""
    saved = os.environ.pop("PYTHONPATH", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["PYTHONPATH"] = saved


@contextlib.contextmanager
def _worker_python(master: str) -> Iterator[None]:
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


class Engines:
    """Starts, switches and stops the SparkSessions of the run, one alive at a time."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.starts: Counter[str] = Counter()
        self.start_seconds: dict[str, float] = {}
        self._engine: Engine | None = None
        self._session: SparkSession | None = None
        self._launched_jvm = False
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
        problem = java_problem()
        if problem:
            raise EngineError(problem)
        from pyspark.sql import SparkSession

        master = self.config.master(engine)
        builder = SparkSession.builder
        if is_connect(master):
            builder = builder.remote(master)
            conf = {k: v for k, v in self.config.conf(engine).items() if k != "spark.master"}
        else:
            conf = self.config.conf(engine)
        for key, value in conf.items():
            builder = builder.config(key, value)
        # Only the cluster engine: the local engine's workers see the driver's sys.path.
        # Spark Connect would need spark.addArtifacts(..., pyfile=True); not done yet.
        shipped = self._py_files() if engine == "cluster" and not is_connect(master) else []
        began = time.perf_counter()
        try:
            if not is_connect(master):
                self._launched_jvm |= _launch_jvm(conf)
            with _worker_python(master):
                session = builder.getOrCreate()
        except Exception as exc:
            raise EngineError(
                f"The {engine} engine ({master}) did not start: {type(exc).__name__}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            ) from exc
        if not is_connect(master):
            session.sparkContext.setLogLevel("ERROR")
            for path in shipped:
                session.sparkContext.addPyFile(str(path))
        _warm_up(session)
        self.starts[engine] += 1
        self.start_seconds[engine] = self.start_seconds.get(engine, 0.0) + (
            time.perf_counter() - began
        )
        return session

    def _py_files(self) -> list[Path]:
        """The `dcs_ship` paths as addPyFile takes them, directories zipped once per run."""
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
            with contextlib.suppress(Exception):
                session.stop()
        _forget_dead_gateway()

    def shutdown(self) -> None:
        """Stop the session and end the JVM this run launched, so nothing outlives pytest."""
        self.stop()
        if self._launched_jvm:
            shutdown_gateway()
            self._launched_jvm = False
        if self._ship_dir is not None:
            shutil.rmtree(self._ship_dir, ignore_errors=True)
            self._ship_dir = self._shipped = None


def _warm_up(session: SparkSession) -> None:
    """Run a job with a Python UDF and a shuffle on every core, so that the first test on the
    engine does not pay for starting Python workers and compiling the JVM's hot paths (its
    time is the fixed overhead `slowdown` subtracts). It costs 1-2 s once per engine start."""
    from pyspark.sql import functions as F

    try:
        cores = max(2, int(session.conf.get("spark.default.parallelism", "2") or 2))
    except Exception:
        cores = 2
    plus_one = F.udf(lambda v: v + 1, "long")  # a lambda: pickled by value, imports nothing
    with contextlib.suppress(Exception):  # the first test will tell what is wrong
        session.range(0, 4000, 1, cores * 2).select(plus_one("id").alias("v")).groupBy(
            (F.col("v") % 7).alias("k")
        ).count().collect()


def _jvm_level(key: str) -> bool:
    return key.startswith(("spark.driver.", "spark.jars")) and key not in (
        "spark.driver.host",
        "spark.driver.bindAddress",
    )


def _launch_jvm(conf: Mapping[str, str]) -> bool:
    """Start the gateway JVM with JVM-level options only; False if one is already up.

    spark-submit turns the first session's conf into JVM system properties, which every later
    SparkConf inherits: the local engine's PYTHONPATH would reach the cluster engine's executors.
    """
    from pyspark import SparkConf, SparkContext

    if SparkContext._gateway is not None:
        return False
    jvm_conf = SparkConf(loadDefaults=False)
    for key, value in conf.items():
        if _jvm_level(key):
            jvm_conf.set(key, value)
    with _without_pythonpath():
        SparkContext._ensure_initialized(conf=jvm_conf)
    return True


def session_state(session: SparkSession) -> SessionState:
    """Whether `session` can still run jobs; asks the JVM, and so costs one Py4J call."""
    sc = getattr(session, "_sc", None)
    if sc is None:  # Spark Connect: only the client side can be judged from here
        return "stopped" if getattr(session, "is_stopped", False) else "live"
    if _gateway_exited():
        return "jvm_gone"
    if sc._jsc is None:
        return "stopped"
    try:
        return "stopped" if sc._jsc.sc().isStopped() else "live"
    except Exception:  # Py4J cannot reach the JVM
        return "jvm_gone"


def _gateway_exited() -> bool:
    """True when the gateway JVM this process launched has exited."""
    if "pyspark" not in sys.modules:
        return False
    from pyspark import SparkContext

    proc = getattr(SparkContext._gateway, "proc", None)
    return proc is not None and proc.poll() is not None


def _forget_dead_gateway() -> None:
    """Drop PySpark's process-wide handles to a gateway JVM that died.

    PySpark keeps them in class attributes and would hand the dead gateway to every later
    SparkContext; without them the next session launches a new JVM.
    """
    if not _gateway_exited():
        return
    from pyspark import SparkContext
    from pyspark.sql import SparkSession, SQLContext

    with contextlib.suppress(Exception):
        SparkContext._gateway.shutdown()  # closes the Python side's sockets
    SparkContext._gateway = None
    SparkContext._jvm = None
    SparkContext._active_spark_context = None
    SparkSession._instantiatedSession = None
    SparkSession._activeSession = None
    SQLContext._instantiatedContext = None


def shutdown_gateway(timeout: float = 10.0) -> None:
    """End the Py4J gateway JVM this process launched (and with it any local-cluster workers)."""
    if "pyspark" not in sys.modules:
        return
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    if gateway is None:
        return
    proc: subprocess.Popen[bytes] | None = getattr(gateway, "proc", None)
    with contextlib.suppress(Exception):
        gateway.shutdown()
    SparkContext._gateway = None
    SparkContext._jvm = None
    if proc is None:
        return
    with contextlib.suppress(Exception):
        if proc.stdin:
            proc.stdin.close()  # the gateway server exits when its stdin closes
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
