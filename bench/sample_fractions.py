"""What the 1% fraction rung of a file source costs, next to `df.sample(0.01)` and a full scan.

Builds once (kept in `--dir`, reused by later runs) a deterministic parquet source of `--rows`
rows in `--files` files, with ids, strings, a timestamp and doubles, then gets "1% of the data"
three ways and forces a full read of it, interleaved over the repeats (the order rotates every
repeat, so machine noise and cache state hit all alike):

  a. 1pct rung     the input pytest-dcs builds for the `1pct` rung of a parquet source without
                   a sample key, as `Inputs.read` does: `SourceSpec.read`, `sampling.file_line`,
                   then `sampling.files_fraction` with a `FileSource("parquet", root, schema)`
  b. sample(0.01)  `df.sample(fraction=0.01, seed=...)` of the whole source
  c. full scan     the whole source

Each measurement times building the DataFrame plus one aggregate that reads every column of
every row it keeps (count, and bit_xor and sum of `xxhash64` of all columns). Bytes read are the
gateway JVM's `rchar` from `/proc/<pid>/io` before and after: bytes requested through read(),
served from the page cache or not. Spark's own `inputBytes` metric is shown for comparison (it
under-reports). With `--cold`, the page cache is dropped before every measurement (needs root).
One untimed pass of all three comes first: a session's first jobs pay for class loading.

The table shows medians, bytes as a share of the full scan's (target for the 1pct rung: <= 2%)
and time as a ratio to sample(0.01) (target: <= 0.25x). The exit status is non-zero only on an
error, never on a missed target. At the end the session and its JVM are stopped, and the script
checks that the JVM it started is gone (other Spark JVMs on the machine are left alone).

Run from the repository root:

    .venv/bin/python bench/sample_fractions.py [--rows 10000000] [--files 200] [--repeat 3]
                                        [--dir DIR] [--cold]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_dcs.data import sampling
from pytest_dcs.data.sources import SourceSpec
from pytest_dcs.spark.config import EngineConfig
from pytest_dcs.spark.gateway import shutdown_gateway

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

LOOPBACK = "127.0.0.1"
JVM_PATTERN = "org.apache.spark"
JVM_GRACE_SECONDS = 10.0
FRACTION = 0.01
SAMPLE_SEED = sampling.DEFAULT_SEED
TARGET_BYTES_SHARE = 0.02
TARGET_TIME_RATIO = 0.25
MARKER = "_dcs_bench.json"  # a leading underscore: Spark does not list it as data
DATA_VERSION = 1  # bump when the generated columns change, so old data is rebuilt

START_SECONDS = 1_704_067_200  # 2024-01-01T00:00:00Z
USERS = 2_000_000
COUNTRIES = ("US", "DE", "FR", "GB", "IN", "BR", "JP", "NL", "ES", "CA", "MX", "PL")
KINDS = ("view", "view", "view", "click", "click", "search", "cart", "buy")


@dataclass(frozen=True)
class Method:
    """One way of getting 1% of the source."""

    key: str
    label: str
    build: Callable[[SparkSession, SourceSpec], DataFrame]


@dataclass(frozen=True)
class Measurement:
    seconds: float
    rows: int
    rchar: int
    spark_input_bytes: int


# -- the source -----------------------------------------------------------------------------


def default_dir() -> Path:
    return Path(tempfile.gettempdir()) / "dcs-bench-fractions"


def source_dir(base: Path, rows: int, files: int) -> Path:
    return base / f"events-{rows}x{files}"


def read_marker(root: Path) -> dict[str, Any] | None:
    try:
        return json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None


def generate(spark: SparkSession, root: Path, rows: int, files: int) -> dict[str, Any]:
    """Write the source with Spark: `files` parquet files, named by partition, no checksums."""
    import pyspark.sql.functions as F

    staging = root.with_name(root.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)  # an older generation (ensure_source checked)
    began = time.perf_counter()

    def draw(salt: int, n: int) -> Column:
        return F.pmod(F.xxhash64(F.col("id"), F.lit(salt)), F.lit(n))

    def pick(values: Sequence[str], salt: int) -> Column:
        return F.element_at(F.array(*map(F.lit, values)), (draw(salt, len(values)) + 1).cast("int"))

    kind = pick(KINDS, 4)
    events = spark.range(0, rows, 1, files).select(
        F.col("id").alias("event_id"),
        draw(1, USERS).alias("user_id"),
        F.concat(F.lit("s-"), F.lower(F.hex(F.xxhash64(F.col("id"), F.lit(2))))).alias("session"),
        pick(COUNTRIES, 3).alias("country"),
        kind.alias("kind"),
        F.concat(F.lit("/p/"), draw(5, 5000).cast("string")).alias("page"),
        F.timestamp_seconds(F.lit(START_SECONDS) + F.col("id") * 3 + draw(6, 3)).alias("ts"),
        F.when(kind == "buy", F.round(draw(7, 100_000) / 100.0, 2)).alias("amount"),
        (
            F.shiftrightunsigned(F.xxhash64(F.col("id"), F.lit(8)), 11).cast("double") / 2.0**53
        ).alias("score"),
    )
    events.write.parquet(str(staging))
    data = sorted(p for p in staging.iterdir() if p.name.startswith("part-"))
    if len(data) != files:
        raise RuntimeError(f"Spark wrote {len(data)} parquet files into {staging}, not {files}")
    # Stable names make the file line (ordered by path hash) the same on every generation;
    # without their .crc files Hadoop reads only the data.
    for i, path in enumerate(data):
        path.rename(staging / f"part-{i:05d}.snappy.parquet")
    for path in staging.iterdir():
        if not path.name.startswith("part-"):
            path.unlink()
    info: dict[str, Any] = {
        "version": DATA_VERSION,
        "rows": rows,
        "files": files,
        "bytes": sum(p.stat().st_size for p in staging.iterdir()),
        "generated_seconds": round(time.perf_counter() - began, 1),
    }
    (staging / MARKER).write_text(json.dumps(info, indent=2) + "\n")
    staging.rename(root)
    return info


def ensure_source(
    spark: SparkSession, root: Path, rows: int, files: int
) -> tuple[dict[str, Any], bool]:
    """The source's marker and whether this run generated it."""
    marker = read_marker(root)
    wanted = {"version": DATA_VERSION, "rows": rows, "files": files}
    if marker is not None and all(marker.get(k) == v for k, v in wanted.items()):
        return marker, False
    if root.exists() and marker is None:
        raise RuntimeError(
            f"{root} exists but was not written by this script (no {MARKER}); "
            "remove it or choose another --dir"
        )
    return generate(spark, root, rows, files), True


# -- the three ways -------------------------------------------------------------------------


def rung_input(spark: SparkSession, source: SourceSpec) -> DataFrame:
    """The 1pct rung's input as `Inputs.read` builds it for a file source without sample_key."""
    whole = source.read(spark)
    assert source.format is not None and source.location is not None
    line = sampling.file_line(spark, whole, source.location)
    if line is None:
        raise RuntimeError(f"sampling.file_line could not list the files of {source.describe()}")
    reader = sampling.FileSource(source.format, source.location, whole.schema)
    return sampling.files_fraction(spark, reader, line, FRACTION)


def sampled(spark: SparkSession, source: SourceSpec) -> DataFrame:
    return source.read(spark).sample(fraction=FRACTION, seed=SAMPLE_SEED)


def full(spark: SparkSession, source: SourceSpec) -> DataFrame:
    return source.read(spark)


METHODS = (
    Method("rung", "1pct rung (files_fraction)", rung_input),
    Method("sample", f"df.sample({FRACTION})", sampled),
    Method("full", "full scan", full),
)


def describe_line(spark: SparkSession, source: SourceSpec) -> str:
    """Which files the 1pct rung reads, as the file line lays them out."""
    assert source.location is not None
    line = sampling.file_line(spark, source.read(spark), source.location)
    if line is None:
        return "file line: none (Spark could not list the files)"
    files, boundary, cut = line.prefix(FRACTION)
    cut_note = f", keeping {cut:.2%} of the last one's rows" if boundary else ""
    return (
        f"1pct rung reads {len(files)} of {len(line.files)} files "
        f"({line.bytes_below(FRACTION) / line.total_bytes:.2%} of the bytes){cut_note}"
    )


# -- measuring ------------------------------------------------------------------------------


def gateway_jvm_pid() -> int:
    """The pid of the gateway JVM: the launcher's pid if it exec'd java, else its java child."""
    from pyspark import SparkContext

    proc = getattr(SparkContext._gateway, "proc", None)
    if proc is None:
        raise RuntimeError("the Spark gateway has no launcher process: was the JVM started here?")
    pending = [proc.pid]
    while pending:
        pid = pending.pop(0)
        if Path(f"/proc/{pid}/comm").read_text().strip() == "java":
            return pid
        for task in Path(f"/proc/{pid}/task").iterdir():
            pending += [int(c) for c in (task / "children").read_text().split()]
    raise RuntimeError(f"no java process under the gateway launcher (pid {proc.pid})")


def rchar(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == "rchar":
            return int(value)
    raise RuntimeError(f"/proc/{pid}/io has no rchar line")


def stage_input_bytes(spark: SparkSession) -> dict[int, int]:
    """Spark's inputBytes metric per retained stage, once the listeners have seen every event."""
    gateway = spark.sparkContext._gateway
    context = spark.sparkContext._jsc.sc()
    context.listenerBus().waitUntilEmpty()
    store = context.statusStore()
    stages = store.stageList(
        None,
        False,
        False,
        gateway.new_array(gateway.jvm.double, 0),
        gateway.jvm.java.util.ArrayList(),
    )
    out: dict[int, int] = {}
    for i in range(stages.size()):
        stage = stages.apply(i)
        out[int(stage.stageId())] = int(stage.inputBytes())
    return out


def drop_page_cache() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def force_read(df: DataFrame) -> int:
    """Read every column of every row of `df`; its row count."""
    import pyspark.sql.functions as F

    h = F.xxhash64(*[F.col(f"`{c}`") for c in df.columns])
    row = df.agg(
        F.count(F.lit(1)).alias("rows"),
        F.bit_xor(h).alias("xor"),
        F.sum(F.shiftright(h, 32)).alias("sum"),  # 32-bit terms: no overflow below 2^31 rows
    ).collect()[0]
    return int(row["rows"])


def measure(
    spark: SparkSession, source: SourceSpec, method: Method, pid: int, cold: bool
) -> Measurement:
    if cold:
        drop_page_cache()
    stages_before = stage_input_bytes(spark)
    read_before = rchar(pid)
    began = time.perf_counter()
    rows = force_read(method.build(spark, source))
    seconds = time.perf_counter() - began
    read = rchar(pid) - read_before
    stages_after = stage_input_bytes(spark)
    spark_bytes = sum(b for s, b in stages_after.items() if s not in stages_before)
    return Measurement(seconds, rows, read, spark_bytes)


# -- the table ------------------------------------------------------------------------------


def mib(n: float) -> str:
    return f"{n / 1024**2:,.1f} MiB"


def size(n: float) -> str:
    """Bytes in the largest binary unit that keeps the number at least 1."""
    for unit in ("B", "KiB", "MiB"):
        if abs(n) < 1024:
            return f"{n:,.1f} {unit}" if unit != "B" else f"{n:,.0f} B"
        n /= 1024
    return f"{n:,.1f} GiB"


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else "MISSED"


def table(results: dict[str, list[Measurement]]) -> list[str]:
    med = {k: statistics.median(m.seconds for m in runs) for k, runs in results.items()}
    read = {k: statistics.median(m.rchar for m in runs) for k, runs in results.items()}
    header = (
        f"{'method':<28}{'median s':>9}{'rows':>12}{'bytes read':>15}"
        f"{'% of full':>11}{'vs sample':>11}{'Spark inputBytes':>18}"
    )
    lines = [header, "-" * len(header)]
    for method in METHODS:
        runs = results[method.key]
        counts = {m.rows for m in runs}
        rows = f"{runs[0].rows:,}" if len(counts) == 1 else "varies"
        spark_bytes = statistics.median(m.spark_input_bytes for m in runs)
        lines.append(
            f"{method.label:<28}{med[method.key]:>9.2f}{rows:>12}{mib(read[method.key]):>15}"
            f"{read[method.key] / read['full']:>11.2%}{med[method.key] / med['sample']:>10.2f}x"
            f"{size(spark_bytes):>18}"
        )
    share = read["rung"] / read["full"]
    ratio = med["rung"] / med["sample"]
    lines += [
        "",
        f"1pct rung bytes / full scan  {share:6.2%}   target <= {TARGET_BYTES_SHARE:.0%}: "
        f"{verdict(share, TARGET_BYTES_SHARE)}",
        f"1pct rung time / sample      {ratio:6.2f}x  target <= {TARGET_TIME_RATIO}x: "
        f"{verdict(ratio, TARGET_TIME_RATIO)}",
        f"(full scan / 1pct rung time: {med['full'] / med['rung']:.1f}x)",
    ]
    return lines


# -- the session and its JVM ----------------------------------------------------------------


def start_session() -> SparkSession:
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in EngineConfig("local[2]", "local[2]").conf("local").items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def spark_jvms() -> list[int]:
    done = subprocess.run(["pgrep", "-f", JVM_PATTERN], capture_output=True, text=True)
    return [int(pid) for pid in done.stdout.split()]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def stop_and_check(spark: SparkSession, pid: int) -> bool:
    """Stop the session and the JVM this script started; whether that JVM is gone."""
    spark.stop()
    shutdown_gateway()
    deadline = time.perf_counter() + JVM_GRACE_SECONDS
    while alive(pid) and time.perf_counter() < deadline:
        time.sleep(0.2)
    others = [p for p in spark_jvms() if p != pid]
    if alive(pid):
        print(f"JVMs: ours (pid {pid}) is still running {JVM_GRACE_SECONDS:.0f} s after stop")
        return False
    print(f"JVMs: ours (pid {pid}) ended; other Spark JVMs running, not ours: {len(others)}")
    return True


# -- main -----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the source")
    parser.add_argument("--files", type=int, default=200, help="parquet files of the source")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each method")
    parser.add_argument(
        "--dir", type=Path, default=default_dir(), help="where the source is kept between runs"
    )
    parser.add_argument(
        "--cold", action="store_true", help="drop the page cache before every measurement"
    )
    args = parser.parse_args(argv)
    if args.rows < args.files or args.files < 1:
        parser.error(f"--rows ({args.rows}) must be at least --files ({args.files}) >= 1")
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, not {args.repeat}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.cold:
        try:
            drop_page_cache()
        except OSError as exc:
            print(f"--cold cannot drop the page cache ({exc}); run as root or without --cold")
            return 2
    os.environ["SPARK_LOCAL_IP"] = LOOPBACK
    began = time.perf_counter()
    spark = start_session()
    pid = gateway_jvm_pid()
    print(f"session: local[2] in {time.perf_counter() - began:.1f} s, gateway JVM pid {pid}")
    # Others' work on the machine shows in the timings (not in the bytes): say how much there is.
    others = len([p for p in spark_jvms() if p != pid])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load}, other Spark JVMs: {others}")
    ok = False
    try:
        root = source_dir(args.dir, args.rows, args.files)
        info, generated = ensure_source(spark, root, args.rows, args.files)
        what = "generated in" if generated else "reused (generated earlier in"
        close = "" if generated else ")"
        print(
            f"data: {root}: {args.rows:,} rows, {args.files} files, {mib(int(info['bytes']))}; "
            f"{what} {info['generated_seconds']} s{close}"
        )
        source = SourceSpec("events", "bench/sample_fractions.py", "parquet", str(root))
        print(describe_line(spark, source))
        print(f"page cache: {'dropped before every measurement' if args.cold else 'warm'}")
        for method in METHODS:
            m = measure(spark, source, method, pid, args.cold)
            print(f"  warm-up {method.label}: {m.seconds:.2f} s, {m.rows:,} rows")
        results: dict[str, list[Measurement]] = {m.key: [] for m in METHODS}
        for r in range(args.repeat):
            turn = r % len(METHODS)
            for method in METHODS[turn:] + METHODS[:turn]:
                m = measure(spark, source, method, pid, args.cold)
                results[method.key].append(m)
                print(
                    f"  run {r + 1} {method.label}: {m.seconds:.2f} s, {m.rows:,} rows, "
                    f"{mib(m.rchar)} read"
                )
        full_rows = {m.rows for m in results["full"]}
        if full_rows != {args.rows}:
            raise RuntimeError(f"the full scan counted {full_rows} rows, not {args.rows:,}")
        print()
        print("\n".join(table(results)))
        print()
        ok = True
    finally:
        gone = stop_and_check(spark, pid)
    return 0 if ok and gone else 1


if __name__ == "__main__":
    sys.exit(main())
