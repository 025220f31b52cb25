"""Localizing offending rows on real Spark: a body that fails on executors because of a few rows
is re-run on subsets of its input until those rows are found, reported, captured and replayed.

The project's tiny sample is taken while the source is clean; then three rows with a null are
added, as when the data changes after the sample was taken. The sample rungs pass, the 100%
rung meets the nulls. Each run is a fresh pytest process, shared by the tests of this module.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from conftest import Project, Run, write_events

CLEAN_ROWS = 199_997
BAD_IDS = [500_001, 500_002, 500_003]

INI = """
[pytest]
dcs_sources =
    events = json:data/events
dcs_fractions = 1.0
# Correctness, not speed, is checked here: a busy machine must not run the search out of time.
dcs_localize_budget = 120
"""

TESTS = """
import pyspark.sql.functions as F
import pytest


@pytest.mark.scale("events")
def test_shout(scaled):
    # Defined in the body, so that executors get it by value, not by importing this module.
    shout = F.udf(lambda text: text.upper(), "string")
    assert scaled.select(shout("exp").alias("s")).where("s IS NOT NULL").count() > 0


@pytest.mark.scale("events")
def test_first_id(scaled, rung):
    def checked(number):
        if number == 0:
            raise ValueError("id 0 is reserved")
        return number

    guard = F.udf(checked, "long")
    assert scaled.select(guard("id").alias("g")).where("g IS NOT NULL").count() == rung.rows


@pytest.mark.scale("events")
def test_wrong_count(scaled):
    assert scaled.count() < 0, "no frame has fewer than 0 rows"
"""


def _bad_rows(folder) -> None:
    lines = [
        json.dumps({"id": i, "client_id": f"c{i}", "exp": None, "value": 1.5}) for i in BAD_IDS
    ]
    (folder / "part-999.json").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, Run, Run]]:
    project = Project(tmp_path_factory.mktemp("localize"))
    project.write("pytest.ini", INI)
    project.write("test_jobs.py", TESTS)
    folder = project.path / "data" / "events"
    write_events(folder, CLEAN_ROWS)
    project.run("--dcs-max-rung=local", "-k", "test_shout")  # takes the clean sample
    _bad_rows(folder)
    climbed = project.run()
    replayed = project.run("--dcs-max-rung=local", "-k", "test_shout")
    yield project, climbed, replayed
    project.kill_leftovers()


def test_the_rows_that_fail_are_localized_and_captured(runs: tuple[Project, Run, Run]) -> None:
    project, climbed, _ = runs
    rungs = climbed.rungs("test_shout")
    assert rungs["local"]["outcome"] == "passed"
    assert rungs["distributed"]["outcome"] == "passed"
    failure = rungs["100pct"]["failure"]
    assert failure["kind"] == "data", climbed.output
    assert sorted(row["id"] for row in failure["offending_rows"]) == BAD_IDS
    assert all(row["exp"] is None for row in failure["offending_rows"])
    assert failure["localization"]["rows_found"] == 3
    assert failure["localization"]["runs"] >= 1
    assert failure["captured_to"], failure
    captured = (project.path / "dcs_samples" / "events.captured.jsonl").read_text()
    assert all(str(i) in captured for i in BAD_IDS)


def test_the_story_shows_the_rows_and_how_they_were_found(
    runs: tuple[Project, Run, Run],
) -> None:
    _, climbed, _ = runs
    climbed.result.stdout.fnmatch_lines(
        [
            "*[[]dcs] data failure at rung 100pct*",
            "*offending rows (3):*",
            "*localized 3 row(s) in * s, * re-run(s) of the body*",
            "captured to: *events.captured.jsonl",
        ]
    )


def test_captured_rows_fail_the_local_rung_next_run(runs: tuple[Project, Run, Run]) -> None:
    _, _, replayed = runs
    failure = replayed.rungs("test_shout")["local"]["failure"]
    assert failure["kind"] == "data", replayed.output
    assert sorted(row["id"] for row in failure["offending_rows"]) == BAD_IDS


def test_rows_without_nulls_are_found_by_the_general_search(
    runs: tuple[Project, Run, Run],
) -> None:
    _, climbed, _ = runs
    failure = climbed.rungs("test_first_id")["local"]["failure"]
    assert failure["kind"] == "data"
    assert [row["id"] for row in failure["offending_rows"]] == [0]
    assert "suspect" not in failure["localization"]["method"]


def test_a_plain_assert_is_an_assertion_without_a_row_search(
    runs: tuple[Project, Run, Run],
) -> None:
    _, climbed, _ = runs
    failure = climbed.rungs("test_wrong_count")["local"]["failure"]
    assert failure["kind"] == "assertion"
    assert failure["localization"] is None
    assert failure["offending_rows"] == []
