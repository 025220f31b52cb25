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

import contextlib
import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
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
            jvm: Any = spark._jvm  # type: ignore[attr-defined]
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
#
# Every pass carries a row's hash (and its key's hash), never the row itself: a wide source
# would otherwise copy a whole row into each of hundreds of aggregation buffers. The rows
# chosen are read in one last pass, by hash.

_KEY_HASH = "__dcs_key_hash"
# The columns a key set file holds after the key's own: each key's hash and why it is there.
KEY_HASH_COLUMN = "dcs_key_hash"
KEY_REASON_COLUMN = "dcs_reason"
# The order variance reasons are served in: nulls and empties are what crashes code; then
# categories, then extremes.
_REASON_ORDER = {"null": 0, "empty": 1, "value": 2, "min": 3, "max": 3}
# How many random candidates a pass reads per random row (or key) wanted: hash thresholds are
# estimates, so read more than needed and keep the smallest hashes.
_OVERDRAW = 2


@dataclass(frozen=True)
class Hit:
    """A variance reason found in the source: a row that has it, by hash, or (by key) the hash of
    a key that has it."""

    reason: str
    row_hash: float | None
    key_hash: float | None = None


@dataclass(frozen=True)
class Survey:
    """What one or two passes over a source found: variance hits in priority order, the row
    count, and (with a key) the approximate number of keys."""

    hits: list[Hit]
    rows: int
    keys: int
    passes: int


@dataclass(frozen=True)
class KeyEntry:
    """One key of a key set, the reason it is there ("random" or a variance reason)."""

    key: tuple[Any, ...]
    key_hash: float
    reason: str

    @property
    def has_null(self) -> bool:
        return any(v is None for v in self.key)


@dataclass
class TinySample:
    """Rows chosen for a tiny sample and why each variance row is there."""

    rows: list[tuple[Any, ...]]
    reasons: dict[str, int]
    dropped: list[str] = field(default_factory=list)
    passes: int = 0
    found: int = 0
    """Variance reasons the source has (covered or dropped)."""
    keys: list[KeyEntry] = field(default_factory=list)
    """With a key: the key set the sample was drawn from (chosen here, or given)."""
    taken_keys: int = 0
    """With a key: how many keys of the key set the sample holds."""


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


def _base(df: DataFrame, key: Sequence[str]) -> DataFrame:
    """`df` with each row's hash (and its key's hash) as the last columns."""
    columns = [_col(c) for c in df.columns]
    extra = [_row_hash(df).alias(_HASH)]
    if key:
        extra.append(unit_hash(key).alias(_KEY_HASH))
    return df.select(*columns, *extra)


def _col(name: str) -> Column:
    """The column `name`, quoted so dots and spaces in names are taken literally."""
    import pyspark.sql.functions as F

    return F.col(f"`{name}`")


# Low-cardinality columns are spotted on this many of the source's first rows (a cheap read of
# its first files): a column with more values there is not low-cardinality. The values of the
# columns spotted are then found in every row.
_SPOT_ROWS = 2_000
# Aggregate expressions per job of the survey's jobs that read only the columns they aggregate:
# a job of a few dozen stays in generated methods small enough for the JIT to compile, while one
# of hundreds runs interpreted (measured: 270 plain min/max in one job took 3x the time of the
# same in jobs of 60; see bench/sample_wide.py).
_CHUNK = 64


def _text(dtype: DataType, value: Column) -> Column:
    """A value as text that casts back to the identical value (binary as hex)."""
    import pyspark.sql.functions as F
    from pyspark.sql import types as T

    return F.hex(value) if isinstance(dtype, T.BinaryType) else value.cast("string")


def _literal(dtype: DataType, text: str) -> Column:
    """The value `_text` wrote, as a literal of `dtype` (folded when the plan is built)."""
    import pyspark.sql.functions as F
    from pyspark.sql import types as T

    if isinstance(dtype, T.BinaryType):
        return F.unhex(F.lit(text))
    return F.lit(text).cast(dtype)


def _spot_values(
    base: DataFrame, fields: Sequence[Any], low_cardinality: int
) -> dict[str, list[str]]:
    """The columns with at most `low_cardinality` values among the first `_SPOT_ROWS` rows, each
    with those values as text (sorted). A collected limit reads only the first partitions; an
    aggregate over a limit would read the first rows of every partition."""
    if not fields:
        return {}
    texts = [_text(f.dataType, _col(f.name)) for f in fields]
    first = base.select(*texts).limit(_SPOT_ROWS).collect()
    spotted = {}
    for i, f in enumerate(fields):
        values = {r[i] for r in first if r[i] is not None}
        if 0 < len(values) <= low_cardinality:
            spotted[f.name] = sorted(values)
    return spotted


def _jobs(named: Sequence[tuple[str, Column]], size: int) -> Iterator[list[tuple[str, Column]]]:
    for at in range(0, len(named), size):
        yield list(named[at : at + size])


def _run(base: DataFrame, named: Sequence[tuple[str, Column]], size: int) -> dict[str, Any]:
    """Run named aggregate expressions over `base` in jobs of at most `size`; their values."""
    values: dict[str, Any] = {}
    for job in _jobs(named, size):
        row = base.agg(*[expr.alias(f"a{i}") for i, (_, expr) in enumerate(job)]).collect()[0]
        values.update({name: row[f"a{i}"] for i, (name, _) in enumerate(job)})
    return values


def survey(base: DataFrame, schema: StructType, key: Sequence[str], low_cardinality: int) -> Survey:
    """Find the variance hits of `base` (made by `_base`) in two passes, plus a small read of its
    first rows, and a third pass only for low-cardinality columns with values those rows lack.

    The first rows spot the low-cardinality columns and their values. Pass 1, plain aggregates
    in jobs that read only their columns: the row count, each other orderable column's min and
    max, and per low-cardinality column whether it has values the first rows lack. Pass 2, one
    aggregate of `min(when(condition, hash))`: the smallest row hash among rows with a null
    (an empty string) in each column, with each column's min and max, and with each value of
    each low-cardinality column; so each hit is the same row on every run, ties included. With a
    key, pass 2 takes the smallest *key* hash instead, which needs no hash of the whole row (so
    its jobs read only their columns too): each hit is the key of smallest hash that has it.
    """
    import pyspark.sql.functions as F
    from pyspark.sql import types as T

    keyed = bool(key)
    fields = {f.name: f for f in schema.fields}
    orderable = [f for f in schema.fields if _orderable(f.dataType)]
    spotted = _spot_values(base, orderable, low_cardinality)
    plain = [f for f in orderable if f.name not in spotted]

    ends: list[tuple[str, Column]] = [("rows", F.count(F.lit(1)))]
    if keyed:
        ends.append(("keys", F.approx_count_distinct(_KEY_HASH)))
    for f in plain:
        c = _col(f.name)
        ends.append((f"min {f.name}", _text(f.dataType, F.min(c))))
        ends.append((f"max {f.name}", _text(f.dataType, F.max(c))))
    for name, values in spotted.items():
        c, dtype = _col(name), fields[name].dataType
        other = c.isNotNull() & ~c.isin(*[_literal(dtype, v) for v in values])
        ends.append((f"other {name}", F.max(other)))
    found = _run(base, ends, _CHUNK)
    passes = 1

    pick = F.col(_KEY_HASH if keyed else _HASH)
    more = [name for name in spotted if found[f"other {name}"]]
    # Column by column, so that a job of consecutive reasons reads few columns.
    wanted: list[tuple[str, Column]] = []
    for f in schema.fields:
        c = _col(f.name)
        if f.nullable:
            wanted.append((f"null {f.name}", c.isNull()))
        if isinstance(f.dataType, T.StringType):
            wanted.append((f"empty {f.name}", c == ""))
        for end in ("min", "max"):
            text = found.get(f"{end} {f.name}")
            if text is not None:
                wanted.append((f"{end} {f.name}", c == _literal(f.dataType, text)))
        if f.name in spotted and f.name not in more:
            for v in spotted[f.name]:
                wanted.append((f"value {f.name}={v}", c == _literal(f.dataType, v)))
    # By row every job hashes every column, so one job; by key a job reads only its columns.
    smallest = [(reason, F.min(F.when(condition, pick))) for reason, condition in wanted]
    hashes = _run(base, smallest, _CHUNK if keyed else max(1, len(smallest)))
    passes += 1
    hits = [_hit(r, hashes[r], keyed) for r, _ in wanted if hashes[r] is not None]
    if more:
        # A column spotted on the first rows has values they lack: find them all (a shuffle).
        hits += _value_hits(base, [fields[name] for name in more], key, low_cardinality)
        passes += 1
    hits.sort(key=lambda hit: _REASON_ORDER[hit.reason.split(" ", 1)[0]])
    keys = int(found["keys"]) if keyed else 0
    return Survey(hits, int(found["rows"]), keys, passes)


def _hit(reason: str, smallest: float, keyed: bool) -> Hit:
    return Hit(reason, None, smallest) if keyed else Hit(reason, smallest)


def _value_hits(
    base: DataFrame, low: Sequence[Any], key: Sequence[str], low_cardinality: int
) -> list[Hit]:
    """The row (the key) of smallest hash holding each value of each column in `low`, in one
    shuffle; a column with more than `low_cardinality` values is left out."""
    import pyspark.sql.functions as F
    from pyspark.sql import Window

    pairs = F.explode(
        F.array(
            *[
                F.struct(F.lit(f.name).alias("c"), _text(f.dataType, _col(f.name)).alias("v"))
                for f in low
            ]
        )
    )
    pick = _KEY_HASH if key else _HASH
    found = (
        base.select(pairs.alias("p"), F.col(pick).alias("h"))
        .where(F.col("p.v").isNotNull())
        .groupBy(F.col("p.c").alias("c"), F.col("p.v").alias("v"))
        .agg(F.min("h").alias("h"))
        .withColumn("values", F.count(F.lit(1)).over(Window.partitionBy("c")))
        .where(F.col("values") <= low_cardinality)
        .orderBy("c", "v")
        .collect()
    )
    return [_hit(f"value {r['c']}={r['v']}", r["h"], bool(key)) for r in found]


def _count(reasons: dict[str, int], reason: str) -> None:
    kind = reason.split(" ", 1)[0]
    reasons[kind] = reasons.get(kind, 0) + 1


def _threshold(wanted: int, out_of: int) -> float:
    """A hash threshold below which about `_OVERDRAW` times `wanted` of `out_of` items fall."""
    if wanted <= 0:
        return -1.0
    return min(1.0, (_OVERDRAW * wanted + 16) / max(out_of, 1))


# Spark stops generating code for plans with more than `spark.sql.codegen.maxFields` (100)
# fields; the survey of a wide source has hundreds, and runs 2-3x slower interpreted.
_CODEGEN_FIELDS = "spark.sql.codegen.maxFields"
_SURVEY_CODEGEN_FIELDS = 100_000


@contextlib.contextmanager
def _generated_code(spark: SparkSession) -> Iterator[None]:
    """Let Spark generate code for the survey's wide plans, then restore the session's setting."""
    before = spark.conf.get(_CODEGEN_FIELDS, None)
    spark.conf.set(_CODEGEN_FIELDS, str(_SURVEY_CODEGEN_FIELDS))
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(_CODEGEN_FIELDS)
        else:
            spark.conf.set(_CODEGEN_FIELDS, before)


def take_tiny(
    df: DataFrame,
    rows: int,
    *,
    key: Sequence[str] = (),
    keys: Sequence[KeyEntry] | None = None,
    low_cardinality: int = DEFAULT_LOW_CARDINALITY,
) -> TinySample:
    """A variance-covering sample of at most `rows` rows, in three or four passes (and a read of
    the first rows).

    A survey (`survey`: plain aggregates, then one of the smallest hash per reason) finds, where
    `df` has them, a row with a null in each nullable column, an empty string in each string
    column, the min and max of each orderable column, and a row for every value of columns with
    at most `low_cardinality` values. Those rows come first; if they alone exceed `rows`, the
    later ones are dropped and named in `dropped`. The rest are the rows of smallest hash (a
    seeded random sample), read in the same last pass as the variance rows.

    With a `key`, the sample is made of whole keys of a key set instead (see `take_keys`): the
    given `keys`, or one chosen here from the keys of the variance rows and random keys.
    """
    if key:
        check_key(df.schema, key)
    with _generated_code(df.sparkSession):
        return _take_tiny(df, rows, key, keys, low_cardinality)


def _take_tiny(
    df: DataFrame,
    rows: int,
    key: Sequence[str],
    keys: Sequence[KeyEntry] | None,
    low_cardinality: int,
) -> TinySample:
    base = _base(df, key)
    found = survey(base, df.schema, key, low_cardinality)
    if key:
        return take_keys(base, df.schema, found, rows, key, keys)
    chosen: list[float] = []
    reasons: dict[str, int] = {}
    dropped: list[str] = []
    for hit in found.hits:
        if hit.row_hash is None or hit.row_hash in chosen:
            continue
        if len(chosen) >= rows:
            dropped.append(hit.reason)
            continue
        chosen.append(hit.row_hash)
        _count(reasons, hit.reason)
    import pyspark.sql.functions as F

    need = rows - len(chosen)
    h = F.col(_HASH)
    wanted = h.isin(chosen) if chosen else F.lit(False)
    picked = {
        r[-1]: tuple(r) for r in base.where(wanted | (h < _threshold(need, found.rows))).collect()
    }
    passes = found.passes + 1
    randoms = sorted(v for v in picked if v not in set(chosen))
    if len(randoms) < need and len(picked) < found.rows:
        # The threshold fell short (equal rows share a hash): take the smallest hashes outright.
        passes += 1
        for r in base.orderBy(_HASH).limit(3 * rows).collect():
            picked.setdefault(r[-1], tuple(r))
        randoms = sorted(v for v in picked if v not in set(chosen))
    for value in randoms[:need]:
        chosen.append(value)
        _count(reasons, "random")
    sample = [picked[v] for v in chosen if v in picked]
    return TinySample(_strip(sample), reasons, dropped, passes, found=len(found.hits))


def _strip(rows: Any) -> list[tuple[Any, ...]]:
    # Drop the hashes carried last in each row; order by row hash so the file diffs stably.
    width = len(rows[0]) if rows else 0
    hash_at = width - 1
    return [r[:hash_at] for r in sorted(rows, key=lambda r: r[hash_at])]


def choose_keys(
    found: Survey, candidates: Mapping[float, tuple[tuple[Any, ...], int]], size: int
) -> list[KeyEntry]:
    """A key set of at most `size` keys: the keys of the variance hits in their order, then the
    candidate keys of smallest hash (the keys the smallest fraction rungs keep)."""
    entries: dict[float, KeyEntry] = {}
    for hit in found.hits:
        if len(entries) >= size:
            break
        key_hash = hit.key_hash
        if key_hash is not None and key_hash in candidates and key_hash not in entries:
            entries[key_hash] = KeyEntry(candidates[key_hash][0], key_hash, hit.reason)
    for key_hash in sorted(candidates):
        if len(entries) >= size:
            break
        if key_hash not in entries:
            entries[key_hash] = KeyEntry(candidates[key_hash][0], key_hash, "random")
    return list(entries.values())


def take_keys(
    base: DataFrame,
    schema: StructType,
    found: Survey,
    rows: int,
    key: Sequence[str],
    keys: Sequence[KeyEntry] | None,
) -> TinySample:
    """Every row of as many keys of a key set as fit in `rows`, in the key set's order.

    Without `keys` the key set is chosen from this source (`choose_keys`); with them (another
    source's key set) this source's sample holds only keys of that set, so samples of sources
    that share a `sample_key` join whole. A key is taken whole or not at all, so per-key logic
    sees real groups; a key too big for what is left of the budget is skipped (and named). Rows
    whose key has a null are one group at scale (often the heaviest: the talks' 'MISSING'
    client); at most a twentieth of the sample is spent on them, the rows of smallest hash.
    """
    import pyspark.sql.functions as F

    kh, h = F.col(_KEY_HASH), F.col(_HASH)
    known = [e.key_hash for e in keys] if keys is not None else []
    hit_hashes = [x.key_hash for x in found.hits if x.key_hash is not None]
    wanted = known + hit_hashes
    condition = kh.isin(sorted(set(wanted))) if wanted else F.lit(False)
    if keys is None:
        condition = condition | (kh < _threshold(rows, found.keys))
    key_struct = F.struct(*[_col(k) for k in key])
    counted = (
        base.where(condition)
        .groupBy(_KEY_HASH)
        # Every row of a group has the same key: min picks it without hashing whole rows.
        .agg(F.count(F.lit(1)).alias("n"), F.min(key_struct).alias("k"))
        .collect()
    )
    sizes = {r[_KEY_HASH]: (tuple(r["k"]), int(r["n"])) for r in counted}
    key_set = list(keys) if keys is not None else choose_keys(found, sizes, rows)
    null_budget = max(1, rows // 20)
    whole: list[float] = []
    partial: dict[float, int] = {}
    used = 0
    for entry in key_set:
        size = sizes.get(entry.key_hash, (entry.key, 0))[1]
        take = min(size, null_budget) if entry.has_null else size
        if not take or used + take > rows:
            continue
        if entry.has_null:
            partial[entry.key_hash] = take
        else:
            whole.append(entry.key_hash)
        used += take
    taken = set(whole) | set(partial)
    reasons: dict[str, int] = {}
    dropped: list[str] = []
    in_set = {e.key_hash for e in key_set}
    for hit in found.hits:
        if hit.key_hash in taken:
            continue
        value, size = sizes.get(hit.key_hash, ((), 0))
        shown = value[0] if len(value) == 1 else value
        if hit.key_hash not in in_set:
            dropped.append(f"{hit.reason} (its key {shown!r} is not in the key set)")
        else:
            dropped.append(f"{hit.reason} (key {shown!r} has {size} rows)")
    for entry in key_set:
        if entry.key_hash in taken:
            _count(reasons, entry.reason)
    rows_of = kh.isin(whole) if whole else F.lit(False)
    for key_hash, take in partial.items():
        size = sizes[key_hash][1]
        rows_of = rows_of | ((kh == F.lit(key_hash)) & (h < _threshold(take, size)))
    picked: list[tuple[Any, ...]] = []
    nulls: dict[float, list[tuple[Any, ...]]] = {k: [] for k in partial}
    for r in base.where(rows_of).collect():
        row = tuple(r)
        if row[-1] in partial:
            nulls[row[-1]].append(row)
        else:
            picked.append(row)
    for key_hash, group in nulls.items():
        picked += sorted(group, key=lambda r: r[-2])[: partial[key_hash]]
    sample = _strip([r[:-1] for r in picked])
    return TinySample(
        sample,
        reasons,
        dropped,
        found.passes + 2,
        found=len(found.hits),
        keys=key_set,
        taken_keys=len(taken),
    )
