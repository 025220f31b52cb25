"""Rung timeouts and panics on real Spark: the rung fails with its kind, the run goes on.

One run, shared by the tests of this module, of two files: one whose bodies hang (in a UDF on
the executors, and on the driver), then one whose bodies stop their session or kill its JVM. At
each rung the hanging tests run first, so they run in the run's first sessions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Project, Run

from pytest_dcs.run.guard import GRACE_SECONDS, SETTLE_SECONDS

HANG_TIMEOUT = 8  # seconds: a cold first job on a loaded 2-core machine takes up to 4
STUCK_TIMEOUT = 4

HANGING = f"""
import os
import time

import pyspark.sql.functions as F
import pytest

PIDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pids")


def hang(spark):
    # Nested, so executors get it by value: they cannot import this module.
    def sleepy(value):
        import os, time

        open(os.path.join(PIDS, str(os.getpid())), "w").close()
        time.sleep(600)
        return value

    os.makedirs(PIDS, exist_ok=True)
    sleeping = F.udf(sleepy, "long")
    return spark.range(4).select(sleeping("id").alias("id")).where("id >= 0").count()


@pytest.mark.scale(timeout={HANG_TIMEOUT})
def test_udf_hangs_at_distributed(spark, rung):
    if rung.name == "distributed":
        hang(spark)
    assert spark.range(4).count() == 4


@pytest.mark.scale(timeout={HANG_TIMEOUT})
def test_udf_hangs_at_local(spark):
    hang(spark)


@pytest.mark.scale(timeout={STUCK_TIMEOUT})
def test_stuck_on_the_driver(spark):
    spark.range(3).count()
    time.sleep(600)


@pytest.mark.scale()
def test_runs_after_the_hangs(spark):
    double = F.udf(lambda x: x * 2, "long")
    assert spark.range(10).select(double("id").alias("d")).where("d >= 0").count() == 10


@pytest.mark.scale()
def test_hung_workers_are_killed(rung):
    if rung.name != "distributed":
        return
    deadline = time.monotonic() + 20
    pids = [int(name) for name in os.listdir(PIDS)]
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if os.path.exists(f"/proc/{{pid}}")]
        if not alive:
            break
        time.sleep(0.2)
    assert pids and not alive, f"Python workers still running the hung UDF: {{alive}}"
"""

PANICKING = """
import os
import signal

import pytest
from pyspark import SparkContext


@pytest.mark.scale()
def test_stops_the_session(spark):
    spark.stop()
    spark.range(3).count()


@pytest.mark.scale()
def test_runs_after_the_stop(spark):
    assert spark.range(5).count() == 5


@pytest.mark.scale()
def test_stops_the_context_in_the_jvm(spark):
    spark.sparkContext._jsc.stop()


@pytest.mark.scale()
def test_kills_the_jvm_at_distributed(spark, rung):
    if rung.name == "distributed":
        # Where this JVM keeps its blockmgr-* and spark-* folders, for the run to check later.
        tmp = SparkContext._jvm.System.getProperty("java.io.tmpdir")
        with open("jvm_tmp.txt", "w") as out:
            out.write(tmp + "\\n" + "\\n".join(sorted(os.listdir(tmp))))
        gateway = SparkContext._gateway.proc
        os.kill(gateway.pid, signal.SIGKILL)
        gateway.wait()
    assert spark.range(3).count() == 3


@pytest.mark.scale()
def test_runs_after_the_kill(spark):
    assert spark.range(7).count() == 7


def test_plain_spark_after_all(spark):
    assert spark.range(2).count() == 2
"""


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    # One climb for both files: each climb costs a JVM and a local-cluster start.
    project = Project(tmp_path_factory.mktemp("guard"))
    project.write("pytest.ini", "[pytest]\ndcs_rung_timeout = 120\n")
    project.write("test_guard.py", HANGING)
    project.write("test_panic.py", PANICKING)
    run = project.run("--dcs-max-rung=distributed")
    run.captured_text = (project.path / "jvm_tmp.txt").read_text()
    yield run
    project.kill_leftovers()


@pytest.fixture(scope="module")
def hung(guarded: Run) -> Run:
    return guarded


@pytest.fixture(scope="module")
def panicked(guarded: Run) -> Run:
    return guarded


# -- timeouts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("test", "rung"),
    [("test_udf_hangs_at_distributed", "distributed"), ("test_udf_hangs_at_local", "local")],
)
def test_a_hanging_udf_times_out_with_its_jobs_cancelled(hung: Run, test: str, rung: str) -> None:
    record = hung.rungs(test)[rung]
    failure = record["failure"]
    assert failure["kind"] == "timeout", failure
    assert failure["summary"] == (
        f"rung {rung} ran past its timeout of {HANG_TIMEOUT} s; its Spark jobs were cancelled"
    )
    assert failure["where"].startswith("test_guard.py:") and failure["where"].endswith(" in hang")
    assert "raise `timeout=`" in failure["advice"]
    # Cancelling was enough (no interrupt in the summary); the rest is the killed tasks ending.
    assert HANG_TIMEOUT <= record["seconds"] < HANG_TIMEOUT + SETTLE_SECONDS


def test_a_body_stuck_on_the_driver_is_interrupted(hung: Run) -> None:
    record = hung.rungs("test_stuck_on_the_driver")["local"]
    failure = record["failure"]
    assert failure["kind"] == "timeout"
    assert failure["summary"] == (
        f"rung local ran past its timeout of {STUCK_TIMEOUT} s; its Spark jobs were cancelled, "
        f"and the test, still running on the driver {GRACE_SECONDS:g} s later, was interrupted"
    )
    assert failure["where"].endswith(" in test_stuck_on_the_driver")
    assert "RungTimeout" in failure["trace"]
    assert record["seconds"] < STUCK_TIMEOUT + 2 * GRACE_SECONDS + SETTLE_SECONDS


def test_the_run_goes_on_in_the_same_sessions(hung: Run) -> None:
    assert hung.report is not None
    # Every restart is a panic test's (test_the_next_test_gets_a_fresh_session): none of these.
    assert hung.report["sessions"] == {"main": {"local": 3, "cluster": 2}}
    for test in ("test_runs_after_the_hangs", "test_hung_workers_are_killed"):
        rungs = hung.rungs(test)
        assert [rungs[r]["outcome"] for r in ("local", "distributed")] == ["passed", "passed"], (
            rungs
        )
    rungs = hung.rungs("test_udf_hangs_at_distributed")
    assert rungs["local"]["outcome"] == "passed"
    assert hung.rungs("test_udf_hangs_at_local")["distributed"]["reason"] == "rung local failed"


def test_the_story_shows_kind_rung_and_advice(hung: Run) -> None:
    hung.result.stdout.fnmatch_lines(
        [
            "*[[]dcs[]] timeout failure at rung distributed: rung distributed ran past its "
            f"timeout of {HANG_TIMEOUT} s; its Spark jobs were cancelled",
            "where: test_guard.py:* in hang",
            "advice: raise `timeout=` on the scale marker*",
        ]
    )


# -- panics ---------------------------------------------------------------------------------


def test_stopping_the_session_is_a_panic(panicked: Run) -> None:
    failure = panicked.rungs("test_stops_the_session")["local"]["failure"]
    assert failure["kind"] == "panic"
    assert failure["summary"] == (
        "the local engine's session ended during the test: its SparkContext was stopped"
    )
    assert "AttributeError" in failure["trace"]
    assert "leave stopping to pytest-dcs" in failure["advice"]


def test_a_context_stopped_in_the_jvm_fails_a_body_that_passed(panicked: Run) -> None:
    failure = panicked.rungs("test_stops_the_context_in_the_jvm")["local"]["failure"]
    assert failure["kind"] == "panic"
    assert failure["summary"].endswith("its SparkContext was stopped")


def test_a_killed_jvm_is_a_panic(panicked: Run) -> None:
    rungs = panicked.rungs("test_kills_the_jvm_at_distributed")
    assert rungs["local"]["outcome"] == "passed"
    failure = rungs["distributed"]["failure"]
    assert failure["kind"] == "panic"
    assert failure["signature"] in {"jvm_gone", "jvm_socket_closed"}
    assert "the Spark JVM is gone" in failure["summary"]


def test_a_killed_jvm_is_no_internal_error_and_leaves_no_folders(panicked: Run) -> None:
    assert "INTERNALERROR" not in panicked.output
    # PySpark's accumulator server reads from the killed JVM's connection: its EOFError is noise.
    # (Py4J's own log of the failed command may show, under the panicked test's captured log.)
    assert "pyspark/accumulators.py" not in panicked.output
    assert panicked.result.ret == pytest.ExitCode.TESTS_FAILED
    tmp, *held = panicked.captured_text.splitlines()
    # The killed JVM had its own temporary folder, with Spark's folders in it; it is gone.
    assert Path(tmp).name.startswith("pytest-dcs-jvm-"), tmp
    assert any(name.startswith("blockmgr-") for name in held), held
    assert any(name.startswith("spark-") for name in held), held
    assert not Path(tmp).exists()


def test_the_next_test_gets_a_fresh_session(panicked: Run) -> None:
    for test, rungs in (
        ("test_runs_after_the_stop", ("local", "distributed")),
        ("test_runs_after_the_kill", ("local", "distributed")),
    ):
        records = panicked.rungs(test)
        assert [records[r]["outcome"] for r in rungs] == ["passed", "passed"], records
    panicked.result.stdout.fnmatch_lines(["*test_plain_spark_after_all PASSED*"])
    assert panicked.report is not None
    # Two local restarts on the same JVM; a new JVM, and with it a new cluster engine.
    assert panicked.report["sessions"] == {"main": {"local": 3, "cluster": 2}}
