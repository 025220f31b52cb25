"""Localizing the problem state: the few input rows that alone make a rung's body fail.

When a body raises because of code that ran on executors, the error does not say which rows did
it. The body is run again on subsets of its input (`scaled`) until single rows are left:

0. **The calls that failed the rung** (see `pytest_dcs.run.sealed`): the arguments of the UDF
   calls that raised in the rung itself came back sealed in its error, with the function the
   UDF wraps. Where its arguments are plain input columns, one pass of that function over them
   (`pytest_dcs.run.scan`) gives every value it raises on, and the rows holding them, once
   checked, settle the search. Otherwise one filter and one check find the rows of the rung's
   own calls, before any re-run of the whole input.
1. **Failing UDF calls** (see `pytest_dcs.run.clues`): one re-run on the whole input with the
   body's Python UDFs recording the arguments of the calls that raise, skipped when the error is
   one of Spark's own (an error class no UDF raises).
   The rows found at step 0 are not checked again.
2. **Any row?** Unless that re-run passed with each UDF that raised returning on more calls
   than it raised on, the body is run on two ordinary rows, each alone. When both fail the
   same way, the error is not about particular rows, and the search says so instead of
   blaming some (nor the rows of step 0).
3. **Clues**: the recorded arguments and the values the error message quotes, each turned into
   one Column filter. The search below runs on those candidates first. When the recording
   re-run passed with every failing call recorded, the candidates are all there is to find.
   A clue held by another source the body joined in (`pytest_dcs.run.partners`) points at the
   input rows linked to its rows.
4. **Suspects.** Rows holding a null, an empty string, a NaN or an empty collection are the
   variance code most often forgets. One Column filter finds them; few are checked alone at
   once, many are searched when the body fails on them together. Unless the other rows then
   pass, the rows at the min and max of each column (one aggregate) are checked next, then
   the rest is searched.

Suspects, quoted values and extremes are looked for in the columns the body read
(`pytest_dcs.spark.plans`) when Spark's plans tell them: on a wide source nearly every row
holds a null in some column the body never touches.
5. **Buckets, read from the failed tasks** (see `pytest_dcs.run.narrow`). The search space
   (`pytest_dcs.run.searchspace`) is cached with a hashed row key and laid out in partitions;
   the failed job's task list says which partitions to split further, drop or run again.
6. **Bisection**, the general fallback where task results cannot be read: key ranges are
   halved and each half is run on its own.

"The same" failure is an `ErrorIdentity`: the re-run's own exception type and message shape,
never the error it was raised while handling. A row is reported only when it failed that way on
its own: a task that read that row alone failed so, or a re-run of the body on it alone did.
Rows a clue points at are checked together (`pytest_dcs.run.verify`): laid out one per
partition, each task reads one row.

The re-runs, the budget and the rows found are the `Search` every step shares
(`pytest_dcs.run.search`); this module decides the order of the steps.
"""

from __future__ import annotations

import functools
import threading
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_dcs.run.fetch import rows_in_files, rows_where
from pytest_dcs.run.narrow import bisect, descend
from pytest_dcs.run.partners import Partner, linked_input
from pytest_dcs.run.search import Localization, OutOfTime, Reproduce, Search, collect_few
from pytest_dcs.run.searchspace import KEY, column, keyed, suspect_condition
from pytest_dcs.run.verify import verify
from pytest_dcs.spark.jobs import TasksUnreadable

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row, SparkSession
    from pyspark.sql.types import StructType

    from pytest_dcs.failures import ErrorIdentity
    from pytest_dcs.run.clues import FailingCalls
    from pytest_dcs.run.search import Outcome

# Candidates of a clue beyond this many point at a common value, not at the offending rows.
CLUE_ROWS = 100_000
# How long a search's end waits for the job warming a worker (one task: well under a second).
WARM_JOIN_SECONDS = 10.0
# Input rows read to pick one per link value, when a clue came through a partner source.
LINKED_CANDIDATES = 1_000


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
        partners: Sequence[Partner] = (),
        read: set[str] | None = None,
        rung_calls: FailingCalls | None = None,
    ) -> None:
        self.search = Search(spark, df, reproduce, limit=limit, budget=budget, identity=identity)
        self.df = df
        self.identity = identity
        self.message = message
        self.partners = list(partners)
        self.read = read
        self.rung_calls = rung_calls
        self._methods: list[str] = []
        self._warming: threading.Thread | None = None

    def run(self) -> Localization:
        search = self.search
        result = search.result
        search.start()
        try:
            with search.tagged(search.tag()), search.step("setup"):
                self._run()
        except OutOfTime:
            result.complete = False
            result.note = "the budget ran out"
        except Exception as exc:  # the search is a help: its own failure must not hide the body's
            result.complete = False
            if search.past_deadline():
                # A job of the search itself (a filter, a count) cancelled at the deadline.
                result.note = "the budget ran out"
            else:
                first = (str(exc).strip().splitlines() or [""])[0][:200]
                result.note = f"the search stopped on {type(exc).__name__}: {first}"
        finally:
            result.method = ", then ".join(dict.fromkeys(self._methods))
            search.finish()
            if self._warming is not None:
                self._warming.join(WARM_JOIN_SECONDS)
        return result

    def _run(self) -> None:
        search, result = self.search, self.search.result
        if self.rung_calls is not None:
            if self._scanned(self.rung_calls):
                return
            if len(search.found) >= search.limit:
                return
        recorded, outcome = self._record()
        if self._may_fail_on_any_row(recorded, outcome):
            with search.step("any row"):
                anything = self._fails_on_any_row()
            if anything:
                # The rows the rung's calls pointed at are no more to blame than any other.
                search.forget()
                self._methods[:] = ["two ordinary rows alone"]
                result.complete = True
                result.note = (
                    "the body fails the same way on any row (each of two ordinary rows "
                    "alone): no particular rows are to blame"
                )
                return
        rest, done = self._clues(recorded, outcome)
        if len(search.found) >= search.limit:
            return
        if not done and search.found and self._rest_passes(rest):
            # The clues found rows and the rest passes without them: nothing else to find.
            result.complete = True
            done = True
        if not done:
            result.complete = self._look_through(rest)
        if not search.found and not result.note:
            result.note = "no single row fails the same way alone"

    def _scanned(self, calls: FailingCalls) -> bool:
        """Keep the rows holding the values the UDF that failed the rung raises on, found by
        calling its function on its argument columns (`pytest_dcs.run.scan`), each when it
        fails the same way on its own; where that cannot be done, the rows holding the
        arguments of the rung's own failing calls. True when that settled the search: the scan
        read every value, the function raised on a few particular ones, and their rows were
        found."""
        from pytest_dcs.run import scan

        search = self.search
        site = scan.scannable_site(calls, self.df.schema, self.identity)
        scanned = None
        if site is not None:
            with search.step(SCAN):
                try:
                    scanned = scan.scan(
                        self.df,
                        calls,
                        site,
                        self.identity,
                        seconds_left=search.seconds_left,
                        reading_here=self._warm_a_worker,
                    )
                except Exception:  # the function does not ship, say: the other clues remain
                    scanned = None
                search.check_time()
        condition = None
        if scanned is not None and scanned.particular:
            condition, _ = scanned.calls.condition(self.df.schema, self.identity)
        if condition is None:
            # No scan, or the function raised on so many values that the body may fail on any
            # row: the steps after tell.
            self._rung_calls(calls)
            return False
        assert scanned is not None
        rows = None
        if scanned.in_process and len(calls.columns[scanned.site]) == 1:
            # The values' rows are in the files just read: taken from there, no job.
            with search.step("clue rows"):
                values = [c.args[0] for c in scanned.calls.calls if c.raised(self.identity)]
                name = str(calls.columns[scanned.site][0])
                rows = rows_in_files(self.df, name, values, search.limit)
        if not self._recorded_rows(condition, method=SCANNED, rows=rows):
            return False
        # Every value the UDF raises on was read: the rows holding them are all it fails on.
        search.result.complete = len(search.found) < search.limit
        return True

    def _warm_a_worker(self) -> None:
        """Have one executor start a Python worker while this process scans and reads rows:
        the rung's failure ended its tasks' workers, and the check of the rows found would
        otherwise wait for new ones on every executor (0.65 s of CPU each). One, not all: the
        scan takes one core, the other is free; warming every executor took as much from the
        scan and the row reads as it saved the check."""
        from pytest_dcs.spark.warmup import start_one_worker

        self._warming = start_one_worker(self.search.spark)

    def _rung_calls(self, calls: FailingCalls) -> None:
        """Keep the rows holding the arguments of the UDF calls that failed the rung, each
        when it fails the same way on its own."""
        search = self.search
        with search.step(RUNG_CALLS):
            condition, through = calls.condition(self.df.schema, self.identity, self.partners)
            search.check_time()
        if condition is not None:
            self._recorded_rows(
                condition, through, method="arguments of the UDF call that failed the rung"
            )

    def _rest_passes(self, rest: DataFrame) -> bool:
        with self.search.step("rest"):
            return self.search.outcome(rest) != "same"

    def _fails_on_any_row(self) -> bool:
        """Whether the body fails the same way on each of two ordinary rows alone."""
        condition = suspect_condition(self._read(self.df.schema))
        ordinary = self.df if condition is None else self.df.where(~condition)
        picked = collect_few(ordinary, 2)
        self.search.check_time()
        if len(picked) < 2:
            return False
        return len(verify(self.search, picked, stop_on_pass=True)) == len(picked)

    def _record(self) -> tuple[FailingCalls | None, Outcome | None]:
        """Re-run the body on the whole input with its Python UDFs recording the calls that
        raise; None when nothing can be recorded: over Spark Connect, or when the error is one
        of Spark's own (an error class), which no Python UDF raises."""
        from pytest_dcs.run import clues

        if self.identity is not None and _is_error_class(self.identity.token):
            return None, None
        outcome: Outcome | None = None
        with (
            self.search.step("recording re-run"),
            clues.recording_udfs(self.search.spark) as recorded,
        ):
            if recorded is not None:
                outcome = self.search.outcome(self.df)
        return recorded, outcome

    def _may_fail_on_any_row(self, recorded: FailingCalls | None, outcome: Outcome | None) -> bool:
        """Whether the body might fail on any row: unless the recording re-run passed with
        every failing call recorded, and each UDF that raised returned on more calls than it
        raised on. Then it does not fail on every row, the rows of the failing calls are
        checked alone anyway, and asking two ordinary rows alone would cost a re-run for
        nothing."""
        if recorded is None or outcome != "passed" or recorded.truncated or not recorded.calls:
            return True
        failing = Counter(call.site for call in recorded.calls)
        return any(recorded.returned.get(site, 0) <= count for site, count in failing.items())

    def _clues(
        self, recorded: FailingCalls | None, outcome: Outcome | None
    ) -> tuple[DataFrame, bool]:
        """Search the rows the clues point at; the rest of the input, and whether the clues
        settled the search (every failing UDF call recorded, and its rows searched)."""
        from pyspark.sql import functions as F

        search = self.search
        rest = self.df
        tried: Column | None = None
        if recorded is not None:
            with search.step("clue rows"):
                calls, through = recorded.condition(self.df.schema, self.identity, self.partners)
                search.check_time()
            if calls is not None:
                tried = calls
                found = self._recorded_rows(calls, through)
                if found and outcome == "passed" and not recorded.truncated:
                    # Every failing call was recorded: the rows holding their arguments are all.
                    search.result.complete = len(search.found) < search.limit
                    return rest, True
        quoted = self._quoted()
        if quoted is not None and len(search.found) < search.limit:
            with search.step("quoted values"):
                self._candidates(quoted, "values quoted in the error")
            tried = quoted if tried is None else tried | quoted
        if tried is not None:
            rest = self.df.where(~F.coalesce(tried, F.lit(False)))
        return rest, False

    def _quoted(self) -> Column | None:
        """Rows holding a value the error message quotes, or linked to a partner's row that
        holds one (one job per partner)."""
        from pytest_dcs.run import clues

        values = clues.quoted_values(self.message)
        terms = [clues.quoted_condition(self._read(self.df.schema), values)]
        if values:
            with self.search.step("quoted values"):
                for partner in self.partners:
                    schema = _without(self._read(partner.schema), partner.links)
                    own = clues.quoted_condition(schema, values)
                    if own is not None:
                        terms.append(linked_input(partner, own))
                        self.search.check_time()
        found = [t for t in terms if t is not None]
        return functools.reduce(lambda a, b: a | b, found) if found else None

    def _read(self, schema: StructType) -> StructType:
        """`schema` less the columns the body's queries never read (when that is known): a null
        in a column of a wide source the body does not touch is no suspect."""
        if self.read is None:
            return schema
        return _without(schema, [n for n in schema.fieldNames() if n not in self.read])

    def _recorded_rows(
        self,
        condition: Column,
        through: Sequence[Partner] = (),
        *,
        method: str = "arguments of the failing UDF calls",
        rows: list[Row] | None = None,
    ) -> bool:
        """Keep the rows holding the arguments of UDF calls that raised the error, each only
        when it fails the same way on its own (`verify`): a UDF called on a column the body
        changed first would point at rows whose stored value merely equals the failing one.
        When none fails alone, search them like any clue's candidates.

        Where the arguments were found in a partner source (`through`), every input row
        linked to a failing partner row fails alike: one row per link value is checked, so
        that each failing partner row is shown once, not its first partner's rows only.
        `rows`: the rows matching `condition`, when read already."""
        search = self.search
        with search.step("clue rows"):
            if rows is None and through:
                # Deduplicated here: a Spark dropDuplicates shuffles every column of a wide row.
                rows = _one_per_link(
                    rows_where(self.df, condition, LINKED_CANDIDATES, read=self.read), through
                )[: search.limit]
            elif rows is None:
                rows = rows_where(self.df, condition, search.limit, read=self.read)
            search.check_time()
        if not rows:
            return False
        rows = [row for row in rows if not search.holds(row)]
        if not rows:  # all found from the rung's own calls
            return True
        self._methods.append(method)
        before = len(search.found)
        with search.step("verify"):
            verify(search, rows, by_calls=True, recorded_before=True)
        if len(search.found) > before:
            return True
        self._methods.pop()
        with search.step("clue rows"):
            self._candidates(condition, method)
        return bool(search.found)

    def _candidates(
        self,
        condition: Column,
        method: str,
        df: DataFrame | None = None,
        *,
        one_per: Column | None = None,
    ) -> None:
        """Search the rows of `df` (the input) matching a clue when they are few enough to be
        a clue; only one row per value of `one_per`, when given."""
        search = self.search
        source = self.df if df is None else df
        # Few candidates are checked alone at once, without laying out a search space.
        few = rows_where(source, condition, search.limit + 1, read=self.read, one_per=one_per)
        search.check_time()
        if not few:
            return
        before, mark = len(search.found), len(self._methods)
        self._methods.append(method)
        if len(few) <= search.limit:
            with search.step("verify"):
                verify(search, few)
        else:
            matching = source.where(condition)
            if one_per is not None:
                columns = matching.columns
                matching = matching.withColumn(_ONE_PER, one_per).dropDuplicates([_ONE_PER])
                matching = matching.select(*[column(c) for c in columns])
            space = search.cache(keyed(matching))
            rows = space.count()
            search.check_time()
            if rows <= CLUE_ROWS:
                self._search(space, rows)
        if len(search.found) == before:
            del self._methods[mark:]

    def _look_through(self, df: DataFrame) -> bool:
        """Search `df` row by row where no clue settled it: its suspects first, then the rows
        at its columns' extremes, then the rest, each step only while the rows not yet looked
        at still fail; True when every part was decided."""
        search = self.search
        complete = True
        condition = suspect_condition(self._read(df.schema))
        if condition is not None:
            before = len(search.found)
            with search.step("suspects"):
                complete = self._suspects(df, condition)
            df = df.where(~condition)
            if len(search.found) >= search.limit:
                return False
            if len(search.found) > before and self._rest_passes(df):
                return complete
        before = len(search.found)
        df = self._past_extremes(df)
        if len(search.found) >= search.limit:
            return False
        if len(search.found) > before and self._rest_passes(df):
            return complete
        with search.step("search"):
            return self._search(keyed(df), None) and complete

    def _suspects(self, df: DataFrame, condition: Column) -> bool:
        """Search the suspect rows of `df` (those matching `condition`), keeping those that
        fail alone; True when all were decided. Few are checked alone at once; many are
        searched when they fail together."""
        search = self.search
        method = "suspect rows (null, empty, NaN)"
        suspects = df.where(condition)
        few = rows_where(df, condition, search.limit + 1, read=self.read)
        search.check_time()
        if len(few) <= search.limit:
            if few and verify(search, few):
                self._methods.append(method)
            return True
        cached = search.cache(keyed(suspects))
        # One scan of the input caches the suspects; the re-run on them reads the cache.
        rows = cached.count()
        if search.outcome(cached.drop(KEY)) != "same":
            return True
        self._methods.append(method)
        with search.step("search"):
            return self._search(cached, rows)

    def _past_extremes(self, df: DataFrame) -> DataFrame:
        """Search the rows of `df` at a column's min or max; the rest."""
        from pyspark.sql import functions as F

        from pytest_dcs.run import clues

        with self.search.step("extremes"):
            extremes = clues.extremes_condition(df, self.read)
            self.search.check_time()
            if extremes is None:
                return df
            condition, row_hash = extremes
            self._candidates(condition, "rows at a column's min or max", df, one_per=row_hash)
        return df.where(~F.coalesce(condition, F.lit(False)))

    def _search(self, space: DataFrame, rows: int | None) -> bool:
        """Find failing rows of `space` (keyed); True when every part of it was decided."""
        if self.search.sc is not None:
            mark = len(self._methods)
            self._methods.append("failed tasks of partitioned re-runs")
            try:
                return descend(self.search, space, rows)
            except TasksUnreadable as exc:
                del self._methods[mark:]
                self.search.result.note = f"{exc}; bisected instead"
        self._methods.append("bisection")
        return bisect(self.search, self.search.cache(space))


_ONE_PER = "__dcs_one_per"
RUNG_CALLS = "rung's failing calls"
SCAN = "scan of the failing UDF"
SCANNED = "values the failing UDF raises on (one pass over its argument columns)"


def _one_per_link(rows: list[Row], partners: Sequence[Partner]) -> list[Row]:
    """`rows` less those whose link values to each partner an earlier row holds."""
    seen: set[tuple[str, tuple[object, ...]]] = set()
    kept: list[Row] = []
    for row in rows:
        links = {(p.name, tuple(row[c] for c in p.links)) for p in partners}
        if not links <= seen:
            kept.append(row)
            seen |= links
    return kept


def _without(schema: StructType, names: Sequence[str]) -> StructType:
    """`schema` without the fields `names`."""
    from pyspark.sql.types import StructType

    return StructType([f for f in schema.fields if f.name not in names])


def _is_error_class(token: str) -> bool:
    """Whether an error identity's token is a Spark error class (`CAST_INVALID_INPUT`), not a
    Python exception type (`ValueError`)."""
    return token.isupper()
