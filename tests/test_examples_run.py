"""The runnable engine examples of `conftest_examples/` on this machine, each run as it is.

`standalone/` and `spark_connect/` need servers: test_standalone_run.py and test_connect_run.py
start them and run those examples. `databricks_connect/` needs a workspace: only its message
without one is checked.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import Project, Run

EXAMPLES = Path(__file__).parent.parent / "conftest_examples"

# What pytest.ini of local_only/ says: its cluster engine's workers see the project folder.
UNSHIPPED_CHECK = """
import pyspark.sql.functions as F
import pytest


@pytest.mark.scale("orders", fractions=[0.1])
def test_unshipped_module_imports_on_local_workers(scaled):
    from unshipped_helper import double

    doubled = scaled.select(F.udf(double, "long")("amount").alias("d"))
    assert doubled.where(F.col("d").isNotNull()).count() == scaled.count()
"""


def run_example(name: str, folder: Path, extra: dict[str, str] | None = None) -> Run:
    """Run a copy of example `name` in `folder`, with `extra` files written beside it."""
    shutil.copytree(EXAMPLES / name, folder, dirs_exist_ok=True)
    project = Project(folder)
    for file, text in (extra or {}).items():
        project.write(file, text)
    try:
        return project.run()
    finally:
        project.kill_leftovers()


def _passed(run: Run, test: str) -> list[str]:
    rungs = run.rungs(test)
    failed = {n: r["failure"]["summary"] for n, r in rungs.items() if r["failure"]}
    assert all(r["outcome"] == "passed" for r in rungs.values()), failed
    return list(rungs)


def test_local_only_climbs_every_rung_on_one_jvm(tmp_path: Path) -> None:
    run = run_example(
        "local_only",
        tmp_path,
        {
            "test_unshipped.py": UNSHIPPED_CHECK,
            "unshipped_helper.py": "def double(v):\n    return 2 * v\n",
        },
    )
    assert _passed(run, "test_refunds_are_small") == ["local", "distributed", "10pct", "50pct"]
    assert _passed(run, "test_unshipped_module_imports_on_local_workers")
    assert run.report is not None
    assert run.report["sessions"] == {"main": {"local": 1, "cluster": 1}}


def test_local_cluster_ships_its_package(tmp_path: Path) -> None:
    run = run_example("local_cluster", tmp_path)
    assert _passed(run, "test_taxed_totals") == ["local", "distributed", "10pct", "50pct"]
    run.result.assert_outcomes(passed=4)


def test_databricks_example_names_what_to_set(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "databricks_connect", tmp_path, dirs_exist_ok=True)
    project = Project(tmp_path)
    env = project.env()
    for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CLUSTER_ID"):
        env.pop(name, None)
    run = project.run("--collect-only", env=env)
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    run.result.stderr.fnmatch_lines(
        [
            "*set DATABRICKS_HOST, DATABRICKS_TOKEN, DATABRICKS_CLUSTER_ID (see README.md), "
            "or pass --dcs-cluster=sc://..."
        ]
    )


@pytest.mark.parametrize(
    ("name", "wanted"),
    [
        ("standalone", "--dcs-cluster=spark://HOST:7077"),
        ("spark_connect", "--dcs-cluster=sc://HOST:15002"),
    ],
)
def test_server_examples_say_which_cluster_they_expect(
    tmp_path: Path, name: str, wanted: str
) -> None:
    shutil.copytree(EXAMPLES / name, tmp_path, dirs_exist_ok=True)
    run = Project(tmp_path).run("--collect-only")
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    run.result.stderr.fnmatch_lines([f"*pytest {wanted}"])
