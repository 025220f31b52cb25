"""The cluster rungs over Spark Connect: a real Connect server from the installed pyspark.

One server and one run for the module: the `conftest_examples/spark_connect` example, plus
tests of every feature that works over Connect, and of the messages of those that do not. The
local rung runs on the classic local engine in the same process.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Project, Run, write_events
from servers import Connect, connect_server

EXAMPLE = Path(__file__).parent.parent / "conftest_examples" / "spark_connect"
SOURCE_ROWS = 20_000
HANG_TIMEOUT = 5

# A fixed localization budget: a multiple of the rung's time is too tight on a loaded machine.
EXTRA_INI = """
dcs_sources =
    events = json:data/events
    server_orders = table:server_orders
dcs_localize_budget = 90
"""

CHECKS = f"""
import os
import time

import pyspark.sql.functions as F
import pytest

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")


def connect_session(spark):
    return type(spark).__module__.startswith("pyspark.sql.connect")


def test_make_server_table(spark):
    if connect_session(spark):
        orders = spark.range(1000).selectExpr("id", "id % 7 AS amount")
        orders.write.mode("overwrite").saveAsTable("server_orders")


@pytest.mark.scale("server_orders", fractions=[0.5])
def test_server_table(scaled, rung, spark):
    if rung.kind == "local" and not connect_session(spark):
        assert not spark.catalog.tableExists("server_orders"), "the local engine sees it"
    assert scaled.count() == rung.rows


@pytest.mark.scale("events", fractions=[0.1, 0.5])
def test_file_source_ladder(scaled, rung, spark):
    assert connect_session(spark) == (rung.kind != "local")
    ids = sorted(r.id for r in scaled.select("id").collect())
    assert len(ids) == rung.rows
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, rung.name), "w") as out:
        out.write(" ".join(map(str, ids)))


@pytest.mark.scale("events", fractions=[0.1, 0.5], sample_key="client_id")
def test_keyed_ladder(scaled, rung):
    clients = scaled.groupBy("client_id").count()
    rung.expect_rows(clients, F.col("count") == 10, name="whole clients")


@pytest.mark.scale("events", fractions=[0.1])
def test_expect_rows_reports_offenders(scaled, rung):
    if rung.kind == "local":
        return
    rung.expect_rows(scaled, F.col("exp").isNotNull(), name="has an experiment")


@pytest.mark.scale("events", fractions=[0.1], capture=1)
def test_udf_error_at_distributed(scaled, rung):
    if rung.kind == "local":
        return
    upper = F.udf(lambda value: value.upper(), "string")
    assert scaled.select(upper("exp").alias("e")).where(F.col("e").isNotNull()).count() >= 0


@pytest.mark.scale("events", fractions=[0.1])
def test_check_rows_is_not_on_connect(scaled, rung):
    rung.check_rows(scaled, lambda row: row.id >= 0)


@pytest.mark.scale(fractions=[0.1], timeout={HANG_TIMEOUT})
def test_udf_hangs_at_distributed(spark, rung):
    pids = os.path.join(OUT, "pids")

    def sleepy(value):
        import os, time

        open(os.path.join(pids, str(os.getpid())), "w").close()
        time.sleep(600)
        return value

    os.makedirs(pids, exist_ok=True)
    if rung.kind != "local":
        spark.range(2).select(F.udf(sleepy, "long")("id").alias("s")).where("s >= 0").count()


@pytest.mark.scale(fractions=[0.1])
def test_runs_after_the_hang(spark, rung):
    double = F.udf(lambda x: x * 2, "long")
    assert spark.range(10).select(double("id").alias("d")).where("d >= 0").count() == 10
    if rung.kind == "distributed":
        hung = [int(p) for p in os.listdir(os.path.join(OUT, "pids"))]
        deadline = time.monotonic() + 20
        while (alive := [p for p in hung if os.path.exists(f"/proc/{{p}}")]) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.2)
        assert hung and not alive, f"the server's Python workers still run the hung UDF: {{alive}}"


@pytest.mark.scale("orders", fractions=[0.1])
def test_unshipped_module(scaled):
    from unshipped_helper import double

    doubled = scaled.select(F.udf(double, "long")("amount").alias("d"))
    assert doubled.where(F.col("d").isNotNull()).count() == scaled.count()


@pytest.mark.scale(fractions=[0.1])
def test_synthetic_rows_are_the_same_over_connect(synthetic, rung):
    df = synthetic("id long, name string, born date", rows=500, seed=3, null_rate=0.1)
    assert df.count() == 500
    rung.result(df)
"""

UNSHIPPED = """
def double(value):
    return 2 * value
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Connect]:
    with connect_server(tmp_path_factory.mktemp("connect")) as started:
        yield started


@pytest.fixture(scope="module")
def climbed_in(
    server: Connect, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, Run]]:
    folder = tmp_path_factory.mktemp("connect-project")
    shutil.copytree(EXAMPLE, folder, dirs_exist_ok=True)
    project = Project(folder)
    ini = folder / "pytest.ini"
    ini.write_text(ini.read_text() + EXTRA_INI)
    project.write("test_checks.py", CHECKS)
    project.write("unshipped_helper.py", UNSHIPPED)
    write_events(folder / "data" / "events", SOURCE_ROWS, null_every=97)
    # A table only the server sees, sampled by a run whose local engine is the server too.
    sampled = project.run(
        f"--dcs-local={server.url}",
        f"--dcs-cluster={server.url}",
        "--dcs-max-rung=local",
        "-k",
        "server_table",
    )
    assert sampled.result.ret == 0, sampled.output
    yield folder, project.run(f"--dcs-cluster={server.url}")
    project.kill_leftovers()


@pytest.fixture(scope="module")
def climbed(climbed_in: tuple[Path, Run]) -> Run:
    return climbed_in[1]


def _outcomes(rungs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        name: (r["outcome"], r["failure"] and r["failure"]["summary"]) for name, r in rungs.items()
    }


def test_the_example_climbs_every_rung(climbed: Run) -> None:
    rungs = climbed.rungs("test_orders.py::test_taxed_totals")
    assert list(rungs) == ["local", "distributed", "1pct", "10pct", "40pct"]
    assert all(r["outcome"] == "passed" for r in rungs.values()), _outcomes(rungs)
    assert climbed.report is not None
    assert climbed.report["sessions"] == {"main": {"local": 1, "cluster": 1}}


def test_a_table_only_the_server_sees_climbs_from_the_sample_it_took(climbed: Run) -> None:
    rungs = climbed.rungs("test_server_table")
    assert all(r["outcome"] == "passed" for r in rungs.values()), _outcomes(rungs)
    assert rungs["local"]["rows"] == 200
    assert rungs["50pct"]["rows"] == pytest.approx(500, rel=0.25)


def test_file_source_climbs_nested_fractions(climbed_in: tuple[Path, Run]) -> None:
    folder, climbed = climbed_in
    rungs = climbed.rungs("test_file_source_ladder")
    assert all(r["outcome"] == "passed" for r in rungs.values()), _outcomes(rungs)
    assert rungs["local"]["rows"] == rungs["distributed"]["rows"] == 200
    for name, fraction in (("10pct", 0.1), ("50pct", 0.5)):
        assert abs(rungs[name]["rows"] - fraction * SOURCE_ROWS) <= 0.25 * fraction * SOURCE_ROWS
    ids = {name: set((folder / "out" / name).read_text().split()) for name in rungs}
    assert ids["local"] == ids["distributed"]
    assert ids["10pct"] < ids["50pct"]


def test_sample_key_keeps_whole_keys(climbed: Run) -> None:
    rungs = climbed.rungs("test_keyed_ladder")
    assert all(r["outcome"] == "passed" for r in rungs.values()), _outcomes(rungs)


def test_expect_rows_fails_as_data_with_the_rows(climbed: Run) -> None:
    failure = climbed.rungs("test_expect_rows_reports_offenders")["distributed"]["failure"]
    assert failure["kind"] == "data"
    assert "break expectation 'has an experiment'" in failure["summary"]
    assert failure["offending_rows"] and all(r["exp"] is None for r in failure["offending_rows"])


def test_a_udf_error_is_data_with_localized_rows(climbed: Run) -> None:
    rungs = climbed.rungs("test_udf_error_at_distributed")
    assert rungs["local"]["outcome"] == "passed"
    failure = rungs["distributed"]["failure"]
    assert failure["kind"] == "data"
    assert failure["signature"] == "python_worker_error"
    assert "AttributeError" in failure["summary"]
    assert failure["where"].endswith(" in <lambda>")
    # Over Spark Connect no failed task can be read: the suspect rows (two nulls), more than
    # the one row sought, are bisected.
    assert failure["localization"]["method"].endswith("bisection"), failure["localization"]
    rows = failure["offending_rows"]
    assert len(rows) == 1 and rows[0]["exp"] is None, failure["localization"]


def test_check_rows_names_expect_rows(climbed: Run) -> None:
    rungs = climbed.rungs("test_check_rows_is_not_on_connect")
    assert rungs["local"]["outcome"] == "passed"
    failure = rungs["distributed"]["failure"]
    assert failure["kind"] == "framework"
    assert "rung.check_rows needs the RDD API" in failure["summary"]
    assert "rung.expect_rows(df, condition)" in failure["summary"]


def test_a_hanging_udf_times_out_and_the_run_goes_on(climbed: Run) -> None:
    record = climbed.rungs("test_udf_hangs_at_distributed")["distributed"]
    failure = record["failure"]
    assert failure["kind"] == "timeout", failure
    assert failure["summary"] == (
        f"rung distributed ran past its timeout of {HANG_TIMEOUT} s; its Spark jobs were cancelled"
    )
    assert record["seconds"] < HANG_TIMEOUT + 10
    rungs = climbed.rungs("test_runs_after_the_hang")
    assert all(r["outcome"] == "passed" for r in rungs.values()), _outcomes(rungs)


def test_shipped_package_imports_and_unshipped_module_fails_as_framework(climbed: Run) -> None:
    # The example's UDF comes from the shipped `jobs` package (see above); this one is not shipped.
    rungs = climbed.rungs("test_unshipped_module")
    assert rungs["local"]["outcome"] == "passed"
    failure = rungs["distributed"]["failure"]
    assert failure["kind"] == "framework"
    assert failure["summary"] == "executors cannot import module 'unshipped_helper'"
    assert "dcs_ship" in failure["advice"]


def test_synthetic_rows_over_connect_equal_the_classic_ones(climbed: Run) -> None:
    rungs = climbed.rungs("test_synthetic_rows_are_the_same_over_connect")
    assert [r["outcome"] for r in rungs.values()] == ["passed"] * 3, rungs
    # `distributed` ran over Connect and compared its 500 rows with the classic local ones.
    parity = rungs["distributed"]["parity"]
    assert (parity["compared"], parity["local_rows"], parity["distributed_rows"]) == (
        True,
        500,
        500,
    ), parity
    assert parity["differing_rows"] == 0
