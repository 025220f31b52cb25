"""A rung whose failure pytest-dcs cannot describe still gets a record, and the run goes on.

A report hook that raises ends a pytest run with INTERNALERROR: the rungs after it never run and
the report lacks the rung (seen once after a kill -9 of the driver JVM). Here the project's
conftest breaks the story on purpose, so the hook's fallback is what runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Project

CONFTEST = """
import pytest_dcs.report.record


def broken(*args, **kwargs):
    raise RuntimeError("the story broke")


pytest_dcs.report.record.render_story = broken
"""

TESTS = """
import pytest


@pytest.mark.scale()
def test_fails():
    assert 1 == 2


@pytest.mark.scale()
def test_runs_after():
    pass
"""


def test_an_undescribed_failure_is_a_record_and_the_run_goes_on(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.write("conftest.py", CONFTEST)
    project.write("test_broken.py", TESTS)
    run = project.run("--dcs-max-rung=local")
    assert "INTERNALERROR" not in run.output, run.output
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    failure = run.rungs("test_fails")["local"]["failure"]
    assert failure["kind"] == "panic"
    assert failure["summary"] == (
        "pytest-dcs could not describe this rung's failure: RuntimeError: the story broke"
    )
    assert "assert 1 == 2" in failure["trace"]
    assert run.rungs("test_runs_after")["local"]["outcome"] == "passed"
