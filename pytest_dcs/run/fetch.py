"""Reading the few rows a clue points at out of a wide source, without decoding all of it.

A filter cannot skip a column: to hand back the ten rows holding some ids, Spark's parquet
reader decodes every column of every row group the filter may match. On a wide source that is
the whole cost of a search step (121 columns, 2M rows in 20 files, 248 MB: 10-12 s to collect
ten rows by id, against 1.2 s for a body reading one column), and the default budget runs out
before a single row is checked.

So on a wide parquet source the rows are found in two steps:

1. **Locate.** The filter runs with only the file and row index of each match selected
   (Spark's hidden `_metadata` column), and a hash of the columns the body reads: Spark reads
   only the columns of the condition and of the hash (0.3 s above).
2. **Read.** Each matching row's row group is read from its local file with pyarrow, the row
   taken out, and the rows handed to Spark with the source's schema (0.7 s for ten rows in ten
   files above).

The rows read must be the rows located, as Spark reads them: each must still match the
condition, and hash alike in every column the body reads. When one does not (a type pyarrow
reads otherwise, a partition column kept in folder names, a file rewritten since), or the source
is no local parquet file, or the columns the body reads are not known, the rows are collected
with the filter alone, as before: slower, never wrong.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from pytest_dcs.run.search import collect_few
from pytest_dcs.run.searchspace import column

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql import Column, DataFrame, Row

# A source with at least this many top-level columns is read in two steps; a narrower one is
# filtered at once (one job: 0.2 s for ten rows of a 4-column, 2M-row source).
WIDE = 32
# Row groups read by pyarrow for one fetch; beyond, the filter alone is cheaper.
MAX_ROW_GROUPS = 64

_FILE = "__dcs_file"
_INDEX = "__dcs_index"
_HASH = "__dcs_read_hash"
_SPOT = "__dcs_spot"
_ONE = "__dcs_one"
# Rows pyarrow decodes at a time while reading up to a row.
_BATCH = 8192


def rows_where(
    df: DataFrame,
    condition: Column,
    n: int,
    *,
    read: set[str] | None = None,
    one_per: Column | None = None,
) -> list[Row]:
    """At most `n` rows of `df` matching `condition` (one per value of `one_per`, when given),
    as `df.where(condition)` collects them. `read`: the columns the body reads, when known."""
    if read is not None and len(df.schema.fields) >= WIDE:
        located = None
        with contextlib.suppress(Exception):  # any doubt: the filter below decides
            located = _located(df, condition, n, read, one_per)
        if located is not None:
            return located
    matching = df.where(condition)
    if one_per is not None:
        columns = matching.columns
        matching = matching.withColumn(_ONE, one_per).dropDuplicates([_ONE])
        matching = matching.select(*[column(c) for c in columns])
    return collect_few(matching, n)


def _located(
    df: DataFrame, condition: Column, n: int, read: set[str], one_per: Column | None
) -> list[Row] | None:
    """The rows, located by a narrow job and read from their files; None where that cannot
    be done exactly."""
    from pyspark.sql import functions as F

    if "_metadata" in df.columns:
        return None  # a data column of that name hides Spark's file metadata
    hashed = [name for name in df.columns if name in read]
    spots = df.where(condition).select(
        F.col("_metadata.file_path").alias(_FILE),
        F.col("_metadata.row_index").alias(_INDEX),
        _read_hash(hashed).alias(_HASH),
        *([one_per.alias(_ONE)] if one_per is not None else []),
    )
    if one_per is not None:
        spots = spots.dropDuplicates([_ONE])
    found = collect_few(spots, n)
    if not found:
        return []
    table = _read_spots([(row[_FILE], row[_INDEX]) for row in found], df.columns)
    if table is None:
        return None
    rows = _as_spark(df, table, condition, hashed)
    if rows is None or len(rows) != len(found):
        return None
    expected = {spot: row[_HASH] for spot, row in enumerate(found)}
    if any(expected.get(spot) != digest for spot, digest, _ in rows):
        return None
    return [row for _, _, row in sorted(rows, key=lambda r: r[0])]


def _read_hash(names: Sequence[str]) -> Column:
    from pyspark.sql import functions as F

    if not names:
        return F.lit(0).cast("long")
    return F.xxhash64(*[column(name) for name in names])


def _read_spots(spots: list[tuple[str, int]], names: list[str]) -> pa.Table | None:
    """The rows at `spots` (file URI, row index), in order, with the columns `names`, read with
    pyarrow; None when a file is not local or lacks a column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    by_file: dict[str, list[tuple[int, int]]] = {}
    for spot, (uri, index) in enumerate(spots):
        parsed = urlparse(uri)
        if parsed.scheme not in ("", "file"):
            return None
        by_file.setdefault(unquote(parsed.path), []).append((index, spot))
    parts: list[pa.Table] = []
    groups_read = 0
    for path, wanted in by_file.items():
        if not os.path.isfile(path):
            return None
        parquet = pq.ParquetFile(path)
        held = parquet.schema_arrow  # built anew at each use of the property
        if not set(names) <= set(held.names):
            return None  # a partition column, or a name in another case: Spark's to read
        starts, start = [], 0
        for group in range(parquet.num_row_groups):
            starts.append(start)
            start += parquet.metadata.row_group(group).num_rows
        in_group: dict[int, list[tuple[int, int]]] = {}
        for index, spot in wanted:
            group = max(g for g, s in enumerate(starts) if s <= index)
            in_group.setdefault(group, []).append((index - starts[group], spot))
        groups_read += len(in_group)
        if groups_read > MAX_ROW_GROUPS:
            return None
        types = [held.field(name).type for name in names]
        coded = _dictionary_coded(parquet, held, list(in_group), names)
        if coded:
            parquet = pq.ParquetFile(path, metadata=parquet.metadata, read_dictionary=coded)
        for group, rows in in_group.items():
            taken = _rows_of_group(parquet, group, rows, names)
            parts.append(_decoded(taken, names, types))
    return pa.concat_tables(parts, promote_options="permissive")


def _dictionary_coded(
    parquet: pq.ParquetFile, held: pa.Schema, groups: list[int], names: list[str]
) -> list[str]:
    """The string and binary columns of `names` whose every chunk in `groups` holds only
    dictionary-coded pages. Read as Arrow dictionaries, their pages decode to indexes, not to
    strings: reading up to a row takes half the time (0.23-0.26 s against 0.45-0.51 s up to
    the middle of eight row groups of 100k rows and 121 columns, 60 of them strings). A chunk
    whose dictionary overflowed to plain pages is read as strings, as building a dictionary of
    it would cost more. `held`: the file's Arrow schema."""
    import pyarrow as pa

    wanted = set()
    for name in names:
        at = held.get_field_index(name)
        kind = held.field(at).type if at >= 0 else None
        if kind is not None and (pa.types.is_string(kind) or pa.types.is_binary(kind)):
            wanted.add(name)
    leaves = {}
    for index in range(parquet.metadata.num_columns):
        leaf = parquet.schema.column(index)
        # A top-level column's leaf path is its name; a nested value's is dotted.
        if leaf.path in wanted and "." not in leaf.path:
            leaves[leaf.path] = index
    coded = []
    for name, index in leaves.items():
        chunks = [parquet.metadata.row_group(g).column(index) for g in groups]
        if all(c.has_dictionary_page and "PLAIN" not in c.encodings for c in chunks):
            coded.append(name)
    return coded


def _decoded(table: pa.Table, names: list[str], types: list[pa.DataType]) -> pa.Table:
    """`table` (a few rows) with its dictionary columns turned back into the types a plain
    read gives."""
    import pyarrow as pa

    for at, (name, kind) in enumerate(zip(names, types, strict=True)):
        if pa.types.is_dictionary(table.schema.field(at).type):
            table = table.set_column(at, name, table.column(at).cast(kind))
    return table


def _rows_of_group(
    parquet: pq.ParquetFile, group: int, rows: list[tuple[int, int]], names: list[str]
) -> pa.Table:
    """The rows at `rows` (offset in row group `group`, spot) with their spots, decoding the
    row group's batches only up to the last offset wanted (on average half of it: 0.55 s
    against 0.84 s for a row in each of ten row groups of 100k rows and 121 columns)."""
    import pyarrow as pa

    wanted = sorted(rows)
    last = wanted[-1][0]
    batches, start = [], 0
    for batch in parquet.iter_batches(batch_size=_BATCH, row_groups=[group], columns=names):
        end = start + batch.num_rows
        inside = [(offset - start, spot) for offset, spot in wanted if start <= offset < end]
        if inside:
            taken = batch.take(pa.array([offset for offset, _ in inside], pa.int64()))
            spots = pa.array([spot for _, spot in inside], pa.int64())
            batches.append(pa.Table.from_batches([taken]).append_column(_SPOT, spots))
        if end > last:
            break
        start = end
    return pa.concat_tables(batches).select([*names, _SPOT])


def _as_spark(
    df: DataFrame, table: pa.Table, condition: Column, hashed: list[str]
) -> list[tuple[int, Any, Row]] | None:
    """Per row of `table` that still matches `condition`: its spot, the hash of the columns
    the body reads, and the row as `df` would give it."""
    from pyspark.sql import Row as SparkRow
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType, StructField, StructType

    spark = df.sparkSession
    schema = StructType([*df.schema.fields, StructField(_SPOT, LongType(), False)])
    table = _instants_in_utc(table, df.schema)
    fetched = spark.createDataFrame(table, schema=schema)
    picked = fetched.where(condition).select(
        F.col(_SPOT), _read_hash(hashed).alias(_HASH), *[column(c) for c in df.columns]
    )
    shape = SparkRow(*df.columns)
    return [(row[0], row[1], shape(*row[2:])) for row in picked.collect()]


def _instants_in_utc(table: pa.Table, schema: Any) -> pa.Table:
    """`table` with its zoneless timestamps read as UTC where Spark's type is an instant:
    Spark reads a parquet INT96 timestamp (its own default) as an instant in UTC, pyarrow as a
    time without zone, which Spark would otherwise place in the session's zone."""
    import pyarrow as pa
    from pyspark.sql.types import TimestampType

    for field in schema.fields:
        if not isinstance(field.dataType, TimestampType):
            continue
        at = table.schema.get_field_index(field.name)
        kind = table.schema.field(at).type
        if pa.types.is_timestamp(kind) and kind.tz is None:
            cast = table.column(at).cast(pa.timestamp(kind.unit, "UTC"))
            table = table.set_column(at, field.name, cast)
    return table


def rows_in_files(df: DataFrame, name: str, values: Sequence[Any], n: int) -> list[Row] | None:
    """At most `n` rows of `df` whose column `name` holds one of `values`, read from its files
    here without a Spark job, where `df` is every row of a few local parquet files as they are
    (Spark's optimized plan is a parquet relation under a projection of plain columns) and
    every column is of a type that pyarrow and Spark hand to Python alike, of the Arrow type
    Spark's schema says. None otherwise (then `rows_where` finds them).

    Rows found by a scan of those files in this process (`pytest_dcs.run.scan`): a located
    read would run one job to find them and one to turn them into Spark's rows (0.3 s each for
    ten rows of 121 columns here)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from pyspark.sql import Row as SparkRow
    from pyspark.sql.pandas.types import to_arrow_type

    from pytest_dcs.run.scan import passes_unchanged
    from pytest_dcs.spark.plans import local_parquet_files

    paths = local_parquet_files(df, every_row=True)
    fields = df.schema.fields
    if paths is None or not all(passes_unchanged(f.dataType) for f in fields):
        return None
    wanted = {f.name: to_arrow_type(f.dataType) for f in fields}
    if name not in wanted:
        return None
    spots: list[tuple[str, int]] = []
    for path in paths:
        parquet = pq.ParquetFile(path)
        held = parquet.schema_arrow
        for column_name, kind in wanted.items():
            at = held.get_field_index(column_name)
            if at < 0:
                return None
            found = held.field(at).type
            if found != kind and not (pa.types.is_large_string(found) and kind == pa.string()):
                return None
        if len(spots) >= n:
            continue  # every file is checked; only the first rows found are read
        keys = parquet.read(columns=[name]).column(0)
        hits = pc.indices_nonzero(pc.is_in(keys, value_set=pa.array(list(values), wanted[name])))
        uri = Path(path).as_uri()
        spots.extend((uri, index) for index in hits.to_pylist()[: n - len(spots)])
    if not spots:
        return []
    table = _read_spots(spots, df.columns)
    if table is None or table.num_rows != len(spots):
        return None
    shape = SparkRow(*df.columns)
    ordered = sorted(table.to_pylist(), key=lambda row: row[_SPOT])
    return [shape(*[row[c] for c in df.columns]) for row in ordered]
