"""Offending rows of a wide source and of a join, on real Spark: the rows reported are the rows
that fail, each alone, and replaying them makes `local` fail the same way.

The project has the shape of a telemetry job: `pings`, 121 columns (ids, a version string, a
search count, and 117 columns of mixed types with a null in one row of twenty, so nearly every
row holds some null), and `clients`, a dimension of 16 columns the tests join in by
`sample_key="client_id"`. A conftest hook writes both as parquet on first use and reads them
from the files; with PLANT=1 they also hold the rows the tests must find, as when the data
changes after the samples were taken:

- five pings whose search count is null (the column has no other null): a UDF adds to it;
- four pings with version "53.5", an ordinary-looking value a UDF refuses;
- one ping with a search count of 5000, above a bound checked with `assert_true` (Spark's own
  error, which quotes no value); it also fails on the five nulls;
- one ping whose `m002` is "v2-x7": an ANSI cast quotes "x7";
- three clients with channel "aurora", which a UDF over the joined rows does not know;
- two clients with a null country, which a UDF over the joined rows lowercases.

Three runs, each a fresh pytest process: the samples are taken (local only, nothing planted),
the ladder is climbed with the planted rows (localizes and captures), and local runs again:
every test fails there on the captured rows alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from conftest import Project, Run

INI = """
[pytest]
dcs_fractions = 1.0
dcs_spark_conf =
    spark.sql.autoBroadcastJoinThreshold = -1
# Correctness, not speed, is checked here (bench/localize.py measures speed): a busy machine
# must not run a search out of time.
dcs_localize_budget = 120
"""

CONFTEST = """
import os
from pathlib import Path

import pyspark.sql.functions as F

PINGS, CLIENTS = 60_000, 6_000
NULL_COUNT = [1_000_011, 1_000_012, 1_000_013, 1_000_014, 1_000_015]
BAD_VERSION = [1_000_021, 1_000_022, 1_000_023, 1_000_024]
HIGH_COUNT, BAD_M002 = 1_000_031, 1_000_032
AURORA, NO_COUNTRY = ["c101", "c202", "c303"], ["c404", "c505"]


def _pings(spark):
    ids = spark.range(PINGS, numPartitions=4)
    columns = [
        F.col("id"),
        F.concat(F.lit("c"), (F.col("id") * 7919 % CLIENTS).cast("string")).alias("client_id"),
        F.concat(F.lit("5"), (F.col("id") % 7).cast("string"), F.lit(".0")).alias("app_version"),
        (F.col("id") % 1000).cast("int").alias("search_count"),
    ]
    for i in range(117):
        hashed = F.xxhash64("id", F.lit(i))
        value = [
            F.pmod(hashed, F.lit(100000)),
            F.pmod(hashed, F.lit(10000)) / 100.0,
            F.concat(F.lit(f"v{i}-"), F.pmod(hashed, F.lit(50)).cast("string")),
            F.pmod(hashed, F.lit(2)) == 1,
        ][i % 4]
        null = F.pmod(hashed, F.lit(20)) == 0
        columns.append(F.when(null, None).otherwise(value).alias(f"m{i:03d}"))
    pings = ids.select(*columns)
    if os.environ.get("PLANT") != "1":
        return pings
    planted = [i - 1_000_000 for i in NULL_COUNT + BAD_VERSION + [HIGH_COUNT, BAD_M002]]
    extra = pings.where(F.col("id").isin(planted)).withColumn("id", F.col("id") + 1_000_000)
    extra = extra.withColumn(
        "search_count",
        F.when(F.col("id").isin(NULL_COUNT), None)
        .when(F.col("id") == HIGH_COUNT, 5000)
        .otherwise(F.col("search_count")),
    )
    extra = extra.withColumn(
        "app_version",
        F.when(F.col("id").isin(BAD_VERSION), "53.5").otherwise(F.col("app_version")),
    )
    extra = extra.withColumn(
        "m002", F.when(F.col("id") == BAD_M002, "v2-x7").otherwise(F.col("m002"))
    )
    return pings.unionByName(extra)


def _clients(spark):
    ids = spark.range(CLIENTS, numPartitions=2)
    client = F.concat(F.lit("c"), F.col("id").cast("string"))
    channel = F.element_at(
        F.array(*[F.lit(c) for c in ["release", "beta", "nightly", "esr"]]),
        (F.col("id") % 4 + 1).cast("int"),
    )
    country = F.element_at(
        F.array(*[F.lit(c) for c in ["US", "DE", "FR", "IN", "BR"]]),
        (F.col("id") % 5 + 1).cast("int"),
    )
    # The same expressions planted or not: a sample is stale when the source's schema changes.
    plant = F.lit(os.environ.get("PLANT") == "1")
    channel = F.when(plant & client.isin(AURORA), "aurora").otherwise(channel)
    country = F.when(plant & client.isin(NO_COUNTRY), F.lit(None)).otherwise(country)
    return ids.select(
        client.alias("client_id"),
        channel.alias("channel"),
        country.alias("country"),
        *[F.pmod(F.xxhash64("id", F.lit(j)), F.lit(1000)).alias(f"c{j:02d}") for j in range(13)],
    )


def _parquet(make, name):
    # Written once, then read as a table lands: from files, whose scans Spark prunes.
    def read(spark):
        path = Path("data") / (name + ("-planted" if os.environ.get("PLANT") == "1" else ""))
        if not path.exists():
            make(spark).write.parquet(str(path))
        return spark.read.parquet(str(path))

    return read


def pytest_dcs_sources(config):
    return {"pings": _parquet(_pings, "pings"), "clients": _parquet(_clients, "clients")}
"""

TESTS = """
import pyspark.sql.functions as F
import pytest

CHANNELS = {"release": 1, "beta": 2, "nightly": 3, "esr": 4}


@pytest.mark.scale("pings", sample_key="client_id")
def test_search_null(scaled):
    plus = F.udf(lambda n: n + 1, "int")
    assert scaled.select(plus("search_count").alias("s")).where("s > 0").count() > 0


@pytest.mark.scale("pings", sample_key="client_id")
def test_version_value(scaled):
    def major(version):
        if version == "53.5":
            raise ValueError(f"version {version} was never shipped")
        return int(version.split(".")[0])

    assert scaled.select(F.udf(major, "int")("app_version").alias("v")).where("v > 0").count()


@pytest.mark.scale("pings", sample_key="client_id")
def test_count_bound(scaled):
    bounded = F.assert_true(F.col("search_count") < 1000, "search count out of range")
    assert scaled.select(bounded.alias("ok")).where("ok IS NULL").count() > 0


@pytest.mark.scale("pings", sample_key="client_id")
def test_m002_number(scaled):
    number = F.regexp_replace("m002", "v2-", "").cast("int")
    assert scaled.select(number.alias("n")).where("n >= 0").count() > 0


@pytest.mark.scale("pings", sample_key="client_id")
def test_channel_join(scaled, rung):
    code = F.udf(lambda channel: CHANNELS[channel], "int")
    joined = scaled.join(rung.source("clients"), "client_id")
    assert joined.select("id", code("channel").alias("ch")).groupBy("ch").count().count() > 0


@pytest.mark.scale("pings", sample_key="client_id")
def test_country_join(scaled, rung):
    low = F.udf(lambda country: country.lower(), "string")
    joined = scaled.join(rung.source("clients"), "client_id").withColumn("cc", low("country"))
    assert joined.where("cc = 'us'").count() > 0
"""

NULL_COUNT = [1_000_011, 1_000_012, 1_000_013, 1_000_014, 1_000_015]
BAD_VERSION = [1_000_021, 1_000_022, 1_000_023, 1_000_024]
HIGH_COUNT, BAD_M002 = 1_000_031, 1_000_032
AURORA, NO_COUNTRY = ["c101", "c202", "c303"], ["c404", "c505"]
ERRORS = {
    "test_search_null": "TypeError: unsupported operand type(s) for +: 'NoneType' and 'int'",
    "test_version_value": "ValueError: version 53.5 was never shipped",
    "test_count_bound": "search count out of range",
    "test_m002_number": "CAST_INVALID_INPUT",
    "test_channel_join": "KeyError: 'aurora'",
    "test_country_join": "AttributeError: 'NoneType' object has no attribute 'lower'",
}


@dataclass
class Runs:
    sampled: Run
    climbed: Run
    replayed: Run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    project = Project(tmp_path_factory.mktemp("widejoin"))
    project.write("pytest.ini", INI)
    project.write("conftest.py", CONFTEST)
    project.write("test_jobs.py", TESTS)
    sampled = project.run("--dcs-max-rung=local")
    planted = project.env(PLANT="1")
    climbed = project.run(timeout=1500, env=planted)
    replayed = project.run("--dcs-max-rung=local", env=planted)
    yield Runs(sampled, climbed, replayed)
    project.kill_leftovers()


def _failure(run: Run, test: str, rung: str) -> dict:
    failure = run.rungs(test)[rung]["failure"]
    assert failure is not None, run.output
    return failure


def test_the_clean_samples_pass(runs: Runs) -> None:
    assert runs.sampled.result.ret == 0, runs.sampled.output


@pytest.mark.parametrize(
    ("test", "ids"),
    [
        ("test_search_null", NULL_COUNT),
        ("test_version_value", BAD_VERSION),
        # assert_true fails on a null too: the nulls fail it alone, as does the high count.
        ("test_count_bound", [*NULL_COUNT, HIGH_COUNT]),
        ("test_m002_number", [BAD_M002]),
    ],
)
def test_the_rows_of_a_wide_source_are_the_failing_ones(
    runs: Runs, test: str, ids: list[int]
) -> None:
    failure = _failure(runs.climbed, test, "100pct")
    assert failure["kind"] == "data"
    assert ERRORS[test] in failure["summary"]
    assert sorted(row["id"] for row in failure["offending_rows"]) == ids, failure["localization"]
    assert failure["localization"]["complete"], failure["localization"]
    assert failure["captured_to"], failure
    # The story's table shows the columns the body read, not all 121.
    assert len(failure["offending_rows"][0]) == 121
    assert "app_version" in failure["localization"]["columns_read"] or test != "test_version_value"
    assert "columns the body read; every column is in the JSON report)" in runs.climbed.output


@pytest.mark.parametrize(
    ("test", "clients"), [("test_channel_join", AURORA), ("test_country_join", NO_COUNTRY)]
)
def test_a_joined_source_row_is_found_through_the_rows_it_joins(
    runs: Runs, test: str, clients: list[str]
) -> None:
    failure = _failure(runs.climbed, test, "100pct")
    assert ERRORS[test] in failure["summary"]
    # One ping per failing client: each of them alone fails the join.
    assert sorted(row["client_id"] for row in failure["offending_rows"]) == clients
    linked = failure["localization"]["linked"]["clients"]
    assert linked["rows"] == len(clients)
    # The joined rows are shown too: they hold the value the code chokes on.
    assert sorted(row["client_id"] for row in linked["records"]) == clients
    if test == "test_channel_join":
        assert {row["channel"] for row in linked["records"]} == {"aurora"}
    else:
        assert {row["country"] for row in linked["records"]} == {None}
    assert f"rows of 'clients' they join ({len(clients)}):" in runs.climbed.output
    assert linked["captured_to"].endswith("clients.captured.jsonl")
    assert (
        f"captured with the {len(clients)} row(s) of 'clients' they join"
        in (failure["localization"]["story"])
    )


@pytest.mark.parametrize("test", sorted(ERRORS))
def test_the_captured_rows_fail_local_the_same_way(runs: Runs, test: str) -> None:
    failure = _failure(runs.replayed, test, "local")
    assert failure["kind"] == "data"
    assert ERRORS[test] in failure["summary"]
