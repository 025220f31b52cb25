"""The Spark jobs of one piece of work: tagging them, cancelling them, reading what they did.

Written once for the guard (a body's jobs, its timeout, its task time), the re-runs that time a
body again, and localization (which tasks of a failed job failed). A classic SparkContext has job
tags and a status store; a Spark Connect session has operation tags and keeps task facts on the
server.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

_INTERRUPT_ON_CANCEL = "spark.job.interruptOnCancel"


class JobScope(Protocol):
    """Marks the jobs the current thread starts, and cancels them from any thread."""

    def enter(self) -> None: ...

    def cancel(self) -> None: ...

    def settle(self, seconds: float) -> None:
        """Wait, at most `seconds`, until no cancelled task is running any more."""

    def leave(self) -> None: ...

    def task_seconds(self) -> float | None:
        """Executor time spent in the tagged jobs, when the engine tells it."""


class Task(NamedTuple):
    """One task of a stage as the status store has it."""

    partition: int
    """The task's index in its stage: the partition it computed."""
    status: str
    error: str | None


class ContextJobs:
    """A job tag on a classic SparkContext, with interrupt-on-cancel while it is set."""

    def __init__(self, sc: SparkContext, tag: str) -> None:
        self._sc = sc
        self._tag = tag
        self._interrupt: str | None = None

    def enter(self) -> None:
        self._interrupt = self._sc.getLocalProperty(_INTERRUPT_ON_CANCEL)
        self._sc.addJobTag(self._tag)
        self._sc.setInterruptOnCancel(True)

    def cancel(self) -> None:
        self._sc.cancelJobsWithTag(self._tag)

    def settle(self, seconds: float) -> None:
        # One test runs at a time, so any task still running is one of the cancelled ones.
        tracker = _jvm_context(self._sc).statusTracker()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not any(info.numRunningTasks() for info in tracker.getExecutorInfos()):
                return
            time.sleep(0.1)

    def leave(self) -> None:
        self._sc.removeJobTag(self._tag)
        self._sc.setLocalProperty(_INTERRUPT_ON_CANCEL, self._interrupt)  # type: ignore[arg-type]

    def task_seconds(self) -> float | None:
        """Executor run time summed over every stage of the jobs that carried the tag."""
        sc = self._sc
        store = status_store(sc)
        jvm: Any = sc._jvm
        gateway: Any = sc._gateway
        millis = 0
        seen: set[int] = set()
        for job_id in jobs_with_tag(sc, self._tag):
            job = sc.statusTracker().getJobInfo(job_id)
            for stage_id in job.stageIds if job is not None else ():
                if stage_id in seen:
                    continue
                seen.add(stage_id)
                try:
                    attempts = store.stageData(
                        stage_id,
                        False,
                        jvm.java.util.ArrayList(),
                        False,
                        gateway.new_array(jvm.double, 0),
                    )
                except Exception:  # a skipped stage was never run
                    continue
                it = attempts.iterator()
                while it.hasNext():
                    millis += int(it.next().executorRunTime())
        return millis / 1000.0


class ConnectJobs:
    """An operation tag on a Spark Connect session; the server interrupts what carries it."""

    def __init__(self, spark: SparkSession, tag: str) -> None:
        self._spark = spark
        self._tag = tag

    def enter(self) -> None:
        self._spark.addTag(self._tag)

    def cancel(self) -> None:
        self._spark.interruptTag(self._tag)

    def settle(self, seconds: float) -> None:
        """The server tracks its tasks; a client cannot see them end."""

    def leave(self) -> None:
        self._spark.removeTag(self._tag)

    def task_seconds(self) -> float | None:
        """Task metrics stay on the server."""
        return None


def job_tag(nodeid: str) -> str:
    """A Spark job tag naming the test item (tags cannot contain commas)."""
    return "pytest-dcs:" + nodeid.replace(",", ";")


def job_scope(spark: SparkSession | None, tag: str) -> JobScope | None:
    """The way to tag and cancel `spark`'s jobs; None without a session."""
    if spark is None:
        return None
    sc = getattr(spark, "_sc", None)
    return ConnectJobs(spark, tag) if sc is None else ContextJobs(sc, tag)


@contextlib.contextmanager
def tagged(jobs: JobScope | None) -> Iterator[None]:
    """Tag the jobs the body starts, without a timeout (the watchdog does it with one)."""
    if jobs is None:
        yield
        return
    with contextlib.suppress(Exception):  # a dead JVM: the body will say so itself
        jobs.enter()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            jobs.leave()


# -- the status store -----------------------------------------------------------------------


def _jvm_context(sc: SparkContext) -> Any:
    return sc._jsc.sc()  # type: ignore[union-attr]


def status_store(sc: SparkContext) -> Any:
    """The context's status store, once the events of finished jobs have reached it (they
    arrive through the listener bus, asynchronously)."""
    jsc = _jvm_context(sc)
    jsc.listenerBus().waitUntilEmpty()
    return jsc.statusStore()


def jobs_with_tag(sc: SparkContext, tag: str) -> list[int]:
    """The ids of the jobs that carried `tag`."""
    return list(_jvm_context(sc).statusTracker().getJobIdsForTag(tag))


def stage_tasks(store: Any, stage_id: int, attempt: int) -> list[Task]:
    """Every task of one attempt of a stage, from `status_store`."""
    seq = store.taskList(stage_id, attempt, 1 << 30)
    tasks = []
    it = seq.iterator()
    while it.hasNext():
        task = it.next()
        message = task.errorMessage()
        tasks.append(
            Task(task.index(), task.status(), message.get() if message.isDefined() else None)
        )
    return tasks
