"""The scan of a failing UDF's columns, read from local parquet files in the driver, on real Spark.

Where the rung's input reads its columns unchanged from a few local parquet files, the scan
calls the UDF's function on them in the driver (2M ids: 0.3 s, against 1.2-1.4 s as a job on a
local-cluster). It must find what the job finds, and be set aside wherever the files are not
what the body reads: a rewritten column, a partition column, a column read as another type, a
source of another format, or a function that behaves otherwise outside a task.

One subprocess on local[2] writes a 104-column source in three files, fails rungs as a run does
and scans; its findings are printed as JSON and shared by the tests of this module.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import LOCAL_SESSION, REPRODUCER, Project

SCRIPT = (
    """
import json
import sys
import threading

import pyspark.sql.functions as F

from pytest_dcs.failures import error_identity
from pytest_dcs.run import scan
from pytest_dcs.run.localize import Localizer
from pytest_dcs.run.sealed import noting_udfs, take_calls

RESERVED = {7, 1234, 20001, 29999}


def checked(number):
    if number in RESERVED:
        raise ValueError("a reserved id")
    return number


def body(df):
    guard = F.udf(checked, "long")
    return df.select(guard("id").alias("g")).where("g IS NOT NULL").count()


def task_bound(df):
    # Reads its task's partition: outside a task (the driver) it fails on every value.
    def guarded(number):
        from pyspark import TaskContext

        TaskContext.get().partitionId()
        return checked(number)

    guard = F.udf(guarded, "long")
    return df.select(guard("id").alias("g")).where("g IS NOT NULL").count()


def stuck_here(df):
    # Never returns outside a task (the driver), as a regular expression may backtrack forever
    # on one value: the scan read here must give up at the search's budget.
    def guarded(number):
        import time

        from pyspark import TaskContext

        if TaskContext.get() is None and number == 15000:
            time.sleep(3600)
        return checked(number)

    guard = F.udf(guarded, "long")
    return df.select(guard("id").alias("g")).where("g IS NOT NULL").count()


import os
import time

"""
    + LOCAL_SESSION
    + REPRODUCER
    + """
root = sys.argv[1]
source = spark.range(30000).selectExpr(
    "id",
    "concat('c', id % 97) AS client",
    "CAST(id % 1000 AS DECIMAL(10, 2)) AS amount",
    "date_add(DATE'2024-01-01', CAST(id % 365 AS INT)) AS day",
    *[f"concat('v{i}-', id % {7 + i}) AS s{i}" for i in range(100)],
)
source.repartition(3).write.parquet(f"{root}/wide")
source.select("id", "client").write.partitionBy("client").parquet(f"{root}/parts")
source.select("id", "client").write.json(f"{root}/json")
wide = spark.read.parquet(f"{root}/wide")


def rung(run, df):
    with noting_udfs(spark) as book:
        try:
            run(df)
        except Exception as exc:
            return exc, take_calls(exc, book)
    raise AssertionError("the body passed")


def scanned(run, df):
    exc, calls = rung(run, df)
    identity = error_identity(exc)
    site = scan.scannable_site(calls, df.schema, identity)
    found = scan.scan(df, calls, site, identity)
    return {
        "in_process": found.in_process,
        "values": found.values,
        "particular": found.particular,
        "raising": sorted(c.args[0] for c in found.calls.calls if c.stage == -1),
    }


found = {}
found["plain"] = scanned(body, wide)
limit = scan.IN_PROCESS_ROWS
scan.IN_PROCESS_ROWS = 0  # past the limit: the job on the executors
found["executors"] = scanned(body, wide)
scan.IN_PROCESS_ROWS = limit
found["task_bound"] = scanned(task_bound, wide)

exc, calls = rung(stuck_here, wide)
identity = error_identity(exc)
began = time.monotonic()
stuck = Localizer(
    spark, wide, lambda subset: "other", limit=10, budget=8, identity=identity,
    message=identity.message, rung_calls=calls,
).run()
found["stuck"] = {
    "seconds": time.monotonic() - began,
    "rows": len(stuck.rows),
    "note": stuck.note,
    "steps": list(stuck.steps),
}

# A cut of the files, as a fraction rung reads it: the values found in the files' other rows
# point at no row of the input.
# Two of the three files (one holding id 1234), half of their rows by row index, and never
# ids 7 and 29999 wherever they are.
holding = wide.where("id = 1234").select("_metadata.file_path").first()[0]
from urllib.parse import urlparse

others = [f for f in wide.inputFiles() if urlparse(f).path != urlparse(holding).path]
files = [holding, others[0]]
cut = spark.read.parquet(*files).where(
    ((F.xxhash64(F.col("_metadata.row_index")) % 2 == 0) | (F.col("id") == 1234))
    & ~F.col("id").isin(7, 29999)
)
exc, calls = rung(body, cut)
identity = error_identity(exc)

localized = Localizer(
    spark, cut, reproducer(body, identity), limit=10, budget=120, identity=identity,
    message=identity.message, rung_calls=calls,
).run()
found["cut"] = {
    "ids": sorted(r.id for r in localized.rows),
    "expected": sorted(r.id for r in cut.where(F.col("id").isin(list(RESERVED))).collect()),
    "columns": len(localized.rows[0]) if localized.rows else 0,
    "complete": localized.complete,
    "method": localized.method,
    "in_process": scan.local_files(cut, ["id"]) is not None,
}
found["cut"]["warm_threads"] = [t.name for t in threading.enumerate() if "warm" in t.name]

# After a failed rung, the one-task job warming a worker starts a Python worker, from a thread
# whose jobs carry none of the caller's tags.
from pytest_dcs.spark import gateway
from pytest_dcs.spark.jobs import jobs_with_tag
from pytest_dcs.spark.warmup import start_one_worker


def workers():
    daemons = [p for p in all_pids() if gateway.is_python_daemon(p)]
    return {child for d in daemons for child in gateway._children(d)}


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def refuse(number):
    raise ValueError("every value")


try:  # every task fails: no worker of the job is left to reuse
    spark.range(0, 2, 1, 2).select(F.udf(refuse, "long")("id")).collect()
except Exception:
    pass
time.sleep(1)  # the failed job's workers are gone
before = workers()
spark.sparkContext.addJobTag("dcs-caller")
warming = start_one_worker(spark)
warming.join(60)
spark.sparkContext.removeJobTag("dcs-caller")
found["warm"] = {
    "new": len(workers() - before),
    "alive": warming.is_alive(),
    "tagged": len(jobs_with_tag(spark.sparkContext, "dcs-caller")),
}

# The rows of the values found, read from the files here: as Spark reads them, every column.
from pytest_dcs.run.fetch import rows_in_files

here = rows_in_files(wide, "id", sorted(RESERVED), 10)
spark_rows = wide.where(F.col("id").isin(sorted(RESERVED))).collect()
stamped = spark.read.parquet(f"{root}/wide").withColumn("at", F.current_timestamp())
source.selectExpr("*", "TIMESTAMP'2024-01-01 10:00:00' AS at").write.parquet(f"{root}/stamped")
found["rows_here"] = {
    "same": sorted(map(tuple, here)) == sorted(map(tuple, spark_rows)),
    "types": sorted({type(v).__name__ for row in here for v in row}),
    "fields": list(here[0].asDict()) == wide.columns,
    "count": len(here),
    "capped": len(rows_in_files(wide, "id", sorted(RESERVED), 2)),
    "cut": rows_in_files(cut, "id", sorted(RESERVED), 10),
    "computed": rows_in_files(stamped, "id", sorted(RESERVED), 10),
    "timestamp": rows_in_files(spark.read.parquet(f"{root}/stamped"), "id", [7], 10),
}
parts = spark.read.parquet(f"{root}/parts")
found["set_aside"] = {
    "rewritten": scan.local_files(wide.withColumn("id", F.col("id") + 1), ["id"]),
    "computed": scan.local_files(wide.selectExpr("id * 2 AS id"), ["id"]),
    "partition": scan.local_files(parts, ["client"]),
    "retyped": scan.local_files(spark.read.schema("id int").parquet(f"{root}/wide"), ["id"]),
    "json": scan.local_files(spark.read.json(f"{root}/json"), ["id"]),
    "joined": scan.local_files(wide.join(parts, "id"), ["id"]),
    "kept_partitioned": scan.local_files(parts, ["id"]) is not None,
    "kept_wide": scan.local_files(wide.where("id > 5").limit(100), ["id", "day"]) is not None,
}
spark.stop()
print("RESULT " + json.dumps(found))
"""
)

RESERVED = [7, 1234, 20001, 29999]


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    project = Project(tmp_path_factory.mktemp("scan"))
    data = tmp_path_factory.mktemp("scan-data")
    script = SCRIPT.replace("sys.argv[1]", repr(str(data)))
    found: dict[str, Any] = project.run_script("scan.py", script)
    return found


def test_local_parquet_columns_are_scanned_in_the_driver(seen: dict[str, Any]) -> None:
    plain = seen["plain"]
    assert plain["in_process"] is True
    assert plain["values"] == 30000
    assert plain["raising"] == RESERVED
    assert plain["particular"] is True


def test_the_driver_finds_what_the_executors_find(seen: dict[str, Any]) -> None:
    executors = seen["executors"]
    assert executors["in_process"] is False
    assert executors["raising"] == seen["plain"]["raising"]
    assert executors["values"] == seen["plain"]["values"]


def test_a_function_that_fails_outside_a_task_is_scanned_on_the_executors(
    seen: dict[str, Any],
) -> None:
    # In the driver it raises AttributeError on every value, not the rung's ValueError.
    task_bound = seen["task_bound"]
    assert task_bound["in_process"] is False
    assert task_bound["raising"] == RESERVED
    assert task_bound["particular"] is True


def test_a_cut_of_the_files_reports_only_its_own_rows(seen: dict[str, Any]) -> None:
    cut = seen["cut"]
    assert cut["in_process"] is True
    assert 1234 in cut["expected"] and 7 not in cut["expected"], cut
    assert 29999 not in cut["expected"], cut
    assert cut["ids"] == cut["expected"], cut
    assert cut["columns"] == 104
    assert cut["complete"] is True
    assert cut["method"].startswith("values the failing UDF raises on"), cut


def test_a_worker_is_warmed_while_the_driver_scans(seen: dict[str, Any]) -> None:
    # The rung's failure ended its tasks' workers; the check of the rows found would wait for
    # new ones. One job of one task starts a worker meanwhile, outside the search's job tags,
    # and the search waits for it before it returns.
    assert seen["warm"] == {"new": 1, "alive": False, "tagged": 0}
    assert seen["cut"]["warm_threads"] == []


def test_inputs_whose_files_are_not_what_the_body_reads_are_scanned_by_spark(
    seen: dict[str, Any],
) -> None:
    aside = seen["set_aside"]
    for name in ("rewritten", "computed", "partition", "retyped", "json", "joined"):
        assert aside[name] is None, (name, aside[name])
    assert aside["kept_partitioned"] is True  # `id` is in the files; `client` in folder names
    assert aside["kept_wide"] is True


def test_the_rows_of_values_found_are_read_from_the_files_as_spark_reads_them(
    seen: dict[str, Any],
) -> None:
    here = seen["rows_here"]
    assert here["same"] is True, here
    assert here["types"] == ["Decimal", "date", "int", "str"], here
    assert here["fields"] is True
    assert here["count"] == len(RESERVED)
    assert here["capped"] == 2
    # Not every row of the files, a computed column, a type read otherwise: Spark reads them.
    assert here["cut"] is None
    assert here["computed"] is None
    assert here["timestamp"] is None


def test_a_function_stuck_in_the_driver_ends_the_search_at_its_budget(
    seen: dict[str, Any],
) -> None:
    stuck = seen["stuck"]
    assert stuck["seconds"] < 8 + 3, stuck
    assert stuck["note"] == "the budget ran out", stuck
    assert stuck["rows"] == 0
    assert stuck["steps"][:2] == ["setup", "scan of the failing UDF"], stuck
