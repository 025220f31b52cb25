"""The ladder on real Spark under `pytest -n 2`, against the same project run with `-n 0`.

Two fresh projects (each takes its own sample, so captured rows of one run cannot change the
other's inputs), each run once; the tests of this module check one promise each.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Project, Run, write_events

from pytest_dcs.xdist.shared import rung_of_nodeid

SOURCE_ROWS = 4000

INI = """
[pytest]
dcs_sources =
    events = json:data/events
dcs_fractions = 0.1 0.5
"""

CONFTEST = """
import json
import os
import time

import pytest

TRACE = os.path.join(os.path.dirname(__file__), "trace")


@pytest.fixture(autouse=True)
def trace(request):
    start = time.time()
    yield
    os.makedirs(TRACE, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    entry = {"nodeid": request.node.nodeid, "worker": worker, "start": start, "end": time.time()}
    with open(os.path.join(TRACE, worker + ".jsonl"), "a") as out:
        out.write(json.dumps(entry) + "\\n")
"""

TESTS = """
import pyspark.sql.functions as F
import pytest


@pytest.mark.scale("events")
def test_counts(scaled, rung):
    assert scaled.count() == rung.rows


@pytest.mark.scale("events")
def test_totals(scaled, rung):
    out = rung.result(scaled.groupBy("exp").agg(F.sum("value").alias("total")))
    assert out.filter(F.col("total") < 0).count() == 0


@pytest.mark.scale("events")
def test_first_rows(scaled, rung):
    rung.result(scaled.select("id").limit(20))


@pytest.mark.scale("events")
def test_every_row_has_an_experiment(scaled, rung):
    rung.expect_rows(scaled, F.col("exp").isNotNull(), name="has exp")


@pytest.mark.scale("events")
def test_small_enough(scaled, rung):
    assert rung.rows < 300, "fine on the sample, too many rows at 10%"


def test_plain_spark(spark):
    assert spark.range(5).count() == 5
"""


def make_project(root: Path) -> Project:
    project = Project(root)
    project.write("pytest.ini", INI)
    project.write("conftest.py", CONFTEST)
    project.write("test_jobs.py", TESTS)
    write_events(project.path / "data" / "events", SOURCE_ROWS, null_every=500)
    return project


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, Run, Run]]:
    """A `-n 0` run and a `-n 2` run of the same project; the second's project is returned."""
    serial = make_project(tmp_path_factory.mktemp("serial"))
    parallel = make_project(tmp_path_factory.mktemp("parallel"))
    # One executor per cluster engine: two workers start six JVMs otherwise, on two cores. The
    # serial run is only the verdicts to match: a second local[2] session serves as its cluster.
    cluster = "--dcs-cluster=local-cluster[1,1,1024]"
    try:
        serial_run = serial.run("-n", "0", "--dcs-cluster=local[2]")
        yield parallel, serial_run, parallel.run("-n", "2", cluster)
    finally:
        serial.kill_leftovers()
        parallel.kill_leftovers()


def verdicts(run: Run) -> dict[str, dict[str, tuple[Any, ...]]]:
    assert run.report is not None, run.output
    return {
        test["nodeid"]: {
            r["rung"]: (r["outcome"], (r["failure"] or {}).get("kind"), r["reason"])
            for r in test["rungs"]
        }
        for test in run.report["tests"]
    }


def level(nodeid: str) -> tuple[int, float]:
    rung = rung_of_nodeid(nodeid)
    return rung.sort_key if rung is not None else (0, 0.0)


def test_verdicts_equal_the_serial_runs(runs: tuple[Project, Run, Run]) -> None:
    _, serial, parallel = runs
    assert verdicts(parallel) == verdicts(serial), parallel.output
    assert verdicts(parallel)["test_jobs.py::test_every_row_has_an_experiment"] == {
        "local": ("failed", "data", None),
        "distributed": ("skipped", None, "rung local failed"),
        "10pct": ("skipped", None, "rung local failed"),
        "50pct": ("skipped", None, "rung local failed"),
    }
    assert [v[0] for v in verdicts(parallel)["test_jobs.py::test_small_enough"].values()] == [
        "passed",
        "passed",
        "failed",
        "skipped",
    ]
    assert verdicts(parallel)["test_jobs.py::test_first_rows"]["distributed"][:2] == (
        "failed",
        "parity",
    )
    parallel.result.assert_outcomes(passed=12, failed=3, skipped=6)


def test_rungs_see_the_lower_rungs_that_ran_on_the_other_worker(
    runs: tuple[Project, Run, Run],
) -> None:
    _, _, parallel = runs
    # The local output is compared at distributed, and the 10pct time is the base of the
    # exponent at 50pct, wherever those rungs ran.
    parity = parallel.rungs("test_totals")["distributed"]["parity"]
    assert parity["compared"] is True and parity["differing_rows"] == 0
    for test in ("test_counts", "test_totals"):
        assert parallel.rungs(test)["50pct"]["exponent"] is not None


def test_each_worker_starts_each_engine_at_most_once(runs: tuple[Project, Run, Run]) -> None:
    _, serial, parallel = runs
    assert serial.report is not None and parallel.report is not None
    assert serial.report["sessions"] == {"main": {"local": 1, "cluster": 1}}
    sessions = parallel.report["sessions"]
    assert set(sessions) == {"gw0", "gw1"}
    for starts in sessions.values():
        assert set(starts) <= {"local", "cluster"}
        assert all(count == 1 for count in starts.values()), sessions


def test_levels_run_in_order_across_workers(runs: tuple[Project, Run, Run]) -> None:
    project, _, _ = runs
    ran = []
    for path in (project.path / "trace").glob("*.jsonl"):
        ran += [json.loads(line) for line in path.read_text().splitlines()]
    assert {e["worker"] for e in ran} == {"gw0", "gw1"}
    levels = sorted({level(e["nodeid"]) for e in ran})
    for below, above in itertools.pairwise(levels):
        ended = max(e["end"] for e in ran if level(e["nodeid"]) == below)
        began = min(e["start"] for e in ran if level(e["nodeid"]) == above)
        assert ended <= began, f"a {above} item started before every {below} item ended"
    for worker in ("gw0", "gw1"):
        mine = sorted((e for e in ran if e["worker"] == worker), key=lambda e: e["start"])
        keys = [level(e["nodeid"]) for e in mine]
        assert keys == sorted(keys), f"{worker} went back down the ladder"


def test_one_table_for_the_whole_run(runs: tuple[Project, Run, Run]) -> None:
    _, _, parallel = runs
    assert parallel.output.count("- dcs ladder -") == 1
    parallel.result.stdout.fnmatch_lines(
        [
            "*- dcs ladder -*",
            "test_jobs.py::test_counts *local *passed*",
            "*distributed *passed*",
            "test_jobs.py::test_totals *local *passed*",
        ]
    )


def test_the_workers_share_one_intact_sample(runs: tuple[Project, Run, Run]) -> None:
    project, _, _ = runs
    samples = project.path / "dcs_samples"
    text = (samples / "events.jsonl").read_text()
    meta = json.loads((samples / "events.meta.json").read_text())
    assert meta["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert len(text.splitlines()) == meta["rows"] + 1
    assert (samples / ".gitignore").read_text() == ".*.lock\n"
