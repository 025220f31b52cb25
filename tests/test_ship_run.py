"""`dcs_ship` on real Spark: what the cluster engine's executors can import.

One project, one run: the same helper code once listed in `dcs_ship` and once not, as a module, a
package directory and a plain source folder, so each shipped helper has an unshipped twin.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import Project, Run

INI = """
[pytest]
pythonpath = libs
dcs_ship =
    shipped_mod.py
    shipped_pkg
    libs
"""

MODULE = """
def shout(text):
    return text.upper()
"""

TESTS = """
import pyspark.sql.functions as F
import pytest


def shouted(spark, shout):
    words = spark.range(40).selectExpr("concat('w', id) AS word")
    udf = F.udf(shout, "string")
    return words.select(udf("word").alias("s")).where(F.col("s").startswith("W")).count()


@pytest.mark.scale()
def test_shipped_module(spark):
    from shipped_mod import shout

    assert shouted(spark, shout) == 40


@pytest.mark.scale()
def test_shipped_package(spark):
    from shipped_pkg.text import shout

    assert shouted(spark, shout) == 40


@pytest.mark.scale()
def test_shipped_folder(spark):
    from textutil import shout

    assert shouted(spark, shout) == 40


@pytest.mark.scale()
def test_unshipped_module(spark):
    from unshipped_mod import shout

    assert shouted(spark, shout) == 40


@pytest.mark.scale()
def test_unshipped_package(spark):
    from unshipped_pkg.text import shout

    assert shouted(spark, shout) == 40
"""


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, Run]]:
    project = Project(tmp_path_factory.mktemp("ship"))
    project.write("pytest.ini", INI)
    for name in ("shipped", "unshipped"):
        project.write(f"{name}_mod.py", MODULE)
        project.write(f"{name}_pkg/__init__.py", "")
        project.write(f"{name}_pkg/text.py", MODULE)
    project.write("libs/textutil.py", MODULE)
    project.write("test_ship.py", TESTS)
    # A deep temporary folder: the JVM's own folder in it is too deep for the Python workers'
    # Unix sockets, which must then go elsewhere for the session to start at all.
    temp = project.path / "tmp"
    temp.mkdir()
    yield project, project.run("--dcs-max-rung=distributed", env=project.env(TMPDIR=str(temp)))
    project.kill_leftovers()


@pytest.mark.parametrize(
    "test", ["test_shipped_module", "test_shipped_package", "test_shipped_folder"]
)
def test_shipped_helpers_import_on_executors(shipped: tuple[Project, Run], test: str) -> None:
    _, run = shipped
    rungs = run.rungs(test)
    assert rungs["local"]["outcome"] == "passed", rungs["local"]["failure"]
    assert rungs["distributed"]["outcome"] == "passed", rungs["distributed"]["failure"]


@pytest.mark.parametrize(
    ("test", "module"),
    [("test_unshipped_module", "unshipped_mod"), ("test_unshipped_package", "unshipped_pkg")],
)
def test_unshipped_twins_fail_distributed_as_framework(
    shipped: tuple[Project, Run], test: str, module: str
) -> None:
    _, run = shipped
    rungs = run.rungs(test)
    assert rungs["local"]["outcome"] == "passed"
    failure = rungs["distributed"]["failure"]
    assert failure["kind"] == "framework"
    assert module in failure["summary"]
    assert "dcs_ship" in failure["advice"]


def test_zipped_folders_are_removed_at_exit(shipped: tuple[Project, Run]) -> None:
    project, run = shipped
    assert run.report is not None
    assert run.report["sessions"] == {"main": {"local": 1, "cluster": 1}}
    assert list((project.path / "tmp").glob("pytest-dcs-ship-*")) == []
