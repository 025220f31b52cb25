"""Choosing rows: the tiny sample of a source and the nested fractions of the fraction rungs.

A row's place in the ladder is decided by a stable hash (Spark's xxhash64) mapped to [0, 1):
a row is in fraction f when its hash is below f, so 1% is inside 10% is inside 40%, on every run
and every engine. With a sample key the hash is of the key alone, so whole keys move together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import DataType

DEFAULT_SEED = 20170519
_UNIT_BITS = 53  # a double holds 53 bits exactly


def _hashable(dtype: DataType) -> bool:
    from pyspark.sql import types as T

    if isinstance(dtype, (T.MapType, T.VariantType)):
        return False
    if isinstance(dtype, T.ArrayType):
        return _hashable(dtype.elementType)
    if isinstance(dtype, T.StructType):
        return all(_hashable(f.dataType) for f in dtype.fields)
    return True


def hash_columns(df: DataFrame, key: Sequence[str] = ()) -> list[str]:
    """The columns whose hash places a row: the key if given, else every hashable column."""
    if key:
        missing = [k for k in key if k not in df.columns]
        if missing:
            raise KeyError(
                f"sample_key column(s) {', '.join(missing)} not in the source "
                f"(columns: {', '.join(df.columns)})"
            )
        return list(key)
    return [f.name for f in df.schema.fields if _hashable(f.dataType)]


def unit_hash(columns: Sequence[str], seed: int = DEFAULT_SEED) -> Column:
    """A column in [0, 1) that depends only on the named columns' values and the seed."""
    import pyspark.sql.functions as F

    hashed = F.xxhash64(*[F.col(f"`{c}`") for c in columns], F.lit(seed))
    return F.shiftrightunsigned(hashed, 64 - _UNIT_BITS).cast("double") / float(2**_UNIT_BITS)


def fraction_of(df: DataFrame, fraction: float, key: Sequence[str] = ()) -> DataFrame:
    """The rows of `df` in fraction `fraction`: deterministic and nested across fractions."""
    if fraction >= 1:
        return df
    columns = hash_columns(df, key)
    if not columns:
        raise ValueError("the source has no column that can be hashed; give a sample_key")
    return df.where(unit_hash(columns) < fraction)


def take_tiny(df: DataFrame, rows: int, key: Sequence[str] = ()) -> list[tuple[object, ...]]:
    """A seeded random sample of at most `rows` rows: the rows with the smallest hashes."""
    columns = hash_columns(df, key)
    if not columns:
        return [tuple(r) for r in df.limit(rows).collect()]
    order = "__dcs_order"
    picked = df.withColumn(order, unit_hash(columns)).orderBy(order).limit(rows).drop(order)
    return [tuple(r) for r in picked.collect()]
