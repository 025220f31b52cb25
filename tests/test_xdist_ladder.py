"""The ladder under real pytest-xdist workers, with test bodies that start no Spark.

Scale tests that use neither `rung`, `scaled` nor `spark` climb the ladder without a session, so
scheduling, skipping across workers, crashes and the merged report are checked here in seconds.
The bodies record when they ran and where; the real-Spark run is in `test_xdist_run.py`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Project, Run

from pytest_dcs.xdist.shared import rung_of_nodeid

# Every item records its node id, worker, and the times its fixtures' setup began and its
# teardown ended, around the body.
TRACE_CONFTEST = """
import json
import os
import time

import pytest

TRACE = os.path.join(os.path.dirname(__file__), "trace")


def record(entry):
    os.makedirs(TRACE, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(os.path.join(TRACE, worker + ".jsonl"), "a") as out:
        out.write(json.dumps({**entry, "worker": worker}) + "\\n")


@pytest.fixture(autouse=True)
def trace(request):
    start = time.time()
    yield
    record({"nodeid": request.node.nodeid, "start": start, "end": time.time()})


def pytest_runtest_logreport(report):
    if hasattr(report, "node"):
        return  # the controller's copy of a worker's report
    if report.when == "call" or (report.when == "setup" and report.skipped):
        record({"nodeid": report.nodeid, "outcome": report.outcome})
"""

LADDER_TESTS = """
import time

import pytest


@pytest.mark.scale(fractions=[0.1, 0.5])
@pytest.mark.parametrize("n", range(5))
def test_climbs(n):
    time.sleep(0.05 * (n % 3))


@pytest.mark.scale(fractions=[0.2])
def test_other_fractions():
    time.sleep(0.1)


@pytest.mark.scale(fractions=[0.1, 0.5])
def test_fails_local(request):
    time.sleep(0.1)
    assert not request.node.name.endswith("[local]"), "the tiny sample has the null"


@pytest.mark.scale(fractions=[0.1, 0.5])
def test_fails_at_10pct(request):
    assert not request.node.name.endswith("[10pct]")


@pytest.mark.parametrize("n", range(6))
def test_plain(n):
    time.sleep(0.02)
"""

# Two workers: the first gets fails_slowly[local] and one plain test; the second the other two
# plain tests, finishes them long before, and is handed fails_slowly[distributed] to hold. When
# that one starts, only the failure the first worker shared can tell it to skip.
CROSS_TESTS = """
import time

import pytest


@pytest.mark.scale(fractions=[0.5])
def test_fails_slowly(request):
    if request.node.name.endswith("[local]"):
        time.sleep(1.5)
        raise AssertionError("local breaks")


@pytest.mark.parametrize("n", range(3))
def test_plain(n):
    pass
"""

CRASH_TESTS = """
import os

import pytest


@pytest.mark.scale(fractions=[0.1, 0.5])
def test_crashes(request):
    if request.node.name.endswith("[distributed]"):
        os._exit(3)


@pytest.mark.scale(fractions=[0.1, 0.5])
@pytest.mark.parametrize("n", range(3))
def test_climbs(n):
    pass
"""


def traces(project: Project) -> list[dict[str, Any]]:
    entries = []
    for path in sorted((project.path / "trace").glob("*.jsonl")):
        entries += [json.loads(line) for line in path.read_text().splitlines()]
    return entries


def level(nodeid: str) -> tuple[int, float]:
    rung = rung_of_nodeid(nodeid)
    return rung.sort_key if rung is not None else (0, 0.0)


def verdicts(run: Run) -> dict[str, dict[str, tuple[Any, ...]]]:
    """Per test and rung: outcome, failure kind and skip reason; what must not depend on -n."""
    assert run.report is not None, run.output
    return {
        test["nodeid"]: {
            r["rung"]: (r["outcome"], (r["failure"] or {}).get("kind"), r["reason"])
            for r in test["rungs"]
        }
        for test in run.report["tests"]
    }


def fresh(root: Path, tests: str) -> Project:
    project = Project(root)
    project.write("conftest.py", TRACE_CONFTEST)
    project.write("test_ladder.py", tests)
    return project


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, Run, Run]]:
    """The same ladder project run serially, then on two workers (whose trace is kept)."""
    serial = fresh(tmp_path_factory.mktemp("serial"), LADDER_TESTS)
    parallel = fresh(tmp_path_factory.mktemp("parallel"), LADDER_TESTS)
    (parallel.path / "tmp").mkdir()
    env = parallel.env(TMPDIR=str(parallel.path / "tmp"))
    yield parallel, serial.run("-n", "0"), parallel.run("-n", "2", env=env)


def test_no_level_starts_before_the_level_below_finished(runs: tuple[Project, Run, Run]) -> None:
    project, _, _ = runs
    ran = [e for e in traces(project) if "start" in e]
    assert {e["worker"] for e in ran} == {"gw0", "gw1"}
    levels = sorted({level(e["nodeid"]) for e in ran})
    assert len(levels) == 5  # local and plain, distributed, 10pct, 20pct, 50pct
    for below, above in itertools.pairwise(levels):
        ended = max(e["end"] for e in ran if level(e["nodeid"]) == below)
        began = min(e["start"] for e in ran if level(e["nodeid"]) == above)
        assert ended <= began, f"a {above} item started before every {below} item ended"


def test_each_worker_climbs_once_and_each_test_climbs_in_order(
    runs: tuple[Project, Run, Run],
) -> None:
    project, _, _ = runs
    ran = sorted((e for e in traces(project) if "start" in e), key=lambda e: e["start"])
    for worker in ("gw0", "gw1"):
        keys = [level(e["nodeid"]) for e in ran if e["worker"] == worker]
        assert keys == sorted(keys), f"{worker} went back down the ladder"
    for n in range(5):
        rungs = [
            e["nodeid"] for e in ran if e["nodeid"].startswith(f"test_ladder.py::test_climbs[{n}-")
        ]
        assert [r.rsplit("-", 1)[1] for r in rungs] == [
            "local]",
            "distributed]",
            "10pct]",
            "50pct]",
        ]


def test_verdicts_equal_a_serial_runs(runs: tuple[Project, Run, Run]) -> None:
    _, serial, parallel = runs
    assert verdicts(parallel) == verdicts(serial)
    assert parallel.report is not None and serial.report is not None
    # Tests in collection order, not in the order the workers' reports came in.
    assert [t["nodeid"] for t in parallel.report["tests"]] == [
        t["nodeid"] for t in serial.report["tests"]
    ]
    assert verdicts(parallel)["test_ladder.py::test_fails_local"] == {
        "local": ("failed", "assertion", None),
        "distributed": ("skipped", None, "rung local failed"),
        "10pct": ("skipped", None, "rung local failed"),
        "50pct": ("skipped", None, "rung local failed"),
    }
    assert verdicts(parallel)["test_ladder.py::test_fails_at_10pct"]["50pct"] == (
        "skipped",
        None,
        "rung 10pct failed",
    )


def test_one_ladder_table_and_sessions_per_worker(runs: tuple[Project, Run, Run]) -> None:
    _, serial, parallel = runs
    assert parallel.output.count("- dcs ladder -") == 1
    parallel.result.stdout.fnmatch_lines(
        ["*- dcs ladder -*", "test_ladder.py::test_climbs[[]0[]] *local *passed*"]
    )
    parallel.result.assert_outcomes(passed=31, failed=2, skipped=4)
    serial.result.assert_outcomes(passed=31, failed=2, skipped=4)
    assert parallel.report is not None
    assert parallel.report["sessions"] == {"gw0": {}, "gw1": {}}  # no body started Spark


def test_the_run_folder_is_removed(runs: tuple[Project, Run, Run]) -> None:
    project, _, _ = runs
    assert list((project.path / "tmp").glob("pytest-dcs-run-*")) == []


def test_a_rung_is_skipped_when_a_lower_rung_failed_on_another_worker(tmp_path: Path) -> None:
    project = fresh(tmp_path, CROSS_TESTS)
    run = project.run("-n", "2")
    where = {e["nodeid"]: e for e in traces(project) if "outcome" in e}
    failed = where["test_ladder.py::test_fails_slowly[local]"]
    skipped = where["test_ladder.py::test_fails_slowly[distributed]"]
    assert failed["outcome"] == "failed" and skipped["outcome"] == "skipped"
    assert failed["worker"] != skipped["worker"]
    assert verdicts(run)["test_ladder.py::test_fails_slowly"]["distributed"] == (
        "skipped",
        None,
        "rung local failed",
    )


def test_a_worker_crash_fails_its_rung_and_skips_the_rungs_above(tmp_path: Path) -> None:
    project = fresh(tmp_path, CRASH_TESTS)
    run = project.run("-n", "2")
    crashed = verdicts(run)["test_ladder.py::test_crashes"]
    assert crashed["local"] == ("passed", None, None)
    assert crashed["distributed"][:2] == ("failed", "panic")
    assert crashed["10pct"] == crashed["50pct"] == ("skipped", None, "rung distributed failed")
    assert run.report is not None
    summary = run.rungs("test_crashes")["distributed"]["failure"]["summary"]
    assert "crashed while running rung distributed" in summary
    for n in range(3):
        assert {v[0] for v in verdicts(run)[f"test_ladder.py::test_climbs[{n}]"].values()} == {
            "passed"
        }
    run.result.stdout.fnmatch_lines(["*replacing crashed worker*"])


def test_max_rung_deselection_is_counted_once_for_the_run(tmp_path: Path) -> None:
    project = fresh(tmp_path, LADDER_TESTS)
    run = project.run("-n", "2", "--dcs-max-rung=distributed")
    assert run.report is not None
    assert run.report["deselected_rungs"] == 2 * 7 + 1
    run.result.stdout.fnmatch_lines(["*15 rung(s) above --dcs-max-rung=distributed deselected*"])
