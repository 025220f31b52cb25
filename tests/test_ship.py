"""`dcs_ship` without Spark: which paths ship, and directories zipped so executors import them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pytest_dcs.spark.ship import ShipError, check_shippable, py_files, zip_directory


def make_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


def names(archive: Path) -> list[str]:
    with zipfile.ZipFile(archive) as opened:
        return sorted(opened.namelist())


def imports_from(archive: Path, statement: str) -> str:
    """Run `statement` in a fresh interpreter with only `archive` added to sys.path."""
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(archive)!r}); {statement}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_package_is_zipped_under_its_own_name(tmp_path: Path) -> None:
    package = make_tree(
        tmp_path / "helperpkg",
        {
            "__init__.py": "from helperpkg.text import shout\n",
            "text.py": "def shout(s):\n    return s.upper()\n",
            "sub/__init__.py": "",
            "sub/deep.py": "VALUE = 42\n",
            "__pycache__/text.cpython-311.pyc": "stale",
            ".hidden/secret.py": "",
            "notes.txt": "package data ships too",
        },
    )
    archive = zip_directory(package, tmp_path / "out.zip")
    assert names(archive) == [
        "helperpkg/__init__.py",
        "helperpkg/notes.txt",
        "helperpkg/sub/__init__.py",
        "helperpkg/sub/deep.py",
        "helperpkg/text.py",
    ]
    out = imports_from(
        archive, "import helperpkg, helperpkg.sub.deep as d; print(helperpkg.shout('a'), d.VALUE)"
    )
    assert out == "A 42"


def test_plain_folder_is_zipped_by_contents_as_a_path_root(tmp_path: Path) -> None:
    folder = make_tree(
        tmp_path / "src",
        {"textutil.py": "def twice(s):\n    return s * 2\n", "jobs/__init__.py": "X = 1\n"},
    )
    archive = zip_directory(folder, tmp_path / "src.zip")
    assert names(archive) == ["jobs/__init__.py", "textutil.py"]
    assert imports_from(archive, "import textutil, jobs; print(textutil.twice('ab'), jobs.X)") == (
        "abab 1"
    )


def test_files_ship_as_they_are_and_folders_get_unique_archive_names(tmp_path: Path) -> None:
    module = make_tree(tmp_path, {"helper.py": "X = 1\n"}) / "helper.py"
    first = make_tree(tmp_path / "a" / "helpers", {"__init__.py": ""})
    second = make_tree(tmp_path / "b" / "helpers", {"__init__.py": ""})
    work = tmp_path / "work"
    work.mkdir()
    shipped = py_files([module, first, second], work)
    assert shipped == [module, work / "helpers.zip", work / "helpers-2.zip"]
    assert names(shipped[1]) == names(shipped[2]) == ["helpers/__init__.py"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing", "does not exist"),
        ("data.csv", "is neither a directory nor a .py, .zip, .egg file"),
    ],
)
def test_unshippable_paths_are_named(tmp_path: Path, name: str, message: str) -> None:
    if name.endswith(".csv"):
        (tmp_path / name).write_text("a,b\n")
    with pytest.raises(ShipError, match=message) as excinfo:
        check_shippable(tmp_path / name)
    assert str(tmp_path / name) in str(excinfo.value)
