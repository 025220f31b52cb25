"""The demo: generate a telemetry-like source, climb the ladder over it, check every verdict.

Run from the repository root with `make demo`. Exits 0 when every rung of every demo test ended
the way the story says it should (some of them are meant to fail), non-zero otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "main_summary"
OUT = HERE.parents[1] / "demo-out"
ROWS = 200_000
FILES = 40

Verdict = tuple[str, str | None]  # outcome, failure kind
ALL_PASS: dict[str, Verdict] = {
    rung: ("passed", None) for rung in ("local", "distributed", "1pct", "10pct", "40pct")
}
EXPECTED: dict[str, dict[str, Verdict]] = {
    "test_recent_e10s": ALL_PASS,
    # The variance-covering sample holds the rare null: caught before any real data is read.
    "test_fragile_udf": {
        "local": ("failed", "data"),
        "distributed": ("skipped", None),
        "1pct": ("skipped", None),
        "10pct": ("skipped", None),
        "40pct": ("skipped", None),
    },
    "test_helper_module_udf": {
        "local": ("passed", None),
        "distributed": ("failed", "framework"),
        "1pct": ("skipped", None),
        "10pct": ("skipped", None),
        "40pct": ("skipped", None),
    },
    "test_hours_per_client": ALL_PASS,
}


def generate() -> None:
    """Write the source once: deterministic, many parquet files, a rare null experiment id."""
    if DATA.exists():
        return
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from pytest_dcs.engines import EngineConfig

    conf = EngineConfig("local[2]", "local[2]").conf("local")
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    try:
        h = F.abs(F.xxhash64("id", F.lit(7)))
        df = spark.range(ROWS).select(
            F.concat(F.lit("client-"), (h % 20_000).cast("string")).alias("client_id"),
            F.date_format(F.date_add(F.lit("2017-05-01"), (h % 40).cast("int")), "yyyyMMdd").alias(
                "submission_date"
            ),
            F.when(F.col("id") % 500 == 7, F.lit(None))
            .otherwise(F.concat(F.lit("e10s-beta45-"), (h % 3).cast("string")))
            .alias("active_experiment_id"),
            F.element_at(
                F.array(*map(F.lit, ["US", "DE", "FR", "BR", "IN"])), (h % 5 + 1).cast("int")
            ).alias("country"),
            (h % 7200).alias("subsession_length"),
        )
        df.repartition(FILES).write.parquet(str(DATA))
        print(f"demo: wrote {ROWS:,} rows in {FILES} parquet files to {DATA}")
    finally:
        spark.stop()


def verdicts(report: dict) -> dict[str, dict[str, Verdict]]:
    found: dict[str, dict[str, Verdict]] = {}
    for test in report["tests"]:
        name = test["nodeid"].rsplit("::", 1)[-1]
        found[name] = {
            r["rung"]: (r["outcome"], (r["failure"] or {}).get("kind")) for r in test["rungs"]
        }
    return found


def main() -> int:
    generate()
    OUT.mkdir(exist_ok=True)
    report_path = OUT / "report.json"
    report_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rN"]
    command += ["--dcs-refresh-samples", f"--dcs-report={report_path}"]
    print("demo: $", " ".join(command[2:]), flush=True)
    subprocess.run(command, cwd=HERE, check=False)
    if not report_path.exists():
        print("demo: FAILED - the run wrote no report")
        return 1
    found = verdicts(json.loads(report_path.read_text()))
    wrong = [
        f"  {test} {rung}: expected {want}, got {found.get(test, {}).get(rung)}"
        for test, rungs in EXPECTED.items()
        for rung, want in rungs.items()
        if found.get(test, {}).get(rung) != want
    ]
    if wrong:
        print("demo: FAILED - verdicts differ from the story:\n" + "\n".join(wrong))
        return 1
    print(f"demo: every verdict is the expected one; report in {report_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
