"""The `rung` fixture's object: where the test stands on its ladder and what it may read."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_dcs import checks
from pytest_dcs.data.results import ResultStore
from pytest_dcs.failures import DcsFailure
from pytest_dcs.parity import check_parity, keep_output
from pytest_dcs.rungs import RungKind, RungSpec

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row, SparkSession

SourceReader = Callable[[str], "tuple[DataFrame, int | None]"]
# Turns offending rows into (masked report records, capture file or None, masked summary);
# the last argument, when given, are the rows of the source among them: only those are captured.
RowsSink = Callable[
    ["DataFrame", "Sequence[Row]", str, "Sequence[Row] | None"],
    "tuple[list[dict[str, Any]], str | None, str]",
]

DATA_ADVICE = (
    "these rows are the variance the code does not handle; fix the code for them "
    "(they are replayed at the local rung from now on when they are rows of the source)"
)


CONTROL_FLOW_ADVICE = (
    "the data does not follow the branch you expected; look at the rows of the branch "
    "(df.where(condition)) and fix the code or the expectation"
)
SKEW_ADVICE = (
    "a few keys hold most rows, so one task does most of the work (and a join on the key "
    "multiplies them): filter or handle placeholder keys ('MISSING', '', null) apart, or salt "
    "the key before joining or aggregating"
)
PLAN_ADVICE = (
    "join on an equality of keys so Spark can hash or sort-merge the sides, or make the small "
    "side explicit with a broadcast of a bounded table"
)


@dataclass
class Share:
    """An `expect_share` waiting for its observed DataFrame to be computed."""

    name: str
    at_most: float | None
    at_least: float | None


def _discard(
    _df: DataFrame, rows: Sequence[Row], summary: str, _of_input: Sequence[Row] | None
) -> tuple[list[dict[str, Any]], str | None, str]:
    return [], None, summary


class Rung:
    """The current rung of a scale test.

    ``name`` is the rung id (``local``, ``distributed``, ``1pct``...), ``kind`` one of
    ``"local"``, ``"distributed"``, ``"fraction"``, ``fraction`` the share of the real source
    (``None`` below the fraction rungs) and ``spark`` the session of the rung's engine.
    """

    def __init__(
        self,
        spec: RungSpec,
        spark: SparkSession,
        reader: SourceReader,
        default_source: str | None,
        sink: RowsSink,
        capture_limit: int,
        *,
        test: str = "",
        results: ResultStore | None = None,
        strict_plan: bool = False,
    ) -> None:
        self._spec = spec
        self._test = test
        self._results = results
        self._strict_plan = strict_plan
        self._spark = spark
        self._reader = reader
        self._default_source = default_source
        self._sink = sink
        self._limit = capture_limit
        self.rows: int | None = None
        """Input rows of the marker's source at this rung, once it has been read."""
        self.input: DataFrame | None = None
        """The marker's source as this rung read it (what `scaled` is)."""
        self.read: dict[str, DataFrame] = {}
        """Every source this rung read, by name: the real data at fraction rungs."""
        self._replacement: DataFrame | None = None
        self._partners: dict[str, DataFrame] = {}
        self._rerunning = False
        self.warnings: list[str] = []
        """Plan warnings of the DataFrames passed to `result`."""
        self.skew: dict[str, dict[str, Any]] = {}
        """What `expect_skew` measured, by key."""
        self.parity: dict[str, Any] | None = None
        """What the parity check compared (rows per side, differing rows), at `distributed`."""
        self._fresh()

    def _fresh(self) -> None:
        """Forget what a run of the body registered (before the body is run again)."""
        self._observed: dict[str, checks.Observed] = {}
        self._shares: list[Share] = []
        self._result_count = 0

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def kind(self) -> RungKind:
        return self._spec.kind

    @property
    def fraction(self) -> float | None:
        return self._spec.fraction

    @property
    def spark(self) -> SparkSession:
        return self._spark

    def source(self, name: str) -> DataFrame:
        """Source ``name`` at this rung: the tiny sample (plus captured rows) below the fraction
        rungs, else the same fraction of the real source, chosen consistently by ``sample_key``."""
        if name == self._default_source and self._replacement is not None:
            return self._replacement
        if name in self._partners:
            return self._partners[name]
        df, rows = self._reader(name)
        self.read[name] = df
        if name == self._default_source:
            self.rows = rows
            self.input = df
        return df

    @contextlib.contextmanager
    def replaced(
        self, subset: DataFrame | None, partners: Mapping[str, DataFrame] | None = None
    ) -> Iterator[None]:
        """While the plugin re-runs the body (localizing, timing): the marker's source reads as
        `subset` (None: as before), each other source named in `partners` as given there, and
        failing expectations neither capture nor report rows."""
        self._replacement, sink = subset, self._sink
        self._partners = dict(partners or {})
        self._sink = _discard
        self._rerunning = True
        self._fresh()
        try:
            yield
        finally:
            self._replacement, self._sink = None, sink
            self._partners = {}
            self._rerunning = False

    def expect_rows(self, df: DataFrame, condition: Column, name: str | None = None) -> None:
        """Fail as ``data`` unless every row of ``df`` satisfies ``condition``.

        A row where the condition is false or null is an offending row. One Spark job when all
        rows pass; on failure a second counts the offenders.
        """
        __tracebackhide__ = True
        label = name or str(condition)
        violators = df.where(~condition | condition.isNull())
        found = violators.limit(max(self._limit, 1)).collect()
        if not found:
            return
        total = violators.count()
        self._fail(df, found, f"{total:,} row(s) break expectation {label!r}")

    def check_rows(self, df: DataFrame, fn: Callable[[Row], object]) -> None:
        """Apply ``fn`` to every row of ``df`` in one pass; fail as ``data`` with the rows where
        it raises (at most ``capture`` of them, each with its error)."""
        __tracebackhide__ = True
        try:
            rdd = df.rdd
        except Exception as exc:
            raise DcsFailure(
                "framework",
                "rung.check_rows needs the RDD API, which this engine does not offer "
                f"({type(exc).__name__}); use rung.expect_rows(df, condition) with a Column "
                "condition instead",
            ) from None

        def scan(rows: Any) -> Any:
            for row in rows:
                try:
                    fn(row)
                except Exception as error:  # the row function's failure is what we report
                    yield row, f"{type(error).__name__}: {error}"

        found = rdd.mapPartitions(scan).take(max(self._limit, 1))
        if not found:
            return
        errors = sorted({error for _, error in found})
        summary = f"{getattr(fn, '__name__', 'row function')} raised on {len(found)} row(s)"
        if len(found) >= self._limit:
            summary = summary.replace(" on ", " on at least ")
        self._fail(df, [row for row, _ in found], f"{summary}: {'; '.join(errors[:3])}")

    # -- results: parity and plans --------------------------------------------------------

    def result(self, df: DataFrame, name: str | None = None) -> DataFrame:
        """Register ``df`` as an output of the test and return it.

        Its plan is checked for joins that compare every row with every row (a warning, or a
        ``slowdown`` failure with ``--dcs-strict-plan``). At ``local`` its rows are kept; at
        ``distributed`` (same input, many partitions) the rows are compared with them, order
        ignored and floats approximately, and a difference fails as ``parity``. At fraction
        rungs it is computed in full without collecting it (a ``noop`` write), so the rung's time
        is the output's. Name results when a test registers several, or rely on the order of
        the calls.
        """
        __tracebackhide__ = True
        self._result_count += 1
        label = name or f"result {self._result_count}"
        self._check_plan(df, label)
        if self.kind == "fraction":
            df.write.format("noop").mode("overwrite").save()
        elif self._rerunning or self._results is None:
            # A re-run (timing, localizing) does the same work, and keeps and compares nothing.
            keep_output(df)
        elif self.kind == "local":
            self._results.put(self._test, label, keep_output(df))
        else:
            self._compare(df, label)
        return df

    def _check_plan(self, df: DataFrame, label: str) -> None:
        __tracebackhide__ = True
        for join in checks.every_row_joins(df):
            warning = f"{label} compares every row with every row: {join}"
            if self._strict_plan:
                raise DcsFailure("slowdown", warning + " (--dcs-strict-plan)", advice=PLAN_ADVICE)
            if warning not in self.warnings:
                self.warnings.append(warning)

    def _compare(self, df: DataFrame, label: str) -> None:
        __tracebackhide__ = True
        assert self._results is not None
        self.parity, failure = check_parity(
            self._results.get(self._test, label), df, label, self._limit
        )
        if failure is not None:
            raise failure

    # -- control flow -----------------------------------------------------------------------

    def observe(self, df: DataFrame, **conditions: Column | str) -> DataFrame:
        """Count rows per named condition when the returned DataFrame is computed.

        ``rung.observe(df, no_exp=F.col("exp").isNull())`` returns ``df`` with the counts
        attached (a DataFrame observation: no extra job); use the returned DataFrame. Read the
        counts with `expect_share`; they appear in the report per rung.
        """
        __tracebackhide__ = True
        if not conditions:
            raise TypeError("rung.observe(df, name=condition, ...) needs at least one condition")
        twice = sorted(set(conditions) & set(self._observed))
        if twice:
            raise ValueError(f"rung.observe: condition(s) {twice} are observed already")
        label = f"dcs_{self.name}_{len(self._observed)}".replace(".", "_")
        observed_df, observed = checks.observe(df, label, dict(conditions))
        for condition in conditions:
            self._observed[condition] = observed
        return observed_df

    def expect_share(
        self, name: str, *, at_most: float | None = None, at_least: float | None = None
    ) -> None:
        """Fail as ``control_flow`` unless the share of observed rows meeting condition
        ``name`` is within the bounds (fractions, 0..1).

        Checked at once when the observed DataFrame has been computed, else when the body ends.
        """
        __tracebackhide__ = True
        for bound, value in (("at_most", at_most), ("at_least", at_least)):
            if value is not None and not (isinstance(value, int | float) and 0 <= value <= 1):
                raise ValueError(
                    f"rung.expect_share({name!r}, {bound}={value!r}): give a share between 0 "
                    "and 1 (0.05 for 5%)"
                )
        if at_most is None and at_least is None:
            raise TypeError(f"rung.expect_share({name!r}) needs at_most= or at_least=")
        if at_most is not None and at_least is not None and at_least > at_most:
            raise ValueError(f"rung.expect_share({name!r}): at_least is above at_most")
        if name not in self._observed:
            known = ", ".join(sorted(self._observed)) or "none"
            raise ValueError(
                f"rung.expect_share({name!r}): no condition of that name was observed "
                f"(observed: {known}); call rung.observe(df, {name}=condition) first"
            )
        share = Share(name, at_most, at_least)
        if self._observed[name].ready():
            self._check_share(share)
        else:
            self._shares.append(share)

    def finish(self) -> None:
        """Check the `expect_share` calls whose DataFrames were computed after the call."""
        __tracebackhide__ = True
        pending, self._shares = self._shares, []
        for share in pending:
            if not self._observed[share.name].ready():
                raise DcsFailure(
                    "assertion",
                    f"rung.expect_share({share.name!r}): the DataFrame returned by rung.observe "
                    "was never computed; run an action on it (count, write, collect) or pass "
                    "it to rung.result",
                )
            self._check_share(share)

    def _check_share(self, share: Share) -> None:
        __tracebackhide__ = True
        observed = self._observed[share.name]
        rows, count = observed.rows or 0, observed.counts[share.name]
        value = count / rows if rows else 0.0
        wrong = None
        if share.at_most is not None and value > share.at_most:
            expected = "should be rare" if share.at_most <= 0.1 else "should be at most"
            wrong = f"{expected} (at most {share.at_most:.1%})"
        elif share.at_least is not None and value < share.at_least:
            expected = "should be common" if share.at_least >= 0.9 else "should be at least"
            wrong = f"{expected} (at least {share.at_least:.1%})"
        if wrong is None:
            return
        raise DcsFailure(
            "control_flow",
            f"{share.name!r} {wrong}, is {value:.1%} ({count:,} of {rows:,} rows)",
            advice=CONTROL_FLOW_ADVICE,
        )

    def observations(self) -> dict[str, dict[str, Any]]:
        """Counts per observed condition whose DataFrame was computed: rows, count, share."""
        out = {}
        for name, observed in self._observed.items():
            if observed.ready():
                rows = observed.rows or 0
                count = observed.counts[name]
                out[name] = {
                    "count": count,
                    "rows": rows,
                    "share": round(count / rows, 6) if rows else None,
                }
        return out

    # -- skew -------------------------------------------------------------------------------

    def expect_skew(
        self, df: DataFrame, key: str | Sequence[str], *, max_ratio: float, top: int = 5
    ) -> None:
        """Fail as ``data`` when the heaviest key of ``df`` has more than ``max_ratio`` times
        the rows of the median key, listing the ``top`` heaviest keys with their share."""
        __tracebackhide__ = True
        keys = (key,) if isinstance(key, str) else tuple(key)
        if not keys:
            raise TypeError("rung.expect_skew(df, key, max_ratio=...) needs a key column")
        missing = [k for k in keys if k not in df.columns]
        if missing:
            raise ValueError(
                f"rung.expect_skew: no column {', '.join(map(repr, missing))} in the DataFrame "
                f"(columns: {', '.join(df.columns)})"
            )
        if not isinstance(max_ratio, int | float) or max_ratio < 1:
            raise ValueError(
                f"rung.expect_skew(max_ratio={max_ratio!r}): give the largest allowed ratio of "
                "the heaviest key's rows to the median key's, at least 1 (e.g. 10)"
            )
        found = checks.skew(df, keys, max(top, 1))
        self.skew[", ".join(keys)] = found.to_json()
        if found.ratio <= max_ratio:
            return
        heaviest = found.top[0]
        value = ", ".join(repr(v) for v in heaviest[0])
        raise DcsFailure(
            "data",
            f"key {', '.join(keys)} is skewed: {value} has {heaviest[1]:,} of "
            f"{found.total_rows:,} rows ({heaviest[1] / max(found.total_rows, 1):.1%}), "
            f"{found.ratio:,.1f}x the median key's {found.median:g} (max_ratio {max_ratio:g}; "
            f"{found.distinct_keys:,} keys)",
            offending_rows=found.records(),
            advice=SKEW_ADVICE,
        )

    def _fail(self, df: DataFrame, rows: Sequence[Row], summary: str) -> None:
        __tracebackhide__ = True
        records, captured_to, summary = self._sink(df, rows, summary, self._of_input(df, rows))
        failure = DcsFailure("data", summary, offending_rows=records, advice=DATA_ADVICE)
        failure.captured_to = captured_to  # type: ignore[attr-defined]
        raise failure

    def _of_input(self, df: DataFrame, rows: Sequence[Row]) -> Sequence[Row] | None:
        """The input rows equal to one of `rows` (None: `df` is the input itself). A frame the
        body derived can keep the source's schema and change its values: replaying such a row
        at `local` would test a row the source never had."""
        if self.input is None or df is self.input or df.schema != self.input.schema:
            return None
        return checks.rows_among(self.input, rows)

    def __repr__(self) -> str:
        return f"<Rung {self.name}>"
