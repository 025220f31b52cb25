"""A fresh cluster session made ready to time: executors registered, Python workers started."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


EXECUTOR_WAIT_SECONDS = 60.0
# Warm-up jobs run until every executor has started its Python worker, at most this many times.
WARM_UP_ROUNDS = 3
_LOCAL_CLUSTER = re.compile(r"local-cluster\[\s*(\d+)\s*,\s*(\d+)\s*,")


def expected_executors(master: str, conf: Mapping[str, str]) -> int:
    """How many executors a classic engine is meant to have (0: unknown, or local mode)."""
    found = _LOCAL_CLUSTER.match(master)
    if found:
        return int(found.group(1))
    try:
        return max(0, int(conf.get("spark.executor.instances", "0")))
    except ValueError:
        return 0


def _registered_executors(session: SparkSession) -> int:
    """Executors registered with a classic session's driver (the driver itself not counted)."""
    infos = session.sparkContext._jsc.sc().statusTracker().getExecutorInfos()  # type: ignore[union-attr]
    return max(0, len(infos) - 1)


def wait_for_executors(session: SparkSession, expected: int, seconds: float) -> int:
    """Wait, at most `seconds`, until `expected` executors have registered; how many did."""
    deadline = time.monotonic() + seconds
    registered = _registered_executors(session)
    while registered < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        registered = _registered_executors(session)
    return registered


def warm_up(session: SparkSession, executors: int = 0) -> set[int]:
    """Run jobs with a Python UDF and a shuffle, so that the first test on the engine does not
    pay for starting executors' Python workers and compiling the JVM's hot paths inside its
    timeout and timing (its time is the fixed overhead `slowdown` subtracts).

    Each Python task reports the process that forked its worker (one pyspark daemon per
    executor); the job is repeated until `executors` daemons answered, since tasks go to the
    executors that are free and one executor can take them all. Returns the daemons seen.
    It costs 1-2 s once per engine start.
    """
    from pyspark.sql import functions as F

    try:
        cores = max(2, int(session.conf.get("spark.default.parallelism", "2") or 2))
    except Exception:
        cores = 2
    cores = max(cores, 2 * executors)

    def daemon(_value):  # type: ignore[no-untyped-def]
        # Nested, so it is pickled by value: the executors need not import this module. No
        # type hints: PySpark would read them as a pandas UDF's, and warn that it cannot.

        return os.getppid()

    def batches(given):  # type: ignore[no-untyped-def]
        yield from given

    daemons: set[int] = set()
    with contextlib.suppress(Exception):  # the first test will tell what is wrong
        for _ in range(WARM_UP_ROUNDS):
            rows = (
                session.range(0, 4000, 1, cores * 2)
                .select(F.udf(daemon, "long")("id").alias("daemon"))
                .groupBy("daemon")
                .count()
                .collect()
            )
            daemons |= {int(row["daemon"]) for row in rows}
            if len(daemons) >= executors:
                break
        # Rows sent from the driver, one per task, through a UDF: how the search for offending
        # rows checks its candidates. Cold, its first such job took 1.1 s of a 1.3 s search.
        sent = session.sparkContext.parallelize([(i,) for i in range(cores)], cores)
        frame = session.createDataFrame(sent, "id long")
        frame.select(F.udf(daemon, "long")("id")).collect()
        # Arrow batches through a Python worker: how the search scans a failing UDF's columns.
        # Cold, the worker's first such task cost 0.5 s more (this job: 0.16 s).
        session.range(0, cores, 1, cores).mapInArrow(batches, "id long").collect()
    return daemons


def start_one_worker(session: SparkSession) -> threading.Thread | None:
    """Start, in a thread of its own, a one-task job through a Python UDF, so that one executor
    has a Python worker ready by the time the caller runs its next UDF job; the thread, to join,
    or None over Spark Connect.

    A failed job ends the Python workers of its tasks (the failing one exits, the killed ones
    are closed), and a new worker of an Arrow-evaluated UDF costs about 0.65 s of CPU before it
    answers (importing pyarrow, then pandas at its first batch). The job runs outside any job
    tag of the caller's thread: Spark's job tags are the thread's own."""
    from pyspark.sql import functions as F

    if getattr(session, "_sc", None) is None:
        return None

    def answer(value):  # type: ignore[no-untyped-def]
        # Nested, so it is pickled by value (see `warm_up`); no type hints, as there.
        return value

    def run() -> None:
        with contextlib.suppress(Exception):  # a help only: the next job starts its own worker
            session.range(0, 1, 1, 1).select(F.udf(answer, "long")("id")).collect()

    thread = threading.Thread(target=run, name="dcs-warm-worker", daemon=True)
    thread.start()
    return thread
