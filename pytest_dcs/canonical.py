"""Columns in a form that compares by value: floats rounded to their tolerance bucket, nested
values made order-free where Spark cannot hash them, nulls flagged so they differ from values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_dcs.rowdiff import Tolerance

if TYPE_CHECKING:
    from pyspark.sql import Column
    from pyspark.sql.types import DataType


def column(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.col(name)


def is_float(data_type: DataType) -> bool:
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


def canonical_column(c: Column, data_type: DataType, tolerance: Tolerance | None) -> Column:
    """A column equal for equal values, orderable, and safe to hash.

    Maps become their entries sorted by key; with a `tolerance`, floats are rounded to their
    bucket (without one they stay as they are). Spark's row hash skips nulls and does not mix
    in array lengths, so ``(null, 'x')`` and ``('x', null)``, or ``[1, 2], [3]`` and
    ``[1], [2, 3]``, would hash alike: nested values that may be null carry an is-null flag,
    and arrays their size.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, MapType, StructType, VariantType

    if is_float(data_type):
        return c if tolerance is None else _round(c.cast("double"), tolerance)
    if isinstance(data_type, VariantType):
        return c.cast("string")
    if isinstance(data_type, ArrayType):
        element, nullable = data_type.elementType, data_type.containsNull
        if _plain(element, tolerance) and not nullable:
            items = c
        else:
            items = F.transform(
                c, lambda x: _flagged(x, canonical_column(x, element, tolerance), nullable)
            )
        return F.when(c.isNotNull(), F.struct(F.size(c).alias("n"), items.alias("v")))
    if isinstance(data_type, MapType):
        key_type, value_type = data_type.keyType, data_type.valueType
        nullable = data_type.valueContainsNull
        entries = F.array_sort(
            F.transform(
                F.map_entries(c),
                lambda e: F.struct(
                    canonical_column(e["key"], key_type, tolerance).alias("k"),
                    _flagged(
                        e["value"], canonical_column(e["value"], value_type, tolerance), nullable
                    ).alias("v"),
                ),
            )
        )
        return F.when(c.isNotNull(), F.struct(F.size(c).alias("n"), entries.alias("v")))
    if isinstance(data_type, StructType):
        fields = [
            _flagged(
                c[f.name], canonical_column(c[f.name], f.dataType, tolerance), f.nullable
            ).alias(f"f{i}")
            for i, f in enumerate(data_type.fields)
        ]
        return F.when(c.isNotNull(), F.struct(*fields))
    return c


def _plain(data_type: DataType, tolerance: Tolerance | None) -> bool:
    """Types whose values are their own canonical form."""
    from pyspark.sql.types import ArrayType, MapType, StructType, VariantType

    if is_float(data_type):
        return tolerance is None
    return not isinstance(data_type, (ArrayType, MapType, StructType, VariantType))


def has_float(data_type: DataType) -> bool:
    """Whether a value of this type holds a float or double anywhere."""
    from pyspark.sql.types import ArrayType, MapType, StructType

    if isinstance(data_type, ArrayType):
        return has_float(data_type.elementType)
    if isinstance(data_type, MapType):
        return has_float(data_type.keyType) or has_float(data_type.valueType)
    if isinstance(data_type, StructType):
        return any(has_float(f.dataType) for f in data_type.fields)
    return is_float(data_type)


def _flagged(original: Column, canonical: Column, nullable: bool) -> Column:
    from pyspark.sql import functions as F

    if not nullable:
        return canonical
    return F.struct(original.isNull().alias("null"), canonical.alias("v"))


def null_marks(nullable: Sequence[Column]) -> list[Column]:
    """Which top-level columns are null, as bits of longs (62 columns each) to hash with the row.

    Bits rather than an array of flags: no allocation per row.
    """
    from pyspark.sql import functions as F

    marks = []
    for start in range(0, len(nullable), 62):
        bits = [
            F.when(c.isNull(), F.lit(1 << i)).otherwise(F.lit(0))
            for i, c in enumerate(nullable[start : start + 62])
        ]
        mark = bits[0]
        for bit in bits[1:]:
            mark = mark.bitwiseOR(bit)
        marks.append(mark.cast("long"))
    return marks
