"""Wall time of a ladder run on xdist workers (`-n 2`) against the same run in one process.

Writes, in a temporary directory, a representative ladder project: a JSON source of `--rows`
rows (default 100k) in 8 files, 8 scale tests climbing `local`, `distributed`, `1pct`, `10pct`
and `40pct` (counts, aggregations, a self-join per client, a Python UDF, a window), one of
which fails at `local` so its rungs above are skipped, and 4 plain `spark` tests. An untimed
warm-up run takes the tiny sample, so every timed run reads it from disk.

Then it runs the project with `-n 0` and with `-n N` (`--workers`, default 2), interleaved
(serial, parallel, serial, parallel, ...) so that machine noise hits both alike, and prints the
median wall time of each, their ratio, each run's engine starts per process (from the JSON
report's `sessions`), and whether both runs gave every rung the same verdict. After every run it
checks that no Spark JVM it started is left. The exit status is non-zero only when the verdicts
differ or a JVM is left, never on the ratio.

Run from the repository root:

    .venv/bin/python bench/xdist.py [--repeat 3] [--workers 2] [--rows 100000]
                                    [--cluster MASTER] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
RUN_TOKEN = "DCS_BENCH_RUN"  # env var marking the JVMs this benchmark starts
JVM_GRACE_SECONDS = 15.0
RUN_TIMEOUT_SECONDS = 1800
PYTEST = ("-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:spark")

INI = """\
[pytest]
dcs_sources =
    events = json:data/events
dcs_fractions = 0.01 0.1 0.4
"""

TESTS = """\
import pyspark.sql.functions as F
import pytest
from pyspark.sql import Window


@pytest.mark.scale("events")
def test_count(scaled, rung):
    assert scaled.count() == rung.rows


@pytest.mark.scale("events")
def test_totals_per_kind(scaled):
    out = scaled.groupBy("kind").agg(F.sum("amount").alias("total"), F.count("*").alias("n"))
    assert out.filter(F.col("n") <= 0).count() == 0


@pytest.mark.scale("events", sample_key="user")
def test_users_first_and_last(scaled):
    firsts = scaled.groupBy("user").agg(F.min("id").alias("first"), F.max("id").alias("last"))
    joined = scaled.join(firsts, "user")
    assert joined.filter(F.col("id") < F.col("first")).count() == 0


@pytest.mark.scale("events")
def test_label_udf(scaled):
    label = F.udf(lambda kind: (kind or "none").upper(), "string")
    out = scaled.select(label("kind").alias("label")).distinct()
    assert out.filter(F.col("label") == "").count() == 0


@pytest.mark.scale("events")
def test_top_per_user(scaled):
    ranked = scaled.withColumn(
        "r", F.row_number().over(Window.partitionBy("user").orderBy(F.desc("amount")))
    )
    assert ranked.filter("r = 1").count() == scaled.select("user").distinct().count()


@pytest.mark.scale("events")
def test_daily(scaled):
    out = scaled.groupBy("day").agg(F.avg("amount").alias("avg"))
    assert out.filter(F.col("avg") < 0).count() == 0


@pytest.mark.scale("events")
def test_big_spenders(scaled):
    big = scaled.filter(F.col("amount") > 20).select("user").distinct()
    assert big.count() <= scaled.select("user").distinct().count()


@pytest.mark.scale("events")
def test_fails_at_local(rung):
    assert rung.name != "local", "breaks on the sample: the rungs above are skipped"


@pytest.mark.parametrize("n", range(4))
def test_plain(spark, n):
    df = spark.range(100 * (n + 1)).withColumn("k", F.col("id") % 7)
    assert df.groupBy("k").count().count() == 7
"""

KINDS = ("click", "view", "buy", None)


@dataclass(frozen=True)
class Run:
    """One timed pytest subprocess."""

    workers: int
    seconds: float
    ok: bool
    output: str
    jvm_note: str
    report: dict[str, Any] | None


def write_project(root: Path, rows: int, files: int = 8) -> None:
    (root / "pytest.ini").write_text(INI)
    (root / "test_ladder.py").write_text(TESTS)
    source = root / "data" / "events"
    source.mkdir(parents=True)
    per_file = -(-rows // files)
    for number in range(files):
        lines = []
        for i in range(number * per_file, min(rows, (number + 1) * per_file)):
            record = {
                "id": i,
                "user": f"u{i % max(1, rows // 20)}",
                "kind": KINDS[i % len(KINDS)],
                "amount": (i * 37 % 101) / 4,
                "day": f"2024-01-{1 + i % 28:02d}",
            }
            lines.append(json.dumps(record))
        (source / f"part-{number:03d}.json").write_text("\n".join(lines) + "\n")


def run_env(token: str) -> dict[str, str]:
    """Loopback Spark, this venv first on PATH, no inherited pytest state, a marker token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop("PYTHONPATH", None)
    env["SPARK_LOCAL_IP"] = LOOPBACK
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env[RUN_TOKEN] = token
    return env


def our_jvms(token_prefix: str) -> list[int]:
    """Live Spark JVMs carrying this benchmark's token (other Spark work may share the machine)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"org.apache.spark" not in (entry / "cmdline").read_bytes():
                continue
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(e.startswith(f"{RUN_TOKEN}={token_prefix}".encode()) for e in environ):
            found.append(int(entry.name))
    return found


def check_jvms(token_prefix: str) -> str:
    began = time.perf_counter()
    while True:
        left = our_jvms(token_prefix)
        if not left:
            return "no Spark JVM left"
        if time.perf_counter() - began > JVM_GRACE_SECONDS:
            return f"SPARK JVM LEFT after {JVM_GRACE_SECONDS:.0f} s: pids {left}"
        time.sleep(0.25)


def run_pytest(
    project: Path, workers: int, token: str, token_prefix: str, extra: Sequence[str] = ()
) -> Run:
    report = project / f"report-{uuid.uuid4().hex[:8]}.json"
    command = [sys.executable, *PYTEST, "-n", str(workers), f"--dcs-report={report}", *extra]
    began = time.perf_counter()
    done = subprocess.run(
        command,
        cwd=project,
        env=run_env(token),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    seconds = time.perf_counter() - began
    output = done.stdout + done.stderr
    document = json.loads(report.read_text()) if report.exists() else None
    # One test fails on purpose: exit status 1 with that failure alone is a good run.
    ok = done.returncode == 1 and bool(re.search(r"\b1 failed\b", output)) and document is not None
    return Run(workers, seconds, ok, output, check_jvms(token_prefix), document)


def verdicts(report: dict[str, Any] | None) -> dict[str, dict[str, tuple[Any, ...]]]:
    """Per test and rung: outcome, failure kind and skip reason."""
    return {
        test["nodeid"]: {
            r["rung"]: (r["outcome"], (r["failure"] or {}).get("kind"), r["reason"])
            for r in test["rungs"]
        }
        for test in (report or {}).get("tests", [])
    }


def starts(run: Run) -> str:
    sessions = (run.report or {}).get("sessions", {})
    return "; ".join(
        f"{proc}: " + ", ".join(f"{engine} {n}" for engine, n in sorted(counts.items()))
        for proc, counts in sorted(sessions.items())
    )


def table(runs: Sequence[Run], workers: int) -> list[str]:
    serial = [r.seconds for r in runs if r.workers == 0]
    parallel = [r.seconds for r in runs if r.workers == workers]
    serial_median, parallel_median = statistics.median(serial), statistics.median(parallel)
    lines = [f"{'run':<12}{'median s':>10}{'runs':>6}   wall s of each run"]
    for label, values, median in (
        ("-n 0", serial, serial_median),
        (f"-n {workers}", parallel, parallel_median),
    ):
        each = " ".join(f"{v:.1f}" for v in values)
        lines.append(f"{label:<12}{median:>10.1f}{len(values):>6}   {each}")
    ratio = parallel_median / serial_median
    verdict = "faster" if ratio < 1 else "slower"
    lines.append("")
    lines.append(f"-n {workers} / -n 0: {ratio:.2f}x ({verdict} on {os.cpu_count()} cores)")
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each (3)")
    parser.add_argument("--workers", type=int, default=2, help="xdist workers (2)")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the source (100k)")
    parser.add_argument("--cluster", help="--dcs-cluster master (the plugin's default)")
    parser.add_argument("--keep", action="store_true", help="keep the generated project")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.workers < 1 or args.rows < 1000:
        parser.error("--repeat and --workers must be at least 1, --rows at least 1000")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    bench_id = uuid.uuid4().hex[:12]
    project = Path(tempfile.mkdtemp(prefix="dcs-xdist-"))
    write_project(project, args.rows)
    print(f"project in {project}: {args.rows:,} rows, 8 ladders of 5 rungs, 4 plain tests")
    if args.cluster:
        print(f"cluster engine: {args.cluster}")

    extra = [f"--dcs-cluster={args.cluster}"] if args.cluster else []
    warm = run_pytest(project, 0, f"{bench_id}:warmup", bench_id, extra)
    print(f"warm-up (untimed, takes the sample): {warm.seconds:.1f} s; {warm.jvm_note}")
    if not warm.ok:
        print(textwrap.indent(warm.output[-3000:], "    | "))
        return 1
    expected = verdicts(warm.report)

    runs: list[Run] = []
    problems: list[str] = []
    for round_ in range(1, args.repeat + 1):
        for workers in (0, args.workers):
            token = f"{bench_id}:{round_}:{workers}"
            run = run_pytest(project, workers, token, bench_id, extra)
            runs.append(run)
            same = verdicts(run.report) == expected
            print(
                f"[{round_}/{args.repeat}] -n {workers}: {run.seconds:.1f} s, "
                f"{'verdicts as -n 0' if same else 'VERDICTS DIFFER'}; {run.jvm_note}; "
                f"engine starts {starts(run)}",
                flush=True,
            )
            if not run.ok or not same:
                problems.append(f"-n {workers} in round {round_}")
                print(textwrap.indent(run.output[-3000:], "    | "))
            if "LEFT" in run.jvm_note:
                problems.append(f"a JVM left by -n {workers} in round {round_}")

    print()
    print("\n".join(table(runs, args.workers)))
    if args.keep:
        print(f"kept {project}")
    else:
        shutil.rmtree(project, ignore_errors=True)
    if problems:
        print(f"PROBLEMS: {', '.join(problems)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
