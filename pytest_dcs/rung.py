"""The `rung` fixture's object: where the test stands on its ladder and what it may read."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pytest_dcs.failures import DcsFailure
from pytest_dcs.rungs import RungKind, RungSpec

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row, SparkSession

SourceReader = Callable[[str], "tuple[DataFrame, int | None]"]
# Turns offending rows into (masked report records, capture file or None, masked summary).
RowsSink = Callable[
    ["DataFrame", "Sequence[Row]", str], "tuple[list[dict[str, Any]], str | None, str]"
]

DATA_ADVICE = (
    "these rows are the variance the code does not handle; fix the code for them "
    "(they are replayed at the local rung from now on when they are rows of the source)"
)


def _discard(
    _df: DataFrame, rows: Sequence[Row], summary: str
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
    ) -> None:
        self._spec = spec
        self._spark = spark
        self._reader = reader
        self._default_source = default_source
        self._sink = sink
        self._limit = capture_limit
        self.rows: int | None = None
        """Input rows of the marker's source at this rung, once it has been read."""
        self.input: DataFrame | None = None
        """The marker's source as this rung read it (what `scaled` is)."""
        self._replacement: DataFrame | None = None

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
        df, rows = self._reader(name)
        if name == self._default_source:
            self.rows = rows
            self.input = df
        return df

    @contextlib.contextmanager
    def replaced(self, subset: DataFrame) -> Iterator[None]:
        """While localizing: the marker's source reads as `subset`, and failing expectations
        neither capture nor report rows."""
        self._replacement, sink = subset, self._sink
        self._sink = _discard
        try:
            yield
        finally:
            self._replacement, self._sink = None, sink

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

    def _fail(self, df: DataFrame, rows: Sequence[Row], summary: str) -> None:
        __tracebackhide__ = True
        records, captured_to, summary = self._sink(df, rows, summary)
        failure = DcsFailure("data", summary, offending_rows=records, advice=DATA_ADVICE)
        failure.captured_to = captured_to  # type: ignore[attr-defined]
        raise failure

    def __repr__(self) -> str:
        return f"<Rung {self.name}>"
