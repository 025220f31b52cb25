"""Nothing outlives pytest: not after Ctrl-C, not when Java is missing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from conftest import Project, spark_jvms, wait_for_no_jvms

SLOW_TEST = """
import time

def test_waits(spark):
    spark.range(3).count()
    print("SESSION UP", flush=True)
    time.sleep(120)
"""


def test_ctrl_c_ends_the_jvm(project: Project) -> None:
    project.write("test_slow.py", SLOW_TEST)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider", "test_slow.py"],
        cwd=project.path,
        env=project.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        for line in proc.stdout:
            if "SESSION UP" in line or time.monotonic() > deadline:
                break
        assert spark_jvms(project.tag), "the session should be up before Ctrl-C"
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=60)[0]
    finally:
        proc.kill()
    assert "KeyboardInterrupt" in output
    assert wait_for_no_jvms(project.tag) == []


def test_missing_java_is_named_with_the_fix(project: Project) -> None:
    project.write(
        "test_any.py",
        """
        def test_job(spark):
            pass
        """,
    )
    run = project.run(env=project.env(JAVA_HOME="/nonexistent/java"))
    run.result.assert_outcomes(errors=1)
    run.result.stdout.fnmatch_lines(["*Java was not found (Spark needs Java 17 or 21)*"])
    assert "Traceback" not in run.output
