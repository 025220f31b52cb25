"""The scan of a failing UDF's column, read in the driver against run as a job, side by side.

Writes `--rows` rows (default 2M) in 20 parquet files, 121 columns, with `--bad` ids (default
10) a UDF raises on, then on the cluster engine (local-cluster[2,1,1024]): fails a rung the way
a run does (the UDF's failing call sealed in the error), and scans its column `--rounds` times
each way, alternating: in the driver (`pytest_dcs.run.scan`, local parquet files) and as the
`mapInArrow` job on the executors (the same scan with the in-process limit set to 0). A failed
rung comes first in every round, since it ends the executors' Python workers as in a search.
Prints each time, the medians and their ratio. Run from the repository root:

    .venv/bin/python bench/scan.py [--rows 2000000] [--bad 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from pytest_dcs.spark.config import EngineConfig
from pytest_dcs.spark.engines import Engines


def main() -> None:
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--bad", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()

    import pyspark.sql.functions as F

    from pytest_dcs.failures import error_identity
    from pytest_dcs.run import scan
    from pytest_dcs.run.sealed import noting_udfs, take_calls

    step = options.rows // (options.bad + 1)
    reserved = {step * (i + 1) + 3 for i in range(options.bad)}

    def checked(number):  # type: ignore[no-untyped-def]
        if number in reserved:
            raise ValueError("a reserved id")
        return number

    engines = Engines(EngineConfig("local[2]", "local-cluster[2,1,1024]"))
    with tempfile.TemporaryDirectory(prefix="dcs-bench-scan-") as tmp:
        try:
            spark = engines.session("cluster")
            spark.range(options.rows).selectExpr(
                "id",
                *[f"concat('v{i}-', id % {97 + i}) AS s{i}" for i in range(60)],
                *[f"(id * {i + 3}) % 1000 AS n{i}" for i in range(60)],
            ).repartition(20).write.parquet(str(Path(tmp) / "wide"))
            df = spark.read.parquet(str(Path(tmp) / "wide"))
            guard = F.udf(checked, "long")
            limit = scan.IN_PROCESS_ROWS
            times: dict[str, list[float]] = {"driver": [], "job": []}
            for round_ in range(options.rounds):
                for way in ("driver", "job") if round_ % 2 == 0 else ("job", "driver"):
                    with noting_udfs(spark) as book:
                        try:
                            df.select(guard("id").alias("g")).where("g IS NOT NULL").count()
                            raise SystemExit("the rung passed")
                        except Exception as exc:
                            calls, identity = take_calls(exc, book), error_identity(exc)
                    assert calls is not None
                    site = scan.scannable_site(calls, df.schema, identity)
                    assert site is not None
                    scan.IN_PROCESS_ROWS = limit if way == "driver" else 0
                    began = time.perf_counter()
                    found = scan.scan(df, calls, site, identity)
                    seconds = time.perf_counter() - began
                    assert found is not None and found.in_process == (way == "driver")
                    raising = sorted(c.args[0] for c in found.calls.calls if c.stage == -1)
                    assert raising == sorted(reserved), raising
                    times[way].append(seconds)
                    print(f"round {round_ + 1}, {way:6}: {seconds:.2f} s")
            scan.IN_PROCESS_ROWS = limit
        finally:
            engines.shutdown()
    driver, job = statistics.median(times["driver"]), statistics.median(times["job"])
    print(
        f"\n{options.rows:,} rows, {options.bad} raising: driver {driver:.2f} s, "
        f"job {job:.2f} s (median of {options.rounds}); the job takes {job / driver:.1f}x"
    )


if __name__ == "__main__":
    main()
