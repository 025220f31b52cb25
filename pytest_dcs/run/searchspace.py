"""The rows a localization searches among: keyed by a hashed row key, cut into key ranges, and
the suspects (nulls, empty strings, NaNs, empty collections) looked at before the rest."""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_dcs.spark.sqltext import quoted

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row
    from pyspark.sql.types import StructType

KEY = "__dcs_key"
LOW, HIGH = -(2**63), 2**63


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


def column(name: str) -> Column:
    """The top-level column `name`, quoted: a name may hold dots, spaces or backquotes."""
    from pyspark.sql import functions as F

    return F.col(quoted(name))


def keyed(space: DataFrame) -> DataFrame:
    """`space` with the hashed row key in column `KEY`."""
    from pyspark.sql import functions as F

    return space.withColumn(KEY, F.xxhash64(F.monotonically_increasing_id(), F.lit(KEY)))


def without_key(row: Row) -> Row:
    """`row` as the input holds it: without the `KEY` column, if it has one."""
    from pyspark.sql import Row

    kept = [(name, value) for name, value in zip(row.__fields__, row, strict=True) if name != KEY]
    return Row(*(name for name, _ in kept))(*(value for _, value in kept))


def partitions(df: DataFrame) -> int:
    """How many partitions `df` has (1 when it cannot be told, over Spark Connect)."""
    jdf = getattr(df, "_jdf", None)
    if jdf is not None:
        return max(1, int(jdf.rdd().getNumPartitions()))
    return 1


def suspect_condition(schema: StructType) -> Column | None:
    """True for rows with a null, empty string, NaN or empty array/map in a top-level column."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    terms: list[Column] = []
    for spec in schema.fields:
        column_ = column(spec.name)
        if spec.nullable:
            terms.append(column_.isNull())
        kind = spec.dataType
        if isinstance(kind, T.StringType):
            terms.append(F.coalesce(column_ == F.lit(""), F.lit(False)))
        elif isinstance(kind, (T.FloatType, T.DoubleType)):
            terms.append(F.coalesce(F.isnan(column_), F.lit(False)))
        elif isinstance(kind, (T.ArrayType, T.MapType)):
            terms.append(F.coalesce(F.size(column_) == F.lit(0), F.lit(False)))
    return functools.reduce(lambda a, b: a | b, terms) if terms else None
