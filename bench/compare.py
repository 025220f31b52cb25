"""Time and driver memory of asserting that two equal DataFrames are equal, three ways.

The frames: `--sizes` rows (default 100,000 and 1,000,000) built with `spark.range`, five
columns (id long, x double, s string, k long, n long with 10% nulls); one side in 4 range
partitions, the other in 3 then shuffled into 7, so rows meet in a different order. Methods:

  pytest-dcs   pytest_dcs.assert_frames_equal(actual, expected)   (row order ignored)
  chispa       chispa.assert_df_equality(df1, df2, ignore_row_order=True)
  pyspark      pyspark.testing.assertDataFrameEqual(actual, expected)   (needs pandas, pyarrow)

Each (method, size) runs in its own Python process with its own local[2] session (the
plugin's local-engine conf: loopback, no UI), so one method's memory cannot hide another's.
In the process: build the frames, count both (JVM warm-up), call the method once on 1,000-row
frames (its imports and first jobs), then time `--repeat` calls and take the median. Memory is
the Python driver's:

  RSS peak    ru_maxrss of the process after the timed calls (includes the interpreter,
              pyspark and Py4J: about 100 MB before any rows arrive)
  RSS growth  that peak minus ru_maxrss before the timed calls: what the comparison added
  heap peak   tracemalloc's peak during one more call, traced separately (tracing slows
              allocation-heavy methods, so it is not timed)

The table ends with the time ratio chispa / pytest-dcs (target >= 5x) and the same for
pyspark. After every process it checks that no Spark JVM it started is left. Run from the
repository root, on a quiet machine (chispa, pandas < 3 and pyarrow come with the `bench` extra):

    .venv/bin/python bench/compare.py [--sizes 100000,1000000] [--repeat 1] [--no-heap]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

METHODS = ("pytest-dcs", "chispa", "pyspark")
MASTER = "local[2]"
WARM_ROWS = 1_000
RUN_TOKEN = "DCS_BENCH_RUN"  # env var marking the JVMs this benchmark starts
CHILD_TIMEOUT_SECONDS = 1800
TARGET_VS_CHISPA = 5.0
MB = 1024 * 1024


# -- in the child process ---------------------------------------------------------------------


def frames(spark: SparkSession, rows: int) -> tuple[DataFrame, DataFrame]:
    """Two equal frames, partitioned differently."""
    import pyspark.sql.functions as F

    def build(partitions: int) -> DataFrame:
        return spark.range(0, rows, 1, partitions).select(
            "id",
            (F.col("id") * 0.37).alias("x"),
            F.concat(F.lit("name-"), (F.col("id") % 997).cast("string")).alias("s"),
            (F.col("id") % 13).alias("k"),
            F.when(F.col("id") % 10 == 0, F.lit(None)).otherwise(F.col("id") % 100).alias("n"),
        )

    return build(4), build(3).repartition(7)


def method(name: str) -> Callable[[DataFrame, DataFrame], None]:
    if name == "pytest-dcs":
        from pytest_dcs import assert_frames_equal

        return assert_frames_equal
    if name == "chispa":
        from chispa import assert_df_equality

        return lambda a, b: assert_df_equality(a, b, ignore_row_order=True)
    if name == "pyspark":
        try:
            import pandas  # noqa: F401
            import pyarrow  # noqa: F401
        except ImportError as exc:
            raise SystemExit(
                f"pyspark's assertDataFrameEqual needs the bench extra: {exc}"
            ) from exc
        from pyspark.testing import assertDataFrameEqual

        return assertDataFrameEqual
    raise SystemExit(f"unknown method {name!r}; choose from {', '.join(METHODS)}")


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(name: str, rows: int, repeat: int, heap: bool) -> dict[str, Any]:
    from pytest_dcs.spark.config import EngineConfig
    from pytest_dcs.spark.engines import Engines

    compare = method(name)
    engines = Engines(EngineConfig(local_master=MASTER, cluster_master=MASTER))
    try:
        spark = engines.session("local")
        actual, expected = frames(spark, rows)
        actual.count(), expected.count()
        compare(*frames(spark, WARM_ROWS))
        before = max_rss_mb()
        seconds = []
        for _ in range(repeat):
            began = time.perf_counter()
            compare(actual, expected)
            seconds.append(time.perf_counter() - began)
        peak = max_rss_mb()
        heap_peak = None
        if heap:
            tracemalloc.start()
            compare(actual, expected)
            heap_peak = tracemalloc.get_traced_memory()[1] / MB
            tracemalloc.stop()
    finally:
        engines.shutdown()
    return {
        "method": name,
        "rows": rows,
        "seconds": seconds,
        "rss_before_mb": before,
        "rss_peak_mb": peak,
        "heap_peak_mb": heap_peak,
    }


# -- in the parent process --------------------------------------------------------------------


def spark_jvms(token: str) -> list[int]:
    """Live Spark JVMs whose environment carries this benchmark's token."""
    needle = f"{RUN_TOKEN}={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"org.apache.spark" not in (entry / "cmdline").read_bytes():
                continue
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def run_child(name: str, rows: int, repeat: int, heap: bool) -> dict[str, Any]:
    token = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update({"SPARK_LOCAL_IP": "127.0.0.1", RUN_TOKEN: token})
    command = [sys.executable, __file__, "--child", name, "--rows", str(rows)]
    command += ["--repeat", str(repeat), *([] if heap else ["--no-heap"])]
    try:
        done = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_SECONDS,
            check=False,
        )
    finally:
        deadline = time.monotonic() + 15
        while spark_jvms(token) and time.monotonic() < deadline:
            time.sleep(0.25)
        left = spark_jvms(token)
        for pid in left:
            os.kill(pid, 9)
    if left:
        print(f"  killed Spark JVMs left by {name} at {rows:,} rows: {left}", flush=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise SystemExit(f"{name} at {rows:,} rows failed ({done.returncode}):\n{tail}")
    return json.loads(lines[-1])


def table(results: Sequence[dict[str, Any]]) -> list[str]:
    header = ["method", "rows", "seconds", "RSS peak MB", "RSS growth MB", "heap peak MB"]
    body = [header]
    for r in results:
        heap = r["heap_peak_mb"]
        body.append(
            [
                r["method"],
                f"{r['rows']:,}",
                f"{statistics.median(r['seconds']):.2f}",
                f"{r['rss_peak_mb']:.0f}",
                f"{r['rss_peak_mb'] - r['rss_before_mb']:.0f}",
                "-" if heap is None else f"{heap:.1f}",
            ]
        )
    widths = [max(len(row[i]) for row in body) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in body
    ]
    return [lines[0], "  ".join("-" * w for w in widths), *lines[1:]]


def ratios(results: Sequence[dict[str, Any]]) -> list[str]:
    seconds = {(r["method"], r["rows"]): statistics.median(r["seconds"]) for r in results}
    lines = []
    for rows in sorted({r["rows"] for r in results}):
        ours = seconds.get(("pytest-dcs", rows))
        if not ours:
            continue
        for other in ("chispa", "pyspark"):
            theirs = seconds.get((other, rows))
            if theirs is None:
                continue
            line = f"{other} / pytest-dcs time at {rows:,} rows: {theirs / ours:.2f}x"
            if other == "chispa":
                met = "met" if theirs / ours >= TARGET_VS_CHISPA else "MISSED"
                line += f"  (target >= {TARGET_VS_CHISPA:.0f}x: {met})"
            lines.append(line)
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated row counts")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset")
    parser.add_argument("--repeat", type=int, default=1, help="timed calls per process")
    parser.add_argument("--no-heap", action="store_true", help="skip the tracemalloc call")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.rows, args.repeat, not args.no_heap)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    methods = [m for m in args.methods.split(",") if m]
    print(
        f"equal frames, 5 columns, {MASTER}, one process per line, median of {args.repeat} "
        f"timed call(s); load average now {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results = []
    for rows in sizes:
        for name in methods:
            result = run_child(name, rows, args.repeat, not args.no_heap)
            print(
                f"  {name} {rows:,}: {statistics.median(result['seconds']):.2f} s",
                flush=True,
            )
            results.append(result)
    print()
    print("\n".join(table(results)))
    print()
    print("\n".join(ratios(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
