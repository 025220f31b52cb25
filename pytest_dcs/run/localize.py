"""Localizing the problem state: the few input rows that alone make a rung's body fail.

When a body raises because of code that ran on executors, the error does not say which rows did
it. The body is run again on subsets of its input (`scaled`) until single rows are left:

0. **Failing UDF calls** (see `pytest_dcs.run.clues`): one re-run on the whole input with the
   body's Python UDFs recording the arguments of the calls that raise, skipped when the error is
   one of Spark's own (an error class no UDF raises).
1. **Any row?** Unless that re-run passed with each UDF that raised returning on more calls
   than it raised on, the body is run on two ordinary rows, each alone. When both fail the
   same way, the error is not about particular rows, and the search says so instead of
   blaming some.
2. **Clues**: the recorded arguments and the values the error message quotes, each turned into
   one Column filter. The search below runs on those candidates first. When the recording
   re-run passed with every failing call recorded, the candidates are all there is to find.
3. **Suspects.** Rows holding a null, an empty string, a NaN or an empty collection are the
   variance code most often forgets. One Column filter finds them; if the body fails on them
   alone, the search continues among them only. Otherwise, when no clue found rows, the rows at
   each column's min and max (one aggregate) are searched before the rest.
4. **Buckets, read from the failed tasks** (see `pytest_dcs.run.narrow`). The search space
   (`pytest_dcs.run.searchspace`) is cached with a hashed row key and laid out in partitions;
   the failed job's task list says which partitions to split further, drop or run again.
5. **Bisection**, the general fallback where task results cannot be read: key ranges are
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

from collections import Counter
from typing import TYPE_CHECKING

from pytest_dcs.run.narrow import bisect, descend
from pytest_dcs.run.search import Localization, OutOfTime, Reproduce, Search
from pytest_dcs.run.searchspace import KEY, keyed, suspect_condition
from pytest_dcs.run.verify import verify
from pytest_dcs.spark.jobs import TasksUnreadable

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from pytest_dcs.failures import ErrorIdentity
    from pytest_dcs.run.clues import FailingCalls
    from pytest_dcs.run.search import Outcome

# Candidates of a clue beyond this many point at a common value, not at the offending rows.
CLUE_ROWS = 100_000


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
        self.search = Search(spark, df, reproduce, limit=limit, budget=budget, identity=identity)
        self.df = df
        self.identity = identity
        self.message = message
        self._methods: list[str] = []

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
        return result

    def _run(self) -> None:
        search, result = self.search, self.search.result
        recorded, outcome = self._record()
        if self._may_fail_on_any_row(recorded, outcome):
            with search.step("any row"):
                anything = self._fails_on_any_row()
            if anything:
                self._methods.append("two ordinary rows alone")
                result.complete = True
                result.note = (
                    "the body fails the same way on any row (each of two ordinary rows "
                    "alone): no particular rows are to blame"
                )
                return
        rest, done = self._clues(recorded, outcome)
        if len(search.found) >= search.limit:
            return
        if search.found and self._rest_passes(rest):
            # The clues found rows and the rest passes without them: nothing else to find.
            result.complete = True
            done = True
        if not done:
            space, rows, source = self._space(rest)
            if source:
                self._methods.append(source)
            with search.step("search"):
                result.complete = self._search(space, rows)
        if not search.found and not result.note:
            result.note = "no single row fails the same way alone"

    def _rest_passes(self, rest: DataFrame) -> bool:
        with self.search.step("rest"):
            return self.search.outcome(rest) != "same"

    def _fails_on_any_row(self) -> bool:
        """Whether the body fails the same way on each of two ordinary rows alone."""
        condition = suspect_condition(self.df.schema)
        ordinary = self.df if condition is None else self.df.where(~condition)
        picked = ordinary.limit(2).collect()
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

        from pytest_dcs.run import clues

        search = self.search
        rest = self.df
        tried: Column | None = None
        if recorded is not None:
            calls = recorded.condition(self.df.schema, self.identity)
            if calls is not None:
                tried = calls
                if self._recorded_rows(calls) and outcome == "passed" and not recorded.truncated:
                    # Every failing call was recorded: the rows holding their arguments are all.
                    search.result.complete = len(search.found) < search.limit
                    return rest, True
        quoted = clues.quoted_condition(self.df.schema, clues.quoted_values(self.message))
        if quoted is not None and len(search.found) < search.limit:
            with search.step("quoted values"):
                self._candidates(quoted, "values quoted in the error")
            tried = quoted if tried is None else tried | quoted
        if tried is not None:
            rest = self.df.where(~F.coalesce(tried, F.lit(False)))
        return rest, False

    def _recorded_rows(self, condition: Column) -> bool:
        """Keep the rows holding the arguments of UDF calls that raised the error, each only
        when it fails the same way on its own (`verify`): a UDF called on a column the body
        changed first would point at rows whose stored value merely equals the failing one.
        When none fails alone, search them like any clue's candidates."""
        search = self.search
        method = "arguments of the failing UDF calls"
        with search.step("clue rows"):
            rows = self.df.where(condition).limit(search.limit).collect()
            search.check_time()
        if not rows:
            return False
        self._methods.append(method)
        before = len(search.found)
        with search.step("verify"):
            verify(search, rows, by_calls=True)
        if len(search.found) > before:
            return True
        self._methods.pop()
        with search.step("clue rows"):
            self._candidates(condition, method)
        return bool(search.found)

    def _candidates(self, condition: Column, method: str, df: DataFrame | None = None) -> None:
        """Search the rows of `df` (the input) matching a clue when they are few enough to be
        a clue."""
        search = self.search
        space = search.cache(keyed((self.df if df is None else df).where(condition)))
        rows = space.count()
        search.check_time()
        if not rows or rows > CLUE_ROWS:
            return
        before, mark = len(search.found), len(self._methods)
        self._methods.append(method)
        self._search(space, rows)
        if len(search.found) == before:
            del self._methods[mark:]

    def _space(self, df: DataFrame) -> tuple[DataFrame, int | None, str]:
        """Where to search (keyed), with its rows when known: the suspects when they alone
        fail, else the other rows, once the rows at their columns' extremes were searched."""
        condition = suspect_condition(df.schema)
        if condition is not None:
            with self.search.step("suspects"):
                suspects = self.search.cache(keyed(df.where(condition)))
                # One scan of the input caches the suspects; the re-run on them reads the cache.
                rows = suspects.count()
                if rows and self.search.outcome(suspects.drop(KEY)) == "same":
                    return suspects, rows, "suspect rows (null, empty, NaN)"
            df = df.where(~condition)
        return keyed(self._past_extremes(df)), None, ""

    def _past_extremes(self, df: DataFrame) -> DataFrame:
        """Search the rows of `df` at a column's min or max, when no clue found rows; the rest."""
        from pyspark.sql import functions as F

        from pytest_dcs.run import clues

        if self.search.found:
            return df
        with self.search.step("extremes"):
            extremes = clues.extremes_condition(df)
            self.search.check_time()
            if extremes is None:
                return df
            self._candidates(extremes, "rows at a column's min or max", df)
        return df.where(~F.coalesce(extremes, F.lit(False))) if self.search.found else df

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


def _is_error_class(token: str) -> bool:
    """Whether an error identity's token is a Spark error class (`CAST_INVALID_INPUT`), not a
    Python exception type (`ValueError`)."""
    return token.isupper()
