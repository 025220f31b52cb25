"""Checking candidate rows on real Spark: the body runs on them laid out one per partition, and
a row is kept only when the task that read it alone failed the same way.

One subprocess starts a local[2] session and has `verify` check rows of a small input: some
fail the original way, one fails another way, the rest pass. Its findings are printed as JSON
and shared by the tests of this module.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Project

SCRIPT = """
import json
import os
import sys

import pyspark.sql.functions as F
from pyspark.sql import SparkSession

from pytest_dcs.failures import error_identity
from pytest_dcs.run.search import Search
from pytest_dcs.run.verify import verify

RESERVED = {2, 5}
OTHER = 6


def checked(number):
    if number in RESERVED:
        raise ValueError(f"id {number} is reserved")
    if number == OTHER:
        raise KeyError(number)
    return number


def body(df, merge=False):
    guard = F.udf(checked, "long")
    if merge:  # one task reads every row
        df = df.coalesce(1)
    return df.select(guard("id").alias("g")).where("g IS NOT NULL").count()


# Python workers run this interpreter, which has what the UDFs need (pyarrow).
os.environ["PYSPARK_PYTHON"] = sys.executable
spark = (
    SparkSession.builder.master("local[2]")
    .config("spark.ui.enabled", "false")
    .config("spark.driver.host", "127.0.0.1")
    .config("spark.driver.bindAddress", "127.0.0.1")
    .getOrCreate()
)
spark.sparkContext.setLogLevel("OFF")
df = spark.createDataFrame([(i, f"c{i}") for i in range(8)], "id long, client_id string")
try:
    body(df)
except Exception as exc:
    identity = error_identity(exc)


def search(merge=False):
    def reproduce(subset):
        try:
            body(subset, merge)
        except Exception as again:
            return "same" if error_identity(again) == identity else "other"
        return "passed"

    return Search(spark, df, reproduce, limit=10, budget=120, identity=identity)


rows = df.orderBy("id").collect()
found = {}
for name, merge in (("layout", False), ("merged", True)):
    checking = search(merge)
    checking.start()
    failing = verify(checking, rows)
    found[name] = {
        "ids": sorted(r.id for r in failing),
        "kept": sorted(r.id for r in checking.rows()),
        "runs": checking.result.runs,
    }
probe = search()
probe.start()
found["probe"] = {
    "ids": sorted(r.id for r in verify(probe, [rows[0], rows[1]], stop_on_pass=True)),
    "kept": sorted(r.id for r in probe.rows()),
    "runs": probe.result.runs,
}
spark.stop()
print("RESULT " + json.dumps(found))
"""


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    project = Project(tmp_path_factory.mktemp("verify"))
    script: Path = project.write("check.py", SCRIPT)
    try:
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=project.path,
            env=project.env(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        project.kill_leftovers()
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"{done.stdout}\n{done.stderr}"
    return json.loads(lines[-1].removeprefix("RESULT "))


def test_only_rows_whose_own_task_fails_the_same_way_are_kept(checked: dict[str, Any]) -> None:
    layout = checked["layout"]
    # Row 6 fails on its own too, but with a KeyError: not the same way. The rest pass.
    assert layout["ids"] == [2, 5]
    assert layout["kept"] == [2, 5]
    # Fewer re-runs than rows: one run decides every row whose task ran before the job ended.
    assert layout["runs"] < 8


def test_rows_are_rerun_alone_when_tasks_do_not_map_to_rows(checked: dict[str, Any]) -> None:
    # The body merges its input's partitions first: its failing task read every row, so each
    # row is re-run alone, and the answer is the same.
    merged = checked["merged"]
    assert merged["ids"] == [2, 5]
    assert merged["kept"] == [2, 5]
    assert merged["runs"] == 1 + 8


def test_a_probe_stops_at_the_first_passing_row_and_keeps_nothing(
    checked: dict[str, Any],
) -> None:
    probe = checked["probe"]
    assert probe["ids"] == []
    assert probe["kept"] == []
    assert probe["runs"] == 1
