"""Synthetic data: schema parsing and specs without a JVM, generation on a real local session."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pytest_dcs.data.synthetic import (
    SyntheticError,
    SyntheticSpec,
    from_source_text,
    generate,
    parse_schema,
    partition_rows,
)

NESTED_DDL = (
    "id bigint not null, tags array<string>, "
    "counts map<string, int>, address struct<city: string, zip string not null, "
    "visits array<struct<day: date, amount decimal(8,2)>>>"
)
NESTED = T.StructType(
    [
        T.StructField("id", T.LongType(), False),
        T.StructField("tags", T.ArrayType(T.StringType())),
        T.StructField("counts", T.MapType(T.StringType(), T.IntegerType())),
        T.StructField(
            "address",
            T.StructType(
                [
                    T.StructField("city", T.StringType()),
                    T.StructField("zip", T.StringType(), False),
                    T.StructField(
                        "visits",
                        T.ArrayType(
                            T.StructType(
                                [
                                    T.StructField("day", T.DateType()),
                                    T.StructField("amount", T.DecimalType(8, 2)),
                                ]
                            )
                        ),
                    ),
                ]
            ),
        ),
    ]
)


def error(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(SyntheticError) as excinfo:
        call(*args, **kwargs)
    return str(excinfo.value)


# -- parse_schema ---------------------------------------------------------------------------


def test_ddl_simple_types_and_aliases() -> None:
    schema = parse_schema(
        "s STRING, i int, i2 integer, b bigint, l long, sm smallint, t tinyint, d double, "
        "f float, ok boolean, day date, ts timestamp, ntz timestamp_ntz, raw binary, "
        "money decimal(12, 4), plain decimal, n int NOT NULL, c: string, `odd name` int"
    )
    assert [(f.name, f.dataType, f.nullable) for f in schema.fields] == [
        ("s", T.StringType(), True),
        ("i", T.IntegerType(), True),
        ("i2", T.IntegerType(), True),
        ("b", T.LongType(), True),
        ("l", T.LongType(), True),
        ("sm", T.ShortType(), True),
        ("t", T.ByteType(), True),
        ("d", T.DoubleType(), True),
        ("f", T.FloatType(), True),
        ("ok", T.BooleanType(), True),
        ("day", T.DateType(), True),
        ("ts", T.TimestampType(), True),
        ("ntz", T.TimestampNTZType(), True),
        ("raw", T.BinaryType(), True),
        ("money", T.DecimalType(12, 4), True),
        ("plain", T.DecimalType(10, 0), True),
        ("n", T.IntegerType(), False),
        ("c", T.StringType(), True),
        ("odd name", T.IntegerType(), True),
    ]


def test_ddl_nested_generics() -> None:
    assert parse_schema(NESTED_DDL) == NESTED
    deep = parse_schema("m map<string,array<map<int,struct<a:int>>>>")
    assert deep.simpleString() == "struct<m:map<string,array<map<int,struct<a:int>>>>>"
    assert parse_schema("struct<a: int, b: string>") == parse_schema("a int, b string")


def test_json_schemas_round_trip() -> None:
    assert parse_schema(NESTED.jsonValue()) == NESTED
    assert parse_schema(NESTED.json()) == NESTED
    assert parse_schema(NESTED) is NESTED


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "the schema is empty"),
        ("id", "column 'id' has no type"),
        ("id bigint,", "expected a column name but the schema ends"),
        ("id varchar2", "unknown type 'varchar2'"),
        ("tags array<string", "expected '>' but the schema ends"),
        ("m map<string>", "expected ',' but found '>'"),
        ("a int, A string", "column 'A' appears twice"),
        ("a decimal(40, 2)", "decimal(40,2) needs 1 <= precision <= 38"),
        ("a int not nil", "expected 'null' after 'not'"),
        ("a int; b int", "unexpected character ';' at position 5"),
        ("a int b int", "unexpected 'b'"),
        ("{not json", "bad JSON schema"),
        ('{"type": "array"}', "must be a struct"),
        ('{"type": "struct", "fields": [{"name": "x"}]}', "KeyError"),
    ],
)
def test_bad_schemas_say_what_and_show_an_example(text: str, problem: str) -> None:
    message = error(parse_schema, text)
    assert problem in message
    assert "id bigint, email string" in message or '"type": "struct"' in message


def test_a_schema_of_the_wrong_type() -> None:
    assert "not int" in error(parse_schema, 5)


# -- SyntheticSpec --------------------------------------------------------------------------


def test_spec_defaults_and_normalization() -> None:
    spec = SyntheticSpec("id bigint, email string")  # type: ignore[arg-type]
    assert spec.schema == parse_schema("id bigint, email string")
    assert (spec.rows, spec.seed, spec.partitions) == (1000, 0, 1)
    assert (spec.null_rate, spec.empty_rate, spec.extremes_rate) == (0.0, 0.0, 0.0)
    assert (spec.date_format, spec.locale, spec.providers) == ("%Y%m%d", "en_US", {})
    assert SyntheticSpec(NESTED, rows=1_000_001).partitions == 5
    assert SyntheticSpec(NESTED, rows=0).partitions == 1
    assert len({SyntheticSpec(NESTED), SyntheticSpec(NESTED, providers={"id": "pyint"})}) == 2


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"rows": -1}, "rows must be 0 or more"),
        ({"rows": "10"}, "rows must be an integer"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"partitions": -1}, "partitions must be an integer >= 1 (or 0 for one per 250,000"),
        ({"null_rate": 1.5}, "null_rate must be a number in [0, 1]"),
        ({"empty_rate": -0.1}, "empty_rate must be a number in [0, 1]"),
        ({"null_rate": 0.6, "extremes_rate": 0.6}, "must be at most 1"),
        ({"date_format": "yyyyMMdd"}, "strftime format"),
        ({"locale": "xx_XX"}, "'xx_XX' is not a Faker locale"),
        ({"providers": {"nope": "city"}}, "'nope', which is not in the schema; columns: id, tags,"),
        ({"providers": {"id": "seed_instance"}}, "'seed_instance' for column 'id' is not a Faker"),
        ({"providers": {"id": "no_such"}}, "'no_such' for column 'id' is not a Faker provider"),
        ({"providers": {"tags": "word"}}, "only be set for columns of simple types, not array"),
        ({"providers": {"id": "enum"}}, "needs arguments"),
        ({"providers": {"id": "word"}}, "gives str values, which column 'id' of type bigint"),
    ],
)
def test_bad_specs(kwargs: dict[str, Any], problem: str) -> None:
    assert problem in error(SyntheticSpec, NESTED, **kwargs)


def test_types_that_cannot_be_generated() -> None:
    interval = T.StructType([T.StructField("wait", T.DayTimeIntervalType())])
    assert "column 'wait': type interval day to second cannot be generated" in error(
        SyntheticSpec, interval
    )
    nested = "m map<string, array<struct<v: interval>>>"
    with pytest.raises(SyntheticError):
        SyntheticSpec(nested)  # type: ignore[arg-type]
    complex_keys = T.StructType(
        [T.StructField("m", T.MapType(T.ArrayType(T.IntegerType()), T.StringType()))]
    )
    assert "column 'm': map keys of type array<int>" in error(SyntheticSpec, complex_keys)


def test_partitions_split_the_rows_and_each_is_reproducible() -> None:
    spec = SyntheticSpec(NESTED, rows=10, seed=3, partitions=4, null_rate=0.2)
    parts = [list(partition_rows(spec, p)) for p in range(4)]
    assert [len(p) for p in parts] == [2, 3, 2, 3]
    assert [row[0] for part in parts for row in part] == list(range(1, 11))
    assert list(partition_rows(spec, 2)) == parts[2]
    assert parts[0] != parts[1]
    with pytest.raises(IndexError, match=r"partition 4 is not in 0\.\.3"):
        list(partition_rows(spec, 4))


# -- from_source_text -----------------------------------------------------------------------


def test_source_text_pairs() -> None:
    spec = from_source_text(
        " rows=100_000; seed=7 ;null_rate=0.001;partitions=3; date_format=%Y-%m-%d;"
        "providers=town:city, code:country_code;schema=town string, code string, n bigint;"
    )
    assert spec == SyntheticSpec(
        parse_schema("town string, code string, n bigint"),
        rows=100_000,
        seed=7,
        partitions=3,
        null_rate=0.001,
        date_format="%Y-%m-%d",
        providers={"town": "city", "code": "country_code"},
    )


def test_source_file(tmp_path: Path) -> None:
    document = {
        "schema": NESTED.jsonValue(),
        "rows": 50,
        "extremes_rate": 0.5,
        "providers": {"id": "pyint"},
    }
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "events.json").write_text(json.dumps(document))
    spec = from_source_text("specs/events.json", base=tmp_path)
    assert spec == SyntheticSpec(NESTED, rows=50, extremes_rate=0.5, providers={"id": "pyint"})
    (tmp_path / "ddl.json").write_text('{"schema": "id bigint", "seed": 2}')
    assert from_source_text(str(tmp_path / "ddl.json")).schema == parse_schema("id bigint")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("rowz=5;schema=a int", "unknown key 'rowz'; accepted keys: schema, rows, seed,"),
        ("rows=5", "the key 'schema' is missing"),
        ("rows=5;schema", "'schema' is not key=value"),
        ("rows=lots;schema=a int", "rows='lots' is not an integer"),
        ("null_rate=some;schema=a int", "null_rate='some' is not a number"),
        ("seed=1;seed=2;schema=a int", "key 'seed' is given twice"),
        ("providers=a;schema=a int", "'a' is not column:provider"),
        ("rows=-5;schema=a int", "rows must be 0 or more"),
        ("schema=a int,", "expected a column name"),
    ],
)
def test_bad_source_text(text: str, problem: str) -> None:
    message = error(from_source_text, text)
    assert message.startswith(f"synthetic source {text!r}: ")
    assert problem in message


def test_bad_source_files(tmp_path: Path) -> None:
    assert "cannot be read" in error(from_source_text, "missing.json", base=tmp_path)
    (tmp_path / "broken.json").write_text("{")
    assert "is not valid JSON" in error(from_source_text, "broken.json", base=tmp_path)
    (tmp_path / "list.json").write_text("[]")
    assert "must hold a JSON object" in error(from_source_text, "list.json", base=tmp_path)
    (tmp_path / "typo.json").write_text('{"schema": "a int", "row": 3}')
    message = error(from_source_text, "typo.json", base=tmp_path)
    assert "typo.json" in message
    assert "unknown key 'row'; accepted keys:" in message


def test_too_many_rows_over_spark_connect_names_the_limit_and_the_alternative() -> None:
    connect_session = type("SparkSession", (), {"__module__": "pyspark.sql.connect.session"})()
    message = error(generate, connect_session, SyntheticSpec(NESTED, rows=200_001))
    assert "200,001 rows: over Spark Connect" in message
    assert "at most 200,000" in message
    assert "parquet or table source" in message


# -- generate, on the local engine ----------------------------------------------------------

SIMPLE = "id bigint not null, client_id string, submission_date string, n int, price double"


def by_id(rows: list[Any]) -> list[Any]:
    return sorted(rows, key=lambda row: row.id)


def test_same_seed_same_rows_other_seed_other_rows(spark: Any) -> None:
    spec = SyntheticSpec(NESTED, rows=300, seed=11, partitions=3, null_rate=0.1, empty_rate=0.1)
    first = by_id(generate(spark, spec).collect())
    assert by_id(generate(spark, spec).collect()) == first
    other = SyntheticSpec(NESTED, rows=300, seed=12, partitions=3, null_rate=0.1, empty_rate=0.1)
    assert by_id(generate(spark, other).collect()) != first


def test_executors_make_what_the_driver_would(spark: Any) -> None:
    spec = SyntheticSpec(SIMPLE, rows=1000, seed=5, partitions=4, null_rate=0.05)  # type: ignore[arg-type]
    on_driver = [row for p in range(4) for row in partition_rows(spec, p)]
    assert [tuple(row) for row in by_id(generate(spark, spec).collect())] == on_driver


def test_count_schema_and_partitions_are_exact(spark: Any) -> None:
    spec = SyntheticSpec(NESTED, rows=1234, partitions=5)
    df = generate(spark, spec)
    assert df.schema == NESTED
    assert df.rdd.getNumPartitions() == 5
    assert df.count() == 1234
    assert df.select(F.countDistinct("id"), F.min("id"), F.max("id")).first() == (1234, 1, 1234)


def null_shares(df: Any) -> dict[str, float]:
    total = df.count()
    counts = df.select([F.sum(F.col(c).isNull().cast("int")).alias(c) for c in df.columns])
    return {name: value / total for name, value in counts.first().asDict().items()}


def test_null_rate_only_in_nullable_columns(spark: Any) -> None:
    schema = SIMPLE + ", ok boolean not null, day date, tags array<string>"
    spec = SyntheticSpec(schema, rows=20_000, seed=1, partitions=2, null_rate=0.1)  # type: ignore[arg-type]
    shares = null_shares(generate(spark, spec))
    assert shares.pop("id") == shares.pop("ok") == 0
    assert all(0.08 <= share <= 0.12 for share in shares.values()), shares


def test_empty_strings_and_extremes_at_their_rates(spark: Any) -> None:
    schema = (
        "name string not null, n int not null, small tinyint, ratio double, day date, "
        "ts timestamp, money decimal(6,2)"
    )
    spec = SyntheticSpec(
        schema,  # type: ignore[arg-type]
        rows=20_000,
        seed=2,
        partitions=2,
        null_rate=0.05,
        empty_rate=0.05,
        extremes_rate=0.05,
    )
    df = generate(spark, spec).cache()
    extremes = {
        "name": F.col("name") == "",
        "n": F.col("n").isin(-(2**31), 2**31 - 1),
        "small": F.col("small").isin(-128, 127),
        "ratio": (F.abs("ratio") > 1e300) | F.col("ratio").between(1e-330, 1e-300),
        "day": F.year("day").isin(1, 9999),
        "ts": F.year("ts").isin(1, 9999),
        "money": F.abs("money") == Decimal("9999.99"),
    }
    shares = df.select(
        [F.avg(F.coalesce(cond, F.lit(False)).cast("int")).alias(c) for c, cond in extremes.items()]
    ).first()
    assert all(0.04 <= share <= 0.06 for share in shares), shares.asDict()
    nulls = null_shares(df)
    assert nulls["name"] == nulls["n"] == 0
    assert 0.04 <= nulls["small"] <= 0.06
    df.unpersist()


def test_values_follow_column_names(spark: Any) -> None:
    schema = (
        "id bigint not null, client_id string, email string, submission_date string, "
        "signupDay string, created_at string, country_code string, country string, city string, "
        "first_name string, phone string, url string, ipv4 string, user_agent string, "
        "age int, share double, lat double, active boolean, day date, ts timestamp, "
        "other string, code string, email2 string"
    )
    spec = SyntheticSpec(
        schema,  # type: ignore[arg-type]
        rows=200,
        seed=4,
        partitions=2,
        date_format="%Y-%m-%d",
        providers={"code": "currency_code"},
    )
    rows = generate(spark, spec).collect()
    assert [row.id for row in by_id(rows)] == list(range(1, 201))
    for row in rows:
        assert uuid.UUID(row.client_id).version == 4
        assert "@" in row.email and "@" in row.email2
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row.submission_date)
        assert "2015-01-01" <= row.signupDay <= "2025-12-31"
        assert dt.datetime.strptime(row.created_at, "%Y-%m-%d %H:%M:%S").year >= 2015
        assert re.fullmatch(r"[A-Z]{2}", row.country_code)
        assert row.url.startswith("http")
        assert len(row.ipv4.split(".")) == 4
        assert "/" in row.user_agent
        assert 0 <= row.age <= 99
        assert 0 <= row.share <= 1
        assert -90 <= row.lat <= 90
        assert dt.date(2015, 1, 1) <= row.day <= dt.date(2025, 12, 31)
        assert 2015 <= row.ts.year <= 2025
        assert re.fullmatch(r"[A-Z]{3}", row.code)
        assert row.other and " " not in row.other
    assert len({row.city for row in rows}) > 50
    assert {row.active for row in rows} == {True, False}
    yyyymmdd = from_source_text("rows=20;schema=submission_date string")
    assert all(re.fullmatch(r"20\d{6}", r[0]) for r in generate(spark, yyyymmdd).collect())
