"""The Spark jobs of one piece of work: tagging them, cancelling them, reading what they did.

Written once for the guard (a body's jobs, its timeout, its task time), the re-runs that time a
body again, and localization (which tasks of a failed job failed, `failed_tasks`). A classic
SparkContext has job tags and a status store; a Spark Connect session has operation tags and
keeps task facts on the server.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


# -- the tasks of a failed job --------------------------------------------------------------


class TasksUnreadable(Exception):
    """A re-run's tasks cannot be mapped to the partitions it was given: fall back to re-runs
    that need no task list (bisection, rows alone)."""


@dataclass(frozen=True)
class TaskResults:
    """Task indexes of a failed re-run's stage that read the layout, by how each ended
    (tasks killed when the job ended, or never started, are in none)."""

    failed: set[int]
    """Failed with the original error."""
    clean: set[int]
    """Passed."""
    other: set[int]
    """Failed with another error."""


def classic_context(spark: SparkSession) -> SparkContext | None:
    """The SparkContext of a classic session; None over Spark Connect (no task results)."""
    try:
        sc = spark.sparkContext
    except Exception:
        return None
    return sc if getattr(sc, "_jsc", None) is not None else None


def failed_tasks(
    sc: SparkContext,
    tag: str,
    tasks: int,
    same: Callable[[str | None], bool],
    rdd_id: int | None = None,
) -> TaskResults:
    """Which tasks failed with the original error (`same` says which errors are), failed
    otherwise and passed, in the stage of the failed job tagged `tag` that read the layout's
    `tasks` partitions (and, given `rdd_id`, read that RDD: a stage after a shuffle has as many
    tasks by chance)."""
    store = status_store(sc)
    tracker = sc.statusTracker()
    for job_id in jobs_with_tag(sc, tag):
        job = tracker.getJobInfo(job_id)
        if job is None or job.status != "FAILED":
            continue
        for stage_id in job.stageIds:
            stage = tracker.getStageInfo(stage_id)
            if stage is None:
                continue
            results = stage_tasks(store, stage_id, stage.currentAttemptId)
            failures = {index: error for index, status, error in results if status == "FAILED"}
            if not failures:
                continue
            if stage.numTasks != tasks or (
                rdd_id is not None and not _stage_reads(store, stage_id, rdd_id)
            ):
                raise TasksUnreadable(
                    f"the failing stage ran {stage.numTasks} tasks, not one per partition "
                    "of the input (the body repartitions it first)"
                )
            failed = {index for index, error in failures.items() if same(error)}
            clean = {index for index, status, _ in results if status == "SUCCESS"}
            return TaskResults(failed, clean - set(failures), set(failures) - failed)
    raise TasksUnreadable("no failed task of the re-run could be read")


def layout_stages(sc: SparkContext, tag: str, tasks: int, rdd_id: int) -> dict[int, set[int]]:
    """The stages of the jobs tagged `tag` that read RDD `rdd_id` in `tasks` tasks (where task
    `i` computed partition `i` of a layout of that RDD), each with the indexes of its tasks
    that succeeded."""
    store = status_store(sc)
    tracker = sc.statusTracker()
    found: dict[int, set[int]] = {}
    for job_id in jobs_with_tag(sc, tag):
        job = tracker.getJobInfo(job_id)
        for stage_id in job.stageIds if job is not None else ():
            stage = tracker.getStageInfo(stage_id)
            if stage is None or stage.numTasks != tasks:
                continue
            with contextlib.suppress(Exception):  # a skipped stage may not be in the store
                results = stage_tasks(store, stage_id, stage.currentAttemptId)
                # A stage with no tasks was skipped: its map output came from an earlier one
                # (adaptive execution runs a query's shuffle in a job of its own).
                if results and _stage_reads(store, stage_id, rdd_id):
                    found[stage_id] = {t.partition for t in results if t.status == "SUCCESS"}
    return found


def _stage_reads(store: Any, stage_id: int, rdd_id: int) -> bool:
    """Whether the stage's RDDs (those it computes, up to its shuffle inputs) include `rdd_id`."""
    data = store.lastStageAttempt(stage_id)
    return str(rdd_id) in str(data.rddIds().mkString(",")).split(",")
