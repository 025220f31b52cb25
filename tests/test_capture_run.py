"""Offending rows found at a fraction rung are captured, masked, and replayed at local next run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Project, Run

ROWS = 20_000
MAGIC = [i for i in range(ROWS) if i % 4999 == 5]  # the rows a rare-value bug trips on

INI = """
[pytest]
dcs_sources =
    people = json:data/people
dcs_fractions = 0.5
dcs_mask = email
"""

TESTS = """
import pyspark.sql.functions as F
import pytest


@pytest.mark.scale("people")
def test_no_magic_value(scaled, rung):
    rung.expect_rows(scaled, F.col("value") != 500.05, name="no magic value")


@pytest.mark.scale("people")
def test_shifted_values(scaled, rung):
    # The source's schema, other values: these rows are no rows of the source.
    shifted = scaled.withColumn("value", F.col("value") - 10000)
    rung.expect_rows(shifted, F.col("value") >= 0, name="no negative value")
"""


def _email(i: int) -> str:
    return f"user{i}.secret@corp.example"


def _write_people(folder: Path) -> None:
    folder.mkdir(parents=True)
    for part in range(4):
        lines = []
        for i in range(part * 5000, (part + 1) * 5000):
            value = 500.05 if i in MAGIC else (i * 7919) % 10_000 / 10 + 100
            lines.append(json.dumps({"id": i, "email": _email(i), "value": value}))
        (folder / f"part-{part}.json").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, list[Run]]]:
    project = Project(tmp_path_factory.mktemp("capture"))
    project.write("pytest.ini", INI)
    project.write("test_people.py", TESTS)
    _write_people(project.path / "data" / "people")
    found = project.run()
    # Kept before the third run forgets it.
    found.captured_text = (project.path / "dcs_samples" / "people.captured.jsonl").read_text()
    replayed = project.run("--dcs-max-rung=local", "-k", "test_no_magic_value")
    forgotten = project.run(
        "--dcs-max-rung=local", "--dcs-forget-captured", "-k", "test_no_magic_value"
    )
    yield project, [found, replayed, forgotten]
    project.kill_leftovers()


def test_fraction_rung_reports_and_captures_the_offending_rows(
    runs: tuple[Project, list[Run]],
) -> None:
    project, (found, _, _) = runs
    rungs = found.rungs("test_no_magic_value")
    assert rungs["local"]["outcome"] == rungs["distributed"]["outcome"] == "passed"
    failure = rungs["50pct"]["failure"]
    assert rungs["50pct"]["outcome"] == "failed"
    assert failure["kind"] == "data"
    assert "break expectation 'no magic value'" in failure["summary"]
    offending = failure["offending_rows"]
    assert offending and all(r["value"] == 500.05 for r in offending)
    assert {r["id"] for r in offending} <= set(MAGIC)
    captured = project.path / "dcs_samples" / "people.captured.jsonl"
    assert failure["captured_to"] == str(captured)
    lines = found.captured_text.splitlines()
    assert len(lines) == 1 + len(offending)
    entry = json.loads(lines[1])
    assert entry["test"] == "test_people.py::test_no_magic_value"
    assert entry["rung"] == "50pct" and entry["kind"] == "data"


def test_captured_rows_are_replayed_at_local_next_run(runs: tuple[Project, list[Run]]) -> None:
    _, (found, replayed, _) = runs
    local = replayed.rungs("test_no_magic_value")["local"]
    assert local["outcome"] == "failed"
    assert local["failure"]["kind"] == "data"
    assert local["rows"] == found.rungs("test_no_magic_value")["local"]["rows"] + len(
        found.rungs("test_no_magic_value")["50pct"]["failure"]["offending_rows"]
    )


def test_forget_captured_clears_the_replay(runs: tuple[Project, list[Run]]) -> None:
    project, (_, _, forgotten) = runs
    assert forgotten.rungs("test_no_magic_value")["local"]["outcome"] == "passed"
    assert not (project.path / "dcs_samples" / "people.captured.jsonl").exists()
    forgotten.result.stdout.fnmatch_lines(["dcs: forgot 1 capture file(s)"])


def test_masked_values_appear_nowhere(runs: tuple[Project, list[Run]]) -> None:
    project, all_runs = runs
    texts = [p.read_text() for p in (project.path / "dcs_samples").iterdir() if p.is_file()]
    texts += [run.output for run in all_runs]
    texts += [json.dumps(run.report) for run in all_runs]
    texts.append(all_runs[0].captured_text)
    assert "@corp.example" not in "".join(texts)
    offending = all_runs[0].rungs("test_no_magic_value")["50pct"]["failure"]["offending_rows"]
    assert all(r["email"].endswith("@example.com") for r in offending)


def test_rows_of_a_derived_frame_are_reported_not_captured(
    runs: tuple[Project, list[Run]],
) -> None:
    _, (found, _, _) = runs
    failure = found.rungs("test_shifted_values")["local"]["failure"]
    assert failure["kind"] == "data"
    assert failure["offending_rows"] and all(r["value"] < 0 for r in failure["offending_rows"])
    # Replaying them would test rows the source never had (and grow every test's input).
    assert failure["captured_to"] is None
