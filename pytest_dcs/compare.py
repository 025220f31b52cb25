"""Compare two DataFrames in Spark, without collecting them.

`assert_frames_equal(actual, expected)` checks the schemas first, then runs one job over both
frames: per side a row count and an order-independent fingerprint (the sum and the xor of a
64-bit hash of every row). Equal counts and fingerprints end it. When they differ and there are
floats, a second such job hashes the floats rounded to their tolerance bucket. Only when that
differs too does it compute the multiset difference - one shuffle grouping the union of
both sides by every column - pair leftover rows whose floats are close but fell into
neighbouring buckets, count what is left in Spark, and fetch at most `max_diff_rows` rows of
each side for the message. The driver holds a few rows whatever the frames' size.

Floats follow the tolerance rule of `pytest_dcs.rowdiff` (`math.isclose` with `rel_tol` and
`abs_tol`, NaN equals NaN). The pairing pass only looks at float and double columns at the top
level: floats nested in arrays, maps or structs are equal when they round to the same bucket,
so there two values a hair apart on either side of a bucket boundary count as different.

Only the DataFrame API is used, so it runs on Spark Connect as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pytest_dcs.canonical import canonical_column, column, has_float, is_float, null_marks
from pytest_dcs.rowdiff import RowsDiff, Tolerance
from pytest_dcs.schemas import loosest, schema_differences

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import DataType

SIDE = "_dcs_side"
COUNT = "_dcs_n"
ORIGINAL = "_dcs_row"
RANK = "_dcs_rank"
POSITION = "_dcs_pos"
POSITION_LABEL = "#"  # the column the row position is shown under when order matters


class FramesDiffer(AssertionError):
    """Two DataFrames hold different rows; `.diff` has the counts and a sample of each side."""

    def __init__(self, message: str, diff: RowsDiff | None = None) -> None:
        super().__init__(message)
        self.diff = diff


class SchemasDiffer(FramesDiffer):
    """Two DataFrames have different columns or types; `.differences` lists them."""

    def __init__(self, differences: Sequence[str]) -> None:
        self.differences = list(differences)
        lines = "\n".join(f"  {d}" for d in self.differences)
        super().__init__(f"schemas differ (no rows were compared):\n{lines}")


def assert_frames_equal(
    actual: DataFrame,
    expected: DataFrame,
    *,
    ignore_row_order: bool = True,
    ignore_column_order: bool = False,
    ignore_nullable: bool = True,
    rel_tol: float = 1e-9,
    abs_tol: float = 1e-12,
    max_diff_rows: int = 10,
) -> None:
    """Assert that two DataFrames hold the same rows, as multisets unless order matters.

    Raises `SchemasDiffer` when the column names, order or types differ (nullability too, with
    ``ignore_nullable=False``), before any data is read, and `FramesDiffer` when rows differ,
    with a message that counts them ("3 of 1,000,000 rows differ: 2 only in actual, 1 only in
    expected") and shows at most `max_diff_rows` of them, each differing cell marked.

    Floats (also nested ones) are equal under ``math.isclose(a, b, rel_tol=, abs_tol=)``;
    NaN equals NaN; maps are compared whatever the order of their entries.

    ``ignore_row_order=False`` also compares positions: row i of one frame with row i of the
    other, in the order `collect()` would return. It costs a second pass over each frame
    (the rows of each partition are counted to number them) and needs frames whose order is
    deterministic - for example ending in an `orderBy` on unique keys.
    """
    diff = diff_frames(
        actual,
        expected,
        ignore_row_order=ignore_row_order,
        ignore_column_order=ignore_column_order,
        ignore_nullable=ignore_nullable,
        rel_tol=rel_tol,
        abs_tol=abs_tol,
        max_diff_rows=max_diff_rows,
    )
    if not diff.equal:
        raise FramesDiffer(diff.render(limit=max_diff_rows), diff)


def diff_frames(
    actual: DataFrame,
    expected: DataFrame,
    *,
    ignore_row_order: bool = True,
    ignore_column_order: bool = False,
    ignore_nullable: bool = True,
    rel_tol: float = 1e-9,
    abs_tol: float = 1e-12,
    max_diff_rows: int = 10,
) -> RowsDiff:
    """The difference `assert_frames_equal` asserts is empty, without raising on it.

    Raises `SchemasDiffer` on a schema mismatch. The result's samples hold at most
    `max_diff_rows` rows of each side; its counts are exact. With ``ignore_row_order=False``
    the first column of the rows is the position (shown as ``#``).
    """
    tolerance = Tolerance(rel_tol, abs_tol)
    if not isinstance(max_diff_rows, int) or max_diff_rows < 0:
        raise ValueError(f"max_diff_rows must be an int >= 0, got {max_diff_rows!r}")
    problems = schema_differences(
        actual.schema,
        expected.schema,
        ignore_nullable=ignore_nullable,
        ignore_column_order=ignore_column_order,
    )
    if problems:
        raise SchemasDiffer(problems)
    if ignore_column_order and expected.columns != actual.columns:
        expected = expected.select(*actual.columns)
    names = tuple(actual.columns)
    # Positional names: duplicate or dotted column names cannot confuse the plans below.
    keys = [f"_dcs_c{i}" for i in range(len(names))]
    left, right = actual.toDF(*keys), expected.toDF(*keys)
    fields = list(zip(left.schema.fields, right.schema.fields, strict=True))
    types = [loosest(f.dataType, g.dataType) for f, g in fields]
    nullable = [f.nullable or g.nullable for f, g in fields]
    if not ignore_row_order:
        left, right = _with_position(left), _with_position(right)
        keys = [POSITION, *keys]
        names = (POSITION_LABEL, *names)
        from pyspark.sql.types import LongType

        types = [LongType(), *types]
        nullable = [False, *nullable]

    marked = [column(k) for k, n in zip(keys, nullable, strict=True) if n]
    exact = [canonical_column(column(k), t, None) for k, t in zip(keys, types, strict=True)]
    actual_rows, expected_rows, same = _fingerprints(left, right, exact, marked)
    canonical = [
        canonical_column(column(k), t, tolerance) for k, t in zip(keys, types, strict=True)
    ]
    # Rounding costs more than hashing (Spark's log10 and pow are StrictMath): only when the
    # floats as they are do not settle it.
    if not same and actual_rows == expected_rows and any(has_float(t) for t in types):
        _, _, same = _fingerprints(left, right, canonical, marked)
    if same:
        return RowsDiff(names, (), (), 0, 0, expected_rows, actual_rows, tolerance)
    samples, counts = _difference(left, right, keys, types, canonical, tolerance, max_diff_rows)
    return RowsDiff(
        columns=names,
        only_expected=samples[-1],
        only_actual=samples[1],
        only_expected_count=counts.get(-1, 0),
        only_actual_count=counts.get(1, 0),
        expected_rows=expected_rows,
        actual_rows=actual_rows,
        tolerance=tolerance,
    )


def _fingerprints(
    left: DataFrame,
    right: DataFrame,
    canonical: Sequence[Column],
    nullable: Sequence[Column],
) -> tuple[int, int, bool]:
    """Row counts of both sides, and whether their fingerprints match: one job, no shuffle of rows.

    A side's fingerprint is the sum and the xor of a 64-bit hash of each of its rows: both
    independent of order and partitioning. Over the union of the sides, with the expected
    side's hashes negated in the sum, equal multisets give 0 for both; different ones only by
    a chance of about 2**-64 (the xor alone would miss rows that differ in pairs). The sum is of
    decimals, so no frame is large enough to overflow it.
    """
    from pyspark.sql import functions as F

    row_hash = F.xxhash64(*canonical, *null_marks(nullable))
    sides = [
        df.select(F.lit(side).alias(SIDE), row_hash.alias("h"))
        for side, df in ((1, left), (-1, right))
    ]
    row = (
        sides[0]
        .unionAll(sides[1])
        .agg(
            F.count(F.when(F.col(SIDE) == 1, 1)).alias("actual"),
            F.count(F.when(F.col(SIDE) == -1, 1)).alias("expected"),
            F.sum(F.col("h").cast("decimal(20,0)") * F.col(SIDE)).alias("sum"),
            F.bit_xor("h").alias("xor"),
        )
        .first()
    )
    assert row is not None
    actual_rows, expected_rows = int(row["actual"]), int(row["expected"])
    same = actual_rows == expected_rows and not row["sum"] and not row["xor"]
    return actual_rows, expected_rows, same


def _with_position(df: DataFrame) -> DataFrame:
    """`df` with its rows numbered 0, 1, ... in `collect()` order, as column `_dcs_pos`.

    A partition's rows get consecutive ids from `monotonically_increasing_id` (partition index
    in the upper bits); a small aggregate counts the rows of each partition and turns the
    counts into offsets. Everything stays distributed, but `df` is computed twice.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    low_bits = (1 << 33) - 1
    with_id = df.select(F.monotonically_increasing_id().alias("_dcs_id"), "*")
    numbered = with_id.select(
        F.shiftright("_dcs_id", 33).alias("_dcs_part"),
        (F.col("_dcs_id").bitwiseAND(F.lit(low_bits))).alias("_dcs_index"),
        *df.columns,
    )
    sizes = numbered.groupBy("_dcs_part").count()
    offsets = sizes.select(
        "_dcs_part",
        (F.sum("count").over(Window.orderBy("_dcs_part")) - F.col("count")).alias("_dcs_offset"),
    )
    return numbered.join(F.broadcast(offsets), "_dcs_part").select(
        (F.col("_dcs_offset") + F.col("_dcs_index")).alias(POSITION), *df.columns
    )


def _difference(
    left: DataFrame,
    right: DataFrame,
    keys: Sequence[str],
    types: Sequence[DataType],
    canonical: Sequence[Column],
    tolerance: Tolerance,
    max_rows: int,
) -> tuple[dict[int, tuple[tuple[Any, ...], ...]], dict[int, int]]:
    """Rows of one side without a partner on the other, by side (1 actual, -1 expected):
    a sample of at most `max_rows` each, and their counts, computed in Spark."""
    from pyspark.sql import functions as F

    group = [f"_dcs_k{i}" for i in range(len(keys))]
    sides = [
        df.select(
            F.lit(side).alias(SIDE),
            *[c.alias(g) for c, g in zip(canonical, group, strict=True)],
            F.struct(*keys).alias(ORIGINAL),
        )
        for side, df in ((1, left), (-1, right))
    ]
    net = (
        sides[0]
        .unionAll(sides[1])
        .groupBy(*group)
        .agg(F.sum(SIDE).alias("_dcs_net"), F.first(ORIGINAL).alias(ORIGINAL))
        .where(F.col("_dcs_net") != 0)
        .select(
            *group,
            F.signum("_dcs_net").cast("int").alias(SIDE),
            F.abs("_dcs_net").alias(COUNT),
            ORIGINAL,
        )
    )
    floats = [i for i, t in enumerate(types) if is_float(t)]
    cached: list[DataFrame] = []
    try:
        net = _cached(net, cached)
        counts = _counts(net)
        if floats and counts.get(1) and counts.get(-1):
            net = _cached(_pair_close_floats(net, keys, group, floats, tolerance), cached)
            counts = _counts(net)
        samples = {
            side: _sample(net.where(F.col(SIDE) == side).orderBy(*group), max_rows)
            if counts.get(side)
            else ()
            for side in (1, -1)
        }
    finally:
        for df in cached:
            df.unpersist()
    return samples, counts


def _cached(df: DataFrame, cached: list[DataFrame]) -> DataFrame:
    """`df` kept by Spark after its first computation, until unpersisted: it is read again."""
    cached.append(df.cache())
    return df


def _counts(net: DataFrame) -> dict[int, int]:
    """Rows per side (1 actual, -1 expected) of a difference, counted in Spark."""
    from pyspark.sql import functions as F

    return {r[SIDE]: int(r["n"]) for r in net.groupBy(SIDE).agg(F.sum(COUNT).alias("n")).collect()}


def _sample(rows: DataFrame, limit: int) -> tuple[tuple[Any, ...], ...]:
    """At most `limit` rows, a row standing for `n` equal rows repeated up to the limit."""
    out: list[tuple[Any, ...]] = []
    if limit == 0:
        return ()
    for row in rows.select(COUNT, ORIGINAL).limit(limit).collect():
        values = tuple(row[ORIGINAL])
        out.extend([values] * min(int(row[COUNT]), limit - len(out)))
    return tuple(out[:limit])


def _pair_close_floats(
    net: DataFrame,
    keys: Sequence[str],
    group: Sequence[str],
    floats: Sequence[int],
    tolerance: Tolerance,
) -> DataFrame:
    """Remove pairs of leftover rows (one per side) that are equal under the tolerance.

    Rows that are close in every float column but rounded into neighbouring buckets reach
    here as one row only in actual and one only in expected. Within the rows that agree on
    every other column, the i-th smallest of one side is paired with the i-th smallest of the
    other (in float order), and the pair dropped when all its floats are close.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    others = [g for i, g in enumerate(group) if i not in floats]
    float_values = [F.col(f"{ORIGINAL}.{keys[i]}") for i in floats]
    units = net.select(
        *group,
        SIDE,
        F.lit(1).cast(net.schema[COUNT].dataType).alias(COUNT),
        ORIGINAL,
        F.explode(F.array_repeat(F.lit(0), F.col(COUNT).cast("int"))).alias("_dcs_unit"),
    ).drop("_dcs_unit")
    order = Window.partitionBy(SIDE, *others).orderBy(*float_values)
    ranked = units.select("*", F.row_number().over(order).alias(RANK))
    # A (rank, other columns) group holds one row, or one row of each side to compare.
    rows = F.struct(*group, SIDE, COUNT, ORIGINAL)
    close = [
        _close(F.max_by(v, F.col(SIDE)), F.min_by(v, F.col(SIDE)), tolerance) for v in float_values
    ]
    paired = F.count(F.lit(1)) == 2
    for clause in close:
        paired = paired & clause
    kept = (
        ranked.groupBy(*others, RANK)
        .agg(paired.alias("_dcs_paired"), F.collect_list(rows).alias("_dcs_rows"))
        .where(~F.col("_dcs_paired"))
        .select(F.explode("_dcs_rows").alias("_dcs_r"))
    )
    return kept.select(*[F.col(f"_dcs_r.{c}").alias(c) for c in (*group, SIDE, COUNT, ORIGINAL)])


def _close(a: Column, b: Column, tolerance: Tolerance) -> Column:
    """`Tolerance.close` in Spark, with null equal to null."""
    from pyspark.sql import functions as F

    bound = F.greatest(
        F.lit(tolerance.rel_tol) * F.greatest(F.abs(a), F.abs(b)), F.lit(tolerance.abs_tol)
    )
    return (
        F.when(a.isNull() | b.isNull(), a.isNull() & b.isNull())
        .when(F.isnan(a) | F.isnan(b), F.isnan(a) & F.isnan(b))
        .when(a == b, F.lit(True))
        .when((F.abs(a) == F.lit(float("inf"))) | (F.abs(b) == F.lit(float("inf"))), F.lit(False))
        .otherwise(F.abs(a - b) <= bound)
    )
