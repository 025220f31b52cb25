"""What taking a tiny sample of a wide source costs, next to one full scan of it.

Builds once (kept in `--dir`, reused by later runs) a deterministic parquet source of `--rows`
rows and 135 columns: ids, a `customer_id` with about 50 rows per customer, low-cardinality
strings, free strings with empties, wide-range longs and doubles, decimals, dates, timestamps
and booleans, most of them with nulls. Then times, interleaved over the repeats (the order
rotates, so machine noise hits all alike):

  a. full scan    one aggregate over every column of every row (count, and bit_xor and sum
                  of `xxhash64` of all columns): what reading the source once costs
  b. by row       `sampling.take_tiny(df, --tiny-rows)`, the sample `Inputs` takes without a key
  c. by key       `sampling.take_tiny(df, --tiny-rows, key=["customer_id"])`
  d. by row, columns read
                  b. with the column ends read by Spark instead of taken from the parquet
                  footers (as for a source that is not plain parquet files)

It prints each median and the sampling times as ratios to the full scan (target: <= 3x), with
the passes and variance reasons of the sample. The machine may be shared: the load average and
the other Spark JVMs running are printed first. One untimed round comes first (class loading).

Run from the repository root:

    .venv/bin/python bench/sample_wide.py [--rows 200000] [--repeat 2] [--dir DIR]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_dcs.data import sampling

sys.path.insert(0, str(Path(__file__).parent))
from sample_fractions import force_read, gateway_jvm_pid, spark_jvms, start_session, stop_and_check

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

LOOPBACK = "127.0.0.1"
FILES = 8
TINY_ROWS = 200
TARGET_RATIO = 3.0
MARKER = "_dcs_bench.json"
DATA_VERSION = 1
ROWS_PER_CUSTOMER = 50
# 135 columns: 3 ids + 132 generated, 12 of each of these 11 kinds.
KINDS = ("cat", "text", "long", "wide", "double", "ratio", "dec", "day", "ts", "flag", "small")
PER_KIND = 12


def source_dir(base: Path, rows: int) -> Path:
    return base / f"wide-{rows}-v{DATA_VERSION}"


def column(kind: str, number: int, rows: int) -> Column:
    """Column `number` of a kind: a seeded function of the row id, null in some rows."""
    import pyspark.sql.functions as F

    salt = 1000 * KINDS.index(kind) + number
    h = F.abs(F.xxhash64(F.col("id"), F.lit(salt)))
    value: Column
    if kind == "cat":
        value = F.concat(F.lit(f"c{number}-"), (h % (3 + number)).cast("string"))
    elif kind == "text":
        value = F.when(h % 97 == 0, F.lit("")).otherwise(F.sha2((h % rows).cast("string"), 256))
    elif kind == "long":
        value = h % 1_000_000
    elif kind == "wide":
        value = F.xxhash64(F.col("id"), F.lit(-salt))
    elif kind == "double":
        value = (h % 10_000_000) / 7.0
    elif kind == "ratio":
        value = (h % 1000) / 1000.0
    elif kind == "dec":
        value = ((h % 100_000_000) / 100).cast("decimal(18,2)")
    elif kind == "day":
        value = F.date_add(F.lit("2017-01-01").cast("date"), (h % 3000).cast("int"))
    elif kind == "ts":
        value = F.timestamp_seconds(F.lit(1_483_228_800) + h % 100_000_000)
    elif kind == "flag":
        value = h % 2 == 0
    else:
        value = (h % 7).cast("int")
    # Nulls in most columns, at different rates; the first of each kind has none.
    rate = 0 if number == 0 else 50 * number
    name = f"{kind}_{number:02d}"
    return (F.when(h % rate == 1, F.lit(None)).otherwise(value) if rate else value).alias(name)


def ensure_source(spark: SparkSession, root: Path, rows: int) -> tuple[float, bool]:
    """Seconds it took to generate the source, and whether it was generated now."""
    import pyspark.sql.functions as F

    marker = root / MARKER
    if marker.exists():
        return float(json.loads(marker.read_text())["seconds"]), False
    shutil.rmtree(root, ignore_errors=True)
    began = time.perf_counter()
    customers = max(1, rows // ROWS_PER_CUSTOMER)
    ids = spark.range(rows, numPartitions=FILES)
    df = ids.select(
        F.col("id"),
        F.concat(
            F.lit("cust-"), (F.abs(F.xxhash64("id", F.lit(7))) % customers).cast("string")
        ).alias("customer_id"),
        F.concat(F.lit("order-"), F.col("id").cast("string")).alias("order_id"),
        *[column(kind, n, rows) for kind in KINDS for n in range(PER_KIND)],
    )
    df.write.parquet(str(root))
    seconds = time.perf_counter() - began
    marker.write_text(json.dumps({"seconds": round(seconds, 1), "rows": rows}))
    return seconds, True


def measure(action: Callable[[], str]) -> tuple[float, str]:
    began = time.perf_counter()
    note = action()
    return time.perf_counter() - began, note


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the source")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each method")
    parser.add_argument("--tiny-rows", type=int, default=TINY_ROWS, help="the sample's rows")
    default = Path(tempfile.gettempdir()) / "pytest-dcs-bench"
    parser.add_argument("--dir", type=Path, default=default, help="where the source is kept")
    args = parser.parse_args(argv)
    if args.rows < FILES or args.repeat < 1:
        parser.error(f"--rows must be at least {FILES} and --repeat at least 1")
    os.environ["SPARK_LOCAL_IP"] = LOOPBACK
    spark = start_session()
    pid = gateway_jvm_pid()
    others = len([p for p in spark_jvms() if p != pid])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load}, other Spark JVMs: {others}")
    ok = False
    try:
        root = source_dir(args.dir, args.rows)
        seconds, generated = ensure_source(spark, root, args.rows)
        df: DataFrame = spark.read.parquet(str(root))
        how = "generated in" if generated else "reused, generated earlier in"
        print(f"data: {root}: {args.rows:,} rows, {len(df.columns)} columns; {how} {seconds:.0f} s")

        def full() -> str:
            return f"{force_read(df):,} rows"

        def by(key: Sequence[str]) -> Callable[[], str]:
            def take() -> str:
                tiny = sampling.take_tiny(df, args.tiny_rows, key=key)
                keys = f", {tiny.taken_keys} keys" if key else ""
                return (
                    f"{len(tiny.rows)} rows{keys}, {tiny.passes} passes, "
                    f"{tiny.found - len(tiny.dropped)} of {tiny.found} variance reasons kept"
                )

            return take

        def without_footers() -> str:
            take = importlib.import_module("pytest_dcs.data.sampling.take")
            kept = take.footer_ends
            take.footer_ends = lambda *args: None
            try:
                return by(())()
            finally:
                take.footer_ends = kept

        methods = {
            "full scan": full,
            "by row": by(()),
            "by key": by(["customer_id"]),
            "by row, columns read": without_footers,
        }
        names = list(methods)
        for name in names:
            spent, note = measure(methods[name])
            print(f"  warm-up {name}: {spent:.1f} s ({note})")
        times: dict[str, list[float]] = {name: [] for name in names}
        for r in range(args.repeat):
            turn = r % len(names)
            for name in names[turn:] + names[:turn]:
                spent, note = measure(methods[name])
                times[name].append(spent)
                print(f"  run {r + 1} {name}: {spent:.1f} s ({note})")
        scan = statistics.median(times["full scan"])
        print()
        print(f"{'method':<21} {'median s':>9} {'x full scan':>12}")
        for name in names:
            median = statistics.median(times[name])
            ratio = median / scan
            flag = "" if name == "full scan" else (" ok" if ratio <= TARGET_RATIO else " OVER")
            print(f"{name:<21} {median:>9.1f} {ratio:>11.2f}x{flag}")
        print(f"(target: sampling <= {TARGET_RATIO:.0f}x one full scan)")
        ok = True
    finally:
        gone = stop_and_check(spark, pid)
    return 0 if ok and gone else 1


if __name__ == "__main__":
    sys.exit(main())
