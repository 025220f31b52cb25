"""Column ends and row counts from parquet footers: what the survey's first pass would read the
whole source for, when the source is plain parquet files on this machine's disk.

A parquet footer keeps, per row group and column, the smallest and largest value and the number
of nulls. For a DataFrame that reads parquet files and nothing else (no filter, no projection,
no partition directories), the min and max of a column over all row groups are the column's
bounds, and the footers' row counts add up to the source's. Reading the footers of the files
costs milliseconds; reading 14 text columns of a 200,000-row source to find their ends took
two thirds of a full scan.

Kept only where they are exact:

- only types whose parquet order is Spark's: integers, decimals, dates, strings (UTF-8, byte
  by byte, unsigned), binary and booleans. Floats are left to Spark (a footer does not count
  NaN, which Spark orders above every number), timestamps too (Spark writes INT96 by default,
  which has no order in parquet);
- pyarrow hides statistics that writers known to get them wrong wrote;
- dates before 1582-10-15 are left to Spark (a file in Spark 2's calendar holds them shifted);
- a writer may shorten the bounds of long strings. A shortened min sorts before the true one
  and a shortened max after it, so such a bound is no value of the column: the survey keeps an
  end only when a row holds it, and finds the others with Spark.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pytest_dcs.spark.plans import local_parquet_files

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import DataType


# Dates before the Gregorian calendar's start differ between a file written in Spark 2's hybrid
# calendar and Spark's reading of it (`spark.sql.parquet.datetimeRebaseModeInRead`): such ends
# are left to Spark, which reads them as it reads the rows.
_CALENDARS_AGREE = dt.date(1582, 10, 15)

# Footers are read one file after another on the driver: past this many files, reading the
# columns is left to Spark's executors.
MAX_FILES = 2_000


@dataclass
class FooterEnds:
    """What the footers of a parquet source tell: its row count, and per column the min and max
    as text that casts back to the value (as the survey's `CAST(min(c) AS STRING)` would write
    them), for the columns they tell exactly; None for an all-null column."""

    rows: int
    ends: dict[str, tuple[str, str] | None] = field(default_factory=dict)


def footer_ends(df: DataFrame, columns: Sequence[str]) -> FooterEnds | None:
    """The row count and the ends of `columns` of `df` from its files' footers; None when `df`
    is not plain parquet files on local disk read whole, or pyarrow is missing."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return None
    paths = local_parquet_files(df, every_row=True, partitioned=False)
    if paths is None or len(paths) > MAX_FILES:
        return None
    fields = {f.name: f.dataType for f in df.schema.fields}
    wanted = [c for c in columns if c in fields and _trusted_type(fields[c])]
    rows = 0
    bounds: dict[str, list[Any]] = {c: [None, None] for c in wanted}
    told = set(wanted)
    for path in paths:
        try:
            meta = pq.read_metadata(path)
        except (OSError, ValueError):
            return None
        rows += meta.num_rows
        at = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
        for name in list(told):
            index = at.get(name)
            if index is None or not _fits(fields[name], meta.schema.column(index)):
                told.discard(name)  # not in this file (a column added later): left to Spark
                continue
            try:
                bounds[name] = _bounds(meta, index, bounds[name])
            except ValueError:  # no statistics, or a bound that is not UTF-8 text
                told.discard(name)
    found = FooterEnds(rows)
    for name in wanted:
        low, high = bounds[name]
        if name not in told or (isinstance(low, dt.date) and low < _CALENDARS_AGREE):
            continue
        found.ends[name] = None if low is None else (_text(low), _text(high))
    return found


def _bounds(meta: Any, index: int, bounds: list[Any]) -> list[Any]:
    """`bounds` (min and max so far, None before any) widened by column `index` of each row
    group of a file's metadata. Raises ValueError where a row group with values has no
    statistics, or pyarrow cannot decode a bound (a string of bytes that are not UTF-8)."""
    low, high = bounds
    for group in range(meta.num_row_groups):
        chunk = meta.row_group(group).column(index)
        stats = chunk.statistics
        if stats is None or not stats.has_null_count:
            raise ValueError("no null count")
        if stats.null_count == chunk.num_values:
            continue  # only nulls here: no bounds to read
        if not stats.has_min_max:
            raise ValueError("no min and max")
        low = stats.min if low is None else min(low, stats.min)
        high = stats.max if high is None else max(high, stats.max)
    return [low, high]


def _trusted_type(dtype: DataType) -> bool:
    """Whether a footer's order for `dtype` is Spark's: every type the survey takes ends of but
    floats (NaN uncounted) and timestamps (INT96 unordered)."""
    from pyspark.sql import types as T

    from pytest_dcs.data.sampling.survey import orderable

    unordered = (T.FloatType, T.DoubleType, T.TimestampType, T.TimestampNTZType)
    return orderable(dtype) and not isinstance(dtype, unordered)


def _fits(dtype: DataType, column: Any) -> bool:
    """Whether a parquet column's physical and logical types order its values as Spark orders
    values of `dtype` (signed integers, UTF-8 strings, decimals, dates, plain binary)."""
    from pyspark.sql import types as T

    physical = column.physical_type
    logical = str(column.logical_type.type)
    if isinstance(dtype, T.BooleanType):
        return physical == "BOOLEAN"
    if isinstance(dtype, T.DecimalType):
        return logical == "DECIMAL" and column.scale == dtype.scale
    if isinstance(dtype, T.DateType):
        return physical == "INT32" and logical == "DATE"
    if isinstance(dtype, T.StringType):
        return physical == "BYTE_ARRAY" and logical == "STRING"
    if isinstance(dtype, T.BinaryType):
        return physical == "BYTE_ARRAY" and logical == "NONE"
    # Integers: signed, no unsigned or other annotation.
    if physical not in ("INT32", "INT64") or logical not in ("NONE", "INT"):
        return False
    return logical == "NONE" or bool(json.loads(column.logical_type.to_json()).get("isSigned"))


def _text(value: Any) -> str:
    """A footer's value as the text Spark's cast to string writes (binary as hex)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex().upper()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
