"""The arguments of the UDF call that failed a rung, read from its own error on real Spark.

One subprocess starts a local[2] session and runs bodies the way a rung does: with their UDFs
noting failing calls (`noting_udfs`), the notes read and taken off (`take_calls`). What it saw
(the raw error text, the calls, the cleaned messages, and the searches that start from those
calls) is printed as JSON and shared by the tests of this module.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import LOCAL_SESSION, REPRODUCER, Project

SCRIPT = (
    """
import atexit
import json
import os
import shutil
import sys
import tempfile

import pyspark.sql.functions as F

from pytest_dcs.failures import error_identity
from pytest_dcs.run.localize import Localizer
from pytest_dcs.run.sealed import PREFIX, noting_udfs, take_calls

RESERVED = {2, 5}
SECRET = "secret-client-5"
MARKS = tempfile.mkdtemp(prefix="dcs-sealed-marks-")
atexit.register(shutil.rmtree, MARKS, True)


def checked(number, client):
    if number in RESERVED:
        raise ValueError("a reserved client")  # quotes no value
    return number


def body(df):
    guard = F.udf(checked, "long")
    return df.select(guard("id", "client_id").alias("g")).where("g IS NOT NULL").count()


def wrapping(df):
    try:
        return body(df)
    except Exception as exc:
        raise RuntimeError(f"the job failed: {exc}") from exc


def large(df):
    def huge(text):
        if text.startswith("c2"):
            raise ValueError("too large")
        return len(text)

    guard = F.udf(huge, "long")
    padded = df.select(F.concat(F.col("client_id"), F.lit("x" * 40000)).alias("p"))
    return padded.select(guard("p").alias("g")).where("g IS NOT NULL").count()


def derived(df):
    # An argument that is no input column: the function cannot be run on the input's columns.
    guard = F.udf(checked, "long")
    return df.select(guard("id", F.upper("client_id")).alias("g")).where("g IS NOT NULL").count()


def rewritten(df):
    # The body changes `id` before the call: the stored ids the function raises on (2, 5) are
    # not the rows that fail (1, 4).
    guard = F.udf(checked, "long")
    moved = df.withColumn("id", F.col("id") + 1)
    return moved.select(guard("id", "client_id").alias("g")).where("g IS NOT NULL").count()


def every_row(df):
    broken = F.udf(lambda number: number / 0, "double")
    return df.select(broken("id").alias("b")).where("b IS NOT NULL").count()


def flaky(df):
    # Fails on a reserved id the first time any task meets it, never again: state on disk.
    def once(number):
        mark = os.path.join(MARKS, str(number))
        if number in RESERVED and not os.path.exists(mark):
            open(mark, "w").close()
            raise ValueError("a reserved id")
        return number

    guard = F.udf(once, "long")
    return df.select(guard("id").alias("g")).where("g IS NOT NULL").count()


"""
    + LOCAL_SESSION
    + """
# Two partitions: ids 0-3, then 4-7.
df = spark.createDataFrame(
    [(i, SECRET if i == 5 else f"c{i}") for i in range(8)], "id long, client_id string"
)


def rung(run):
    # As a rung runs its body: the error, its text before the notes are taken off, the calls.
    with noting_udfs(spark) as book:
        try:
            run(df)
        except Exception as exc:
            raw = str(exc) + str(getattr(exc.__cause__, "_desc", ""))
            return exc, raw, take_calls(exc, book)
    raise AssertionError("the body passed")

"""
    + REPRODUCER
    + """


def localized(run, exc, calls):
    identity = error_identity(exc)
    found = Localizer(
        spark, df, reproducer(run, identity), limit=10, budget=120, identity=identity,
        message=identity.message, rung_calls=calls,
    ).run()
    return {
        "ids": sorted(r.id for r in found.rows),
        "complete": found.complete,
        "method": found.method,
        "note": found.note,
        "first": found.first_seconds,
        "steps": {name: step.runs for name, step in found.steps.items()},
    }


found = {}
exc, raw, calls = rung(body)
found["noted"] = {
    "raw_has_note": PREFIX in raw,
    "raw_has_secret": SECRET in raw,
    "calls": sorted([list(c.args), c.error, c.partition] for c in calls.calls),
    "columns": calls.columns,
    "text": str(exc),
    "type": type(exc).__name__,
}
found["noted"]["localized"] = localized(body, exc, calls)
exc, raw, calls = rung(wrapping)
found["chained"] = {
    "raw_has_note": PREFIX in raw,
    "args": sorted(list(c.args) for c in calls.calls) if calls else None,
    "text": str(exc),
    "cause": str(exc.__cause__),
}
exc, raw, calls = rung(large)
found["large"] = {"calls": calls is not None, "text": str(exc)}
with noting_udfs(spark) as other_book:
    pass
exc, raw, _ = rung(body)
with noting_udfs(spark) as book:
    try:
        body(df)
    except Exception as again:
        found["foreign"] = {"calls": take_calls(again, other_book) is not None, "text": str(again)}
with noting_udfs(spark):
    guard = F.udf(lambda number: number + 1, "long")
    found["passing"] = df.select(guard("id").alias("g")).where("g > 4").count()
exc, raw, calls = rung(derived)
found["derived"] = localized(derived, exc, calls)
exc, raw, calls = rung(rewritten)
found["rewritten"] = localized(rewritten, exc, calls)
exc, raw, calls = rung(every_row)
found["every_row"] = localized(every_row, exc, calls)
exc, raw, calls = rung(flaky)
found["flaky"] = localized(flaky, exc, calls)
found["flaky"]["noted"] = sorted(c.args[0] for c in calls.calls)

# The session ends: its Python daemon and the workers it forked, idle now, end first.
from pyspark import SparkContext

from pytest_dcs.spark import gateway

jvm = SparkContext._gateway.proc.pid
daemons = [p for p in gateway._children(jvm) if gateway.is_python_daemon(p)]
workers = [w for d in daemons for w in gateway._children(d)]
groups = [d for d in daemons if gateway._group(d) == d]
stopped = gateway.stop_python_daemons()
import pathlib

members = [int(e.name) for e in pathlib.Path("/proc").glob("[0-9]*")
           if gateway._group(int(e.name)) in groups and gateway._alive(int(e.name))]
found["daemons"] = {
    "daemons": len(daemons),
    "workers": len(workers),
    "stopped": stopped,
    "left": [p for p in daemons + workers if gateway._alive(p)],
    "groups": len(groups),
    "members": members,
}
spark.stop()
print("RESULT " + json.dumps(found))
"""
)


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    project = Project(tmp_path_factory.mktemp("sealed"))
    found: dict[str, Any] = project.run_script("rung.py", SCRIPT)
    return found


def test_the_failing_call_comes_back_in_the_error(seen: dict[str, Any]) -> None:
    noted = seen["noted"]
    assert noted["raw_has_note"] is True
    # The first task to fail ends the job: one or both reserved ids, with the client beside.
    assert noted["calls"], noted
    assert all(args in ([2, "c2"], [5, "secret-client-5"]) for args, _, _ in noted["calls"])
    assert all(error == "ValueError: a reserved client" for _, error, _ in noted["calls"])
    # Ids 0-3 are the first partition, 4-7 the second.
    assert all(part == (0 if args[0] == 2 else 1) for args, _, part in noted["calls"])
    assert noted["columns"] == [["id", "client_id"]]


def test_the_note_is_sealed_and_taken_off_the_error(seen: dict[str, Any]) -> None:
    noted = seen["noted"]
    # The worker's log holds the note; no value in it can be read.
    assert noted["raw_has_secret"] is False
    assert noted["type"] == "PythonException"
    assert "ValueError: a reserved client" in noted["text"]
    assert "pytest-dcs" not in noted["text"]
    assert "sealed.py" not in noted["text"]  # nor the wrapper's frame
    assert "in checked" in noted["text"]  # the user's frame stays


SCANNED = "values the failing UDF raises on (one pass over its argument columns)"


def test_the_search_scans_the_failing_udfs_columns(seen: dict[str, Any]) -> None:
    # The rung's call named the UDF and its columns: one pass of its function over them found
    # both ids, and the search ended without a re-run of the body on the whole input.
    found = seen["noted"]["localized"]
    assert found["ids"] == [2, 5]
    assert found["complete"] is True
    assert found["method"] == SCANNED
    assert found["first"] is not None and found["first"] > 0
    assert "scan of the failing UDF" in found["steps"]
    assert "recording re-run" not in found["steps"]


def test_without_a_scan_the_search_starts_from_the_rungs_call(seen: dict[str, Any]) -> None:
    # One argument is an expression: no scan, but the rung's call narrows by `id`.
    found = seen["derived"]
    assert found["ids"] == [2, 5]
    assert found["method"].startswith("arguments of the UDF call that failed the rung")
    assert "scan of the failing UDF" not in found["steps"]
    assert found["steps"]["recording re-run"] == 1  # the other row takes the whole input


def test_a_scan_of_columns_the_body_rewrote_is_set_aside(seen: dict[str, Any]) -> None:
    # The stored ids the function raises on are not the rows that fail: the scan's values do
    # not hold the rung's own failing call, so none of its rows is blamed.
    found = seen["rewritten"]
    assert found["ids"] == [1, 4], found
    assert SCANNED not in found["method"]
    assert "scan of the failing UDF" in found["steps"]


def test_a_note_is_read_through_the_users_own_error(seen: dict[str, Any]) -> None:
    chained = seen["chained"]
    assert chained["raw_has_note"] is True
    noted = ([2, "c2"], [5, "secret-client-5"])
    assert chained["args"] and all(a in noted for a in chained["args"])
    assert chained["text"].startswith("the job failed: ")
    assert "ValueError: a reserved client" in chained["text"]
    for text in (chained["text"], chained["cause"]):
        assert "pytest-dcs" not in text and "sealed.py" not in text


def test_calls_too_large_for_a_note_leave_none(seen: dict[str, Any]) -> None:
    # A 40 kB argument: no note, and the error is as the UDF raised it.
    assert seen["large"]["calls"] is False
    assert "ValueError: too large" in seen["large"]["text"]


def test_a_note_sealed_for_another_rung_is_no_clue(seen: dict[str, Any]) -> None:
    assert seen["foreign"]["calls"] is False
    assert "pytest-dcs" not in seen["foreign"]["text"]


def test_a_body_that_passes_is_not_changed(seen: dict[str, Any]) -> None:
    assert seen["passing"] == 4


def test_a_udf_failing_on_every_row_blames_no_row_the_rung_pointed_at(
    seen: dict[str, Any],
) -> None:
    every = seen["every_row"]
    assert every["ids"] == []
    assert "fails the same way on any row" in every["note"]
    assert every["first"] is None


def test_a_rungs_call_whose_row_no_longer_fails_is_not_kept(seen: dict[str, Any]) -> None:
    flaky = seen["flaky"]
    assert flaky["noted"]  # the rung noted the call
    assert flaky["ids"] == []


def test_a_stopping_session_ends_its_python_workers_before_the_jvm_closes_their_sockets(
    seen: dict[str, Any],
) -> None:
    # Else a worker that wakes on its closed socket prints a BrokenPipeError traceback. Spark
    # keeps one daemon per Python executable and environment, so a session may have several.
    daemons = seen["daemons"]
    assert daemons["daemons"] >= 1 and daemons["stopped"] == daemons["daemons"], daemons
    assert daemons["workers"] >= 1, daemons
    assert daemons["left"] == [], daemons
    # Each daemon leads a process group; nothing in it, forked late or not, outlives the stop.
    assert daemons["groups"] == daemons["daemons"] and daemons["members"] == [], daemons
