"""`dcs_ship`: the project's own code, handed to the cluster engine's executors.

`SparkContext.addPyFile` takes a `.py` module or an archive; a directory has to be zipped first.
A package directory (one with `__init__.py`) is zipped under its own name, so `import pkg` works;
any other directory is zipped by its contents, so it acts as a `sys.path` root (a `src/` folder).
Spark-free.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

# What addPyFile puts on the executors' sys.path as it is.
SHIPPABLE_FILES = (".py", ".zip", ".egg")
_SKIPPED_DIRS = ("__pycache__",)
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


class ShipError(ValueError):
    """A `dcs_ship` entry that cannot be shipped; the message says which and why."""


def check_shippable(path: Path) -> None:
    """Raise ShipError unless `path` is a directory, a `.py` module or a `.zip`/`.egg` archive."""
    if path.is_dir():
        return
    if not path.exists():
        raise ShipError(f"{path} does not exist")
    if path.suffix.lower() not in SHIPPABLE_FILES:
        raise ShipError(
            f"{path} is neither a directory nor a {', '.join(SHIPPABLE_FILES)} file; "
            "list modules, packages, source folders or zip archives"
        )


def is_package(path: Path) -> bool:
    return (path / "__init__.py").is_file()


def _members(folder: Path) -> list[Path]:
    """The files of `folder` worth shipping: no bytecode caches, no hidden files or folders."""
    kept = []
    for file in sorted(folder.rglob("*")):
        parts = file.relative_to(folder).parts
        if not file.is_file() or file.suffix in _SKIPPED_SUFFIXES:
            continue
        if any(p in _SKIPPED_DIRS or p.startswith(".") for p in parts):
            continue
        kept.append(file)
    return kept


def zip_directory(folder: Path, target: Path) -> Path:
    """Zip `folder` into `target`: a package under its own name, any other folder by contents."""
    base = folder.parent if is_package(folder) else folder
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in _members(folder):
            archive.write(file, file.relative_to(base).as_posix())
    return target


def py_files(paths: Sequence[Path], workdir: Path) -> list[Path]:
    """What to give `addPyFile` for each path: files as they are, directories zipped in `workdir`.

    Archive names are unique (Spark refuses two files of one name), and a package keeps its name.
    """
    files: list[Path] = []
    taken: set[str] = set()
    for path in paths:
        check_shippable(path)
        if not path.is_dir():
            files.append(path)
            taken.add(path.name)
            continue
        stem, number = path.name, 1
        while f"{stem}.zip" in taken:
            number += 1
            stem = f"{path.name}-{number}"
        taken.add(f"{stem}.zip")
        files.append(zip_directory(path, workdir / f"{stem}.zip"))
    return files
