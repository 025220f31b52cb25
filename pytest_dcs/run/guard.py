"""Guarding a rung's test body: its timeout, and what a dead session means for it.

While the body runs, the Spark jobs it starts carry a job tag of their own, with
interrupt-on-cancel so that a Python worker stuck in a UDF is killed rather than left running.
When the rung's timeout passes, a watchdog thread cancels the jobs with that tag: the body's
action fails, the body unwinds, and the session stays up for the next test. A body still running
`GRACE_SECONDS` later is stuck on the driver rather than in a job, so the watchdog raises
`RungTimeout` in it, and again each grace period should the body swallow it.

`timeout_failure` and `panic_failure` turn what happened into the rung's failure; they, like the
watchdog without a session, need no JVM.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import sysconfig
import threading
import traceback
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from pytest_dcs.failures import SIGNATURES_BY_NAME, Failure, Frame
from pytest_dcs.spark.jobs import JobScope

if TYPE_CHECKING:
    from pytest_dcs.spark.config import SessionState

# Cancelled jobs fail on the driver within a fraction of a second; a body that has not
# returned after this long is busy in Python, not waiting for Spark.
GRACE_SECONDS = 3.0
# Cancelled tasks hold their cores until Spark has killed their Python workers (1-4 s measured);
# the next test waits for that, at most this long, so it does not start on busy executors.
SETTLE_SECONDS = 10.0
# On the main thread a signal delivers the interrupt, since it also breaks a blocking call
# (sleep, socket read, lock wait) that an asynchronous exception would wait out.
INTERRUPT_SIGNAL: int | None = (
    getattr(signal, "SIGUSR2", None) if hasattr(signal, "pthread_kill") else None
)


class RungTimeout(Exception):
    """Raised in a test body still running after its rung's timeout and grace period.

    An Exception rather than a BaseException: when it lands inside a Py4J call, Py4J then closes
    that connection instead of leaving an unread answer on it for the next call.
    """

    def __init__(self, message: str = "the rung ran past its timeout and was interrupted") -> None:
        super().__init__(message)


# -- the watchdog ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Expiry:
    """What the watchdog did when a body ran past its timeout."""

    seconds: float
    grace: float
    cancelled_jobs: bool
    interrupted: bool
    where: str | None


class Watchdog:
    """Context manager around a test body: cancels its jobs and interrupts it when time is up.

    Entered and exited on the thread that runs the body. `expiry` is None when the body ended
    in time.
    """

    def __init__(
        self, seconds: float, jobs: JobScope | None = None, *, grace: float = GRACE_SECONDS
    ) -> None:
        self.seconds = seconds
        self.grace = grace
        self._jobs = jobs
        self._target = threading.get_ident()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._armed = False
        self._signal: int | None = None
        self._previous_handler: Any = None
        self._left = False
        self._expired = False
        self._interrupted = False
        self._where: str | None = None

    @property
    def expiry(self) -> Expiry | None:
        if not self._expired:
            return None
        return Expiry(
            self.seconds, self.grace, self._jobs is not None, self._interrupted, self._where
        )

    def __enter__(self) -> Watchdog:
        self._target = threading.get_ident()
        if self._jobs is not None:
            with contextlib.suppress(Exception):  # a dead JVM: the body will say so itself
                self._jobs.enter()
        if INTERRUPT_SIGNAL is not None and threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.getsignal(INTERRUPT_SIGNAL)
            signal.signal(INTERRUPT_SIGNAL, self._on_signal)
            self._signal = INTERRUPT_SIGNAL
        self._armed = True
        self._thread = threading.Thread(target=self._watch, name="pytest-dcs-watchdog", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._disarm()
        except RungTimeout:
            # The interrupt landed in here, after the body; `expiry` already says so. It is sent
            # only while armed, so this second pass runs through.
            self._disarm()

    def _disarm(self) -> None:
        self._armed = False
        with self._lock:
            if self._signal is None and self._interrupted:
                _set_async_exc(self._target, None)  # drop an interrupt not delivered yet
        self._done.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._signal is not None:
            signal.signal(self._signal, self._previous_handler or signal.SIG_DFL)
            self._signal = None
        if self._jobs is not None and not self._left:
            if self._expired:
                with contextlib.suppress(Exception):
                    self._jobs.settle(SETTLE_SECONDS)
            with contextlib.suppress(Exception):
                self._jobs.leave()
            self._left = True

    def _watch(self) -> None:
        if self._done.wait(self.seconds):
            return
        self._expired = True
        self._where = _where(self._target)
        while True:
            if self._jobs is not None:
                with contextlib.suppress(Exception):
                    self._jobs.cancel()
            if self._done.wait(self.grace):
                return
            with self._lock:
                if not self._armed:
                    return
                self._interrupted = True
                if self._signal is not None:
                    signal.pthread_kill(self._target, self._signal)
                else:
                    _set_async_exc(self._target, RungTimeout)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._armed and self._interrupted:
            raise RungTimeout(
                f"still running {self.grace:g} s after the rung's timeout of {self.seconds:g} s"
            )


def _set_async_exc(thread_id: int, exc: type[BaseException] | None) -> None:
    """Raise `exc` in the thread at its next bytecode; None withdraws a pending one."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else None
    )


def _not_users() -> tuple[str, ...]:
    import pluggy
    import pytest

    paths = sysconfig.get_paths()
    # The whole plugin package, not only run/: its hooks wrap the body too.
    plugin = os.path.dirname(os.path.dirname(__file__))
    folders = {paths["stdlib"], paths["platstdlib"], plugin}
    for module in (pluggy, pytest, sys.modules["_pytest"]):
        folders.add(os.path.dirname(module.__file__ or ""))
    return tuple(os.path.join(os.path.realpath(f), "") for f in folders if f)


def _where(thread_id: int) -> str | None:
    """`file:line in function` of the innermost frame of the user's code the thread is in."""
    frame = sys._current_frames().get(thread_id)
    if frame is None:
        return None
    skipped = _not_users()
    for current, line in traceback.walk_stack(frame):
        code = current.f_code
        place = Frame(code.co_filename, line, code.co_name)
        if place.is_toolchain or os.path.realpath(code.co_filename).startswith(skipped):
            continue
        return place.where()
    return None


# -- the rung's failure ---------------------------------------------------------------------


def _seconds(value: float) -> str:
    return f"{value:g} s"


def timeout_failure(rung: str, expiry: Expiry, lower: str | None) -> Failure:
    """The `timeout` failure of a rung whose body ran past its timeout."""
    summary = f"rung {rung} ran past its timeout of {_seconds(expiry.seconds)}"
    done = ["its Spark jobs were cancelled"] if expiry.cancelled_jobs else []
    if expiry.interrupted:
        done.append(
            f"the test, still running on the driver {_seconds(expiry.grace)} later, was interrupted"
        )
    if done:
        summary += "; " + ", and ".join(done)
    cap = f", or cap the ladder below this rung with --dcs-max-rung={lower}" if lower else ""
    advice = (
        "raise `timeout=` on the scale marker (or dcs_rung_timeout in the ini)"
        f"{cap}; a rung this slow is worth a look at its time exponent; the session stays up "
        "for the next test"
    )
    return Failure("timeout", summary, advice=advice, where=expiry.where)


def panic_failure(state: SessionState, engine: str, raised: Failure | None) -> Failure:
    """The `panic` failure of a rung after which its session is stopped or its JVM gone.

    `raised` is the classified error the body raised, if any: a panic already says more; any
    other error is a consequence of the session's end and stays in the trace.
    """
    if raised is not None and raised.kind == "panic":
        return raised
    gone = state == "jvm_gone"
    signature = SIGNATURES_BY_NAME["jvm_gone" if gone else "context_stopped"]
    what = "the Spark JVM died" if gone else "its SparkContext was stopped"
    failure = Failure(
        "panic",
        f"the {engine} engine's session ended during the test: {what}",
        advice=signature.remedy,
        signature=signature.name,
    )
    if raised is not None:
        failure.where = raised.where
        failure.python_trace = raised.python_trace
    return failure
