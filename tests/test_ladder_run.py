"""The ladder on real Spark: one project climbed once, then again from its cached samples.

Each run is a fresh pytest process with its own JVMs (a cold start costs 10-25 s here), so the
runs are shared by the tests of this module and each test checks one promise.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator

import pytest
from conftest import Project, Run, write_events

SOURCE_ROWS = 100_000

INI = """
[pytest]
dcs_sources =
    events = json:data/events
dcs_fractions = 0.1 0.5
"""

CONFTEST = """
def pytest_dcs_sources(config):
    def clients(spark):
        return spark.range(1000).selectExpr("concat('c', id) AS client_id", "id % 3 AS tier")
    return {"clients": clients}
"""

HELPER = """
def shout(text):
    return None if text is None else text.upper()
"""

TESTS = """
import json
import os

import pyspark.sql.functions as F
import pytest

IDS = os.path.join(os.path.dirname(__file__), "ids")


@pytest.mark.scale("events")
def test_clean(scaled, rung):
    ids = sorted(r.id for r in scaled.select("id").collect())
    os.makedirs(IDS, exist_ok=True)
    with open(os.path.join(IDS, rung.name + ".json"), "w") as out:
        json.dump({"ids": ids, "partitions": scaled.rdd.getNumPartitions()}, out)
    assert len(ids) == rung.rows


@pytest.mark.scale("events")
def test_fails_local(scaled):
    assert scaled.count() < 0, "no frame has fewer than 0 rows"


@pytest.mark.scale("events")
def test_fails_at_fraction(scaled, rung):
    assert rung.kind != "fraction", "fraction rungs are where this breaks"


@pytest.mark.scale("events")
def test_helper_module(scaled):
    import helper_udfs

    shout = F.udf(helper_udfs.shout, "string")
    assert scaled.select(shout("exp").alias("s")).where(F.col("s").isNotNull()).count() > 0


@pytest.mark.scale(fractions=[0.2])
def test_hook_source(rung, spark):
    assert rung.spark is spark
    assert rung.source("clients").where("tier = 1").count() > 0


def test_plain_spark(spark):
    assert spark.range(5).count() == 5
"""


@pytest.fixture(scope="module")
def climbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, Run]]:
    project = Project(tmp_path_factory.mktemp("ladder"))
    project.write("pytest.ini", INI)
    project.write("conftest.py", CONFTEST)
    project.write("helper_udfs.py", HELPER)
    project.write("test_jobs.py", TESTS)
    write_events(project.path / "data" / "events", SOURCE_ROWS)
    yield project, project.run()
    project.kill_leftovers()


@pytest.fixture(scope="module")
def cached(climbed: tuple[Project, Run]) -> Run:
    """The same project with its source deleted, climbing to 10pct from the cached samples."""
    project, _ = climbed
    shutil.rmtree(project.path / "data" / "events")
    shutil.rmtree(project.path / "ids")
    # What is read, not where it runs, is checked: a second local[2] session as the cluster
    # engine starts no executor JVMs (the climb above checks those).
    return project.run("--dcs-max-rung=10pct", "--dcs-cluster=local[2]", "-k", "test_clean")


def _ids(project: Project, rung: str) -> dict:
    return json.loads((project.path / "ids" / f"{rung}.json").read_text())


def test_items_run_rung_major_with_exact_ids(climbed: tuple[Project, Run]) -> None:
    _, run = climbed
    # A progress line ("[dcs] ... running for 6 s ...") may stand between an id and its outcome.
    outcome = r"^(\S+::\S+) (?:\n*\[dcs\][^\n]*\n)*\s*(?:PASSED|FAILED|SKIPPED|ERROR)"
    ran = [m.group(1) for m in re.finditer(outcome, run.output, re.M)]
    rungs = [re.search(r"\[(.+)\]$", name).group(1) if "[" in name else "local" for name in ran]
    assert set(rungs) == {"local", "distributed", "10pct", "20pct", "50pct"}
    order = {"local": 0, "distributed": 1, "10pct": 2, "20pct": 2.5, "50pct": 3}
    assert [order[r] for r in rungs] == sorted(order[r] for r in rungs), ran
    assert "test_jobs.py::test_clean[local]" in ran
    assert "test_jobs.py::test_hook_source[20pct]" in ran
    assert "test_jobs.py::test_plain_spark" in ran


def test_one_session_start_per_engine(climbed: tuple[Project, Run]) -> None:
    _, run = climbed
    assert run.report is not None
    assert run.report["sessions"] == {"main": {"local": 1, "cluster": 1}}


def test_report_schema(climbed: tuple[Project, Run]) -> None:
    _, run = climbed
    report = run.report
    assert report is not None
    assert report["version"] == 1
    assert {t["nodeid"] for t in report["tests"]} == {
        f"test_jobs.py::{name}"
        for name in (
            "test_clean",
            "test_fails_local",
            "test_fails_at_fraction",
            "test_helper_module",
            "test_hook_source",
        )
    }
    for test in report["tests"]:
        assert set(test) >= {"nodeid", "source", "rungs"}
        for rung in test["rungs"]:
            assert set(rung) >= {
                "rung",
                "outcome",
                "seconds",
                "rows",
                "fraction",
                "exponent",
                "failure",
            }
            failure = rung["failure"]
            assert (failure is None) == (rung["outcome"] != "failed")
            if failure is not None:
                assert set(failure) >= {"kind", "summary", "offending_rows", "captured_to"}
    assert [r["rung"] for r in report["tests"][0]["rungs"]] == [
        "local",
        "distributed",
        "10pct",
        "50pct",
    ]


def test_passing_ladder_sees_sample_then_nested_fractions(climbed: tuple[Project, Run]) -> None:
    project, run = climbed
    rungs = run.rungs("test_clean")
    assert [r["outcome"] for r in rungs.values()] == ["passed"] * 4
    assert rungs["local"]["rows"] == rungs["distributed"]["rows"] == 200
    local, distributed = _ids(project, "local"), _ids(project, "distributed")
    assert local["ids"] == distributed["ids"]
    assert local["partitions"] == 1
    assert distributed["partitions"] > 1
    small, large = set(_ids(project, "10pct")["ids"]), set(_ids(project, "50pct")["ids"])
    assert small < large
    for name, fraction in (("10pct", 0.1), ("50pct", 0.5)):
        assert rungs[name]["fraction"] == fraction
        assert abs(rungs[name]["rows"] - fraction * SOURCE_ROWS) <= 0.25 * fraction * SOURCE_ROWS


def test_failed_rung_skips_the_rungs_above(climbed: tuple[Project, Run]) -> None:
    _, run = climbed
    rungs = run.rungs("test_fails_local")
    assert rungs["local"]["outcome"] == "failed"
    assert rungs["local"]["failure"]["kind"] == "assertion"
    assert "no frame has fewer than 0 rows" in rungs["local"]["failure"]["summary"]
    for name in ("distributed", "10pct", "50pct"):
        assert rungs[name]["outcome"] == "skipped"
        assert rungs[name]["reason"] == "rung local failed"

    rungs = run.rungs("test_fails_at_fraction")
    assert [rungs[n]["outcome"] for n in ("local", "distributed", "10pct", "50pct")] == [
        "passed",
        "passed",
        "failed",
        "skipped",
    ]
    assert rungs["50pct"]["reason"] == "rung 10pct failed"


def test_cluster_executors_do_not_see_the_drivers_sys_path(climbed: tuple[Project, Run]) -> None:
    _, run = climbed
    rungs = run.rungs("test_helper_module")
    assert rungs["local"]["outcome"] == "passed"
    assert rungs["distributed"]["outcome"] == "failed"
    assert rungs["distributed"]["failure"]["kind"] == "framework"
    assert "helper_udfs" in rungs["distributed"]["failure"]["summary"]


def test_hook_sources_and_plain_spark_tests(climbed: tuple[Project, Run]) -> None:
    _, run = climbed
    rungs = run.rungs("test_hook_source")
    assert list(rungs) == ["local", "distributed", "20pct"]
    assert all(r["outcome"] == "passed" for r in rungs.values())
    run.result.stdout.fnmatch_lines(["*test_plain_spark PASSED*"])


def test_terminal_summary_is_one_ladder_table(climbed: tuple[Project, Run]) -> None:
    _, run = climbed
    run.result.stdout.fnmatch_lines(
        [
            "*- dcs ladder -*",
            "test *rung *outcome *seconds *rows*",
            "test_jobs.py::test_clean *local *passed *200*",
            "*distributed *passed *200*",
        ]
    )
    run.result.assert_outcomes(passed=11, failed=3, skipped=6)


def test_sample_is_kept_as_reviewable_text(climbed: tuple[Project, Run]) -> None:
    project, _ = climbed
    sample = project.path / "dcs_samples" / "events.jsonl"
    lines = sample.read_text().splitlines()
    assert len(lines) == 201
    assert json.loads(lines[0])["schema"]["type"] == "struct"
    assert set(json.loads(lines[1])) == {"id", "client_id", "exp", "value"}
    meta = json.loads((project.path / "dcs_samples" / "events.meta.json").read_text())
    assert meta["rows"] == 200
    assert "json:" in meta["source"]


def test_cached_sample_serves_local_rungs_without_the_source(cached: Run) -> None:
    rungs = cached.rungs("test_clean")
    assert rungs["local"]["outcome"] == "passed"
    assert rungs["distributed"]["outcome"] == "passed"
    assert rungs["local"]["rows"] == 200


def test_unreadable_source_fails_the_fraction_rung_with_a_hint(cached: Run) -> None:
    rung = cached.rungs("test_clean")["10pct"]
    assert rung["outcome"] == "failed"
    assert rung["failure"]["kind"] == "framework"
    assert "could not be read at rung 10pct" in rung["failure"]["summary"]
    cached.result.stdout.fnmatch_lines(["*--dcs-max-rung=distributed*"])
    assert "Traceback" not in cached.output


def test_max_rung_deselects_and_counts_the_rungs_above(cached: Run) -> None:
    assert "50pct" not in cached.rungs("test_clean")
    assert cached.report is not None
    assert cached.report["deselected_rungs"] == 1
    cached.result.stdout.fnmatch_lines(["*1 rung(s) above --dcs-max-rung=10pct deselected*"])
