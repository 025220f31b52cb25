"""The gateway JVM: launching it for this machine, whether a session is alive, shutting it down."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_dcs.spark.config import QUIET_DAEMON, SessionState, jvm_environment

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_DRIVER_OPTIONS = "spark.driver.extraJavaOptions"


def _jvm_level(key: str) -> bool:
    return key.startswith(("spark.driver.", "spark.jars")) and key not in (
        "spark.driver.host",
        "spark.driver.bindAddress",
    )


def launch_jvm(conf: Mapping[str, str]) -> tuple[bool, Path | None]:
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
        with jvm_environment(conf):
            SparkContext._ensure_initialized(conf=jvm_conf)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return True, tmp


UDS_ENABLED = "spark.python.unix.domain.socket.enabled"
UDS_DIR = "spark.python.unix.domain.socket.dir"
# The longest Unix socket path the OS takes, its NUL excluded (`sun_path` holds 108 bytes on
# Linux, 104 on macOS), and what PySpark adds to the folder for each socket: `/.<uuid4>.sock`.
_SOCKET_PATH_MAX = 103
_SOCKET_NAME = 43


def socket_folder(conf: Mapping[str, str]) -> tuple[dict[str, str], Path | None]:
    """The conf that puts the Unix sockets of Python workers where the OS can bind them, and
    the folder made for them (to delete when the run ends), if one was.

    PySpark binds them in `java.io.tmpdir` unless `spark.python.unix.domain.socket.dir` says
    otherwise; a deep temporary folder (a test's `tmp_path`, macOS's `$TMPDIR` with the JVM's
    own folder in it) makes a path too long, and the session fails to start with `AF_UNIX path
    too long`. Then the sockets get a short folder of their own under /tmp, or, without one,
    Python workers talk over TCP on loopback as by default. A user's own setting is left alone.
    """
    if conf.get(UDS_ENABLED, "false").strip().lower() != "true" or conf.get(UDS_DIR):
        return {}, None
    from pyspark import SparkContext

    try:
        system = SparkContext._jvm.java.lang.System  # type: ignore[union-attr]
        folder = str(system.getProperty("java.io.tmpdir"))
    except Exception:  # no JVM to ask: the session start will say why
        return {}, None
    if _fits(folder):
        return {}, None
    with contextlib.suppress(OSError):
        short = Path(tempfile.mkdtemp(prefix="dcs-", dir="/tmp"))
        if _fits(str(short)):
            return {UDS_DIR: str(short)}, short
        shutil.rmtree(short, ignore_errors=True)
    return {UDS_ENABLED: "false"}, None


def _fits(folder: str) -> bool:
    return len(os.fsencode(folder.rstrip("/"))) + _SOCKET_NAME <= _SOCKET_PATH_MAX


def quiet_lost_updates(session: SparkSession) -> None:
    """Keep PySpark's accumulator server from printing a traceback when its JVM goes away.

    The JVM sends accumulator updates to a server thread in this process over one connection;
    a JVM killed or crashed closes it mid-read, and the server prints the `EOFError` on stderr,
    outside any test. The plugin reports a JVM that is gone as the rung's `panic`; that traceback
    would only be noise. Other errors of the server are printed as before.
    """
    server = getattr(getattr(session, "_sc", None), "_accumulatorServer", None)
    if server is None or getattr(server, "_dcs_quiet", False):
        return
    printed = server.handle_error

    def handle_error(request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], (EOFError, ConnectionError)):
            return
        printed(request, client_address)

    server.handle_error = handle_error
    server._dcs_quiet = True


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


def forget_dead_gateway() -> bool:
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


def stop_python_daemons(timeout: float = 2.0) -> int:
    """End the Python worker daemons of the gateway JVM this process launched: how many.

    A local session's tasks run in workers forked by a `pyspark.daemon` child of the JVM. When
    the session stops, the JVM closes the idle workers' sockets before it signals the daemon,
    and a worker that wakes first dies on the closed socket and prints a BrokenPipeError
    traceback to the terminal. Signalled first, the daemon ends its workers quietly (SIGHUP).
    """
    if "pyspark" not in sys.modules:
        return 0
    from pyspark import SparkContext

    proc = getattr(SparkContext._gateway, "proc", None)
    if proc is None or proc.poll() is not None:
        return 0
    daemons = [pid for pid in _children(proc.pid) if is_python_daemon(pid)]
    # A daemon leads a process group of its own, its workers in it. Known before the signal:
    # a daemon still starting up is in the JVM's group, which may be ours.
    groups = [pid for pid in daemons if _group(pid) == pid]
    for pid in daemons:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(pid) for pid in daemons):
        time.sleep(0.02)
    # The daemon's SIGHUP does not reach a worker forked a moment before: it ignores SIGHUP
    # until its set-up is done, then finds the closed socket. Whatever is left is killed.
    for group in groups:
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)
    return len(daemons)


def _children(parent: int) -> list[int]:
    """The pids whose parent is `parent` (from /proc; none where there is no /proc)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name may hold spaces and parentheses: fields follow the last ")".
            fields = entry.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent:
                found.append(int(entry.parent.name))
    return found


def is_python_daemon(pid: int) -> bool:
    """Whether `pid` runs PySpark's Python daemon, or ours (`pytest_dcs.spark.quiet_daemon`)."""
    command = _cmdline(pid).split(b"\0")
    return any(part in (b"pyspark.daemon", QUIET_DAEMON.encode()) for part in command)


def _group(pid: int) -> int:
    """The process group of `pid` (0 where it cannot be read)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
    except (OSError, ValueError, IndexError):
        return 0


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie, exited but not yet reaped by the JVM, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
