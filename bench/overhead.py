"""How much wall time pytest-dcs adds to a suite of small PySpark tests.

Writes, in a temporary directory, the same 20 small DataFrame tests three ways and runs them side
by side, interleaved (a, b, c, ladder, a, b, c, ladder, ...) so that machine noise hits all alike:

  a. plugin        the `local` rung of pytest-dcs: `@pytest.mark.scale("events")` tests run with
                   `--dcs-max-rung=local`, reading a tiny parquet source through its sample
  b. bare          a session-scoped `spark` fixture in conftest.py with the plugin's local-engine
                   conf (`EngineConfig(...).conf("local")`), plugin not loaded (`-p no:dcs`)
  c. pytest-spark  pytest-spark's `spark_session` at its defaults, plugin not loaded (`-p no:dcs`)

plus a 10-test ladder up to `distributed` with the plugin, whose JSON report says how many
local-cluster sessions were started (one for the whole run is expected).

Each variant is a `python -m pytest` subprocess; the table shows the median wall time, the
median time pytest itself reports ("in N s"), and the ratios plugin/bare (target <= 1.2x) and
plugin/pytest-spark (target <= 1.1x). After every run it checks that no Spark JVM it started is
left. The exit status is non-zero only when a variant's tests fail, never on a missed target.

Run from the repository root (pytest-spark comes with the `bench` extra):

    .venv/bin/python bench/overhead.py [--repeat 3] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
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
JVM_PATTERN = "org.apache.spark"
RUN_TOKEN = "DCS_BENCH_RUN"  # env var marking the JVMs this benchmark starts
JVM_GRACE_SECONDS = 10.0
RUN_TIMEOUT_SECONDS = 900
TARGET_VS_BARE = 1.2
TARGET_VS_PYTEST_SPARK = 1.1
PYTEST = ("-m", "pytest", "-q", "-p", "no:cacheprovider")

EVENT_SCHEMA = "id long, user string, kind string, amount double, day date"
KINDS = ("click", "view", "buy")

# The test bodies, shared by every variant. `spark` is the session; `events` the 60-row source
# (the plugin's tiny sample in a, the same rows built inline in b and c). UDFs are defined inside
# the bodies so they are pickled by value: workers cannot import the test module.
CASES: dict[str, str] = {
    "filter_count": """
        rows = [(i, i % 7) for i in range(50)]
        df = spark.createDataFrame(rows, "id long, v long")
        assert df.filter(F.col("v") > 3).count() == sum(1 for _, v in rows if v > 3)
    """,
    "groupby_sum": """
        rows = [(f"k{i % 5}", i) for i in range(40)]
        df = spark.createDataFrame(rows, "k string, n long")
        got = {r.k: r.total for r in df.groupBy("k").agg(F.sum("n").alias("total")).collect()}
        assert got == {f"k{j}": sum(n for k, n in rows if k == f"k{j}") for j in range(5)}
    """,
    "inner_join": """
        left = spark.createDataFrame([(i, f"name{i}") for i in range(30)], "id long, name string")
        right = spark.createDataFrame([(i, i * 10) for i in range(0, 30, 3)], "id long, score long")
        out = left.join(right, "id").collect()
        assert sorted((r.id, r.score) for r in out) == [(i, i * 10) for i in range(0, 30, 3)]
    """,
    "left_join_nulls": """
        left = spark.createDataFrame([(i,) for i in range(12)], "id long")
        right = spark.createDataFrame([(i, "x") for i in range(0, 12, 4)], "id long, tag string")
        out = left.join(right, "id", "left")
        assert out.filter(F.col("tag").isNull()).count() == 9
    """,
    "with_column": """
        df = spark.createDataFrame([(i, i * 0.5) for i in range(25)], "id long, x double")
        out = df.withColumn("y", F.col("x") * 2 + 1).withColumn("even", F.col("id") % 2 == 0)
        rows = sorted(out.filter("even").collect(), key=lambda r: r.id)
        assert [r.y for r in rows] == [i + 1.0 for i in range(0, 25, 2)]
    """,
    "udf_upper": """
        upper = F.udf(lambda s: s.upper(), "string")
        df = spark.createDataFrame([(f"name{i}",) for i in range(20)], "name string")
        out = df.withColumn("up", upper("name")).filter(F.col("up").startswith("NAME1"))
        assert sorted(r.up for r in out.collect()) == sorted(
            f"NAME{i}" for i in range(20) if str(i).startswith("1")
        )
    """,
    "udf_bucket": """
        @F.udf("int")
        def bucket(x):
            return int(x // 10)

        df = spark.createDataFrame([(i,) for i in range(100)], "x long")
        got = {r.b: r["count"] for r in df.groupBy(bucket("x").alias("b")).count().collect()}
        assert got == {b: 10 for b in range(10)}
    """,
    "distinct": """
        df = spark.createDataFrame([(i % 6, f"v{i % 3}") for i in range(60)], "a long, b string")
        assert df.distinct().count() == 6
    """,
    "order_limit": """
        scores = [(i * 37) % 101 for i in range(80)]
        df = spark.createDataFrame(list(enumerate(scores)), "id long, score long")
        top = [r.score for r in df.orderBy(F.desc("score")).limit(5).collect()]
        assert top == sorted(scores, reverse=True)[:5]
    """,
    "window_rank": """
        rows = [(f"g{i % 4}", i) for i in range(40)]
        df = spark.createDataFrame(rows, "g string, v long")
        w = Window.partitionBy("g").orderBy(F.desc("v"))
        best = df.withColumn("r", F.row_number().over(w)).filter("r = 1").collect()
        assert {r.g: r.v for r in best} == {
            f"g{j}": max(v for g, v in rows if g == f"g{j}") for j in range(4)
        }
    """,
    "union_by_name": """
        a = spark.createDataFrame([(i, "a") for i in range(10)], "id long, src string")
        b = spark.createDataFrame([("b", i) for i in range(15)], "src string, id long")
        out = a.unionByName(b).groupBy("src").count().collect()
        assert {r.src: r["count"] for r in out} == {"a": 10, "b": 15}
    """,
    "explode": """
        rows = [(i, list(range(i % 4))) for i in range(20)]
        df = spark.createDataFrame(rows, "id long, xs array<long>")
        assert df.select("id", F.explode("xs")).count() == sum(i % 4 for i in range(20))
    """,
    "case_when": """
        df = spark.createDataFrame([(i,) for i in range(30)], "n long")
        size = F.when(F.col("n") < 10, "small").when(F.col("n") < 20, "medium").otherwise("large")
        got = {r.size: r["count"] for r in df.groupBy(size.alias("size")).count().collect()}
        assert got == {"small": 10, "medium": 10, "large": 10}
    """,
    "strings": """
        df = spark.createDataFrame([(f" Item-{i} ",) for i in range(15)], "raw string")
        out = df.select(F.lower(F.trim("raw")).alias("s")).filter(F.col("s").endswith("-1"))
        assert [r.s for r in out.collect()] == ["item-1"]
    """,
    "dates": """
        start = dt.date(2024, 1, 1)
        df = spark.createDataFrame([(start + dt.timedelta(days=i),) for i in range(40)], "d date")
        got = {r.m: r["count"] for r in df.groupBy(F.month("d").alias("m")).count().collect()}
        assert got == {1: 31, 2: 9}
    """,
    "events_kind_totals": """
        expected = {}
        for r in events.collect():
            expected[r.kind] = expected.get(r.kind, 0.0) + r.amount
        totals = events.groupBy("kind").agg(F.sum("amount").alias("total")).collect()
        got = {r.kind: r.total for r in totals}
        assert got.keys() == expected.keys()
        assert all(abs(got[k] - expected[k]) < 1e-6 for k in got)
    """,
    "events_big_buyers": """
        rows = events.collect()
        big = (F.col("kind") == "buy") & (F.col("amount") > 10)
        out = events.filter(big).select("user").distinct().collect()
        assert {r.user for r in out} == {r.user for r in rows if r.kind == "buy" and r.amount > 10}
    """,
    "events_udf_label": """
        label = F.udf(lambda kind, amount: f"{kind}:{'high' if amount > 12 else 'low'}", "string")
        rows = events.collect()
        out = events.withColumn("label", label("kind", "amount"))
        assert out.filter(F.col("label").endswith(":high")).count() == sum(
            1 for r in rows if r.amount > 12
        )
    """,
    "events_join_dim": """
        weights = {"click": 1, "view": 2, "buy": 3}
        dim = spark.createDataFrame(list(weights.items()), "kind string, weight long")
        out = events.join(F.broadcast(dim), "kind").agg(F.sum("weight").alias("w")).collect()
        assert out[0].w == sum(weights[r.kind] for r in events.collect())
    """,
    "events_udf_weekday": """
        @F.udf("string")
        def weekday(d):
            return d.strftime("%a")

        rows = events.collect()
        daily = events.groupBy(weekday("day").alias("wd")).agg(F.count("*").alias("n")).collect()
        assert sum(r.n for r in daily) == len(rows)
        assert {r.wd for r in daily} == {r.day.strftime("%a") for r in rows}
    """,
}
LADDER_CASES = (
    "filter_count",
    "groupby_sum",
    "inner_join",
    "udf_upper",
    "window_rank",
    "events_kind_totals",
    "events_big_buyers",
    "events_udf_label",
    "events_join_dim",
    "events_udf_weekday",
)
TEST_HEADER = """\
import datetime as dt

import pyspark.sql.functions as F
import pytest
from pyspark.sql import Window
"""


@dataclass(frozen=True)
class Variant:
    """One way of running the tests: a generated project and its pytest arguments."""

    key: str
    label: str
    project: Path
    args: tuple[str, ...]
    expected_passed: int
    report: Path | None = None


@dataclass(frozen=True)
class Run:
    """The outcome of one pytest subprocess."""

    variant: str
    seconds: float
    pytest_seconds: float | None
    passed: int
    ok: bool
    output: str
    jvm_note: str
    report: dict[str, Any] | None


# -- the generated projects -----------------------------------------------------------------


def event_rows() -> list[tuple[Any, ...]]:
    """The 60 rows of the `events` source."""
    start = dt.date(2024, 1, 1)
    return [
        (i, f"u{i % 7}", KINDS[i % 3], (i * 37 % 101) / 4, start + dt.timedelta(days=i % 10))
        for i in range(1, 61)
    ]


def render_test(name: str, body: str, spark_fixture: str, marked: bool) -> str:
    lines = textwrap.dedent(body).strip("\n")
    params = [spark_fixture, *(["events"] if "events" in lines else [])]
    if spark_fixture != "spark":
        lines = f"spark = {spark_fixture}\n{lines}"
    decorator = '@pytest.mark.scale("events")\n' if marked else ""
    signature = f"def test_{name}({', '.join(params)}):\n"
    return decorator + signature + textwrap.indent(lines, "    ") + "\n"


def render_test_module(names: Sequence[str], spark_fixture: str, marked: bool) -> str:
    tests = [render_test(name, CASES[name], spark_fixture, marked) for name in names]
    return TEST_HEADER + "\n\n" + "\n\n".join(tests)


def events_fixture(spark_fixture: str) -> str:
    """The inline equivalent of the plugin's local rung: the same rows, in one partition."""
    return textwrap.dedent(f"""
        EVENT_ROWS = {event_rows()!r}


        @pytest.fixture
        def events({spark_fixture}):
            return {spark_fixture}.createDataFrame(EVENT_ROWS, {EVENT_SCHEMA!r}).coalesce(1)
    """)


PLUGIN_CONFTEST = """\
import pytest


@pytest.fixture
def events(scaled):
    return scaled
"""

BARE_CONFTEST = """\
import datetime

import pytest
from pyspark.sql import SparkSession

from pytest_dcs.spark.config import EngineConfig


@pytest.fixture(scope="session")
def spark():
    engine = EngineConfig(local_master="local[2]", cluster_master="local-cluster[2,1,1024]")
    builder = SparkSession.builder
    for key, value in engine.conf("local").items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
"""

PYTEST_SPARK_CONFTEST = """\
import datetime

import pytest
"""


def plugin_ini(source: Path, samples: Path) -> str:
    return f"[pytest]\ndcs_sources =\n    events = parquet:{source}\ndcs_sample_dir = {samples}\n"


# Only what keeps pytest-spark on loopback with the UI off, as every run on this machine must be.
PYTEST_SPARK_INI = f"""\
[pytest]
spark_options =
    spark.driver.host = {LOOPBACK}
    spark.driver.bindAddress = {LOOPBACK}
    spark.ui.enabled = false
"""


def write_project(root: Path, ini: str, conftest: str, tests: str) -> Path:
    root.mkdir(parents=True)
    (root / "pytest.ini").write_text(ini)
    (root / "conftest.py").write_text(conftest)
    (root / "test_cases.py").write_text(tests)
    return root


def write_projects(work: Path, source: Path, samples: Path) -> list[Variant]:
    """The three 20-test projects and the 10-test ladder, in the order they are interleaved."""
    names = list(CASES)
    ini = plugin_ini(source, samples)
    plugin = write_project(
        work / "a_plugin", ini, PLUGIN_CONFTEST, render_test_module(names, "spark", marked=True)
    )
    bare = write_project(
        work / "b_bare",
        "[pytest]\n",
        BARE_CONFTEST + events_fixture("spark"),
        render_test_module(names, "spark", marked=False),
    )
    pytest_spark = write_project(
        work / "c_pytest_spark",
        PYTEST_SPARK_INI,
        PYTEST_SPARK_CONFTEST + events_fixture("spark_session"),
        render_test_module(names, "spark_session", marked=False),
    )
    ladder = write_project(
        work / "d_ladder",
        ini,
        PLUGIN_CONFTEST,
        render_test_module(LADDER_CASES, "spark", marked=True),
    )
    report = work / "ladder-report.json"
    # Each variant loads only its own Spark plugin; xdist is loaded in all of them alike.
    return [
        Variant(
            "a", "a plugin (local rung)", plugin, ("-p", "no:spark", "--dcs-max-rung=local"), 20
        ),
        Variant("b", "b bare fixture", bare, ("-p", "no:dcs", "-p", "no:spark"), 20),
        Variant("c", "c pytest-spark", pytest_spark, ("-p", "no:dcs"), 20),
        Variant(
            "ladder",
            "ladder to distributed",
            ladder,
            ("-p", "no:spark", "--dcs-max-rung=distributed", f"--dcs-report={report}"),
            2 * len(LADDER_CASES),
            report,
        ),
    ]


WRITE_SOURCE = """\
import datetime
import sys

from pyspark.sql import SparkSession

from pytest_dcs.spark.config import EngineConfig

engine = EngineConfig(local_master="local[2]", cluster_master="local-cluster[2,1,1024]")
builder = SparkSession.builder
for key, value in engine.conf("local").items():
    builder = builder.config(key, value)
spark = builder.getOrCreate()
rows = {rows!r}
spark.createDataFrame(rows, {schema!r}).coalesce(1).write.mode("overwrite").parquet(sys.argv[1])
spark.stop()
"""


def write_source(work: Path, target: Path, env: dict[str, str]) -> None:
    """Write the tiny parquet source with Spark, in a subprocess so this process starts no JVM."""
    script = work / "write_events.py"
    script.write_text(WRITE_SOURCE.format(rows=event_rows(), schema=EVENT_SCHEMA))
    done = subprocess.run(
        [sys.executable, str(script), str(target)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )
    if done.returncode != 0:
        raise SystemExit(f"writing the parquet source failed:\n{done.stderr[-3000:]}")


# -- running and checking -------------------------------------------------------------------


def run_env(token: str) -> dict[str, str]:
    """The environment of every run: loopback Spark, this venv first on PATH, a marker token."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["SPARK_LOCAL_IP"] = LOOPBACK
    # As in an activated venv: Python workers started as `python3` get this interpreter.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env[RUN_TOKEN] = token
    return env


def spark_jvms() -> list[int]:
    done = subprocess.run(["pgrep", "-f", JVM_PATTERN], capture_output=True, text=True)
    return [int(pid) for pid in done.stdout.split()]


def started_by(pid: int, token_prefix: str) -> bool:
    """Whether a process carries this benchmark's token (other Spark work may share the machine)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return any(
        entry.startswith(f"{RUN_TOKEN}={token_prefix}".encode()) for entry in environ.split(b"\0")
    )


def check_jvms(token_prefix: str) -> str:
    """Wait briefly for this benchmark's Spark JVMs to exit; say whether any is left."""
    began = time.perf_counter()
    while True:
        ours = [pid for pid in spark_jvms() if started_by(pid, token_prefix)]
        waited = time.perf_counter() - began
        if not ours:
            after = f" (the last exited {waited:.1f} s after pytest)" if waited > 0.3 else ""
            return f"no Spark JVM left{after}"
        if waited > JVM_GRACE_SECONDS:
            return f"SPARK JVM LEFT after {JVM_GRACE_SECONDS:.0f} s: pids {ours}"
        time.sleep(0.25)


def pytest_summary(output: str) -> tuple[int, float | None]:
    """Passed tests and pytest's own duration from the last summary line."""
    lines = [line for line in output.splitlines() if re.search(r" in [\d.]+s", line)]
    if not lines:
        return 0, None
    last = lines[-1]
    passed = re.search(r"(\d+) passed", last)
    seconds = re.search(r" in ([\d.]+)s", last)
    return (int(passed.group(1)) if passed else 0, float(seconds.group(1)) if seconds else None)


def run_variant(variant: Variant, env: dict[str, str], token_prefix: str) -> Run:
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *PYTEST, *variant.args],
        cwd=variant.project,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )
    seconds = time.perf_counter() - began
    output = done.stdout + done.stderr
    passed, pytest_seconds = pytest_summary(output)
    report = None
    if variant.report is not None and variant.report.exists():
        report = json.loads(variant.report.read_text())
    return Run(
        variant=variant.key,
        seconds=seconds,
        pytest_seconds=pytest_seconds,
        passed=passed,
        ok=done.returncode == 0 and passed == variant.expected_passed,
        output=output,
        jvm_note=check_jvms(token_prefix),
        report=report,
    )


def session_starts(report: dict[str, Any] | None) -> dict[str, int]:
    """Engine starts summed over the processes in the report's top-level `sessions`."""
    totals: dict[str, int] = {}
    for per_engine in (report or {}).get("sessions", {}).values():
        for engine, count in per_engine.items():
            totals[engine] = totals.get(engine, 0) + int(count)
    return totals


def describe(run: Run, variant: Variant) -> str:
    verdict = f"{run.passed}/{variant.expected_passed} passed" if run.ok else "FAILED"
    return f"{variant.label}: {run.seconds:.1f} s, {verdict}; {run.jvm_note}"


# -- the table ------------------------------------------------------------------------------


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio_line(name: str, numerator: float, denominator: float, target: float) -> str:
    value = numerator / denominator
    verdict = "met" if value <= target else "MISSED"
    return f"{name:<22}{value:5.2f}x   target <= {target}x: {verdict}"


def table(variants: Sequence[Variant], runs: Sequence[Run]) -> list[str]:
    lines = [f"{'variant':<24}{'median s':>9}{'in-pytest s':>13}{'runs':>6}   wall s of each run"]
    medians: dict[str, float] = {}
    for variant in variants:
        mine = [r for r in runs if r.variant == variant.key]
        wall = statistics.median(r.seconds for r in mine)
        inner = median([r.pytest_seconds for r in mine])
        medians[variant.key] = wall
        inner_text = f"{inner:.2f}" if inner is not None else "-"
        each = " ".join(f"{r.seconds:.2f}" for r in mine)
        lines.append(f"{variant.label:<24}{wall:>9.2f}{inner_text:>13}{len(mine):>6}   {each}")
    lines.append("")
    lines.append(ratio_line("plugin/bare", medians["a"], medians["b"], TARGET_VS_BARE))
    lines.append(
        ratio_line("plugin/pytest-spark", medians["a"], medians["c"], TARGET_VS_PYTEST_SPARK)
    )
    ladder_runs = [r for r in runs if r.variant == "ladder"]
    starts = [session_starts(r.report) for r in ladder_runs]
    cluster = sorted({s.get("cluster", 0) for s in starts})
    local = sorted({s.get("local", 0) for s in starts})
    verdict = "as expected" if cluster == [1] else "EXPECTED 1"
    lines.append(
        f"ladder to distributed: {len(LADDER_CASES)} tests x 2 rungs, "
        f"median {medians['ladder']:.2f} s wall"
    )
    lines.append(
        f"  session starts per run (report `sessions`): local-cluster {cluster} ({verdict}), "
        f"local {local}"
    )
    return lines


# -- main -----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per variant (3)")
    parser.add_argument("--keep", action="store_true", help="keep the generated projects")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("pgrep") is None:
        raise SystemExit("pgrep is needed to check for leftover Spark JVMs")
    bench_id = uuid.uuid4().hex[:12]
    work = Path(tempfile.mkdtemp(prefix="dcs-overhead-"))
    print(f"projects in {work}")
    source, samples = work / "data" / "events.parquet", work / "dcs_samples"
    variants = write_projects(work, source, samples)
    by_key = {v.key: v for v in variants}

    write_source(work, source, run_env(f"{bench_id}:source"))
    print(f"parquet source written: {source}; {check_jvms(bench_id)}")

    # Untimed: the plugin takes the tiny sample here, so timed runs read it from disk.
    warm = run_variant(by_key["a"], run_env(f"{bench_id}:warmup"), bench_id)
    print(f"warm-up (untimed) {describe(warm, by_key['a'])}")
    sample_meta = samples / "events.meta.json"
    if not warm.ok or not sample_meta.exists():
        print(warm.output[-3000:])
        return 1
    rows = json.loads(sample_meta.read_text()).get("rows")
    print(
        f"tiny sample ({rows} rows) taken by the untimed warm-up run; timed runs read it from disk"
    )

    runs: list[Run] = []
    for round_ in range(1, args.repeat + 1):
        for variant in variants:
            run = run_variant(variant, run_env(f"{bench_id}:{round_}:{variant.key}"), bench_id)
            runs.append(run)
            print(f"[{round_}/{args.repeat}] {describe(run, variant)}", flush=True)
            if not run.ok:
                print(textwrap.indent(run.output[-3000:], "    | "))

    print()
    print("\n".join(table(variants, runs)))
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    failed = sorted({r.variant for r in runs if not r.ok})
    if failed:
        print(f"tests FAILED in: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
