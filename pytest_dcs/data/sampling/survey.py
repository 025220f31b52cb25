"""The survey: the variance reasons a source has (nulls, empty strings, each column's min and
max, each value of its low-cardinality columns) and, for each, the row or key of smallest hash
that has it, found in passes of aggregates that carry hashes, never rows."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_dcs.data.sampling.hashing import KEY_HASH, ROW_HASH
from pytest_dcs.spark.sqltext import quoted, string_literal

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

    from pytest_dcs.data.sampling.footers import FooterEnds

# The order variance reasons are served in: nulls and empties are what crashes code; then
# categories, then extremes.
REASON_ORDER = {"null": 0, "empty": 1, "value": 2, "min": 3, "max": 3}


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


def orderable(dtype: DataType) -> bool:
    """Whether the survey takes the min and max of a column of `dtype`."""
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


# Low-cardinality columns are spotted on this many of the source's first rows (a cheap read of
# its first files): a column with more values there is not low-cardinality. The values of the
# columns spotted are then found in every row.
_SPOT_ROWS = 2_000
# Aggregate expressions per job of the survey's jobs that read only the columns they aggregate:
# a job of a few dozen stays in generated methods small enough for the JIT to compile, while one
# of hundreds runs interpreted (measured: 270 plain min/max in one job took 3x the time of the
# same in jobs of 60; see bench/sample_wide.py).
_CHUNK = 64


# The survey's expressions are SQL text, each parsed by the JVM in one call: built as Columns,
# each of hundreds costs a dozen Py4J round trips (a cast to a type parses the type again),
# which took a quarter of a wide source's sample (47,000 calls, 3.4 s of 13.4 s).


def _text(dtype: DataType, value: str) -> str:
    """SQL of a value as text that casts back to the identical value (binary as hex)."""
    from pyspark.sql import types as T

    return f"hex({value})" if isinstance(dtype, T.BinaryType) else f"CAST({value} AS STRING)"


def _literal(dtype: DataType, text: str) -> str:
    """SQL of the value `_text` wrote, as a literal of `dtype` (folded when the plan is built)."""
    from pyspark.sql import types as T

    if isinstance(dtype, T.BinaryType):
        return f"unhex({string_literal(text)})"
    if isinstance(dtype, T.StringType):
        return string_literal(text)
    return f"CAST({string_literal(text)} AS {dtype.simpleString()})"


def _spot_values(
    base: DataFrame, fields: Sequence[Any], low_cardinality: int
) -> dict[str, list[str]]:
    """The columns with at most `low_cardinality` values among the first `_SPOT_ROWS` rows, each
    with those values as text (sorted). A collected limit reads only the first partitions; an
    aggregate over a limit would read the first rows of every partition."""
    if not fields:
        return {}
    texts = [_text(f.dataType, quoted(f.name)) for f in fields]
    first = base.selectExpr(*texts).limit(_SPOT_ROWS).collect()
    spotted = {}
    for i, f in enumerate(fields):
        values = {r[i] for r in first if r[i] is not None}
        if 0 < len(values) <= low_cardinality:
            spotted[f.name] = sorted(values)
    return spotted


def _jobs(named: Sequence[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    for at in range(0, len(named), size):
        yield list(named[at : at + size])


def _run(base: DataFrame, named: Sequence[tuple[str, str]], size: int) -> dict[str, Any]:
    """Run named aggregate expressions (SQL text) over `base` in jobs of at most `size`; their
    values."""
    values: dict[str, Any] = {}
    for job in _jobs(named, size):
        row = base.selectExpr(*[f"{expr} AS a{i}" for i, (_, expr) in enumerate(job)]).collect()[0]
        values.update({name: row[f"a{i}"] for i, (name, _) in enumerate(job)})
    return values


def survey(
    base: DataFrame,
    schema: StructType,
    key: Sequence[str],
    low_cardinality: int,
    footers: FooterEnds | None = None,
) -> Survey:
    """Find the variance hits of `base` (made by `with_hashes`) in two passes, plus a small read
    of its first rows, and a third pass only for low-cardinality columns with values those rows
    lack.

    The first rows spot the low-cardinality columns and their values. Pass 1, plain aggregates
    in jobs that read only their columns: the row count, each other orderable column's min and
    max, and per low-cardinality column whether it has values the first rows lack. Pass 2, one
    aggregate of `min(when(condition, hash))`: the smallest row hash among rows with a null
    (an empty string) in each column, with each column's min and max, and with each value of
    each low-cardinality column; so each hit is the same row on every run, ties included. With a
    key, pass 2 takes the smallest *key* hash instead, which needs no hash of the whole row (so
    its jobs read only their columns too): each hit is the key of smallest hash that has it.

    With `footers` (a parquet source's footers, `footer_ends`), pass 1 takes the row count and
    the ends of the columns they tell from them, and reads only the other columns. An end from
    a footer that no row holds (a bound a writer shortened) is found with Spark afterwards,
    with its row: two more passes, over those columns only by key.
    """
    from pyspark.sql import types as T

    keyed = bool(key)
    fields = {f.name: f for f in schema.fields}
    ordered = [f for f in schema.fields if orderable(f.dataType)]
    spotted = _spot_values(base, ordered, low_cardinality)
    plain = [f for f in ordered if f.name not in spotted]

    told = footers.ends if footers is not None else {}
    ends: list[tuple[str, str]] = [] if footers is not None else [("rows", "count(1)")]
    if keyed:
        ends.append(("keys", f"approx_count_distinct({quoted(KEY_HASH)})"))
    ends += _end_aggregates([f for f in plain if f.name not in told])
    for name, values in spotted.items():
        c, dtype = quoted(name), fields[name].dataType
        listed = ", ".join(_literal(dtype, v) for v in values)
        ends.append((f"other {name}", f"max({c} IS NOT NULL AND NOT {c} IN ({listed}))"))
    found = _run(base, ends, _CHUNK)
    if footers is not None:
        found["rows"] = footers.rows
    for f in plain:
        if f.name in told:
            pair = told[f.name]
            found[f"min {f.name}"], found[f"max {f.name}"] = pair if pair else (None, None)
    passes = 1

    pick = quoted(KEY_HASH if keyed else ROW_HASH)
    more = [name for name in spotted if found[f"other {name}"]]
    # Column by column, so that a job of consecutive reasons reads few columns.
    wanted: list[tuple[str, str]] = []
    for f in schema.fields:
        c = quoted(f.name)
        if f.nullable:
            wanted.append((f"null {f.name}", f"{c} IS NULL"))
        if isinstance(f.dataType, T.StringType):
            wanted.append((f"empty {f.name}", f"{c} = ''"))
        wanted += _end_conditions(f, found)
        if f.name in spotted and f.name not in more:
            for v in spotted[f.name]:
                wanted.append((f"value {f.name}={v}", f"{c} = {_literal(f.dataType, v)}"))
    # By row every job hashes every column, so one job; by key a job reads only its columns.
    size = _CHUNK if keyed else max(1, len(wanted))
    hashes = _run(base, _smallest(wanted, pick), size)
    passes += 1
    # An end a footer told that no row holds was shortened by its writer: find it with Spark.
    short = [
        f
        for f in plain
        if told.get(f.name) and any(hashes[f"{e} {f.name}"] is None for e in ("min", "max"))
    ]
    if short:
        found.update(_run(base, _end_aggregates(short), _CHUNK))
        again = [w for f in short for w in _end_conditions(f, found)]
        hashes.update(_run(base, _smallest(again, pick), _CHUNK if keyed else len(again)))
        passes += 2
    hits = [_hit(r, hashes[r], keyed) for r, _ in wanted if hashes[r] is not None]
    if more:
        # A column spotted on the first rows has values they lack: find them all (a shuffle).
        hits += _value_hits(base, [fields[name] for name in more], key, low_cardinality)
        passes += 1
    hits.sort(key=lambda hit: REASON_ORDER[hit.reason.split(" ", 1)[0]])
    keys = int(found["keys"]) if keyed else 0
    return Survey(hits, int(found["rows"]), keys, passes)


def _end_aggregates(fields: Sequence[Any]) -> list[tuple[str, str]]:
    """The aggregates of the min and max of each of `fields`, as text."""
    named = []
    for f in fields:
        c = quoted(f.name)
        named.append((f"min {f.name}", _text(f.dataType, f"min({c})")))
        named.append((f"max {f.name}", _text(f.dataType, f"max({c})")))
    return named


def _end_conditions(f: Any, found: dict[str, Any]) -> list[tuple[str, str]]:
    """The conditions of the rows at the min and at the max of field `f` (ends in `found`)."""
    conditions = []
    for end in ("min", "max"):
        text = found.get(f"{end} {f.name}")
        if text is not None:
            conditions.append(
                (f"{end} {f.name}", f"{quoted(f.name)} = {_literal(f.dataType, text)}")
            )
    return conditions


def _smallest(wanted: Sequence[tuple[str, str]], pick: str) -> list[tuple[str, str]]:
    """Per reason, the aggregate of the smallest hash `pick` among the rows of its condition."""
    return [(reason, f"min(CASE WHEN {cond} THEN {pick} END)") for reason, cond in wanted]


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
                F.struct(
                    F.lit(f.name).alias("c"), F.expr(_text(f.dataType, quoted(f.name))).alias("v")
                )
                for f in low
            ]
        )
    )
    pick = KEY_HASH if key else ROW_HASH
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


# Spark stops generating code for plans with more than `spark.sql.codegen.maxFields` (100)
# fields; the survey of a wide source has hundreds, and runs 2-3x slower interpreted.
_CODEGEN_FIELDS = "spark.sql.codegen.maxFields"
_SURVEY_CODEGEN_FIELDS = 100_000


@contextlib.contextmanager
def generated_code(spark: SparkSession) -> Iterator[None]:
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
