"""Kept samples that no longer fit: a source that gained a column, and a corrupt sample file.

One project with two sources, run three times at the local rung only (one local session per
run):
  1. takes the tiny samples of both JSON sources;
  2. after `events` gained `region` and its test started using it, and the `orders` sample file
     was corrupted: the local rung names the stale sample and the refresh option instead of
     reporting a data failure with bogus rows; the corrupt one gets a clear message, no
     traceback, and both files are left as they were;
  3. with --dcs-refresh-samples: the test passes, and rows captured under the old schema are
     replayed under the new one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Project, Run
from pyspark.sql import types as T

from pytest_dcs.data.samplestore import SampleStore

INI = """
[pytest]
dcs_sources =
    events = json:data/events
    orders = json:data/orders
"""

ORDERS_TEST = """

@pytest.mark.scale("orders")
def test_orders(scaled):
    assert scaled.count() > 0
"""

BEFORE = (
    """
import pyspark.sql.functions as F
import pytest


@pytest.mark.scale("events")
def test_by_region(scaled):
    assert scaled.where(F.col("id") >= 0).count() > 0
"""
    + ORDERS_TEST
)

AFTER = (
    """
import pyspark.sql.functions as F
import pytest


@pytest.mark.scale("events")
def test_by_region(scaled):
    assert scaled.groupBy("region").count().count() > 0


def test_tiny_replays_captured_rows(tiny):
    rows = tiny("events").where(F.col("id") == -1).collect()
    assert [(r.exp, r.region) for r in rows] == [("captured", None)]
"""
    + ORDERS_TEST
)


def write_source(folder: Path, *, region: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(2):
        lines = []
        for i in range(number * 1000, (number + 1) * 1000):
            record: dict[str, object] = {"id": i, "exp": f"e{i % 5}", "value": i % 97}
            if region:
                record["region"] = ["eu", "us", "apac"][i % 3]
            lines.append(json.dumps(record))
        (folder / f"part-{number}.json").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, dict[str, Run]]]:
    project = Project(tmp_path_factory.mktemp("sample-state"))
    project.write("pytest.ini", INI)
    project.write("test_events.py", BEFORE)
    write_source(project.path / "data" / "events", region=False)
    write_source(project.path / "data" / "orders", region=False)
    done = {"taken": project.run("--dcs-max-rung=local")}

    write_source(project.path / "data" / "events", region=True)
    project.write("test_events.py", AFTER)
    store = SampleStore(project.path / "dcs_samples")
    old_schema = store.load("events").schema
    captured = dict.fromkeys(old_schema.fieldNames())
    captured.update(id=-1, exp="captured", value=0)
    store.add_captured(
        "events", old_schema, [tuple(captured.values())], {"rung": "10pct", "test": "earlier"}
    )
    orders = project.path / "dcs_samples" / "orders.jsonl"
    lines = orders.read_text().splitlines()
    lines[3] = lines[3][: len(lines[3]) // 2]
    project.write("corrupt.jsonl", "\n".join(lines) + "\n")
    orders.write_text("\n".join(lines) + "\n")
    sample = project.path / "dcs_samples" / "events.jsonl"
    done["stale"] = project.run("--dcs-max-rung=local", "-k", "test_by_region or test_orders")
    project.write("stale_sample_after.jsonl", sample.read_text())
    project.write("corrupt_sample_after.jsonl", orders.read_text())

    done["refreshed"] = project.run(
        "--dcs-max-rung=local", "--dcs-refresh-samples", "-k", "not test_orders"
    )
    yield project, done
    project.kill_leftovers()


def test_first_run_takes_the_sample_without_region(runs: tuple[Project, dict[str, Run]]) -> None:
    _, done = runs
    local = done["taken"].rungs("test_by_region")["local"]
    assert (local["outcome"], local["rows"]) == ("passed", 200)


def test_a_stale_sample_is_named_at_local_with_the_refresh(
    runs: tuple[Project, dict[str, Run]],
) -> None:
    project, done = runs
    local = done["stale"].rungs("test_by_region")["local"]
    assert local["outcome"] == "failed"
    failure = local["failure"]
    assert failure["kind"] == "data"
    assert "dcs_samples/events.jsonl is stale" in failure["summary"]
    assert "region" in failure["summary"]
    assert "--dcs-refresh-samples" in failure["advice"]
    # Not rows: every subset of rows fails to resolve a column alike.
    assert failure["offending_rows"] == []
    captured = project.path / "dcs_samples" / "events.captured.jsonl"
    assert len(captured.read_text().splitlines()) == 2  # the header and the earlier row only
    done["stale"].result.stdout.fnmatch_lines(["*events.jsonl is stale*"])
    assert "Traceback" not in done["stale"].output


def test_the_stale_sample_is_left_as_it_was(runs: tuple[Project, dict[str, Run]]) -> None:
    project, _ = runs
    kept = (project.path / "stale_sample_after.jsonl").read_text().splitlines()
    schema = T.StructType.fromJson(json.loads(kept[0])["schema"])
    assert schema.fieldNames() == ["exp", "id", "value"]
    assert len(kept) == 201


def test_refresh_takes_the_new_schema_and_replays_old_captures(
    runs: tuple[Project, dict[str, Run]],
) -> None:
    _, done = runs
    refreshed = done["refreshed"]
    assert refreshed.rungs("test_by_region")["local"]["outcome"] == "passed"
    assert refreshed.result.ret == 0, refreshed.output


def test_a_corrupt_sample_names_the_line_and_the_fix(runs: tuple[Project, dict[str, Run]]) -> None:
    project, done = runs
    corrupt = done["stale"]
    local = corrupt.rungs("test_orders")["local"]
    assert local["outcome"] == "failed"
    summary = local["failure"]["summary"]
    assert "orders.jsonl is corrupt at line 4" in summary
    assert "--dcs-refresh-samples" in summary
    assert "Traceback" not in corrupt.output
    after = (project.path / "corrupt_sample_after.jsonl").read_text()
    assert after == (project.path / "corrupt.jsonl").read_text()
