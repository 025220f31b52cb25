"""Choosing rows: the variance-covering tiny sample and the nested fractions of the fraction rungs.

Every choice is made by a stable hash (Spark's xxhash64, seeded) so it is the same on every run
and engine:

- A row's *unit hash* maps its values (or its sample key) to [0, 1).
- A file source is laid out as a line: its files in a seeded hash order, each taking as much of
  the line as it has bytes. A row's *position* is where it falls on that line (its file's start
  plus its unit hash times the file's share). A row is in fraction f when its position is below
  f, so fractions are nested, and the 1% rung reads only the files that start below 1% of the
  bytes.
- With a sample key, a row is in fraction f when the unit hash of its key is below f, so whole
  keys move together (this reads the whole source, as a key can be in any file).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

DEFAULT_SEED = 20170519
DEFAULT_LOW_CARDINALITY = 20
# The tiny sample is taken from at most this many bytes of a file source (chosen as a fraction).
DEFAULT_SCAN_BYTES = 2 * 1024**3
_UNIT_BITS = 53  # a double holds 53 bits exactly
_HASH = "__dcs_hash"
_ROW = "__dcs_row"


# -- hashing --------------------------------------------------------------------------------


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
    """A column in [0, 1) that depends only on the named columns' values and the seed."""
    import pyspark.sql.functions as F

    hashed = F.xxhash64(*[F.col(f"`{c}`") for c in columns], F.lit(seed))
    return F.shiftrightunsigned(hashed, 64 - _UNIT_BITS).cast("double") / float(2**_UNIT_BITS)


def _row_hash(df: DataFrame) -> Column:
    import pyspark.sql.functions as F

    columns = hash_columns(df)
    return unit_hash(columns) if columns else F.rand(DEFAULT_SEED)


# -- files ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileLine:
    """A file source's files in seeded hash order, each with its start and share of the bytes."""

    files: tuple[str, ...]
    starts: tuple[float, ...]
    shares: tuple[float, ...]
    total_bytes: int

    def prefix(self, fraction: float) -> tuple[list[str], str | None, float]:
        """Files that start below `fraction`, the boundary file (if cut) and its cut point."""
        chosen = [f for f, s in zip(self.files, self.starts, strict=True) if s < fraction]
        if not chosen:
            return [], None, 0.0
        last = len(chosen) - 1
        end = self.starts[last] + self.shares[last]
        if end <= fraction:
            return chosen, None, 0.0
        cut = (fraction - self.starts[last]) / self.shares[last] if self.shares[last] else 1.0
        return chosen, chosen[last], cut

    def bytes_below(self, fraction: float) -> float:
        """Bytes of the files a fraction reads (the boundary file counted whole)."""
        files, _, _ = self.prefix(fraction)
        share = sum(self.shares[self.files.index(f)] for f in files)
        return share * self.total_bytes


def _file_order(uri: str, root: str) -> str:
    # Order by the path below the source root, so a copy of the data elsewhere orders alike.
    relative = uri[len(root) :] if uri.startswith(root) else uri
    return hashlib.sha256(f"{DEFAULT_SEED}:{relative}".encode()).hexdigest()


def _sizes(spark: SparkSession, uris: Sequence[str]) -> list[int]:
    sizes: list[int] = []
    jvm_fs = None
    for uri in uris:
        parsed = urlparse(uri)
        if parsed.scheme in ("", "file"):
            sizes.append(os.path.getsize(unquote(parsed.path)))
            continue
        if jvm_fs is None:
            jvm = spark._jvm  # type: ignore[attr-defined]
            hadoop_conf = spark._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
            jvm_fs = (jvm, hadoop_conf)
        jvm, hadoop_conf = jvm_fs
        path = jvm.org.apache.hadoop.fs.Path(uri)
        sizes.append(int(path.getFileSystem(hadoop_conf).getFileStatus(path).getLen()))
    return sizes


def file_line(spark: SparkSession, whole: DataFrame, root: str) -> FileLine | None:
    """Lay out a file source's files; None when Spark cannot list them."""
    try:
        uris = sorted(set(whole.inputFiles()))
    except Exception:
        return None
    if not uris:
        return None
    root_uri = root if "://" in root else f"file://{os.path.abspath(root)}"
    ordered = sorted(uris, key=lambda u: _file_order(u, root_uri))
    try:
        sizes = _sizes(spark, ordered)
    except Exception:
        sizes = [1] * len(ordered)  # no file system access (e.g. Spark Connect): count files
    total = sum(sizes) or len(sizes)
    shares = [(s or 0) / total for s in sizes] if sum(sizes) else [1 / len(sizes)] * len(sizes)
    starts, position = [], 0.0
    for share in shares:
        starts.append(position)
        position += share
    return FileLine(tuple(ordered), tuple(starts), tuple(shares), total)


@dataclass
class FileSource:
    """How to read a chosen set of a file source's files with the whole source's schema."""

    format: str
    root: str
    schema: StructType
    options: dict[str, str] = field(default_factory=dict)

    def read(self, spark: SparkSession, files: Sequence[str]) -> DataFrame:
        reader = spark.read.format(self.format).schema(self.schema)
        for key, value in self.options.items():
            reader = reader.option(key, value)
        if os.path.isdir(self.root) or "://" in self.root:
            reader = reader.option("basePath", self.root)
        return reader.load(list(files))


def files_fraction(
    spark: SparkSession, source: FileSource, line: FileLine, fraction: float
) -> DataFrame:
    """The rows whose position on the file line is below `fraction`, reading only their files."""
    import pyspark.sql.functions as F

    files, boundary, cut = line.prefix(fraction)
    if not files:
        return spark.createDataFrame([], source.schema)
    df = source.read(spark, files)
    if boundary is None:
        return df
    keep = (F.input_file_name() != F.lit(boundary)) | (_row_hash(df) < F.lit(cut))
    return df.where(keep)


# -- fractions ------------------------------------------------------------------------------


def fraction_of(df: DataFrame, fraction: float, key: Sequence[str] = ()) -> DataFrame:
    """The rows of `df` in fraction `fraction` by row (or key) hash: deterministic and nested."""
    if fraction >= 1:
        return df
    columns = hash_columns(df, key)
    if not columns:
        raise ValueError("the source has no column that can be hashed; give a sample_key")
    return df.where(unit_hash(columns) < fraction)


# -- the tiny sample ------------------------------------------------------------------------


@dataclass
class TinySample:
    """Rows chosen for a tiny sample and why each variance row is there."""

    rows: list[tuple[Any, ...]]
    reasons: dict[str, int]
    dropped: list[str] = field(default_factory=list)
    passes: int = 0


def _orderable(dtype: DataType) -> bool:
    from pyspark.sql import types as T

    return isinstance(
        dtype,
        (
            T.NumericType,
            T.StringType,
            T.DateType,
            T.TimestampType,
            T.TimestampNTZType,
            T.BooleanType,
            T.BinaryType,
        ),
    )


def _variance_aggregates(df: DataFrame) -> tuple[list[tuple[str, Column]], list[Column]]:
    """(reason, min_by expression) per variance row wanted, and distinct-count expressions."""
    import pyspark.sql.functions as F
    from pyspark.sql import types as T

    row, h = F.col(_ROW), F.col(_HASH)
    wanted: list[tuple[str, Column]] = []
    distinct: list[Column] = []
    for f in df.schema.fields:
        c = F.col(f"`{f.name}`")
        if f.nullable:
            wanted.append((f"null {f.name}", F.min_by(row, F.when(c.isNull(), h))))
        if isinstance(f.dataType, T.StringType):
            wanted.append((f"empty {f.name}", F.min_by(row, F.when(c == "", h))))
        if _orderable(f.dataType):
            wanted.append((f"min {f.name}", F.min_by(row, F.when(c.isNotNull(), F.struct(c, h)))))
            wanted.append((f"max {f.name}", F.max_by(row, F.when(c.isNotNull(), F.struct(c, -h)))))
            distinct.append(F.approx_count_distinct(c).alias(f.name))
    return wanted, distinct


def _with_row(df: DataFrame) -> DataFrame:
    import pyspark.sql.functions as F

    columns = [F.col(f"`{c}`") for c in df.columns]
    return df.select(*columns, _row_hash(df).alias(_HASH)).withColumn(
        _ROW, F.struct(*[F.col(f"`{c}`") for c in df.columns], F.col(_HASH))
    )


def _low_cardinality_rows(
    base: DataFrame, columns: Sequence[str]
) -> list[tuple[str, tuple[Any, ...]]]:
    """One row per distinct value of each low-cardinality column, in one shuffle."""
    import pyspark.sql.functions as F

    if not columns:
        return []
    pairs = F.explode(
        F.array(
            *[
                F.struct(F.lit(c).alias("c"), F.col(f"`{c}`").cast("string").alias("v"))
                for c in columns
            ]
        )
    )
    found = (
        base.select(pairs.alias("p"), F.col(_ROW), F.col(_HASH))
        .where(F.col("p.v").isNotNull())
        .groupBy("p.c", "p.v")
        .agg(F.min_by(_ROW, _HASH).alias("r"))
        .orderBy("c", "v")
        .collect()
    )
    return [(f"value {r['c']}={r['v']}", tuple(r["r"])) for r in found]


def _variance_rows(
    base: DataFrame, df: DataFrame, low_cardinality: int
) -> tuple[list[tuple[str, tuple[Any, ...]]], int]:
    """Variance rows (reason, row with its hash last) in priority order, and passes made."""
    wanted, distinct = _variance_aggregates(df)
    stats = base.agg(*[expr.alias(f"w{i}") for i, (_, expr) in enumerate(wanted)], *distinct)
    first = stats.collect()[0].asDict()
    found = [
        (reason, tuple(first[f"w{i}"]))
        for i, (reason, _) in enumerate(wanted)
        if first[f"w{i}"] is not None
    ]
    low = [name for name in df.columns if 0 < (first.get(name) or 0) <= low_cardinality]
    found += _low_cardinality_rows(base, low)
    # Nulls and empties first: they are what crashes code; then categories, then extremes.
    order = {"null": 0, "empty": 1, "value": 2, "min": 3, "max": 3}
    found.sort(key=lambda item: order[item[0].split(" ", 1)[0]])
    return found, 1 + bool(low)


def _count(reasons: dict[str, int], reason: str) -> None:
    kind = reason.split(" ", 1)[0]
    reasons[kind] = reasons.get(kind, 0) + 1


def take_tiny(
    df: DataFrame,
    rows: int,
    *,
    key: Sequence[str] = (),
    low_cardinality: int = DEFAULT_LOW_CARDINALITY,
) -> TinySample:
    """A variance-covering sample of at most `rows` rows, in a bounded number of passes.

    Pass 1 finds, where `df` has them, a row with a null in each nullable column, an empty string
    in each string column, the min and max of each orderable column, and counts distinct values.
    Pass 2 finds a row for every value of columns with at most `low_cardinality` values. Pass 3
    fills the rest with the rows of smallest hash (a seeded random sample). Variance rows come
    first; if they alone exceed `rows`, the later ones are dropped and named in `dropped`.
    With a `key`, the sample is made of whole keys instead (see `_take_whole_keys`).
    """
    base = _with_row(df)
    found, passes = _variance_rows(base, df, low_cardinality)
    if key:
        check_key(df.schema, key)
        return _take_whole_keys(df, base, found, passes, rows, key)
    chosen: dict[float, tuple[Any, ...]] = {}  # by row hash: equal rows hash alike
    reasons: dict[str, int] = {}
    dropped: list[str] = []
    for reason, row in found:
        if row[-1] in chosen:
            continue
        if len(chosen) >= rows:
            dropped.append(reason)
            continue
        chosen[row[-1]] = row
        _count(reasons, reason)
    if len(chosen) < rows:
        passes += 1
        # Equal rows share a hash and collapse to one: read a few extra to fill the sample.
        for r in base.orderBy(_HASH).limit(3 * rows).select(_ROW).collect():
            row = tuple(r[0])
            if len(chosen) < rows and row[-1] not in chosen:
                chosen[row[-1]] = row
                _count(reasons, "random")
    return TinySample(_strip(chosen.values()), reasons, dropped, passes)


def _strip(rows: Any) -> list[tuple[Any, ...]]:
    # Drop the hash carried last in each row; order by it so the sample file diffs stably.
    return [r[:-1] for r in sorted(rows, key=lambda r: r[-1])]


def _take_whole_keys(
    df: DataFrame,
    base: DataFrame,
    found: list[tuple[str, tuple[Any, ...]]],
    passes: int,
    rows: int,
    key: Sequence[str],
) -> TinySample:
    """Every row of each chosen key: keys of variance rows first, then keys of smallest hash.

    A key is taken whole or not at all, so per-key logic sees real groups; a key too big for
    what is left of the budget is skipped (and named). Rows whose key has a null are one group
    at scale (often the heaviest: the talks' 'MISSING' client); at most a twentieth of the
    sample is spent on them.
    """
    import pyspark.sql.functions as F

    positions = [df.columns.index(k) for k in key]
    candidates: dict[tuple[Any, ...], str] = {}
    for reason, row in found:
        candidates.setdefault(tuple(row[p] for p in positions), reason)
    key_cols = [F.col(f"`{k}`") for k in key]
    random_keys = df.select(*key_cols).distinct().orderBy(unit_hash(key)).limit(rows).collect()
    for r in random_keys:
        candidates.setdefault(tuple(r), "random")
    keys_df = df.sparkSession.createDataFrame(
        [list(k) for k in candidates], df.select(*key_cols).schema
    )
    match = [base[f"`{k}`"].eqNullSafe(keys_df[f"`{k}`"]) for k in key]
    joined = base.join(F.broadcast(keys_df), on=match, how="left_semi")
    counts = {tuple(r[:-1]): r[-1] for r in joined.groupBy(*key_cols).count().collect()}
    null_budget = max(1, rows // 20)
    chosen: list[tuple[Any, ...]] = []
    partial: list[tuple[Any, ...]] = []
    reasons: dict[str, int] = {}
    dropped: list[str] = []
    used = 0
    for candidate, reason in candidates.items():
        size = counts.get(candidate, 0)
        if any(v is None for v in candidate):
            take = min(size, null_budget)
            if take and used + take <= rows:
                partial.append(candidate)
                used += take
                _count(reasons, reason)
            continue
        if size and used + size <= rows:
            chosen.append(candidate)
            used += size
            _count(reasons, reason)
        elif reason != "random":
            dropped.append(f"{reason} (key {candidate!r} has {size} rows)")
    picked: list[tuple[Any, ...]] = []
    if chosen:
        chosen_df = df.sparkSession.createDataFrame(
            [list(k) for k in chosen], df.select(*key_cols).schema
        )
        on = [base[f"`{k}`"].eqNullSafe(chosen_df[f"`{k}`"]) for k in key]
        whole = base.join(F.broadcast(chosen_df), on=on, how="left_semi")
        picked += [tuple(r[0]) for r in whole.select(_ROW).collect()]
    for candidate in partial:
        condition = F.lit(True)
        for k, value in zip(key, candidate, strict=True):
            c = F.col(f"`{k}`")
            condition &= c.isNull() if value is None else c == F.lit(value)
        nulls = base.where(condition).orderBy(_HASH).limit(null_budget)
        picked += [tuple(r[0]) for r in nulls.select(_ROW).collect()]
    return TinySample(_strip(picked), reasons, dropped, passes + 4)
