"""What the first test body on a fresh cluster engine pays for a warm-up that missed executors.

Starts the cluster engine (`local-cluster[2,1,1024]`) several times in one process, alternating
two warm-ups so that machine noise hits both alike:

  before   one warm-up job, run as soon as the session is up (what the engine did before: the
           executors may not have registered yet, and the tasks go to those that have)
  after    the engine's warm-up now: wait for the executors to register, then repeat the job
           until every executor's Python worker ran a task of it

and times, after each start, the same body twice: a Python UDF over 16 partitions, forced with a
`noop` write. The table shows the median first-body and second-body seconds per warm-up and their
ratio (1.0: the first body is as warm as the second), and how many executors' Python daemons
the warm-up reached. The machine may be shared: the numbers are paired, not absolute.

Run from the repository root:

    .venv/bin/python bench/warmup.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pytest_dcs.spark import warmup
from pytest_dcs.spark.config import EngineConfig
from pytest_dcs.spark.engines import Engines

MASTER = "local-cluster[2,1,1024]"


def body(spark: SparkSession) -> float:
    """Seconds of one run of a Python UDF over 16 partitions."""

    def plus_one(value):  # type: ignore[no-untyped-def]  # no hints: a plain Python UDF
        return value + 1

    began = time.perf_counter()
    spark.range(0, 16_000, 1, 16).select(F.udf(plus_one, "long")("id")).write.format("noop").mode(
        "overwrite"
    ).save()
    return time.perf_counter() - began


def warm_before(session: SparkSession, master: str) -> dict[str, int]:
    return {"python_daemons": len(warmup.warm_up(session, 0))}


def run(
    variant: str, warm: Callable[[SparkSession, str], dict[str, int]] | None
) -> tuple[float, ...]:
    """Start the cluster engine with the `warm` warm-up, time the body twice, stop it."""
    pool = Engines(EngineConfig(local_master="local[2]", cluster_master=MASTER))
    if warm is not None:
        pool._warm = warm  # type: ignore[method-assign]
    try:
        spark = pool.session("cluster")
        daemons = pool.warm_up["cluster"].get("python_daemons", 0)
        first, second = body(spark), body(spark)
    finally:
        pool.shutdown()
    print(f"{variant:7} first {first:6.2f} s  second {second:6.2f} s  daemons warmed {daemons}")
    return first, second, float(daemons)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    results: dict[str, list[tuple[float, ...]]] = {"before": [], "after": []}
    for _ in range(args.repeat):
        results["before"].append(run("before", warm_before))
        results["after"].append(run("after", None))
    print(f"\n{'warm-up':8} {'first s':>8} {'second s':>9} {'first/second':>13} {'daemons':>8}")
    for variant, rows in results.items():
        first = statistics.median(r[0] for r in rows)
        second = statistics.median(r[1] for r in rows)
        daemons = statistics.median(r[2] for r in rows)
        print(f"{variant:8} {first:8.2f} {second:9.2f} {first / second:13.2f} {daemons:8.0f}")
    print(f"\n{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
