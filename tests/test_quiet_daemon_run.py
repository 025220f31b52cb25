"""Python workers Spark closes for idleness end without a word, on a real session.

Spark closes the socket of a Python worker idle for a minute; with PySpark's own daemon the
worker sometimes wakes first, fails to write its goodbye, and a BrokenPipeError traceback lands
in the middle of the test run's output. The sessions pytest-dcs starts on this machine run
`pytest_dcs.spark.quiet_daemon` instead. One subprocess starts the local engine as a run does,
runs a Python UDF, leaves its workers idle past Spark's minute and stops; its output must hold
no traceback, and the workers must be gone before the stop (Spark did close them).
"""

from __future__ import annotations

from pathlib import Path

from conftest import Project

SCRIPT = """
import json
import sys
import time

import pyspark.sql.functions as F

from pytest_dcs.spark import gateway
from pytest_dcs.spark.config import EngineConfig
from pytest_dcs.spark.engines import Engines


def workers():
    from pyspark import SparkContext

    jvm = SparkContext._gateway.proc.pid
    daemons = [p for p in gateway._children(jvm) if gateway.is_python_daemon(p)]
    commands = [gateway._cmdline(p).decode().split("\\0") for p in daemons]
    alive = [w for d in daemons for w in gateway._children(d) if gateway._alive(w)]
    return commands, alive


engines = Engines(EngineConfig("local[2]", "local[2]"))
try:
    spark = engines.session("local")
    spark.range(0, 8, 1, 4).select(F.udf(lambda x: x + 1, "long")("id")).collect()
    commands, before = workers()
    # Spark closes idle workers a minute after the last Python task (its monitor looks every
    # few seconds): 75 s covers it.
    time.sleep(75)
    _, after = workers()
finally:
    engines.shutdown()
print("RESULT " + json.dumps({"commands": commands, "before": before, "after": after}))
"""


def test_idle_python_workers_end_quietly(tmp_path: Path) -> None:
    seen, output = Project(tmp_path).run_script_output("idle.py", SCRIPT)
    assert seen["commands"] and all(
        "pytest_dcs.spark.quiet_daemon" in command for command in seen["commands"]
    ), seen
    assert seen["before"], seen  # the UDF's workers waited in Spark's pool
    assert seen["after"] == [], seen  # Spark closed them for idleness, and they ended
    assert "Traceback" not in output and "BrokenPipe" not in output, output[-4000:]
