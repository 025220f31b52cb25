"""Sampling on real Spark, in this process's local session (the plugin's own `spark` fixture)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pyspark.sql.functions as F
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from pytest_dcs.data import sampling
from pytest_dcs.data.samplestore import SampleStore
from pytest_dcs.data.sampling.footers import footer_ends
from pytest_dcs.data.sampling.hashing import unit_hash_of

CATEGORIES = ["a", "b", "c", "d", "rare"]


def _events(spark: SparkSession, rows: int = 100_000) -> DataFrame:
    """0.1% of rows have a null `exp`; the 'rare' category is 5 rows in 100,000."""
    h = F.abs(F.xxhash64("id", F.lit(3)))
    return spark.range(rows).select(
        F.col("id"),
        F.concat(F.lit("client-"), (h % 5000).cast("string")).alias("client_id"),
        F.when(F.col("id") % 1000 == 17, F.lit(None))
        .otherwise(F.concat(F.lit("e10s-"), (h % 9).cast("string")))
        .alias("exp"),
        F.when(F.col("id") % 20000 == 3, F.lit("rare"))
        .otherwise(F.element_at(F.array(*map(F.lit, CATEGORIES[:4])), (h % 4 + 1).cast("int")))
        .alias("category"),
        (h % 10_000 / 100).alias("value"),
    )


def _has_variance(rows: list[tuple], schema: T.StructType) -> tuple[bool, bool]:
    exp, category = schema.fieldNames().index("exp"), schema.fieldNames().index("category")
    return (
        any(r[exp] is None for r in rows),
        {r[category] for r in rows} == set(CATEGORIES),
    )


def test_tiny_sample_covers_nulls_and_every_category(spark: SparkSession) -> None:
    df = _events(spark)
    tiny = sampling.take_tiny(df, 200)
    assert len(tiny.rows) == 200
    assert _has_variance(tiny.rows, df.schema) == (True, True)
    # Min and max; the rows holding nulls, extremes and categories; then the rows themselves.
    assert tiny.passes == 3
    assert tiny.reasons["null"] >= 1
    # The same budget spent on a seeded random sample misses them, seed after seed.
    covered = []
    for seed in range(1, 6):
        picked = df.orderBy(sampling.unit_hash(df.columns, seed)).limit(200).collect()
        covered.append(_has_variance([tuple(r) for r in picked], df.schema))
    assert sum(null and every for null, every in covered) == 0, covered
    assert sum(every for _, every in covered) <= 1, covered


def test_tiny_sample_finds_values_past_the_first_rows_and_ties_by_hash(
    spark: SparkSession,
) -> None:
    # `kind` shows one value in the first rows read, and a second only at id 9000 (a partition
    # those rows do not reach); `floor` is 0 in 5001 rows; `bin` is binary (hex in the survey).
    df = spark.range(10_000).select(
        F.col("id"),
        F.when(F.col("id") == 9_000, F.lit("late")).otherwise(F.lit("common")).alias("kind"),
        F.greatest(F.col("id") - 5_000, F.lit(0)).alias("floor"),
        (F.col("id") * 7919 % 10007).cast("string").cast("binary").alias("bin"),
    )
    tiny = sampling.take_tiny(df, 50)
    ids = {r[0] for r in tiny.rows}
    assert tiny.passes == 4  # a shuffle for the values the first rows lack
    assert 9_000 in ids
    # Of the rows tied at the min, the one of smallest row hash, whichever the partitions.
    hashed = df.select("id", "floor", sampling.unit_hash(df.columns).alias("h"))
    assert hashed.where("floor = 0").orderBy("h").first()["id"] in ids
    ends = {df.orderBy("bin").first()["id"], df.orderBy(F.desc("bin")).first()["id"]}
    assert ends <= ids


def test_an_end_past_the_first_rows_gets_its_row_of_smallest_hash(spark: SparkSession) -> None:
    # The first rows show `level` at 0..49 only: its max, 99, is in the 18,000 rows after them;
    # `id`'s max is one row, the last.
    df = spark.range(20_000, numPartitions=4).select(
        F.col("id"),
        F.when(F.col("id") >= 2_000, F.lit(99)).otherwise(F.col("id") % 50).alias("level"),
    )
    tiny = sampling.take_tiny(df, 100)
    ids = {r[0] for r in tiny.rows}
    hashed = df.select("id", "level", sampling.unit_hash(df.columns).alias("h"))
    assert hashed.where("level = 99").orderBy("h").first()["id"] in ids
    assert 19_999 in ids
    # By key, the keys of those rows: id 0 is at level 0, id 19,999 at level 99.
    by_key = sampling.take_tiny(df, 100, key=["level"])
    assert [(e.reason, e.key) for e in by_key.keys[:2]] == [("min id", (0,)), ("max id", (99,))]


# Values the survey writes into SQL text: a quote, a backslash, a line break, a tab, non-ASCII,
# and names with a dot, a space and a backtick.
AWKWARD = ["it's", "back\\slash", "two\nlines", "tab\there", "naïve ✓", "plain"]


def test_awkward_names_and_values_are_found_exactly(spark: SparkSession) -> None:
    # `odd.kind` holds six awkward values (low-cardinality); `we`ird` is a free string whose
    # min and max hold a quote and a backslash; the ends of a decimal, a date and a timestamp
    # are past the first rows. Each reason's row must be found, none missed.
    rows = 4_000
    df = spark.range(rows, numPartitions=4).select(
        F.col("id"),
        F.element_at(
            F.array(*[F.lit(v) for v in AWKWARD]), (F.col("id") % 6 + 1).cast("int")
        ).alias("odd.kind"),
        F.when(F.col("id") == 3_001, F.lit("'\\ first"))
        .when(F.col("id") == 3_002, F.lit("~ last \\'"))
        .otherwise(F.concat(F.lit("m"), F.col("id").cast("string")))
        .alias("we`ird"),
        (F.col("id") / 100).cast("decimal(10,2)").alias("a price"),
        F.date_add(F.lit("2020-01-01").cast("date"), F.col("id").cast("int")).alias("day"),
        F.timestamp_seconds(F.col("id") * 3_600).alias("at"),
    )
    tiny = sampling.take_tiny(df, 60)
    ids = {r[0] for r in tiny.rows}
    assert {r[1] for r in tiny.rows} == set(AWKWARD)
    assert {3_001, 3_002, 0, rows - 1} <= ids
    assert sum(1 for r in tiny.rows if r[1] == "it's") >= 1
    # One reason per awkward value, none dropped, each found in the source.
    assert tiny.reasons["value"] == len(AWKWARD)
    assert tiny.dropped == []


def test_tiny_sample_by_key_holds_whole_keys(spark: SparkSession) -> None:
    df = _events(spark, 20_000)
    tiny = sampling.take_tiny(df, 200, key=["client_id"])
    assert 0 < len(tiny.rows) <= 200
    sampled = [r[1] for r in tiny.rows]
    counts = {
        r["client_id"]: r["count"]
        for r in df.where(F.col("client_id").isin(sorted(set(sampled))))
        .groupBy("client_id")
        .count()
        .collect()
    }
    assert {k: sampled.count(k) for k in set(sampled)} == counts
    assert any(r[2] is None for r in tiny.rows)  # the null experiment id's client came along


def test_tiny_sample_by_key_caps_the_null_key(spark: SparkSession) -> None:
    df = spark.range(5000).select(
        F.when(F.col("id") % 2 == 0, F.lit(None))
        .otherwise(F.concat(F.lit("c"), (F.col("id") % 300).cast("string")))
        .alias("client_id"),
        F.col("id"),
    )
    tiny = sampling.take_tiny(df, 200, key=["client_id"])
    nulls = sum(1 for r in tiny.rows if r[0] is None)
    assert 1 <= nulls <= 10
    assert len(tiny.rows) <= 200


ALL_TYPES = T.StructType(
    [
        T.StructField("s", T.StringType()),
        T.StructField("b", T.BooleanType()),
        T.StructField("i8", T.ByteType()),
        T.StructField("i16", T.ShortType()),
        T.StructField("i32", T.IntegerType(), nullable=False),
        T.StructField("i64", T.LongType()),
        T.StructField("f", T.FloatType()),
        T.StructField("d", T.DoubleType()),
        T.StructField("dec", T.DecimalType(38, 18)),
        T.StructField("day", T.DateType()),
        T.StructField("ts", T.TimestampType()),
        T.StructField("ntz", T.TimestampNTZType()),
        T.StructField("bin", T.BinaryType()),
        T.StructField("dur", T.DayTimeIntervalType()),
        T.StructField("arr", T.ArrayType(T.StringType())),
        T.StructField("m", T.MapType(T.StringType(), T.LongType())),
        T.StructField(
            "st",
            T.StructType(
                [
                    T.StructField("x", T.IntegerType()),
                    T.StructField("tags", T.ArrayType(T.MapType(T.IntegerType(), T.DateType()))),
                ]
            ),
        ),
    ]
)


def test_every_spark_sql_type_round_trips_through_the_sample_file(
    spark: SparkSession, tmp_path: Path
) -> None:
    row = (
        "é \u2028 line",
        True,
        -128,
        32767,
        7,
        -(2**63),
        1.5,
        float("nan"),
        Decimal("12345678901234567890.123456789012345678"),
        dt.date(1, 1, 1),
        dt.datetime(2017, 5, 19, 23, 59, 59, 999999),
        dt.datetime(9999, 12, 31, 23, 59, 59),
        bytearray(b"\x00\xffbin"),
        dt.timedelta(days=-3, microseconds=7),
        ["x", None, ""],
        {"k": 1, "n": None},
        (1, [{3: dt.date(2020, 2, 29)}]),
    )
    empty = ("",) + (None,) * 3 + (0,) + (None,) * 12
    df = spark.createDataFrame([row, empty], ALL_TYPES)
    collected = [tuple(r) for r in df.collect()]
    store = SampleStore(tmp_path)
    store.save("all", df.schema, collected, meta={})
    back = store.load("all", expected=df.schema)
    again = spark.createDataFrame(back.rows, back.schema)
    assert again.schema == df.schema
    # By text, because NaN != NaN; the repr shows every value and its Python type.
    assert repr([tuple(r) for r in again.collect()]) == repr(collected)


@pytest.fixture(scope="module")
def parquet_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("files") / "events"


def test_file_fractions_are_nested_and_read_about_their_share(
    spark: SparkSession, parquet_source: Path
) -> None:
    _events(spark).repartition(200).write.parquet(str(parquet_source))
    whole = spark.read.parquet(str(parquet_source))
    line = sampling.file_line(spark, whole, str(parquet_source))
    assert line is not None and len(line.files) == 200
    reader = sampling.FileSource("parquet", str(parquet_source), whole.schema)
    previous: set[int] = set()
    for fraction in (0.01, 0.1, 0.4):
        part = sampling.files_fraction(spark, reader, line, fraction)
        ids = {r.id for r in part.select("id").collect()}
        assert previous < ids
        assert abs(len(ids) - fraction * 100_000) <= 0.25 * fraction * 100_000
        assert line.bytes_below(fraction) <= (fraction + 0.01) * line.total_bytes
        assert len(part.inputFiles()) <= fraction * 200 + 1
        previous = ids


def test_the_unit_hash_of_a_column_is_the_unit_hash_of_its_name(spark: SparkSession) -> None:
    df = _events(spark, 1_000)
    by_name = df.select(sampling.unit_hash(["id"]).alias("h"))
    by_column = df.select(unit_hash_of(F.col("id")).alias("h"))
    assert by_name.collect() == by_column.collect()


def _read_columns(df: DataFrame) -> set[str]:
    """The names in the ReadSchema of `df`'s file scans (nested fields' names too)."""
    plan = df._jdf.queryExecution().executedPlan().toString()  # type: ignore[operator]
    schemas = re.findall(r"ReadSchema: (struct<\S*)", plan)
    assert schemas, plan
    return {name for schema in schemas for name in re.findall(r"[<,](\w+):", schema)}


def test_a_parquet_fractions_boundary_file_is_cut_without_reading_a_column(
    spark: SparkSession, tmp_path: Path
) -> None:
    # A data column named `_metadata` must not hide Spark's own: its `row_index` is 0 in every
    # row, so a cut by it would keep all of the boundary file or none.
    path = str(tmp_path / "events")
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[union-attr]
    conf.set("parquet.block.size", str(32 * 1024))  # row groups a split can start at
    try:
        _events(spark, 40_000).select(
            "*", F.struct(F.lit(0).cast("long").alias("row_index")).alias("_metadata")
        ).repartition(4).write.parquet(path)
    finally:
        conf.unset("parquet.block.size")
    whole = spark.read.parquet(path)
    line = sampling.file_line(spark, whole, path)
    assert line is not None and len(line.files) == 4
    reader = sampling.FileSource("parquet", path, whole.schema)
    boundary = line.files[1]
    in_boundary = F.input_file_name() == F.lit(boundary)
    rows_in_boundary = whole.where(in_boundary).count()
    previous: set[int] = set()
    for cut in (0.2, 0.5, 0.8):
        fraction = line.starts[1] + cut * line.shares[1]
        assert line.prefix(fraction)[1:] == (boundary, pytest.approx(cut))
        part = sampling.files_fraction(spark, reader, line, fraction)
        read = _read_columns(part.select("id"))
        assert "id" in read and read.isdisjoint(set(whole.columns) - {"id"}), read
        ids = {r.id for r in part.select("id").collect()}
        assert previous < ids
        kept = part.where(in_boundary).count()
        assert abs(kept - cut * rows_in_boundary) <= 0.05 * rows_in_boundary
        previous = ids
    # The positions are the rows' indexes in their files, not in the splits Spark reads.
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(64 * 1024))
    spark.conf.set("spark.sql.files.openCostInBytes", str(8 * 1024))
    try:
        again = sampling.files_fraction(spark, reader, line, fraction)
        assert again.rdd.getNumPartitions() > 4
        assert {r.id for r in again.select("id").collect()} == previous
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
        spark.conf.unset("spark.sql.files.openCostInBytes")
    # A larger fraction takes the boundary file whole and cuts the next one.
    larger = sampling.files_fraction(spark, reader, line, line.starts[2] + 0.5 * line.shares[2])
    assert previous < {r.id for r in larger.select("id").collect()}


def _keys(df: DataFrame) -> set[str]:
    return {r[0] for r in df.select("client_id").distinct().collect()}


def test_key_fractions_keep_the_same_keys_in_every_source(spark: SparkSession) -> None:
    events = _events(spark, 50_000)
    clients = spark.range(8000).select(
        F.concat(F.lit("client-"), F.col("id").cast("string")).alias("client_id"),
        (F.col("id") % 3).alias("tier"),
    )
    common = _keys(events) & _keys(clients)
    assert len(common) > 1000
    previous: set[str] = set()
    for fraction in (0.1, 0.4):
        in_events = _keys(sampling.fraction_of(events, fraction, ["client_id"]))
        in_clients = _keys(sampling.fraction_of(clients, fraction, ["client_id"]))
        assert in_events & common == in_clients & common
        assert previous < in_events
        assert abs(len(in_events & common) - fraction * len(common)) <= 0.25 * fraction * len(
            common
        )
        previous = in_events


def test_the_session_jvm_compiles_huge_generated_methods(spark: SparkSession) -> None:
    # The survey's wide aggregates compile to methods over HotSpot's 8000-byte limit; without
    # this flag they run interpreted (bench/sample_wide.py). The driver JVM must have it.
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    arguments = jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()
    assert "-XX:-DontCompileHugeMethods" in list(arguments)


def _parquet_source(spark: SparkSession, path: Path) -> DataFrame:
    """Three files of 3,000 rows: a column of each type, ends past the first rows, nulls, and a
    column of nulls only."""
    df = spark.range(3_000, numPartitions=3).select(
        F.col("id"),
        (F.col("id") % 100 - 50).cast("tinyint").alias("small"),
        (F.col("id") * 7 % 1_000 / 4).cast("decimal(10,2)").alias("price"),
        F.date_add(F.lit("2021-03-01").cast("date"), (F.col("id") * 13 % 900).cast("int")).alias(
            "day"
        ),
        F.when(F.col("id") % 11 == 0, F.lit(None))
        .otherwise(F.concat(F.lit("ü-"), (F.col("id") * 31 % 2_999).cast("string")))
        .alias("name"),
        (F.col("id") * 17 % 257).cast("string").cast("binary").alias("blob"),
        (F.col("id") % 3 == 0).alias("flag"),
        (F.col("id") * 3 % 1_001 / 7).alias("ratio"),
        F.timestamp_seconds(F.col("id") * 977).alias("at"),
        F.lit(None).cast("string").alias("nothing"),
    )
    df.write.parquet(str(path))
    return spark.read.parquet(str(path))


def _without_footers(
    monkeypatch: pytest.MonkeyPatch, df: DataFrame, rows: int, **options: object
) -> sampling.TinySample:
    """The tiny sample of `df` with the survey reading every column's ends with Spark."""
    with monkeypatch.context() as patched:
        patched.setattr("pytest_dcs.data.sampling.take.footer_ends", lambda *args: None)
        return sampling.take_tiny(df, rows, **options)  # type: ignore[arg-type]


def test_footers_give_the_sample_that_reading_the_columns_gives(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    df = _parquet_source(spark, tmp_path / "events")
    told = footer_ends(df, df.columns)
    assert told is not None
    assert told.rows == 3_000
    # Floats and timestamps are left to Spark; a column of nulls has no ends.
    assert set(told.ends) == {"id", "small", "price", "day", "name", "blob", "flag", "nothing"}
    assert told.ends["nothing"] is None
    assert told.ends["id"] == ("0", "2999")
    assert told.ends["small"] == ("-50", "49")
    for key in ([], ["day"]):
        with_footers = sampling.take_tiny(df, 60, key=key)
        without = _without_footers(monkeypatch, df, 60, key=key)
        assert with_footers.rows == without.rows
        assert with_footers.reasons == without.reasons
        assert with_footers.keys == without.keys
        assert with_footers.passes == without.passes


def test_a_footer_bound_its_writer_shortened_is_found_by_reading_the_column(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Footers keep the first 4 bytes of the strings' bounds: "valu" and "valv", no value of
    # the column. The ends are then read with Spark, with their rows: two passes more.
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[union-attr]
    conf.set("parquet.statistics.truncate.length", "4")
    try:
        spark.range(500, numPartitions=2).select(
            "id", F.format_string("value-%05d", F.col("id") * 7 % 499).alias("label")
        ).write.parquet(str(tmp_path / "labels"))
    finally:
        conf.unset("parquet.statistics.truncate.length")
    df = spark.read.parquet(str(tmp_path / "labels"))
    told = footer_ends(df, df.columns)
    assert told is not None and told.ends["label"] == ("valu", "valv")
    tiny = sampling.take_tiny(df, 20)
    labels = {r[1] for r in tiny.rows}
    assert {"value-00000", "value-00498"} <= labels
    without = _without_footers(monkeypatch, df, 20)
    assert tiny.rows == without.rows
    assert tiny.passes == without.passes + 2


def test_footers_are_read_only_for_plain_parquet_files(spark: SparkSession, tmp_path: Path) -> None:
    df = spark.range(100).select("id", (F.col("id") % 3).alias("part"))
    df.write.partitionBy("part").parquet(str(tmp_path / "parted"))
    df.write.csv(str(tmp_path / "csv"), header=True)
    df.write.parquet(str(tmp_path / "plain"))
    plain = spark.read.parquet(str(tmp_path / "plain"))
    assert footer_ends(plain, plain.columns) is not None
    # Plain columns picked are the files' own: their footers tell.
    assert footer_ends(plain.select("id"), ["id"]) is not None
    # Partition values are in no footer; a filter or a projection changes the ends; a CSV
    # file has no footer.
    assert footer_ends(spark.read.parquet(str(tmp_path / "parted")), ["id"]) is None
    assert footer_ends(plain.where("id > 50"), ["id"]) is None
    assert footer_ends(plain.select((F.col("id") * 2).alias("id")), ["id"]) is None
    csv = spark.read.csv(str(tmp_path / "csv"), header=True, inferSchema=True)
    assert footer_ends(csv, ["id"]) is None


def test_text_that_is_not_utf8_is_left_to_spark(spark: SparkSession, tmp_path: Path) -> None:
    # Spark keeps the bytes of a string as they are; a footer bound of them is no Python text.
    spark.range(3).selectExpr(
        "id", "CASE WHEN id = 1 THEN CAST(unhex('FFFE') AS STRING) ELSE 'ok' END AS s"
    ).write.parquet(str(tmp_path / "bytes"))
    df = spark.read.parquet(str(tmp_path / "bytes"))
    told = footer_ends(df, df.columns)
    assert told is not None and "s" not in told.ends and told.ends["id"] == ("0", "2")
    assert len(sampling.take_tiny(df, 10).rows) == 3


def test_dates_before_the_gregorian_calendar_are_left_to_spark(
    spark: SparkSession, tmp_path: Path
) -> None:
    # A file of Spark 2 holds such dates in another calendar than Spark reads them in.
    days = [(dt.date(1000, 1, 1),), (dt.date(2020, 5, 1),)]
    spark.createDataFrame(days, "day date").write.parquet(str(tmp_path / "old"))
    spark.createDataFrame(days[1:], "day date").write.parquet(str(tmp_path / "new"))
    old = footer_ends(spark.read.parquet(str(tmp_path / "old")), ["day"])
    new = footer_ends(spark.read.parquet(str(tmp_path / "new")), ["day"])
    assert old is not None and "day" not in old.ends
    assert new is not None and new.ends["day"] == ("2020-05-01", "2020-05-01")
