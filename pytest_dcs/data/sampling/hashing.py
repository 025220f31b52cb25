"""Hashes that place rows: a row's (or its sample key's) unit hash in [0, 1), and the hash
columns every pass of the tiny sample carries instead of whole rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_dcs.spark.sqltext import quoted

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import DataType, StructType

DEFAULT_SEED = 20170519
_UNIT_BITS = 53  # a double holds 53 bits exactly
# The columns `with_hashes` adds: each row's hash, and (with a sample key) its key's hash.
ROW_HASH = "__dcs_hash"
KEY_HASH = "__dcs_key_hash"


def _hashable(dtype: DataType) -> bool:
    from pyspark.sql import types as T

    if isinstance(dtype, (T.MapType, T.VariantType)):
        return False
    if isinstance(dtype, T.ArrayType):
        return _hashable(dtype.elementType)
    if isinstance(dtype, T.StructType):
        return all(_hashable(f.dataType) for f in dtype.fields)
    return True


def check_key(schema: StructType, key: Sequence[str]) -> None:
    """Raise KeyError naming sample_key columns the source does not have."""
    missing = [k for k in key if k not in schema.fieldNames()]
    if missing:
        raise KeyError(
            f"sample_key column(s) {', '.join(missing)} not in the source "
            f"(columns: {', '.join(schema.fieldNames())})"
        )


def hash_columns(df: DataFrame, key: Sequence[str] = ()) -> list[str]:
    """The columns whose hash places a row: the key if given, else every hashable column."""
    if key:
        check_key(df.schema, key)
        return list(key)
    return [f.name for f in df.schema.fields if _hashable(f.dataType)]


def unit_hash(columns: Sequence[str], seed: int = DEFAULT_SEED) -> Column:
    """A column in [0, 1) that depends only on the named columns' values and the seed.

    Written as SQL text, parsed by the JVM in one call: as Columns, a hash of a wide row costs
    a few Py4J round trips per column. The seed is hashed as a value, typed as a literal of it
    is typed (INT while it fits, else BIGINT)."""
    import pyspark.sql.functions as F

    hashed = f"xxhash64({', '.join(quoted(c) for c in columns)}, {int(seed)})"
    return F.expr(
        f"CAST(shiftrightunsigned({hashed}, {64 - _UNIT_BITS}) AS DOUBLE) / {2**_UNIT_BITS}.0D"
    )


def unit_hash_of(column: Column, seed: int = DEFAULT_SEED) -> Column:
    """`unit_hash` of one column that has no name to write in SQL (a hidden metadata field)."""
    import pyspark.sql.functions as F

    hashed = F.xxhash64(column, F.expr(str(int(seed))))  # the seed typed as `unit_hash` types it
    return F.shiftrightunsigned(hashed, 64 - _UNIT_BITS).cast("double") / F.lit(
        float(2**_UNIT_BITS)
    )


def row_hash(df: DataFrame) -> Column:
    """A row's unit hash over its hashable columns (seeded random when it has none)."""
    import pyspark.sql.functions as F

    columns = hash_columns(df)
    return unit_hash(columns) if columns else F.rand(DEFAULT_SEED)


def with_hashes(df: DataFrame, key: Sequence[str]) -> DataFrame:
    """`df` with each row's hash (and its key's hash) as the last columns.

    Every pass of the tiny sample carries these hashes, never the row itself: a wide source
    would otherwise copy a whole row into each of hundreds of aggregation buffers. The rows
    chosen are read in one last pass, by hash.
    """
    extra = [row_hash(df).alias(ROW_HASH)]
    if key:
        extra.append(unit_hash(key).alias(KEY_HASH))
    return df.select("*", *extra)


def column(name: str) -> Column:
    """The column `name`, quoted so dots and spaces in names are taken literally."""
    import pyspark.sql.functions as F

    return F.col(quoted(name))
