"""Localizing the problem state: the few input rows that alone make a rung's body fail.

When a body raises because of code that ran on executors, the error does not say which rows did
it. The body is run again on subsets of its input (`scaled`) until single rows are left:

0. **Failing UDF calls** (see `pytest_dcs.run.clues`): one re-run on the whole input with the
   body's Python UDFs recording the arguments of the calls that raise, skipped when the error is
   one of Spark's own (an error class no UDF raises).
1. **Any row?** Unless that re-run passed with few failing calls, the body is run on two
   ordinary rows, each alone. When both fail the same way, the error is not about particular
   rows, and the search says so instead of blaming some.
2. **Clues**: the recorded arguments and the values the error message quotes, each turned into
   one Column filter. The search below runs on those candidates first. When the recording
   re-run passed with every failing call recorded, the candidates are all there is to find.
3. **Suspects.** Rows holding a null, an empty string, a NaN or an empty collection are the
   variance code most often forgets. One Column filter finds them; if the body fails on them
   alone, the search continues among them only. Otherwise, when no clue found rows, the rows at
   each column's min and max (one aggregate) are searched before the rest.
4. **Buckets, read from the failed tasks.** The search space is cached with a hashed row key
   and laid out in partitions. The failed job's task list then says which partitions failed
   (split further, down to single rows), which passed (dropped) and which never ran (kept for
   the next re-run). A re-run narrows many partitions at once instead of halving one.
5. **Bisection**, the general fallback: where task results cannot be read (Spark Connect) or
   the failing stage's tasks are not the partitions (the body shuffles before it fails), ranges
   are halved and each half is run on its own.

"The same" failure is an `ErrorIdentity`: the re-run's own exception type and message shape,
never the error it was raised while handling. A row is reported only when it failed that way on
its own: a task that read that row alone failed so, or a re-run of the body on it alone did.
Rows a clue points at are checked together (`Localizer._verify`): laid out one per partition,
each task reads one row; the first failed task ends the job, so a re-run decides the rows whose
tasks ran, and the others go into the next one.

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
    from pytest_dcs.run.clues import FailingCalls

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

    def to_json(self, budget: float) -> dict[str, object]:
        return {
            "rows_found": len(self.rows),
            "runs": self.runs,
            "seconds": round(self.seconds, 3),
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
        line = (
            f"localized {found} in {self.seconds:.1f} s, {self.runs} re-run(s) of the body on "
            f"subsets of its input ({how}budget {budget:.1f} s)"
        )
        return f"{line}; {self.note}" if self.note else line


class OutOfTime(Exception):
    """The budget ran out; the search stops with what it has."""


class TasksUnreadable(Exception):
    """A re-run's tasks cannot be mapped to key ranges: fall back to bisection."""


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
        # Steps under way, innermost last, and when time was last charged to one.
        self._steps: list[str] = []
        self._charged = 0.0

    # -- the search -----------------------------------------------------------------------

    def run(self) -> Localization:
        self._began = self._charged = time.monotonic()
        self._deadline = self._began + self.budget
        try:
            with self._tagged(self._tag()), self._step("setup"):
                self._run()
        except OutOfTime:
            self.result.complete = False
            self.result.note = "the budget ran out"
        except Exception as exc:  # the search is a help: its own failure must not hide the body's
            self.result.complete = False
            if time.monotonic() >= self._deadline:
                # A job of the search itself (a filter, a count) cancelled at the deadline.
                self.result.note = "the budget ran out"
            else:
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
        recorded, outcome = self._record()
        if self._may_fail_on_any_row(recorded, outcome):
            with self._step("any row"):
                anything = self._fails_on_any_row()
            if anything:
                self._methods.append("two ordinary rows alone")
                self.result.complete = True
                self.result.note = (
                    "the body fails the same way on any row (each of two ordinary rows "
                    "alone): no particular rows are to blame"
                )
                return
        rest, done = self._clues(recorded, outcome)
        if len(self._found) >= self.limit:
            return
        if self._found and self._rest_passes(rest):
            # The clues found rows and the rest passes without them: nothing else to find.
            self.result.complete = True
            done = True
        if not done:
            space, rows, source = self._space(rest)
            if source:
                self._methods.append(source)
            with self._step("search"):
                self.result.complete = self._search(space, rows)
        if not self._found and not self.result.note:
            self.result.note = "no single row fails the same way alone"

    def _rest_passes(self, rest: DataFrame) -> bool:
        with self._step("rest"):
            return self._outcome(rest) != "same"

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
        return len(self._verify(picked, stop_on_pass=True)) == len(picked)

    def _record(self) -> tuple[FailingCalls | None, Outcome | None]:
        """Re-run the body on the whole input with its Python UDFs recording the calls that
        raise; None when nothing can be recorded: over Spark Connect, or when the error is one
        of Spark's own (an error class), which no Python UDF raises."""
        from pytest_dcs.run import clues

        if self.identity is not None and _is_error_class(self.identity.token):
            return None, None
        outcome: Outcome | None = None
        with self._step("recording re-run"), clues.recording_udfs(self.spark) as recorded:
            if recorded is not None:
                outcome = self._outcome(self.df)
        return recorded, outcome

    def _may_fail_on_any_row(self, recorded: FailingCalls | None, outcome: Outcome | None) -> bool:
        """Whether the body might fail on any row: unless the recording re-run passed with
        every failing call recorded, and those calls are too few to hold half of the input's
        rows. Then the rows of the failing calls are checked alone anyway, and asking two
        ordinary rows alone would cost a re-run for nothing."""
        if recorded is None or outcome != "passed" or recorded.truncated or not recorded.calls:
            return True
        failing = len(recorded.calls)
        with self._step("any row"):
            rows = self.df.limit(2 * failing + 1).count()
            self._check_time()
        return rows <= 2 * failing

    def _clues(
        self, recorded: FailingCalls | None, outcome: Outcome | None
    ) -> tuple[DataFrame, bool]:
        """Search the rows the clues point at; the rest of the input, and whether the clues
        settled the search (every failing UDF call recorded, and its rows searched)."""
        from pyspark.sql import functions as F

        from pytest_dcs.run import clues

        rest = self.df
        tried: Column | None = None
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
            with self._step("quoted values"):
                self._candidates(quoted, "values quoted in the error")
            tried = quoted if tried is None else tried | quoted
        if tried is not None:
            rest = self.df.where(~F.coalesce(tried, F.lit(False)))
        return rest, False

    def _recorded_rows(self, condition: Column) -> bool:
        """Keep the rows holding the arguments of UDF calls that raised the error, each only
        when it fails the same way on its own (`_verify`): a UDF called on a column the body
        changed first would point at rows whose stored value merely equals the failing one.
        When none fails alone, search them like any clue's candidates."""
        method = "arguments of the failing UDF calls"
        with self._step("clue rows"):
            rows = self.df.where(condition).limit(self.limit).collect()
            self._check_time()
        if not rows:
            return False
        self._methods.append(method)
        before = len(self._found)
        with self._step("verify"):
            self._verify(rows)
        if len(self._found) > before:
            return True
        self._methods.pop()
        with self._step("clue rows"):
            self._candidates(condition, method)
        return bool(self._found)

    def _verify(self, rows: list[Row], *, stop_on_pass: bool = False) -> list[Row]:
        """Which of `rows` fail the same way on their own: kept as found (unless
        `stop_on_pass`, a probe), and returned.

        The body runs on the rows laid out one per partition, and a row fails on its own when
        the task that read it alone failed the same way (in the stage that read the layout, not
        after a shuffle); a task that passed clears its row. The first failed task ends the
        job, so the rows whose tasks never ran go into the next re-run. Where tasks cannot be
        read (Spark Connect, a body that repartitions its input first), each row undecided is
        re-run alone. With `stop_on_pass`, a row that passes ends the checks."""
        failing: list[Row] = []
        pending = list(rows)
        while pending and self._sc is not None:
            layout, rdd_id = self._one_per_partition(pending)
            tag = self._tag()
            outcome = self._outcome(layout, tag)
            if outcome == "passed":
                return failing
            try:
                tasks = self._read_tasks(tag, len(pending), rdd_id)
            except TasksUnreadable:
                break
            if not tasks.failed and not tasks.other:
                break  # no task of the layout failed: the body failed elsewhere
            for index in sorted(tasks.failed):
                failing.append(pending[index])
                if not stop_on_pass:
                    self._keep(pending[index])
            decided = tasks.failed | tasks.clean | tasks.other
            if stop_on_pass and (tasks.clean or tasks.other):
                return failing
            pending = [row for index, row in enumerate(pending) if index not in decided]
        for row in pending:  # one by one: the budget may end the checks, not undo them
            if self._outcome(self.spark.createDataFrame([row], self.df.schema)) != "same":
                if stop_on_pass:
                    return failing
                continue
            failing.append(row)
            if not stop_on_pass:
                self._keep(row)
        return failing

    def _one_per_partition(self, rows: list[Row]) -> tuple[DataFrame, int]:
        """`rows` as a DataFrame of the input's schema with row `i` alone in partition `i`, and
        the id of the RDD that holds them (the stage reading it has one task per row)."""
        assert self._sc is not None
        data = self._sc.parallelize(rows, len(rows))  # type: ignore[attr-defined]
        return self.spark.createDataFrame(data, self.df.schema), int(data.id())

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
            with self._step("suspects"):
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
        with self._step("extremes"):
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
            read = self._read_tasks(tag, tasks)
            if not read.failed:
                raise TasksUnreadable("no task of the layout failed with the original error")
            failed, clean = read.failed, read.clean
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

    @contextlib.contextmanager
    def _step(self, name: str) -> Iterator[None]:
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
        if self._steps:
            self.result.steps[self._steps[-1]].runs += 1
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

    def _read_tasks(self, tag: str, tasks: int, rdd_id: int | None = None) -> TaskResults:
        """Which tasks failed with the original error, failed otherwise and passed, in the
        stage of the failed job that read the layout's `tasks` partitions (and, given
        `rdd_id`, read that RDD: a stage after a shuffle has as many tasks by chance)."""
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
                failed = {
                    index
                    for index, error in failures.items()
                    if self.identity is None or self.identity.matches_text(error)
                }
                clean = {index for index, status, _ in results if status == "SUCCESS"}
                return TaskResults(failed, clean - set(failures), set(failures) - failed)
        raise TasksUnreadable("no failed task of the re-run could be read")


def _is_error_class(token: str) -> bool:
    """Whether an error identity's token is a Spark error class (`CAST_INVALID_INPUT`), not a
    Python exception type (`ValueError`)."""
    return token.isupper()


def _stage_reads(store: object, stage_id: int, rdd_id: int) -> bool:
    """Whether the stage's RDDs (those it computes, up to its shuffle inputs) include `rdd_id`."""
    data = store.lastStageAttempt(stage_id)  # type: ignore[attr-defined]
    return str(rdd_id) in str(data.rddIds().mkString(",")).split(",")


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
