"""Scale analysis on real Spark: slowdown, parity, control flow, skew, plan warnings, the plot.

One project, run once with every check, plus a short run with `--dcs-strict-plan`. The
quadratic test compares every pair of rows within 4 groups with `levenshtein`, so its work grows
with the square of its rows; the linear tests do per-row work on the same source and climb.
"""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import Project, Run

ROWS = 10_000
FILES = 40

TESTS = """
import pyspark.sql.functions as F
import pytest


@pytest.mark.scale("events", fractions=(0.2, 0.4))
def test_pairs_per_group(scaled, rung):
    a, b = scaled.alias("a"), scaled.alias("b")
    close = a.join(b, F.col("a.grp") == F.col("b.grp")).where(
        F.levenshtein(F.col("a.name"), F.col("b.name")) < 9
    )
    assert close.count() >= 0


@pytest.mark.parametrize("repeat", [1, 2, 3])
@pytest.mark.scale("events", fractions=(0.1, 0.4))
def test_per_row_work(scaled, rung, repeat):
    near = scaled.select(
        "grp", "name", F.explode(F.sequence(F.lit(1), F.lit(150))).alias("k")
    ).select("grp", F.levenshtein("name", F.sha2(F.col("k").cast("string"), 256)).alias("d"))
    nearest = near.groupBy("grp").agg(F.min("d").alias("d")).collect()
    assert all(row.d >= 0 for row in nearest)


@pytest.mark.scale("events", fractions=(0.1,))
def test_first_name_per_group(scaled, rung):
    out = scaled.groupBy("grp").agg(F.first("name").alias("first_name"))
    rung.result(out)


@pytest.mark.scale("events", fractions=(0.1,))
def test_ordered_name_per_group(scaled, rung):
    out = scaled.groupBy("grp").agg(F.min("name").alias("first_name"), F.sum("v").alias("v"))
    rung.result(out)


@pytest.mark.scale("events", fractions=(0.1,))
def test_experiment_is_rarely_missing(scaled, rung):
    seen = rung.observe(scaled, no_exp=F.col("exp").isNull(), e10s=F.col("exp").startswith("e10s"))
    rung.expect_share("no_exp", at_most=0.05)
    seen.count()


@pytest.mark.scale("events", fractions=(0.1,))
def test_branch_shares_hold(scaled, rung):
    seen = rung.observe(scaled, even="id % 2 = 0")
    seen.count()
    rung.expect_share("even", at_least=0.3, at_most=0.7)


@pytest.mark.scale("events", fractions=(0.1,))
def test_clients_are_balanced(scaled, rung):
    rung.expect_skew(scaled, "client", max_ratio=10)


@pytest.mark.scale("events", fractions=(0.1,))
def test_slow_body(scaled, rung):
    import time

    if rung.name == "local":
        time.sleep(5.5)


@pytest.mark.scale("events", fractions=(0.1,))
def test_groups_against_ids(scaled, rung):
    groups = scaled.select("grp").distinct()
    out = rung.result(groups.crossJoin(scaled.select("id").orderBy("id").limit(3)))
    assert out.count() <= 12
"""


def write_source(folder: Path) -> None:
    """id; grp (4 groups); name (16 hex chars); exp (null in 99% of rows); client ('MISSING'
    in 60% of rows, else one of 2,000); v (a float)."""
    folder.mkdir(parents=True)
    per_file = ROWS // FILES
    for number in range(FILES):
        lines = []
        for i in range(number * per_file, (number + 1) * per_file):
            record = {
                "id": i,
                "grp": i % 4,
                "name": hashlib.sha256(str(i).encode()).hexdigest()[:16],
                "exp": f"e10s-{i % 3}" if i % 100 == 0 else None,
                "client": "MISSING" if i % 5 < 3 else f"c{i % 2000}",
                "v": (i * 7919 % 1000) / 7.0,
            }
            lines.append(json.dumps(record))
        (folder / f"part-{number:03d}.json").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def scale_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = Project(tmp_path_factory.mktemp("scale"))
    write_source(project.path / "data" / "events")
    project.write(
        "pytest.ini",
        """
        [pytest]
        dcs_sources =
            events = json:data/events
        dcs_localize_budget = 0
        """,
    )
    project.write("test_scale.py", TESTS)
    return project


@pytest.fixture(scope="module")
def climbed(scale_project: Project) -> Run:
    pytest.importorskip("matplotlib")
    # Nine tests up to 40pct: under a full suite beside other Spark work this passed 600 s.
    run = scale_project.run(
        "--dcs-plot=ladder.png", "--junitxml=junit.xml", "-p", "no:randomly", timeout=1500
    )
    yield run
    scale_project.kill_leftovers()


def kinds(run: Run, test: str) -> dict[str, str | None]:
    return {
        name: (r["failure"] or {}).get("kind") if r["outcome"] == "failed" else r["outcome"]
        for name, r in run.rungs(test).items()
    }


def test_quadratic_pairs_fail_as_slowdown(climbed: Run) -> None:
    rungs = climbed.rungs("test_pairs_per_group")
    assert kinds(climbed, "test_pairs_per_group") == {
        "local": "passed",
        "distributed": "passed",
        "20pct": "passed",
        "40pct": "slowdown",
    }, climbed.output
    top = rungs["40pct"]
    assert top["exponent"] > 1.5
    summary = top["failure"]["summary"]
    told = re.search(r"rows\^(\d+\.\d+)", summary)
    assert told and abs(float(told.group(1)) - top["exponent"]) <= 0.006, summary
    assert "20pct:" in summary and "40pct:" in summary and "data x" in summary
    # The executors did the work that grew, so their task time measured it.
    assert top["exponent_basis"] == "task"
    assert summary.startswith("executor time grows as rows^") and "s of tasks in" in summary
    assert "projected at 100%" in summary
    assert top["projected_seconds"] > top["seconds"]
    assert rungs["20pct"]["rows"] < top["rows"]


def test_linear_job_on_the_same_source_climbs_three_times(climbed: Run) -> None:
    for repeat in (1, 2, 3):
        name = f"test_per_row_work[{repeat}]"
        assert set(kinds(climbed, name).values()) == {"passed"}, climbed.output
        top = climbed.rungs(name)["40pct"]
        assert top["exponent"] is not None and top["exponent"] <= 1.5
        assert top["exponent_basis"] == "task"


def test_timing_rows_and_task_time_per_rung(climbed: Run) -> None:
    rungs = climbed.rungs("test_per_row_work[1]")
    for name, record in rungs.items():
        assert record["seconds"] > 0, name
        assert record["task_seconds"] is not None and record["task_seconds"] >= 0, name
        assert record["rows"] > 0, name
    assert rungs["10pct"]["exponent"] is None  # nothing below it to compare with
    # The distributed rung's time, capped by the fraction rungs' (and lowered by a re-timing
    # on the tiny sample when a first verdict was steep).
    assert rungs["40pct"]["overhead_seconds"] <= min(
        rungs[name]["seconds"] for name in ("distributed", "10pct", "40pct")
    )
    header = next(line for line in climbed.result.outlines if line.startswith("test "))
    assert header.split()[:9] == [
        "test",
        "rung",
        "outcome",
        "seconds",
        "task",
        "s",
        "rows",
        "exp",
        "kind",
    ]


def test_first_without_order_fails_as_parity_with_a_diff(climbed: Run) -> None:
    assert kinds(climbed, "test_first_name_per_group") == {
        "local": "passed",
        "distributed": "parity",
        "10pct": "skipped",
    }
    failure = climbed.rungs("test_first_name_per_group")["distributed"]["failure"]
    assert "differs between local and distributed on the same input" in failure["summary"]
    assert {row["side"] for row in failure["offending_rows"]} == {"local", "distributed"}
    assert failure["diff"]
    assert "first()" in failure["advice"]
    assert "[dcs] parity failure at rung distributed" in climbed.output


def test_order_independent_result_has_parity(climbed: Run) -> None:
    rungs = climbed.rungs("test_ordered_name_per_group")
    assert set(kinds(climbed, "test_ordered_name_per_group").values()) == {"passed"}
    parity = rungs["distributed"]["parity"]
    assert parity["compared"] and parity["differing_rows"] == 0
    assert parity["local_rows"] == parity["distributed_rows"] == 4


def test_wrong_mental_model_fails_as_control_flow(climbed: Run) -> None:
    assert kinds(climbed, "test_experiment_is_rarely_missing")["local"] == "control_flow"
    failure = climbed.rungs("test_experiment_is_rarely_missing")["local"]["failure"]
    assert "'no_exp' should be rare (at most 5.0%), is 9" in failure["summary"]
    observed = climbed.rungs("test_experiment_is_rarely_missing")["local"]["observations"]
    assert observed["no_exp"]["share"] > 0.9
    assert observed["no_exp"]["count"] + observed["e10s"]["count"] == observed["no_exp"]["rows"]


def test_branch_shares_are_reported_per_rung(climbed: Run) -> None:
    rungs = climbed.rungs("test_branch_shares_hold")
    assert set(kinds(climbed, "test_branch_shares_hold").values()) == {"passed"}
    assert rungs["10pct"]["observations"]["even"]["rows"] == rungs["10pct"]["rows"]
    assert 0.3 <= rungs["10pct"]["observations"]["even"]["share"] <= 0.7


def test_skewed_key_fails_with_the_heaviest_keys(climbed: Run) -> None:
    record = climbed.rungs("test_clients_are_balanced")["local"]
    assert record["failure"]["kind"] == "data"
    assert "key client is skewed: 'MISSING' has" in record["failure"]["summary"]
    assert record["failure"]["offending_rows"][0]["client"] == "MISSING"
    assert record["skew"]["client"]["max_over_median"] > 10


def test_cartesian_join_is_flagged_as_a_warning(climbed: Run) -> None:
    assert set(kinds(climbed, "test_groups_against_ids").values()) == {"passed"}
    warnings = climbed.rungs("test_groups_against_ids")["local"]["warnings"]
    assert warnings and "compares every row with every row" in warnings[0]
    assert "dcs plan warnings" in climbed.output
    assert any(
        ("test_groups_against_ids" in line and "nested-loop" in line) or "cartesian" in line
        for line in climbed.result.outlines
    )


def test_plot_is_a_png_with_a_panel_per_test(climbed: Run, scale_project: Project) -> None:
    picture = scale_project.path / "ladder.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"ladder plot: {picture}" in climbed.output


def test_junit_has_per_rung_properties(climbed: Run, scale_project: Project) -> None:
    tree = ET.parse(scale_project.path / "junit.xml")
    case = next(c for c in tree.iter("testcase") if c.get("name") == "test_pairs_per_group[40pct]")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["dcs_rung"] == "40pct"
    assert props["dcs_kind"] == "slowdown"
    assert int(props["dcs_rows"]) > 0 and float(props["dcs_seconds"]) > 0


def test_strict_plan_fails_the_cartesian_join(scale_project: Project) -> None:
    run = scale_project.run(
        "--dcs-strict-plan", "--dcs-max-rung=local", "-k", "groups_against or slow_body"
    )
    assert kinds(run, "test_groups_against_ids") == {"local": "slowdown"}
    failure = run.rungs("test_groups_against_ids")["local"]["failure"]
    assert "(--dcs-strict-plan)" in failure["summary"]
    # A rung running past 5 s gets one progress line (and Spark's progress bar stays off).
    assert "[dcs] test_slow_body local: 200 input rows, running for 5 s ..." in run.output
    assert "[Stage " not in run.output
