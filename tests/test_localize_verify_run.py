"""Checking candidate rows on real Spark: the body runs on them laid out one per partition, and
a row is kept only when the task that read it alone failed the same way.

One subprocess starts a local[2] session and has `verify` check rows of a small input: some
fail the original way, one fails another way, the rest pass. For a Python UDF's error, the rows
are also checked from the failing calls recorded in one re-run (`by_calls`), including UDFs
whose failure depends on another row or on state. Its findings are printed as JSON and shared
by the tests of this module.
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
from pytest_dcs.run.clues import recording_udfs
from pytest_dcs.run.localize import Localizer
from pytest_dcs.run.search import Search
from pytest_dcs.run.verify import one_per_partition, verify

RESERVED = {2, 5}
OTHER = 6
MARKS = tempfile.mkdtemp(prefix="dcs-verify-marks-")
atexit.register(shutil.rmtree, MARKS, True)


def checked(number):
    if number in RESERVED:
        raise ValueError(f"id {number} is reserved")
    if number == OTHER:
        raise KeyError(number)
    return number


def body(df, merge=False):
    guard = F.udf(checked, "long")
    if merge:  # one task reads every row
        df = df.coalesce(1)
    return df.select(guard("id").alias("g")).where("g IS NOT NULL").count()


def asserting(df):
    # Fails on the rows' nulls too: with only reserved ids, every value is null.
    assert body(df) > 0


def together(df):
    # Fails on id 3 only when id 1 went before it in the same task.
    seen = set()

    def meet(number):
        seen.add(number)
        if number == 3 and 1 in seen:
            raise ValueError(f"id {number} met id 1")
        return number

    guard = F.udf(meet, "long")
    return df.select(guard("id").alias("g")).where("g IS NOT NULL").count()


def twice(df):
    # Id 5 also makes a second UDF raise a KeyError: its task raised another error as well.
    guard = F.udf(checked, "long")

    def picky(number):
        if number == 5:
            raise KeyError(number)
        return number

    other = F.udf(picky, "long")
    both = df.select(guard("id").alias("g"), other("id").alias("o"))
    return both.where("g IS NOT NULL AND o IS NOT NULL").count()


def flaky(df):
    # Fails on a reserved id the first time any task meets it, never again: state on disk.
    def once(number):
        mark = os.path.join(MARKS, str(number))
        if number in RESERVED and not os.path.exists(mark):
            open(mark, "w").close()
            raise ValueError(f"id {number} is reserved")
        return number

    guard = F.udf(once, "long")
    return df.select(guard("id").alias("g")).where("g IS NOT NULL").count()


"""
    + LOCAL_SESSION
    + """
# Two partitions: ids 0-3, then 4-7.
df = spark.createDataFrame([(i, f"c{i}") for i in range(8)], "id long, client_id string")
rows = df.orderBy("id").collect()


def identity_of(run):
    try:
        run(df)
    except Exception as exc:
        return error_identity(exc)
    raise AssertionError("the body passed")

"""
    + REPRODUCER
    + """


def search(run, identity):
    reproduce = reproducer(run, identity)
    checking = Search(spark, df, reproduce, limit=10, budget=120, identity=identity)
    checking.start()
    return checking


def check(run, identity, candidates, **options):
    checking = search(run, identity)
    failing = verify(checking, candidates, **options)
    return {
        "ids": sorted(r.id for r in failing),
        "kept": sorted(r.id for r in checking.rows()),
        "runs": checking.result.runs,
    }


found = {}
identity = identity_of(body)
merged = lambda subset: body(subset, merge=True)
found["layout"] = check(body, identity, rows)
found["merged"] = check(merged, identity, rows)
found["probe"] = check(body, identity, [rows[0], rows[1]], stop_on_pass=True)
found["calls"] = check(body, identity, rows, by_calls=True)
found["calls_seen"] = check(body, identity, rows, by_calls=True, recorded_before=True)
found["calls_twice"] = check(twice, identity, rows, by_calls=True, recorded_before=True)
found["calls_asserting"] = check(asserting, identity, [rows[2], rows[5]], by_calls=True)
found["calls_merged"] = check(merged, identity, rows, by_calls=True)
found["together"] = check(together, identity_of(together), [rows[1], rows[3]], by_calls=True)
flaky_identity = identity_of(flaky)
for name in os.listdir(MARKS):  # forget what the first run met
    os.remove(os.path.join(MARKS, name))
found["flaky"] = check(flaky, flaky_identity, [rows[2], rows[5]], by_calls=True)
# The whole search on a UDF failing once per id: each reserved id raises in the rung or in
# the recording re-run, and no row fails again alone.
for name in os.listdir(MARKS):
    os.remove(os.path.join(MARKS, name))
flaky_found = Localizer(
    spark, df, reproducer(flaky, identity_of(flaky)), limit=10, budget=120,
    identity=flaky_identity, message=flaky_identity.message,
).run()
found["flaky_localized"] = {
    "ids": sorted(r.id for r in flaky_found.rows),
    "recorded": flaky_found.steps["recording re-run"].runs,
}

localized = Localizer(
    spark, df, reproducer(body, identity), limit=10, budget=120, identity=identity,
    message=identity.message,
).run()
found["localized"] = {
    "ids": sorted(r.id for r in localized.rows),
    "complete": localized.complete,
    "steps": {name: step.runs for name, step in localized.steps.items()},
    "method": localized.method,
}

# Rows of many types laid out one per partition, as the JVM reads them (no Python worker).
typed = spark.range(4).selectExpr(
    "id",
    "CAST(id / 3 AS DECIMAL(10, 4)) AS amount",
    "date_add(DATE'2024-02-28', CAST(id AS INT)) AS day",
    "timestamp_seconds(1700000000 + id * 3607) AS at",
    "IF(id = 2, NULL, concat('c', id)) AS client",
    "array(id, id + 1) AS numbers",
    "map('k', CAST(id AS DOUBLE)) AS weights",
    "named_struct('a', id, 'b', CAST(NULL AS STRING)) AS nested",
    "CAST(concat('b', id) AS BINARY) AS raw",
)
typed_rows = typed.orderBy("id").collect()
laying = Search(spark, typed, lambda subset: "passed", limit=10, budget=60)
laid, rdd_id = one_per_partition(laying, typed_rows)
lineage = laid._jdf.queryExecution().toRdd().toDebugString()
found["laid_out"] = {
    "same": [repr(r) for r in laid.collect()] == [repr(r) for r in typed_rows],
    "sizes": laid.rdd.glom().map(len).collect(),
    # An RDD computed by Python shows as "PythonRDD[n]" (the JVM's read of the pickles is
    # created "at PythonRDD.scala").
    "python": "PythonRDD[" in lineage,
    "holds_id": f"[{rdd_id}]" in lineage,
}

with recording_udfs(spark) as recorded:
    body(df)
found["recorded"] = {
    "calls": sorted([c.args[0], c.error.split(":")[0], c.partition] for c in recorded.calls),
    "stages": len({c.stage for c in recorded.calls}),
    "returned": recorded.returned,
}
spark.stop()
print("RESULT " + json.dumps(found))
"""
)


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    project = Project(tmp_path_factory.mktemp("verify"))
    found: dict[str, Any] = project.run_script("check.py", SCRIPT)
    return found


def test_only_rows_whose_own_task_fails_the_same_way_are_kept(checked: dict[str, Any]) -> None:
    layout = checked["layout"]
    # Row 6 fails on its own too, but with a KeyError: not the same way. The rest pass.
    assert layout["ids"] == [2, 5]
    assert layout["kept"] == [2, 5]
    # Fewer re-runs than rows: one run decides every row whose task ran before the job ended.
    assert layout["runs"] < 8


def test_rows_are_rerun_alone_when_tasks_do_not_map_to_rows(checked: dict[str, Any]) -> None:
    # The body merges its input's partitions first: its failing task read every row, so each
    # row is re-run alone, and the answer is the same.
    merged = checked["merged"]
    assert merged["ids"] == [2, 5]
    assert merged["kept"] == [2, 5]
    assert merged["runs"] == 1 + 8


def test_a_probe_stops_at_the_first_passing_row_and_keeps_nothing(
    checked: dict[str, Any],
) -> None:
    probe = checked["probe"]
    assert probe["ids"] == []
    assert probe["kept"] == []
    assert probe["runs"] == 1


def test_recorded_calls_decide_every_row_in_two_reruns(checked: dict[str, Any]) -> None:
    # One re-run recording the failing calls of each row's own task, one confirming without
    # recording: the KeyError of row 6 is another error, and the passing rows are cleared.
    calls = checked["calls"]
    assert calls["ids"] == [2, 5]
    assert calls["kept"] == [2, 5]
    assert calls["runs"] == 2


def test_calls_recorded_before_need_no_confirming_rerun(checked: dict[str, Any]) -> None:
    # The rows hold the arguments of calls a recording re-run of the whole input saw raise:
    # the layout's recording re-run, where each row's own task raised the error and nothing
    # else, decides them, and no re-run without recording follows.
    seen = checked["calls_seen"]
    assert seen["ids"] == [2, 5]
    assert seen["kept"] == [2, 5]
    assert seen["runs"] == 1


def test_a_row_whose_task_raised_another_error_too_is_confirmed_without_recording(
    checked: dict[str, Any],
) -> None:
    # Id 5's task raised the ValueError and a KeyError of a second UDF: which one ends the
    # task without recording is not told by the recording, so the confirming re-run runs (the
    # first UDF of the select raises first: both rows fail the same way there).
    twice = checked["calls_twice"]
    assert twice["ids"] == [2, 5]
    assert twice["kept"] == [2, 5]
    assert twice["runs"] == 2


def test_the_localizer_keeps_no_row_of_a_udf_that_fails_once_per_value(
    checked: dict[str, Any],
) -> None:
    # Each reserved id raised once, in the rung or in the recording re-run; alone, no row
    # fails again, so none is reported though no confirming re-run is needed.
    flaky = checked["flaky_localized"]
    assert flaky["recorded"] == 1
    assert flaky["ids"] == []


def test_recorded_calls_decide_rows_when_the_body_fails_on_the_recorded_nulls(
    checked: dict[str, Any],
) -> None:
    # With recording, the failing calls return nulls and the body's assertion fails: the
    # tasks that read the rows still ran to their end, and tell.
    asserting = checked["calls_asserting"]
    assert asserting["ids"] == [2, 5]
    assert asserting["kept"] == [2, 5]
    assert asserting["runs"] == 2


def test_calls_after_the_rows_were_merged_fall_back_to_rows_alone(
    checked: dict[str, Any],
) -> None:
    # The recorded calls were made by a task that read every row: they name no row, and no
    # task of a layout would either, so the rows are each checked alone (the recording
    # re-run, then one per row).
    merged = checked["calls_merged"]
    assert merged["ids"] == [2, 5]
    assert merged["kept"] == [2, 5]
    assert merged["runs"] == 1 + 8


def test_a_row_failing_only_beside_another_is_not_kept(checked: dict[str, Any]) -> None:
    # Id 3 fails only in a task that met id 1 before it: laid out alone, neither fails.
    together = checked["together"]
    assert together["ids"] == []
    assert together["kept"] == []
    assert together["runs"] == 1


def test_rows_that_fail_only_once_are_not_kept(checked: dict[str, Any]) -> None:
    # The recording re-run saw both rows fail; without recording neither fails again, so the
    # confirmation passes and the rows are checked as without recording: nothing is kept.
    flaky = checked["flaky"]
    assert flaky["ids"] == []
    assert flaky["kept"] == []
    assert flaky["runs"] == 3


def test_the_localizer_verifies_the_failing_calls_rows_in_one_rerun(
    checked: dict[str, Any],
) -> None:
    localized = checked["localized"]
    assert localized["ids"] == [2, 5]
    assert localized["complete"] is True
    assert localized["method"] == "arguments of the failing UDF calls"
    assert localized["steps"]["recording re-run"] == 1
    # The rows' calls were recorded over the whole input, then alone: one re-run verifies.
    assert localized["steps"]["verify"] == 1
    # The UDF returned on more calls than it raised on: it does not fail on any row, which
    # needs no probe of two ordinary rows.
    assert "any row" not in localized["steps"]


def test_rows_are_laid_out_one_per_partition_without_a_python_worker(
    checked: dict[str, Any],
) -> None:
    # Decimals, dates, timestamps, nulls, arrays, maps, structs and bytes come back as they
    # went in, one row in each partition, from an RDD the JVM reads with no Python step (after
    # a failed rung, a Python step means starting new workers on every executor).
    laid = checked["laid_out"]
    assert laid["same"] is True
    assert laid["sizes"] == [1, 1, 1, 1]
    assert laid["python"] is False
    assert laid["holds_id"] is True


def test_a_recorded_call_says_which_task_made_it(checked: dict[str, Any]) -> None:
    # Ids 2 and 5 raised the error, 6 another one; ids 0-3 are the first partition, 4-7 the
    # second, read by one stage.
    recorded = checked["recorded"]
    assert recorded["calls"] == [[2, "ValueError", 0], [5, "ValueError", 1], [6, "KeyError", 1]]
    assert recorded["stages"] == 1


def test_a_recording_counts_the_calls_that_returned(checked: dict[str, Any]) -> None:
    # The one call site (0) returned on ids 0, 1, 3, 4 and 7 (JSON makes the site a string).
    assert checked["recorded"]["returned"] == {"0": 5}
