"""The cluster rungs on a real standalone cluster: a master and a worker from the installed pyspark.

One cluster and one run for the module: the `conftest_examples/standalone` example, plus tests
that check what only a separate cluster shows. The master's and worker's JVMs, and the
executors the worker starts for the run, are found by the cluster's own tag (they are not
children of the pytest run, so `Project`'s check does not see them).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Project, Run
from servers import Standalone, standalone_cluster

EXAMPLE = Path(__file__).parent.parent / "conftest_examples" / "standalone"

CHECKS = """
import pyspark.sql.functions as F
import pytest

EXECUTOR_MARK = "CoarseGrainedExecutorBackend"


@pytest.mark.scale("orders")
def test_cluster_rungs_run_on_the_cluster(scaled, rung, spark):
    # Nested, so executors get it by value: they cannot import this module.
    def ancestors(_):
        import os

        commands, pid = [], os.getppid()
        while pid > 1:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                commands.append(cmdline.read().decode(errors="replace"))
            with open(f"/proc/{pid}/stat") as stat:
                pid = int(stat.read().rsplit(")", 1)[1].split()[1])
        return " | ".join(commands)

    master = spark.sparkContext.master
    assert master.startswith("local[") if rung.kind == "local" else master.startswith("spark://")
    # One call per input partition, not per row: the body checks where it runs and should not
    # be a job whose time grows. Nondeterministic, so the optimizer keeps the first distinct.
    parts = scaled.select(F.spark_partition_id().alias("part")).distinct()
    where = F.udf(ancestors, "string").asNondeterministic()
    parents = parts.select(where("part").alias("p")).distinct()
    commands = [r.p for r in parents.collect()]
    assert (rung.kind == "local") != any(EXECUTOR_MARK in c for c in commands), commands


@pytest.mark.scale("orders")
def test_unshipped_module(scaled):
    from unshipped_helper import double

    doubled = scaled.select(F.udf(double, "long")("amount").alias("d"))
    assert doubled.where(F.col("d").isNotNull()).count() == scaled.count()
"""

UNSHIPPED = """
def double(value):
    return 2 * value
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    with standalone_cluster(tmp_path_factory.mktemp("standalone")) as started:
        yield started


@pytest.fixture(scope="module")
def climbed(
    cluster: Standalone, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Run, list[int]]]:
    """The run, and the executor JVMs still alive once it ended."""
    folder = tmp_path_factory.mktemp("standalone-project")
    shutil.copytree(EXAMPLE, folder, dirs_exist_ok=True)
    project = Project(folder)
    project.write("test_checks.py", CHECKS)
    project.write("unshipped_helper.py", UNSHIPPED)
    run = project.run(f"--dcs-cluster={cluster.url}")
    yield run, cluster.wait_for_no_executors()
    project.kill_leftovers()


def _failures(rungs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {name: r["failure"]["summary"] for name, r in rungs.items() if r["failure"]}


def test_the_example_climbs_every_rung_on_the_cluster(climbed: tuple[Run, list[int]]) -> None:
    run, _ = climbed
    rungs = run.rungs("test_orders.py::test_taxed_totals")
    assert list(rungs) == ["local", "distributed", "1pct", "10pct", "40pct"]
    assert [r["outcome"] for r in rungs.values()] == ["passed"] * 5, _failures(rungs)
    # Whole clients: 1% of 1,000 clients of 100 rows each.
    assert rungs["1pct"]["rows"] % 100 == 0 and 0 < rungs["1pct"]["rows"] < 4_000
    assert run.report is not None
    assert run.report["sessions"] == {"main": {"local": 1, "cluster": 1}}


def test_cluster_rungs_run_in_the_clusters_executors(climbed: tuple[Run, list[int]]) -> None:
    run, _ = climbed
    rungs = run.rungs("test_cluster_rungs_run_on_the_cluster")
    assert [r["outcome"] for r in rungs.values()] == ["passed"] * 5, _failures(rungs)


def test_an_unshipped_module_fails_distributed_as_framework(
    climbed: tuple[Run, list[int]],
) -> None:
    run, _ = climbed
    rungs = run.rungs("test_unshipped_module")
    assert rungs["local"]["outcome"] == "passed"
    failure = rungs["distributed"]["failure"]
    assert failure["kind"] == "framework"
    assert failure["summary"] == "executors cannot import module 'unshipped_helper'"
    assert "dcs_ship" in failure["advice"]
    assert rungs["1pct"]["reason"] == "rung distributed failed"


def test_executors_end_with_the_run(climbed: tuple[Run, list[int]]) -> None:
    _, executors = climbed
    assert executors == []
