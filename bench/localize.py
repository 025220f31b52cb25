"""How long localizing offending rows takes, next to the failing rung's own time.

Builds parquet sources of `--rows` rows (default 2M) in 20 files, takes their tiny samples while
they are clean, then adds `--bad` rows (default 10) that a UDF chokes on, as when data changes
after the sample was taken. One pytest run climbs a `100pct` ladder with four tests:

  null    a UDF calling `.upper()` on a string column: the bad rows hold a null there
  value   a UDF raising on a few ids: the bad rows look like every other row, and the error
          quotes no value

and the same two on a source of 121 columns (`wide_null`, `wide_value`), as real ETL sources
are: a filter there decodes every column, which the search must not pay for each clue.

The UDF call that failed the rung names the function and its column (sealed in its error): the
value tests' rows come from one pass of that function over the column, the null tests' from the
suspects (nulls) of the columns the body read. The `method` column says how the search got
there.

It runs twice: with the default budget (3x the rung's time, at least 10 s), and with a budget
of 600 s to show the time to find every bad row. The table takes from the JSON report, per
test: the failing rung's time (the body); the time to the first row found and to the end of
the search, each with its ratio to the rung's (target <= 3x); the rows found and the re-runs.
Run from the repository root:

    .venv/bin/python bench/localize.py [--rows 2000000] [--bad 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from pytest_dcs.spark.config import EngineConfig
from pytest_dcs.spark.engines import Engines

TESTS = """
import pyspark.sql.functions as F
import pytest


def shouting(scaled):
    shout = F.udf(lambda text: text.upper(), "string")
    assert scaled.select(shout("exp").alias("s")).where("s IS NOT NULL").count() > 0


def guarding(scaled):
    bad = set(BAD_IDS)

    def checked(number):
        if number in bad:
            raise ValueError("a reserved id")
        return number

    guard = F.udf(checked, "long")
    assert scaled.select(guard("id").alias("g")).where("g IS NOT NULL").count() > 0


@pytest.mark.scale("events")
def test_null(scaled):
    shouting(scaled)


@pytest.mark.scale("events")
def test_value(scaled):
    guarding(scaled)


@pytest.mark.scale("wide")
def test_wide_null(scaled):
    shouting(scaled)


@pytest.mark.scale("wide")
def test_wide_value(scaled):
    guarding(scaled)
"""

# Columns the wide source has besides the four of `events`: real ETL sources have 100+.
WIDE_EXTRA = [f"concat('v{i}-', id % {97 + i}) AS s{i}" for i in range(58)] + [
    f"(id * {i + 3}) % 1000 AS n{i}" for i in range(59)
]


def generate(root: Path, rows: int, bad: int) -> list[int]:
    """The clean source in `root/events`, and the bad rows apart in `root/bad` (ids returned)."""
    engines = Engines(EngineConfig("local[2]", "local-cluster[2,1,1024]"))
    spark = engines.session("local")
    try:
        clean = spark.range(rows).selectExpr(
            "id",
            "concat('c', id % 50000) AS client_id",
            "concat('e10s-', id % 7) AS exp",
            "CAST((id * 7919) % 1000 AS DOUBLE) / 10 AS value",
        )
        clean.repartition(20).write.mode("overwrite").parquet(str(root / "events"))
        wide = clean.selectExpr("*", *WIDE_EXTRA)
        wide.repartition(20).write.mode("overwrite").parquet(str(root / "wide"))
        step = rows // (bad + 1)
        ids = [step * (i + 1) + 3 for i in range(bad)]
        bad_rows = spark.createDataFrame(
            [(rows + i, f"c{i}", None, 1.5) for i in range(bad)],
            "id long, client_id string, exp string, value double",
        )
        bad_rows.write.mode("overwrite").parquet(str(root / "bad" / "events"))
        bad_rows.selectExpr("*", *WIDE_EXTRA).write.parquet(str(root / "bad" / "wide"))
        return ids
    finally:
        engines.shutdown()


def run(project: Path, *args: str) -> dict[str, Any]:
    report = project / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:spark",
            f"--dcs-report={report}",
            *args,
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if not report.exists():
        sys.exit(f"pytest wrote no report:\n{done.stdout}\n{done.stderr}")
    document = json.loads(report.read_text())
    document["output"] = done.stdout
    return document


def rows_of(document: dict[str, Any], bad: int) -> tuple[list[list[str]], list[str]]:
    """The table's rows, and per test a line of where the search's time went."""
    table, steps = [], []
    for test in document["tests"]:
        rung = next((r for r in test["rungs"] if r["rung"] == "100pct"), None)
        if rung is None or rung["outcome"] != "failed" or rung["seconds"] is None:
            sys.exit(f"{test['nodeid']} did not fail at 100pct:\n{document['output']}")
        failure = rung["failure"] or {}
        found = failure.get("localization") or {}
        seconds, first = found.get("seconds"), found.get("first_row_seconds")

        def ratio(part: float | None, whole: float = rung["seconds"]) -> str:
            return f"{part / whole:.1f}x" if part and whole else "-"

        table.append(
            [
                test["nodeid"].split("::")[-1],
                rung["outcome"],
                f"{rung['seconds']:.2f}",
                f"{first:.2f}" if first is not None else "-",
                ratio(first),
                f"{seconds:.2f}" if seconds is not None else "-",
                ratio(seconds),
                f"{found.get('rows_found', 0)}/{bad}",
                str(found.get("runs", "-")),
                str(found.get("budget_seconds", "-")),
                found.get("method") or found.get("note") or "-",
            ]
        )
        shares = [
            f"{name} {step['seconds']:.2f} s/{step['runs']}"
            for name, step in (found.get("steps") or {}).items()
            if step["seconds"] >= 0.005 or step["runs"]
        ]
        steps.append(f"  {table[-1][0]}: " + (", ".join(shares) or "-"))
    return table, steps


def main() -> None:
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"  # the generating session binds to loopback too
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--bad", type=int, default=10)
    parser.add_argument(
        "--default-only", action="store_true", help="skip the run with a budget of 600 s"
    )
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dcs-bench-localize-") as tmp:
        project = Path(tmp)
        ids = generate(project / "data", options.rows, options.bad)
        (project / "test_jobs.py").write_text(
            textwrap.dedent(TESTS).replace("BAD_IDS", repr(ids)).lstrip()
        )
        (project / "pytest.ini").write_text(
            "[pytest]\ndcs_sources =\n    events = parquet:data/events\n"
            "    wide = parquet:data/wide\ndcs_fractions = 1.0\n"
        )
        run(project, "--dcs-max-rung=local")  # the tiny sample, taken while the data is clean
        # The bad rows join the sources: nulls for the null tests; ids are in the value tests'.
        for name in ("events", "wide"):
            for part in (project / "data" / "bad" / name).glob("part-*.parquet"):
                part.rename(project / "data" / name / f"bad-{part.name}")
        print(
            f"{options.rows:,} rows, {options.bad} bad rows per test, rung 100pct; "
            f"events: 4 columns, wide: {4 + len(WIDE_EXTRA)} columns"
        )
        header = [
            "test",
            "outcome",
            "rung s",
            "first row s",
            "ratio",
            "all s",
            "ratio",
            "rows",
            "re-runs",
            "budget s",
            "method",
        ]
        runs: list[tuple[str, tuple[str, ...]]] = [("default budget", ())]
        if not options.default_only:
            runs.append(("budget 600 s", ("-o", "dcs_localize_budget=600")))
        for label, args in runs:
            # Forget the rows the previous run captured, or the local rung replays them.
            document = run(project, "--dcs-forget-captured", *args)
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            print(f"\n{label} (load average after the run: {load}; 2 cores, shared)")
            rows, steps = rows_of(document, options.bad)
            table = [header, *rows]
            widths = [max(len(row[i]) for row in table) for i in range(len(header))]
            for row in table:
                print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
            print("seconds/re-runs per step of the search:")
            print("\n".join(steps))


if __name__ == "__main__":
    main()
