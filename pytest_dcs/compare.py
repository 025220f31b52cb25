"""Compare two DataFrames in Spark, without collecting them.

`assert_frames_equal(actual, expected)` checks the schemas first, then runs one job over both
frames: per side a row count and two order-independent fingerprints (sums of 64-bit row
hashes, floats rounded to their tolerance bucket). Equal counts and fingerprints end it. Only
when they differ does it compute the multiset difference - one shuffle grouping the union of
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

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pytest_dcs.rowdiff import RowsDiff, Tolerance

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import DataType, StructType

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
    types = [f.dataType for f in left.schema.fields]
    nullable = [f.nullable or g.nullable for f, g in zip(left.schema, right.schema, strict=True)]
    if not ignore_row_order:
        left, right = _with_position(left), _with_position(right)
        keys = [POSITION, *keys]
        names = (POSITION_LABEL, *names)
        from pyspark.sql.types import LongType

        types = [LongType(), *types]
        nullable = [False, *nullable]

    canonical = [_canonical(_col(k), t, tolerance) for k, t in zip(keys, types, strict=True)]
    actual_rows, expected_rows, same = _fingerprints(
        left, right, canonical, [_col(k) for k, n in zip(keys, nullable, strict=True) if n]
    )
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


def schema_differences(
    actual: StructType,
    expected: StructType,
    *,
    ignore_nullable: bool = True,
    ignore_column_order: bool = False,
) -> list[str]:
    """What differs between two schemas, one line each; empty when they match."""
    a_names, e_names = actual.fieldNames(), expected.fieldNames()
    problems: list[str] = []
    a_fields = {f.name: f for f in reversed(actual.fields)}
    e_fields = {f.name: f for f in reversed(expected.fields)}

    def described(fields: dict[str, Any], name: str) -> str:
        field = fields[name]
        return f"{name} {_type_text(field.dataType, field.nullable, not ignore_nullable)}"

    only_actual = list((Counter(a_names) - Counter(e_names)).elements())
    only_expected = list((Counter(e_names) - Counter(a_names)).elements())
    if only_actual:
        problems.append("only in actual: " + ", ".join(described(a_fields, n) for n in only_actual))
    if only_expected:
        problems.append(
            "only in expected: " + ", ".join(described(e_fields, n) for n in only_expected)
        )
    for name in dict.fromkeys(n for n in a_names if n in e_fields):
        a_field, e_field = a_fields[name], e_fields[name]
        a_type = _type_text(a_field.dataType, a_field.nullable, not ignore_nullable)
        e_type = _type_text(e_field.dataType, e_field.nullable, not ignore_nullable)
        if a_type != e_type:
            problems.append(f"column {name}: {a_type} in actual, {e_type} in expected")
    if not only_actual and not only_expected and a_names != e_names:
        duplicated = sorted(n for n, k in Counter(a_names).items() if k > 1)
        if not ignore_column_order:
            problems.append(
                f"column order: actual ({', '.join(a_names)}), expected ({', '.join(e_names)})"
            )
        elif duplicated:
            problems.append(
                "columns cannot be matched by name when names repeat: " + ", ".join(duplicated)
            )
    return problems


def _type_text(data_type: DataType, nullable: bool, show_nullable: bool) -> str:
    """A type as `simpleString`, with `not null` marks at every level when they matter."""
    from pyspark.sql.types import ArrayType, MapType, StructType

    mark = " not null" if show_nullable and not nullable else ""
    if isinstance(data_type, StructType):
        inner = ", ".join(
            f"{f.name}: {_type_text(f.dataType, f.nullable, show_nullable)}"
            for f in data_type.fields
        )
        return f"struct<{inner}>{mark}"
    if isinstance(data_type, ArrayType):
        element = _type_text(data_type.elementType, data_type.containsNull, show_nullable)
        return f"array<{element}>{mark}"
    if isinstance(data_type, MapType):
        key = _type_text(data_type.keyType, False, False)
        value = _type_text(data_type.valueType, data_type.valueContainsNull, show_nullable)
        return f"map<{key}, {value}>{mark}"
    return f"{data_type.simpleString()}{mark}"


def _col(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.col(name)


def _is_float(data_type: DataType) -> bool:
    from pyspark.sql.types import DoubleType, FloatType

    return isinstance(data_type, (DoubleType, FloatType))


def _round(x: Column, tolerance: Tolerance) -> Column:
    """`Tolerance.round` in Spark: the representative of a double's bucket."""
    from pyspark.sql import functions as F

    if tolerance.rel_tol == 0 and tolerance.abs_tol == 0:
        return F.when(x == 0, F.lit(0.0)).otherwise(x)
    magnitude = F.pow(F.lit(10.0), F.floor(F.log10(F.abs(x))))
    step = F.greatest(magnitude * F.lit(tolerance.rel_tol), F.lit(tolerance.abs_tol))
    return (
        F.when(x == 0, F.lit(0.0))
        .when(F.isnan(x) | (F.abs(x) == F.lit(float("inf"))), x)
        .when(step > 0, F.rint(x / step) * step)
        .otherwise(x)
    )


def _canonical(c: Column, data_type: DataType, tolerance: Tolerance) -> Column:
    """A column equal for equal values under the tolerance, orderable, and safe to hash.

    Floats are rounded to their bucket, maps become their entries sorted by key. Spark's row
    hash skips nulls and does not mix in array lengths, so ``(null, 'x')`` and ``('x', null)``,
    or ``[1, 2], [3]`` and ``[1], [2, 3]``, would hash alike: nested values that may be null
    carry an is-null flag, and arrays their size.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, MapType, StructType, VariantType

    if _is_float(data_type):
        return _round(c.cast("double"), tolerance)
    if isinstance(data_type, VariantType):
        return c.cast("string")
    if isinstance(data_type, ArrayType):
        element, nullable = data_type.elementType, data_type.containsNull
        if _plain(element) and not nullable:
            items = c
        else:
            items = F.transform(
                c, lambda x: _flagged(x, _canonical(x, element, tolerance), nullable)
            )
        return F.when(c.isNotNull(), F.struct(F.size(c).alias("n"), items.alias("v")))
    if isinstance(data_type, MapType):
        key_type, value_type = data_type.keyType, data_type.valueType
        nullable = data_type.valueContainsNull
        entries = F.array_sort(
            F.transform(
                F.map_entries(c),
                lambda e: F.struct(
                    _canonical(e["key"], key_type, tolerance).alias("k"),
                    _flagged(
                        e["value"], _canonical(e["value"], value_type, tolerance), nullable
                    ).alias("v"),
                ),
            )
        )
        return F.when(c.isNotNull(), F.struct(F.size(c).alias("n"), entries.alias("v")))
    if isinstance(data_type, StructType):
        fields = [
            _flagged(c[f.name], _canonical(c[f.name], f.dataType, tolerance), f.nullable).alias(
                f"f{i}"
            )
            for i, f in enumerate(data_type.fields)
        ]
        return F.when(c.isNotNull(), F.struct(*fields))
    return c


def _plain(data_type: DataType) -> bool:
    """Types whose values are their own canonical form."""
    from pyspark.sql.types import ArrayType, MapType, StructType, VariantType

    return not (
        _is_float(data_type) or isinstance(data_type, (ArrayType, MapType, StructType, VariantType))
    )


def _flagged(original: Column, canonical: Column, nullable: bool) -> Column:
    from pyspark.sql import functions as F

    if not nullable:
        return canonical
    return F.struct(original.isNull().alias("null"), canonical.alias("v"))


def _row_hashes(canonical: Sequence[Column], nullable: Sequence[Column]) -> tuple[Column, Column]:
    """Two 64-bit hashes of a row; the is-null flags of top-level columns tell which was null.

    The second hashes the first: as good as an independent hash for telling multisets apart
    (their sums agree by chance only), and cheaper: it hashes one long, not the row again.
    """
    from pyspark.sql import functions as F

    parts = list(canonical)
    if nullable:
        parts.append(F.array(*[c.isNull() for c in nullable]))
    first = F.xxhash64(*parts)
    return first, F.xxhash64(first)


def _fingerprints(
    left: DataFrame,
    right: DataFrame,
    canonical: Sequence[Column],
    nullable: Sequence[Column],
) -> tuple[int, int, bool]:
    """Row counts of both sides, and whether their fingerprints match: one job, no shuffle of rows.

    A fingerprint is the sum of each row hash over the side, independent of order and
    partitioning; summed as decimals, so no frame is large enough to overflow it.
    """
    from pyspark.sql import functions as F

    first, second = _row_hashes(canonical, nullable)
    sides = [
        df.select(F.lit(side).alias(SIDE), first.alias("h1"), second.alias("h2"))
        for side, df in ((1, left), (-1, right))
    ]
    both = sides[0].unionAll(sides[1])
    signed = [(F.col(h).cast("decimal(20,0)") * F.col(SIDE)) for h in ("h1", "h2")]
    row = both.agg(
        F.sum(F.when(F.col(SIDE) == 1, 1).otherwise(0)).alias("actual"),
        F.sum(F.when(F.col(SIDE) == -1, 1).otherwise(0)).alias("expected"),
        F.sum(signed[0]).alias("d1"),
        F.sum(signed[1]).alias("d2"),
    ).first()
    assert row is not None
    actual_rows, expected_rows = int(row["actual"] or 0), int(row["expected"] or 0)
    same = actual_rows == expected_rows and not row["d1"] and not row["d2"]
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
    floats = [i for i, t in enumerate(types) if _is_float(t)]
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
