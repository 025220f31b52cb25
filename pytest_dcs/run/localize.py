"""Localizing the problem state: the few input rows that alone make a rung's body fail.

When a body raises because of code that ran on executors, the error does not say which rows did
it. The body is run again on subsets of its input (`scaled`) until single rows are left:

0. **Any row?** The body is run on two ordinary rows, each alone. When both fail the same way,
   the error is not about particular rows, and the search says so instead of blaming some.
1. **Clues** (see `pytest_dcs.run.clues`): the arguments of the UDF calls that raised, recorded in
   one re-run on the whole input, and the values the error message quotes, each turned into one
   Column filter. The search below runs on those candidates first. When the recording re-run
   passed with every failing call recorded, the candidates are all there is to find.
2. **Suspects.** Rows holding a null, an empty string, a NaN or an empty collection are the
   variance code most often forgets. One Column filter finds them; if the body fails on them
   alone, the search continues among them only. Otherwise, when no clue found rows, the rows at
   each column's min and max (one aggregate) are searched before the rest.
3. **Buckets, read from the failed tasks.** The search space is cached with a hashed row key,
   sorted within partitions so that a key range reads few cached batches. A re-run gets the union
   of one child DataFrame per key range: task `i` reads range `i // partitions`. The failed job's
   task list then says which ranges failed (split further, down to single rows), which passed
   (dropped) and which never ran (kept for the next re-run). A re-run narrows many ranges at once
   instead of halving one.
4. **Bisection**, the general fallback: where task results cannot be read (Spark Connect) or
   the failing stage's tasks are not the ranges (the body shuffles before it fails), ranges are
   halved and each half is run on its own.

"The same" failure is an `ErrorIdentity`: the re-run's own exception type and message shape,
never the error it was raised while handling. A row is reported only when it failed that way on
its own: a task that read that row alone failed so, or a re-run of the body on it alone did
(every row a clue points at is re-run alone before it is kept).

Every job of the search is tagged, and a timer cancels them when the time budget runs out.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pytest_dcs.spark.jobs import job_scope, jobs_with_tag, stage_tasks, status_store, tagged

if TYPE_CHECKING:
    from pyspark import SparkContext
    from pyspark.sql import Column, DataFrame, Row, SparkSession
    from pyspark.sql.types import StructType

    from pytest_dcs.failures import ErrorIdentity

Outcome = Literal["same", "passed", "other"]
#: Runs the test body with `scaled` replaced by the given DataFrame: "same" when it fails with the
#: original error, "passed" when it passes, "other" when it fails differently.
Reproduce = Callable[["DataFrame"], Outcome]

KEY = "__dcs_key"
# Partitions of a layout: more narrow faster, but every task of a re-run costs a few
# milliseconds, empty or not, and each re-run about a third of a second on 2 cores.
MAX_PARTITIONS = 64
# Spaces this small are laid out by key range (a sampling pass, then single rows when few).
RANGE_ROWS = 100_000
# Candidates of a clue beyond this many point at a common value, not at the offending rows.
CLUE_ROWS = 100_000
LOW, HIGH = -(2**63), 2**63
# Seconds between cancellations of the search's jobs once its budget has run out.
CANCEL_EVERY = 0.25


@dataclass(frozen=True)
class KeyRange:
    """Rows whose hashed key is in [lo, hi)."""

    lo: int
    hi: int

    def column(self) -> Column:
        from pyspark.sql import functions as F

        key = F.col(KEY)
        if self.hi - self.lo == 1:
            return key == F.lit(self.lo)
        lower = key >= F.lit(self.lo) if self.lo > LOW else None
        upper = key < F.lit(self.hi) if self.hi < HIGH else None
        if lower is None and upper is None:
            return F.lit(True)
        if lower is None or upper is None:
            return lower if upper is None else upper  # type: ignore[return-value]
        return lower & upper

    def split(self, parts: int) -> list[KeyRange]:
        width = self.hi - self.lo
        cuts = [self.lo + width * i // parts for i in range(parts)] + [self.hi]
        return [KeyRange(a, b) for a, b in itertools.pairwise(cuts) if b > a]

    @property
    def single(self) -> bool:
        return self.hi - self.lo == 1


@dataclass
class Localization:
    """What a search found, and what it cost."""

    rows: list[Row] = field(default_factory=list)
    runs: int = 0
    seconds: float = 0.0
    method: str = ""
    complete: bool = False
    note: str = ""

    def to_json(self, budget: float) -> dict[str, object]:
        return {
            "rows_found": len(self.rows),
            "runs": self.runs,
            "seconds": round(self.seconds, 3),
            "budget_seconds": round(budget, 3),
            "method": self.method,
            "complete": self.complete,
            "note": self.note,
        }

    def describe(self, budget: float) -> str:
        found = f"{len(self.rows)} row(s)" if self.rows else "no single rows"
        how = f"{self.method}; " if self.method else ""
        line = (
            f"localized {found} in {self.seconds:.1f} s, {self.runs} re-run(s) of the body on "
            f"subsets of its input ({how}budget {budget:.1f} s)"
        )
        return f"{line}; {self.note}" if self.note else line


class OutOfTime(Exception):
    """The budget ran out; the search stops with what it has."""


class TasksUnreadable(Exception):
    """A re-run's tasks cannot be mapped to key ranges: fall back to bisection."""


def suspect_condition(schema: StructType) -> Column | None:
    """True for rows with a null, empty string, NaN or empty array/map in a top-level column."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    terms: list[Column] = []
    for spec in schema.fields:
        column = F.col(f"`{spec.name.replace('`', '``')}`")
        if spec.nullable:
            terms.append(column.isNull())
        kind = spec.dataType
        if isinstance(kind, T.StringType):
            terms.append(F.coalesce(column == F.lit(""), F.lit(False)))
        elif isinstance(kind, (T.FloatType, T.DoubleType)):
            terms.append(F.coalesce(F.isnan(column), F.lit(False)))
        elif isinstance(kind, (T.ArrayType, T.MapType)):
            terms.append(F.coalesce(F.size(column) == F.lit(0), F.lit(False)))
    return functools.reduce(lambda a, b: a | b, terms) if terms else None


class Localizer:
    """Finds at most `limit` rows of `df` on which `reproduce` fails alone, within `budget`."""

    def __init__(
        self,
        spark: SparkSession,
        df: DataFrame,
        reproduce: Reproduce,
        *,
        limit: int,
        budget: float,
        identity: ErrorIdentity | None = None,
        message: str = "",
    ) -> None:
        self.spark = spark
        self.df = df
        self.reproduce = reproduce
        self.limit = max(1, limit)
        self.budget = budget
        self.identity = identity
        self.message = message
        self.result = Localization()
        self._began = 0.0
        self._deadline = 0.0
        self._tags = itertools.count()
        self._cached: list[DataFrame] = []
        # Rows found, by their values: each search space keys its rows its own way.
        self._found: dict[str, Row] = {}
        self._methods: list[str] = []
        self._sc = _classic_context(spark)

    # -- the search -----------------------------------------------------------------------

    def run(self) -> Localization:
        self._began = time.monotonic()
        self._deadline = self._began + self.budget
        try:
            with self._tagged(self._tag()):
                self._run()
        except OutOfTime:
            self.result.complete = False
            self.result.note = "the budget ran out"
        except Exception as exc:  # the search is a help: its own failure must not hide the body's
            self.result.complete = False
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            self.result.note = f"the search stopped on {type(exc).__name__}: {first}"
        finally:
            self.result.rows = self._rows()
            self.result.method = ", then ".join(dict.fromkeys(self._methods))
            for cached in self._cached:
                with contextlib.suppress(Exception):
                    cached.unpersist()
            self.result.seconds = time.monotonic() - self._began
        return self.result

    def _run(self) -> None:
        if self._fails_on_any_row():
            self._methods.append("two ordinary rows alone")
            self.result.complete = True
            self.result.note = (
                "the body fails the same way on any row (each of two ordinary rows alone): "
                "no particular rows are to blame"
            )
            return
        rest, done = self._clues()
        if len(self._found) >= self.limit:
            return
        if self._found and self._outcome(rest) != "same":
            # The clues found rows and the rest passes without them: nothing else to find.
            self.result.complete = True
            done = True
        if not done:
            space, rows, source = self._space(rest)
            if source:
                self._methods.append(source)
            self.result.complete = self._search(space, rows)
        if not self._found and not self.result.note:
            self.result.note = "no single row fails the same way alone"

    def _rows(self) -> list[Row]:
        return list(self._found.values())[: self.limit]

    def _keep(self, keyed: Row | None) -> None:
        if keyed is None:  # the partition emptied since it was counted: nothing to keep
            return
        row = _without_key(keyed)
        self._found.setdefault(repr(tuple(row)), row)

    def _fails_on_any_row(self) -> bool:
        """Whether the body fails the same way on each of two ordinary rows alone."""
        condition = suspect_condition(self.df.schema)
        ordinary = self.df if condition is None else self.df.where(~condition)
        picked = ordinary.limit(2).collect()
        self._check_time()
        if len(picked) < 2:
            return False
        return all(self._fails_alone(row) for row in picked)

    def _clues(self) -> tuple[DataFrame, bool]:
        """Search the rows the clues point at; the rest of the input, and whether the clues
        settled the search (every failing UDF call recorded, and its rows searched)."""
        from pyspark.sql import functions as F

        from pytest_dcs.run import clues

        rest = self.df
        tried: Column | None = None
        with clues.recording_udfs(self.spark) as recorded:
            if recorded is not None:
                outcome = self._outcome(self.df)
        if recorded is not None:
            calls = recorded.condition(self.df.schema, self.identity)
            if calls is not None:
                tried = calls
                if self._recorded_rows(calls) and outcome == "passed" and not recorded.truncated:
                    # Every failing call was recorded: the rows holding their arguments are all.
                    self.result.complete = len(self._found) < self.limit
                    return rest, True
        quoted = clues.quoted_condition(self.df.schema, clues.quoted_values(self.message))
        if quoted is not None and len(self._found) < self.limit:
            self._candidates(quoted, "values quoted in the error")
            tried = quoted if tried is None else tried | quoted
        if tried is not None:
            rest = self.df.where(~F.coalesce(tried, F.lit(False)))
        return rest, False

    def _recorded_rows(self, condition: Column) -> bool:
        """Keep the rows holding the arguments of UDF calls that raised the error, each only
        when the body re-run on it alone fails the same way: a UDF called on a column the body
        changed first would point at rows whose stored value merely equals the failing one.
        When none fails alone, search them like any clue's candidates."""
        method = "arguments of the failing UDF calls"
        rows = self.df.where(condition).limit(self.limit).collect()
        self._check_time()
        if not rows:
            return False
        self._methods.append(method)
        before = len(self._found)
        for row in rows:  # one by one: the budget may end the checks, not undo them
            if self._fails_alone(row):
                self._found.setdefault(repr(tuple(row)), row)
        if len(self._found) > before:
            return True
        self._methods.pop()
        self._candidates(condition, method)
        return bool(self._found)

    def _fails_alone(self, row: Row) -> bool:
        return self._outcome(self.spark.createDataFrame([row], self.df.schema)) == "same"

    def _candidates(self, condition: Column, method: str, df: DataFrame | None = None) -> None:
        """Search the rows of `df` (the input) matching a clue when they are few enough to be
        a clue."""
        space = self._cache(self._keyed((self.df if df is None else df).where(condition)))
        rows = space.count()
        self._check_time()
        if not rows or rows > CLUE_ROWS:
            return
        before, mark = len(self._found), len(self._methods)
        self._methods.append(method)
        self._search(space, rows)
        if len(self._found) == before:
            del self._methods[mark:]

    def _space(self, df: DataFrame) -> tuple[DataFrame, int | None, str]:
        """Where to search (keyed), with its rows when known: the suspects when they alone
        fail, else the other rows, once the rows at their columns' extremes were searched."""
        condition = suspect_condition(df.schema)
        if condition is not None:
            suspects = self._cache(self._keyed(df.where(condition)))
            # One scan of the input caches the suspects; the re-run on them reads the cache.
            rows = suspects.count()
            if rows and self._outcome(suspects.drop(KEY)) == "same":
                return suspects, rows, "suspect rows (null, empty, NaN)"
            df = df.where(~condition)
        return self._keyed(self._past_extremes(df)), None, ""

    def _past_extremes(self, df: DataFrame) -> DataFrame:
        """Search the rows of `df` at a column's min or max, when no clue found rows; the rest."""
        from pyspark.sql import functions as F

        from pytest_dcs.run import clues

        if self._found:
            return df
        extremes = clues.extremes_condition(df)
        self._check_time()
        if extremes is None:
            return df
        self._candidates(extremes, "rows at a column's min or max", df)
        return df.where(~F.coalesce(extremes, F.lit(False))) if self._found else df

    @staticmethod
    def _keyed(space: DataFrame) -> DataFrame:
        from pyspark.sql import functions as F

        return space.withColumn(KEY, F.xxhash64(F.monotonically_increasing_id(), F.lit(KEY)))

    def _cache(self, df: DataFrame) -> DataFrame:
        from pyspark import StorageLevel

        cached = df.persist(StorageLevel.MEMORY_AND_DISK)
        self._cached.append(cached)
        return cached

    def _search(self, keyed: DataFrame, rows: int | None) -> bool:
        """Find failing rows of `keyed`; True when every part of it was decided."""
        if self._sc is not None:
            mark = len(self._methods)
            self._methods.append("failed tasks of partitioned re-runs")
            try:
                return self._descend(keyed, rows)
            except TasksUnreadable as exc:
                del self._methods[mark:]
                self.result.note = f"{exc}; bisected instead"
        self._methods.append("bisection")
        return self._bisect(self._cache(keyed))

    def _descend(self, space: DataFrame, rows: int | None) -> bool:
        """Lay `space` out in partitions, re-run the body on those not yet known, and descend
        into each partition whose task failed; True when every partition was decided."""
        from pyspark.sql import functions as F

        small = rows is not None and rows <= RANGE_ROWS
        parts = min(MAX_PARTITIONS, rows or MAX_PARTITIONS)
        shaped = space.repartitionByRange(parts, KEY) if small else space.repartition(parts, KEY)
        layout = self._cache(shaped)
        partition = F.spark_partition_id()
        sizes: dict[int, int] = dict(layout.groupBy(partition).count().collect())
        self._check_time()
        tasks = _partitions(layout)
        pending = [p for p in range(tasks) if sizes.get(p)]
        while pending and len(self._found) < self.limit:
            tag = self._tag()
            if self._outcome(layout.where(partition.isin(pending)).drop(KEY), tag) != "same":
                return True
            failed, clean = self._read_tasks(tag, tasks)
            for index in sorted(failed):
                if sizes[index] == 1:
                    self._keep(layout.where(partition == index).first())
                elif (
                    not self._descend(layout.where(partition == index), sizes[index])
                    or len(self._found) >= self.limit
                ):
                    return False
            pending = [p for p in pending if p not in failed and p not in clean]
        return not pending

    def _bisect(self, keyed: DataFrame) -> bool:
        stack = [KeyRange(LOW, HIGH)]
        while stack and len(self._found) < self.limit:
            span = stack.pop()
            part = keyed.where(span.column())
            head = part.limit(2).collect()
            self._check_time()
            if not head or {repr(tuple(_without_key(r))) for r in head} <= set(self._found):
                continue
            if self._outcome(part.drop(KEY)) != "same":
                continue
            if len(head) == 1 or span.single:  # one row, or two with one key: found
                for keyed_row in head:
                    self._keep(keyed_row)
                continue
            low, high = span.split(2)
            stack += [high, low]
        return not stack

    # -- re-runs --------------------------------------------------------------------------

    def _check_time(self) -> None:
        if time.monotonic() >= self._deadline:
            raise OutOfTime

    def _tag(self) -> str:
        return f"dcs-localize-{id(self)}-{next(self._tags)}"

    def _outcome(self, subset: DataFrame, tag: str | None = None) -> Outcome:
        self._check_time()
        with tagged(job_scope(self.spark, tag or self._tag())):
            outcome = self.reproduce(subset)
        self.result.runs += 1
        self._check_time()
        return outcome

    @contextlib.contextmanager
    def _tagged(self, tag: str) -> Iterator[None]:
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

    def _read_tasks(self, tag: str, tasks: int) -> tuple[set[int], set[int]]:
        """Partitions whose task failed with the original error, and partitions whose task
        passed, in the stage of the failed job that read the layout's `tasks` partitions."""
        assert self._sc is not None
        store = status_store(self._sc)
        tracker = self._sc.statusTracker()
        for job_id in jobs_with_tag(self._sc, tag):
            job = tracker.getJobInfo(job_id)
            if job is None or job.status != "FAILED":
                continue
            for stage_id in job.stageIds:
                stage = tracker.getStageInfo(stage_id)
                if stage is None:
                    continue
                results = stage_tasks(store, stage_id, stage.currentAttemptId)
                failed = {
                    index
                    for index, status, error in results
                    if status == "FAILED"
                    and (self.identity is None or self.identity.matches_text(error))
                }
                if not failed:
                    continue
                if stage.numTasks != tasks:
                    raise TasksUnreadable(
                        f"the failing stage ran {stage.numTasks} tasks, not one per partition "
                        "of the input (the body repartitions it first)"
                    )
                clean = {index for index, status, _ in results if status == "SUCCESS"}
                return failed, clean - failed
        raise TasksUnreadable("no failed task of the re-run could be read")


def _without_key(row: Row) -> Row:
    from pyspark.sql import Row

    kept = [(name, value) for name, value in zip(row.__fields__, row, strict=True) if name != KEY]
    return Row(*(name for name, _ in kept))(*(value for _, value in kept))


def _partitions(df: DataFrame) -> int:
    jdf = getattr(df, "_jdf", None)
    if jdf is not None:
        return max(1, int(jdf.rdd().getNumPartitions()))
    return 1


def _classic_context(spark: SparkSession) -> SparkContext | None:
    """The SparkContext of a classic session; None over Spark Connect (no task results)."""
    try:
        sc = spark.sparkContext
    except Exception:
        return None
    return sc if getattr(sc, "_jsc", None) is not None else None
