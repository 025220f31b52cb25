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
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pytest_dcs.rungs import Engine
from pytest_dcs.spark.ship import ShipError, py_files

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LOOPBACK = "127.0.0.1"
LOOPBACK_HOSTS = frozenset({LOOPBACK, "localhost", "::1"})

# "stopped": its SparkContext was stopped (spark.stop(), or in the JVM); "jvm_gone": the JVM died.
SessionState = Literal["live", "stopped", "jvm_gone"]

# Test-sized defaults of a classic session; anything in dcs_spark_conf wins.
BASE_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    # A data error fails the same way every time: retrying only quadruples its cost. (Executors
    # lost for reasons outside the task do not count as failures.)
    "spark.task.maxFailures": "1",
    # A killed task (a cancelled job, a failed stage's siblings) holds its core until its Python
    # worker is killed: 2 s after Spark notices by default, at once with this.
    "spark.python.task.killTimeout": "0s",
}
# Executors on this machine: JVMs that live for one run, where a fast start beats peak speed.
EXECUTOR_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
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
def _jvm_environment(conf: Mapping[str, str]) -> Iterator[None]:
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
                session = _start_connect(master, self.config.conf(engine), shipped)
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
                registered = _wait_for_executors(session, expected, EXECUTOR_WAIT_SECONDS)
        daemons = _warm_up(session, min(expected, registered))
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
        builder = SparkSession.builder
        for key, value in conf.items():
            builder = builder.config(key, value)
        launched, tmp = _launch_jvm(conf)
        if launched:
            self._launched_jvm, self._jvm_tmp = True, tmp
        with _worker_python(master):
            session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
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
            with contextlib.suppress(Exception):
                session.stop()
        if session is not None and is_connect_session(session):
            os.environ.pop(CONNECT_MODE_VAR, None)
        if _forget_dead_gateway():
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
EXECUTOR_WAIT_SECONDS = 60.0
# Warm-up jobs run until every executor has started its Python worker, at most this many times.
WARM_UP_ROUNDS = 3
_LOCAL_CLUSTER = re.compile(r"local-cluster\[\s*(\d+)\s*,\s*(\d+)\s*,")


def expected_executors(master: str, conf: Mapping[str, str]) -> int:
    """How many executors a classic engine is meant to have (0: unknown, or local mode)."""
    found = _LOCAL_CLUSTER.match(master)
    if found:
        return int(found.group(1))
    try:
        return max(0, int(conf.get("spark.executor.instances", "0")))
    except ValueError:
        return 0


def _registered_executors(session: SparkSession) -> int:
    """Executors registered with a classic session's driver (the driver itself not counted)."""
    infos = session.sparkContext._jsc.sc().statusTracker().getExecutorInfos()  # type: ignore[union-attr]
    return max(0, len(infos) - 1)


def _wait_for_executors(session: SparkSession, expected: int, seconds: float) -> int:
    """Wait, at most `seconds`, until `expected` executors have registered; how many did."""
    deadline = time.monotonic() + seconds
    registered = _registered_executors(session)
    while registered < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        registered = _registered_executors(session)
    return registered


def _warm_up(session: SparkSession, executors: int = 0) -> set[int]:
    """Run jobs with a Python UDF and a shuffle, so that the first test on the engine does not
    pay for starting executors' Python workers and compiling the JVM's hot paths inside its
    timeout and timing (its time is the fixed overhead `slowdown` subtracts).

    Each Python task reports the process that forked its worker (one pyspark daemon per
    executor); the job is repeated until `executors` daemons answered, since tasks go to the
    executors that are free and one executor can take them all. Returns the daemons seen.
    It costs 1-2 s once per engine start.
    """
    from pyspark.sql import functions as F

    try:
        cores = max(2, int(session.conf.get("spark.default.parallelism", "2") or 2))
    except Exception:
        cores = 2
    cores = max(cores, 2 * executors)

    def daemon(_value):  # type: ignore[no-untyped-def]
        # Nested, so it is pickled by value: the executors need not import this module. No
        # type hints: PySpark would read them as a pandas UDF's, and warn that it cannot.
        import os

        return os.getppid()

    daemons: set[int] = set()
    with contextlib.suppress(Exception):  # the first test will tell what is wrong
        for _ in range(WARM_UP_ROUNDS):
            rows = (
                session.range(0, 4000, 1, cores * 2)
                .select(F.udf(daemon, "long")("id").alias("daemon"))
                .groupBy("daemon")
                .count()
                .collect()
            )
            daemons |= {int(row["daemon"]) for row in rows}
            if len(daemons) >= executors:
                break
    return daemons


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


def _start_connect(url: str, conf: Mapping[str, str], shipped: list[Path]) -> SparkSession:
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


_DRIVER_OPTIONS = "spark.driver.extraJavaOptions"


def _jvm_level(key: str) -> bool:
    return key.startswith(("spark.driver.", "spark.jars")) and key not in (
        "spark.driver.host",
        "spark.driver.bindAddress",
    )


def _launch_jvm(conf: Mapping[str, str]) -> tuple[bool, Path | None]:
    """Start the gateway JVM with JVM-level options only: whether it was started (not if one is
    up already), and the JVM's own temporary folder.

    spark-submit turns the first session's conf into JVM system properties, which every later
    SparkConf inherits: the local engine's PYTHONPATH would reach the cluster engine's executors.

    The JVM gets a temporary folder of its own (`java.io.tmpdir`), where Spark keeps its
    `blockmgr-*` and `spark-*` folders, and a local-cluster's executors theirs, unless
    `spark.local.dir` says otherwise: a JVM killed with SIGKILL runs no shutdown hook to delete
    them, and this folder tells which of the machine's are its. A `java.io.tmpdir` of the
    user's own in `spark.driver.extraJavaOptions` is left alone (and so is the folder).
    """
    from pyspark import SparkConf, SparkContext

    if SparkContext._gateway is not None:
        return False, None
    jvm_conf = SparkConf(loadDefaults=False)
    for key, value in conf.items():
        if _jvm_level(key):
            jvm_conf.set(key, value)
    options = jvm_conf.get(_DRIVER_OPTIONS) or ""
    tmp = None
    if "-Djava.io.tmpdir=" not in options:
        tmp = Path(tempfile.mkdtemp(prefix="pytest-dcs-jvm-"))
        jvm_conf.set(_DRIVER_OPTIONS, f"{options} -Djava.io.tmpdir={tmp}".strip())
    try:
        with _jvm_environment(conf):
            SparkContext._ensure_initialized(conf=jvm_conf)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return True, tmp


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


def _forget_dead_gateway() -> bool:
    """Drop PySpark's process-wide handles to a gateway JVM that died; True if it had.

    PySpark keeps them in class attributes and would hand the dead gateway to every later
    SparkContext; without them the next session launches a new JVM.
    """
    if not _gateway_exited():
        return False
    from pyspark import SparkContext
    from pyspark.sql import SparkSession, SQLContext

    with contextlib.suppress(Exception):
        SparkContext._gateway.shutdown()  # type: ignore[union-attr]  # closes its sockets
    SparkContext._gateway = None
    SparkContext._jvm = None
    SparkContext._active_spark_context = None
    SparkSession._instantiatedSession = None
    SparkSession._activeSession = None
    SQLContext._instantiatedContext = None
    return True


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
