"""What every step of one localization shares: the re-runs of the body, the budget that stops
them, the time each step took and the rows found so far.

Every job of the search is tagged, and a timer cancels them when the time budget runs out.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pytest_dcs.run.searchspace import without_key
from pytest_dcs.spark.jobs import TaskResults, classic_context, failed_tasks, job_scope, tagged

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row, SparkSession

    from pytest_dcs.failures import ErrorIdentity

Outcome = Literal["same", "passed", "other"]
#: Runs the test body with `scaled` replaced by the given DataFrame: "same" when it fails with the
#: original error, "passed" when it passes, "other" when it fails differently.
Reproduce = Callable[["DataFrame"], Outcome]

# Seconds between cancellations of the search's jobs once its budget has run out.
CANCEL_EVERY = 0.25


@dataclass
class Step:
    """The time and re-runs one step of a search took (summed when it recurs)."""

    seconds: float = 0.0
    runs: int = 0


@dataclass
class Localization:
    """What a search found, and what it cost."""

    rows: list[Row] = field(default_factory=list)
    runs: int = 0
    seconds: float = 0.0
    method: str = ""
    complete: bool = False
    note: str = ""
    steps: dict[str, Step] = field(default_factory=dict)
    """Where the time went: seconds and re-runs per step of the search, in the order begun."""
    first_seconds: float | None = None
    """When the first row was found, from the start."""

    def to_json(self, budget: float) -> dict[str, object]:
        return {
            "rows_found": len(self.rows),
            "runs": self.runs,
            "seconds": round(self.seconds, 3),
            "first_row_seconds": (
                round(self.first_seconds, 3) if self.first_seconds is not None else None
            ),
            "budget_seconds": round(budget, 3),
            "method": self.method,
            "complete": self.complete,
            "note": self.note,
            "steps": {
                name: {"seconds": round(step.seconds, 3), "runs": step.runs}
                for name, step in self.steps.items()
            },
        }

    def describe(self, budget: float) -> str:
        found = f"{len(self.rows)} row(s)" if self.rows else "no single rows"
        how = f"{self.method}; " if self.method else ""
        if len(self.rows) > 1 and self.first_seconds is not None:
            how += f"the first row in {self.first_seconds:.1f} s; "
        line = (
            f"localized {found} in {self.seconds:.1f} s, {self.runs} re-run(s) of the body on "
            f"subsets of its input ({how}budget {budget:.1f} s)"
        )
        return f"{line}; {self.note}" if self.note else line


class OutOfTime(Exception):
    """The budget ran out; the search stops with what it has."""


# Partitions the first round of a collected limit reads (`spark.sql.limit.initialNumPartitions`,
# 1 by default, then 4 times more per round, each round a job of its own).
_LIMIT_PARTITIONS = "spark.sql.limit.initialNumPartitions"
_ALL_AT_ONCE = str(2**31 - 1)


def collect_few(df: DataFrame, n: int) -> list[Row]:
    """At most `n` rows of `df`, read in one job over all its partitions at once.

    A collected limit reads one partition, then four, then sixteen more, each round a job, until
    it has `n` rows: the few rows a clue points at are spread over the input, so the rounds add
    up (10 ids among 2M rows in 20 files: 0.43 s, against 0.19 s at once). The search's own
    reads only: the body's re-runs keep the session's setting."""
    spark = df.sparkSession
    before = spark.conf.get(_LIMIT_PARTITIONS, None)
    spark.conf.set(_LIMIT_PARTITIONS, _ALL_AT_ONCE)
    try:
        return df.limit(n).collect()
    finally:
        if before is None:
            spark.conf.unset(_LIMIT_PARTITIONS)
        else:
            spark.conf.set(_LIMIT_PARTITIONS, before)


class Search:
    """One search for at most `limit` rows of `df` on which `reproduce` fails alone, within
    `budget` seconds from `start`: its re-runs, its budget, its steps' times, its rows found."""

    def __init__(
        self,
        spark: SparkSession,
        df: DataFrame,
        reproduce: Reproduce,
        *,
        limit: int,
        budget: float,
        identity: ErrorIdentity | None = None,
    ) -> None:
        self.spark = spark
        self.df = df
        self.reproduce = reproduce
        self.limit = max(1, limit)
        self.budget = budget
        self.identity = identity
        self.result = Localization()
        self.sc = classic_context(spark)
        # Rows found, by their values: each search space keys its rows its own way.
        self.found: dict[str, Row] = {}
        self._began = 0.0
        self._deadline = 0.0
        self._tags = itertools.count()
        self._cached: list[DataFrame] = []
        # Steps under way, innermost last, and when time was last charged to one.
        self._steps: list[str] = []
        self._charged = 0.0

    def start(self) -> None:
        """Start the clock: the budget counts from now."""
        self._began = self._charged = time.monotonic()
        self._deadline = self._began + self.budget

    def finish(self) -> None:
        """Put the rows found and the time taken on the result, and drop the caches."""
        self.result.rows = self.rows()
        for cached in self._cached:
            with contextlib.suppress(Exception):
                cached.unpersist()
        self.result.seconds = time.monotonic() - self._began

    def past_deadline(self) -> bool:
        return time.monotonic() >= self._deadline

    def seconds_left(self) -> float:
        return self._deadline - time.monotonic()

    def check_time(self) -> None:
        if self.past_deadline():
            raise OutOfTime

    # -- rows found -----------------------------------------------------------------------

    def rows(self) -> list[Row]:
        return list(self.found.values())[: self.limit]

    def keep(self, keyed: Row | None) -> None:
        """Keep a row found (its key dropped), once."""
        if keyed is None:  # the partition emptied since it was counted: nothing to keep
            return
        row = without_key(keyed)
        if not self.found:
            self.result.first_seconds = time.monotonic() - self._began
        self.found.setdefault(repr(tuple(row)), row)

    def forget(self) -> None:
        """Drop the rows found so far."""
        self.found.clear()
        self.result.first_seconds = None

    def holds(self, row: Row) -> bool:
        """Whether `row` (without a key) is one of the rows found."""
        return repr(tuple(row)) in self.found

    def cache(self, df: DataFrame) -> DataFrame:
        """`df` persisted until the search finishes."""
        from pyspark import StorageLevel

        cached = df.persist(StorageLevel.MEMORY_AND_DISK)
        self._cached.append(cached)
        return cached

    # -- steps and re-runs ----------------------------------------------------------------

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Charge the time spent inside, less that of the steps nested in it, to `name`."""
        self._charge()
        self._steps.append(name)
        self.result.steps.setdefault(name, Step())
        try:
            yield
        finally:
            self._charge()
            self._steps.pop()

    def _charge(self) -> None:
        now = time.monotonic()
        if self._steps:
            self.result.steps[self._steps[-1]].seconds += now - self._charged
        self._charged = now

    def tag(self) -> str:
        """A new job tag of this search."""
        return f"dcs-localize-{id(self)}-{next(self._tags)}"

    def outcome(self, subset: DataFrame, tag: str | None = None) -> Outcome:
        """Re-run the body on `subset`, its jobs tagged `tag`, within the budget."""
        self.check_time()
        with tagged(job_scope(self.spark, tag or self.tag())):
            outcome = self.reproduce(subset)
        self.result.runs += 1
        if self._steps:
            self.result.steps[self._steps[-1]].runs += 1
        self.check_time()
        return outcome

    @contextlib.contextmanager
    def tagged(self, tag: str) -> Iterator[None]:
        """Tag the search's jobs (operations, over Spark Connect), and cancel them if the budget
        runs out while they run."""
        jobs = job_scope(self.spark, tag)
        if jobs is None:
            yield
            return
        jobs.enter()
        stop = threading.Event()

        def cancel_when_out_of_time() -> None:
            if stop.wait(max(0.0, self._deadline - time.monotonic())):
                return
            # Again and again: a job the body starts after the deadline is cancelled too.
            while not stop.is_set():
                with contextlib.suppress(Exception):
                    jobs.cancel()
                stop.wait(CANCEL_EVERY)

        watcher = threading.Thread(target=cancel_when_out_of_time, daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            jobs.leave()

    def read_tasks(self, tag: str, tasks: int, rdd_id: int | None = None) -> TaskResults:
        """How the tasks of the re-run tagged `tag` ended, in the stage that read the layout's
        `tasks` partitions (see `failed_tasks`); classic sessions only."""
        assert self.sc is not None
        identity = self.identity
        return failed_tasks(
            self.sc,
            tag,
            tasks,
            lambda error: identity is None or identity.matches_text(error),
            rdd_id,
        )
