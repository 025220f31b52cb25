"""Helpers for the plugin's own tests: example projects run by pytester in a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# pytester's in-process runs forget the modules they imported; numpy 2 refuses to be imported
# again in the same process ("cannot load module more than once"), and pandas and matplotlib
# with it. Imported here first, it is in the snapshot those runs restore.
with contextlib.suppress(ImportError):
    import numpy  # noqa: F401

TAG_VAR = "DCS_TEST_TAG"


def spark_jvms(tag: str) -> list[int]:
    """PIDs of live Spark JVMs started from a run whose environment carries `tag`.

    The gateway JVM inherits the pytest subprocess's environment and local-cluster executors
    inherit the gateway's, so the tag finds all of them, whatever else runs on the machine.
    """
    needle = f"{TAG_VAR}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            if b"java" not in cmdline or b"org.apache.spark" not in cmdline:
                continue
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_for_no_jvms(tag: str, seconds: float = 15.0) -> list[int]:
    """Wait until no JVM of the run is left; return those still alive after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        alive = spark_jvms(tag)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.25)


def write_events(folder: Path, rows: int, files: int = 4, null_every: int = 0) -> None:
    """A JSON-lines source: id, client_id (rows/10 clients), exp (an e10s id or null), value."""
    folder.mkdir(parents=True, exist_ok=True)
    per_file = -(-rows // files)
    for number in range(files):
        lines = []
        for i in range(number * per_file, min(rows, (number + 1) * per_file)):
            exp = None if null_every and i % null_every == 0 else f"e10s-{i % 7}"
            record = {"id": i, "client_id": f"c{i % max(1, rows // 10)}", "exp": exp}
            record["value"] = (i * 7919) % 1000 / 10
            lines.append(json.dumps(record))
        (folder / f"part-{number:03d}.json").write_text("\n".join(lines) + "\n")


@dataclass
class Run:
    """A finished pytest subprocess run with its parsed ladder report."""

    result: pytest.RunResult
    report: dict[str, Any] | None
    captured_text: str = ""

    @property
    def output(self) -> str:
        return "\n".join(self.result.outlines + self.result.errlines)

    def rungs(self, test_name: str) -> dict[str, dict[str, Any]]:
        """The rung records of the test whose nodeid ends with `test_name`."""
        assert self.report is not None, f"the run wrote no --dcs-report:\n{self.output}"
        for test in self.report["tests"]:
            if test["nodeid"].endswith(test_name):
                return {r["rung"]: r for r in test["rungs"]}
        names = [t["nodeid"] for t in self.report["tests"]]
        raise AssertionError(f"{test_name} not in the report: {names}")


class Project:
    """A throwaway pytest project that uses the plugin, run in a fresh subprocess.

    Unlike pytester's subprocess runs this does not put the project on PYTHONPATH, so the
    cluster engine sees what a real cluster would: installed packages and shipped files only.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tag = uuid.uuid4().hex

    def write(self, name: str, text: str) -> Path:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip())
        return target

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env.pop("PYTHONPATH", None)
        env.update({TAG_VAR: self.tag, "SPARK_LOCAL_IP": "127.0.0.1", **extra})
        return env

    def run(self, *args: str, timeout: float = 600, env: dict[str, str] | None = None) -> Run:
        report_path = self.path / f"report-{uuid.uuid4().hex[:8]}.json"
        command = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider"]
        command += [f"--dcs-report={report_path}", *args]
        began = time.monotonic()
        done = subprocess.run(
            command,
            cwd=self.path,
            env=env or self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        result = pytest.RunResult(
            done.returncode,
            done.stdout.splitlines(),
            done.stderr.splitlines(),
            time.monotonic() - began,
        )
        left = wait_for_no_jvms(self.tag)
        assert not left, f"Spark JVMs left running after pytest exited: {left}"
        report = json.loads(report_path.read_text()) if report_path.exists() else None
        return Run(result, report)

    def run_script(self, name: str, source: str) -> Any:
        """Run `source` as script `name` in this project with this interpreter: the JSON it
        printed last on a line starting `RESULT `."""
        return self.run_script_output(name, source)[0]

    def run_script_output(self, name: str, source: str) -> tuple[Any, str]:
        """`run_script`'s JSON, and all the script printed (stdout, then stderr)."""
        script = self.write(name, source)
        try:
            done = subprocess.run(
                [sys.executable, str(script)],
                cwd=self.path,
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        finally:
            self.kill_leftovers()
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        assert lines, f"{done.stdout}\n{done.stderr}"
        return json.loads(lines[-1].removeprefix("RESULT ")), done.stdout + done.stderr

    def kill_leftovers(self) -> None:
        for pid in spark_jvms(self.tag):
            os.kill(pid, signal.SIGKILL)


# A script's local[2] session, as the scripts of `Project.run_script` start it: bound to
# loopback, its Python workers this interpreter (which has what UDFs need: pyarrow), a failed
# task failing its job at once.
LOCAL_SESSION = """
import os
import sys

from pyspark.sql import SparkSession

os.environ["PYSPARK_PYTHON"] = sys.executable
spark = (
    SparkSession.builder.master("local[2]")
    .config("spark.ui.enabled", "false")
    .config("spark.driver.host", "127.0.0.1")
    .config("spark.driver.bindAddress", "127.0.0.1")
    .config("spark.task.maxFailures", "1")
    .getOrCreate()
)
spark.sparkContext.setLogLevel("OFF")
"""

# A script's way to re-run a body as the search does: "same" when it fails with `identity`.
REPRODUCER = """
from pytest_dcs.failures import error_identity


def reproducer(run, identity):
    def reproduce(subset):
        try:
            run(subset)
        except Exception as again:
            return "same" if error_identity(again) == identity else "other"
        return "passed"

    return reproduce
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    """An empty project for one test."""
    proj = Project(tmp_path)
    yield proj
    proj.kill_leftovers()


# -- the `spark` marker ---------------------------------------------------------------------
# `pytest -m "not spark"` runs the Spark-free tests alone, in seconds and without a JVM. A test
# is `spark` when its module's name ends in `_run.py` (they run example projects in pytest
# subprocesses), when its module is in SPARK_MODULES (Spark in this process, or pytest runs in
# subprocesses), or when it asks for a fixture that starts Spark or a subprocess. Every other
# test is checked to have started no JVM, so a test that starts one without saying so fails
# rather than slowing the Spark-free run down.

SPARK_MODULES = {
    "test_compare.py",
    "test_docs.py",
    "test_sampling_spark.py",
    "test_xdist_ladder.py",
}
SPARK_FIXTURES = {"spark", "project", "pytester", "rung", "scaled", "tiny", "synthetic"}


def _needs_spark(item: pytest.Item) -> bool:
    name = item.path.name
    fixtures = set(getattr(item, "fixturenames", ()))
    return name.endswith("_run.py") or name in SPARK_MODULES or bool(fixtures & SPARK_FIXTURES)


# -- the order of modules ---------------------------------------------------------------------
# With `-n 2 --dist loadfile` each module goes whole to one worker, so the suite ends when the
# last module does: the longest must start first, or one worker ends minutes before the other.
# These are the modules that take longest (setup of their shared project runs, or their own
# Spark session's tests, measured with --durations); they run first, longest first, then the
# other Spark modules, then the rest.
# xdist would otherwise reorder modules by their number of tests, which puts these last: the
# project sets `--no-loadscope-reorder` in addopts so that this order holds.
LONGEST_FIRST = (
    "test_localize_run.py",
    "test_wide_join_run.py",
    "test_scale_run.py",
    "test_honest_run.py",
    "test_compare.py",
    "test_guard_run.py",
    "test_examples_run.py",
    "test_xdist_run.py",
    "test_sample_state_run.py",
    "test_connect_run.py",
    "test_keyed_samples_run.py",
    "test_localize_verify_run.py",
    "test_ladder_run.py",
    "test_ship_run.py",
    "test_standalone_run.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    spark_files: set[Path] = set()
    for item in items:
        if _needs_spark(item):
            item.add_marker(pytest.mark.spark)
            spark_files.add(item.path)

    def rank(item: pytest.Item) -> tuple[int, int]:
        name = item.path.name
        if name in LONGEST_FIRST:
            return 0, LONGEST_FIRST.index(name)
        return (1, 0) if item.path in spark_files else (2, 0)

    # A stable sort by module keeps each module's items together and in their own order.
    items.sort(key=rank)


def _gateway_started() -> bool:
    """Whether this process has launched (or joined) a Spark JVM."""
    if "pyspark" not in sys.modules:
        return False
    from pyspark import SparkContext

    return SparkContext._gateway is not None


def _java_children() -> list[int]:
    """PIDs of java processes this process started (the kernel lists each thread's children)."""
    found = []
    for children in Path("/proc/self/task").glob("*/children"):
        try:
            pids = children.read_text().split()
        except OSError:
            continue
        for pid in pids:
            try:
                if b"java" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
            except OSError:
                continue
    return found


@pytest.fixture(autouse=True)
def _spark_free(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test not marked `spark` that starts a JVM."""
    if request.node.get_closest_marker("spark") is not None or _gateway_started():
        yield
        return
    yield
    started = _gateway_started() or _java_children()
    assert not started, (
        f"{request.node.nodeid} started a Spark JVM but is not marked `spark`: add its module to "
        "SPARK_MODULES in tests/conftest.py, or mark it with @pytest.mark.spark"
    )
