"""The rung guard without a JVM: the watchdog's timing and interrupts, and the failures it makes.

A `JobScope` here is a recorder, standing in for a session's job tag; what cancelling does to
real Spark jobs is in test_guard_run.py.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

from pytest_dcs.failures import Failure
from pytest_dcs.run.guard import (
    INTERRUPT_SIGNAL,
    Expiry,
    RungTimeout,
    Watchdog,
    panic_failure,
    timeout_failure,
)
from pytest_dcs.spark.jobs import job_tag


class RecordedJobs:
    """Records what the watchdog does to the body's jobs; `cancelled` is set on cancel."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.cancelled = threading.Event()

    def enter(self) -> None:
        self.calls.append("enter")

    def cancel(self) -> None:
        self.calls.append("cancel")
        self.cancelled.set()

    def settle(self, seconds: float) -> None:
        self.calls.append("settle")

    def leave(self) -> None:
        self.calls.append("leave")


def test_a_body_that_ends_in_time_is_left_alone() -> None:
    jobs = RecordedJobs()
    before = signal.getsignal(INTERRUPT_SIGNAL) if INTERRUPT_SIGNAL else None
    with Watchdog(5, jobs, grace=0.1) as watchdog:
        time.sleep(0.05)
    assert watchdog.expiry is None
    assert jobs.calls == ["enter", "leave"]
    if INTERRUPT_SIGNAL:
        assert signal.getsignal(INTERRUPT_SIGNAL) == before


def test_jobs_are_cancelled_and_a_body_that_then_returns_is_not_interrupted() -> None:
    jobs = RecordedJobs()
    began = time.monotonic()
    with Watchdog(0.2, jobs, grace=5) as watchdog:
        assert jobs.cancelled.wait(5)  # what a Spark action does when its job is cancelled
    assert 0.2 <= time.monotonic() - began < 2
    assert jobs.calls == ["enter", "cancel", "settle", "leave"]
    assert watchdog.expiry == Expiry(
        seconds=0.2, grace=5, cancelled_jobs=True, interrupted=False, where=watchdog.expiry.where
    )


def test_a_body_blocked_on_the_driver_is_interrupted_after_the_grace() -> None:
    jobs = RecordedJobs()
    began = time.monotonic()
    with pytest.raises(RungTimeout), Watchdog(0.2, jobs, grace=0.2) as watchdog:
        time.sleep(30)
    assert time.monotonic() - began < 5
    expiry = watchdog.expiry
    assert expiry is not None and expiry.interrupted
    assert expiry.where is not None and expiry.where.startswith("test_guard.py:")
    assert "test_a_body_blocked_on_the_driver" in expiry.where


def test_a_busy_loop_is_interrupted() -> None:
    with pytest.raises(RungTimeout), Watchdog(0.1, grace=0.1) as watchdog:
        while True:
            pass
    assert watchdog.expiry is not None and watchdog.expiry.interrupted
    assert not watchdog.expiry.cancelled_jobs


def test_a_body_that_swallows_the_interrupt_is_interrupted_again() -> None:
    jobs = RecordedJobs()
    swallowed = 0
    with pytest.raises(RungTimeout), Watchdog(0.1, jobs, grace=0.1):
        while True:
            try:
                time.sleep(30)
            except RungTimeout:
                swallowed += 1
                if swallowed == 2:
                    raise
    assert jobs.calls.count("cancel") >= 2


def test_off_the_main_thread_the_interrupt_is_an_asynchronous_exception() -> None:
    outcome: list[object] = []

    def body() -> None:
        try:
            with Watchdog(0.1, grace=0.1) as watchdog:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    time.sleep(0.01)
            outcome.append("not interrupted")
        except RungTimeout:
            outcome.append(watchdog.expiry)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(15)
    assert len(outcome) == 1 and isinstance(outcome[0], Expiry), outcome
    assert outcome[0].interrupted


def test_the_previous_signal_handler_is_restored() -> None:
    if INTERRUPT_SIGNAL is None:
        pytest.skip("no signal delivery on this platform")
    seen: list[int] = []
    previous = signal.signal(INTERRUPT_SIGNAL, lambda signum, frame: seen.append(signum))
    try:
        with pytest.raises(RungTimeout), Watchdog(0.1, grace=0.1):
            time.sleep(30)
        signal.raise_signal(INTERRUPT_SIGNAL)
        assert seen == [INTERRUPT_SIGNAL]
    finally:
        signal.signal(INTERRUPT_SIGNAL, previous)


def test_job_tags_name_the_item_without_commas() -> None:
    assert job_tag("test_x.py::test_a[1,2-local]") == "pytest-dcs:test_x.py::test_a[1;2-local]"


# -- failures -------------------------------------------------------------------------------


def test_timeout_failure_when_cancelling_was_enough() -> None:
    expiry = Expiry(5, 3, cancelled_jobs=True, interrupted=False, where="test_x.py:9 in test_a")
    failure = timeout_failure("1pct", expiry, lower="distributed")
    assert failure.kind == "timeout"
    assert failure.summary == (
        "rung 1pct ran past its timeout of 5 s; its Spark jobs were cancelled"
    )
    assert failure.where == "test_x.py:9 in test_a"
    assert "raise `timeout=` on the scale marker" in failure.advice
    assert "--dcs-max-rung=distributed" in failure.advice


def test_timeout_failure_of_a_body_stuck_on_the_driver() -> None:
    expiry = Expiry(2.5, 3, cancelled_jobs=True, interrupted=True, where=None)
    failure = timeout_failure("local", expiry, lower=None)
    assert failure.summary == (
        "rung local ran past its timeout of 2.5 s; its Spark jobs were cancelled, and the test, "
        "still running on the driver 3 s later, was interrupted"
    )
    assert "--dcs-max-rung" not in failure.advice


def test_timeout_failure_without_a_session() -> None:
    expiry = Expiry(1, 3, cancelled_jobs=False, interrupted=True, where=None)
    assert timeout_failure("local", expiry, None).summary == (
        "rung local ran past its timeout of 1 s; the test, still running on the driver 3 s "
        "later, was interrupted"
    )


def test_panic_failure_keeps_a_panic_the_body_raised() -> None:
    raised = Failure("panic", "the Spark JVM is gone: Answer from Java side is empty")
    assert panic_failure("jvm_gone", "local", raised) is raised


@pytest.mark.parametrize(
    ("state", "summary", "signature"),
    [
        (
            "jvm_gone",
            "the local engine's session ended during the test: the Spark JVM died",
            "jvm_gone",
        ),
        (
            "stopped",
            "the local engine's session ended during the test: its SparkContext was stopped",
            "context_stopped",
        ),
    ],
)
def test_panic_failure_replaces_what_followed_from_the_end_of_the_session(
    state: str, summary: str, signature: str
) -> None:
    raised = Failure(
        "assertion", "AttributeError: 'NoneType' object has no attribute 'sc'", where="t.py:3"
    )
    failure = panic_failure(state, "local", raised)  # type: ignore[arg-type]
    assert (failure.kind, failure.summary, failure.signature) == ("panic", summary, signature)
    assert failure.where == "t.py:3"
    assert "next test gets a fresh" in failure.advice


def test_panic_failure_of_a_body_that_raised_nothing() -> None:
    failure = panic_failure("stopped", "cluster", None)
    assert failure.summary.startswith("the cluster engine's session ended during the test")
    assert "leave stopping to pytest-dcs" in failure.advice
