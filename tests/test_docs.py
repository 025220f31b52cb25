"""The reference pages cover what the plugin offers, read from the plugin itself. Spark-free.

Each option, ini key, marker argument, failure kind, `Rung` member and fixture must have a section
of its own on its reference page: a heading that starts with its name in backticks. The names are
read from what pytest sees (`pytest --help`, `pytest --fixtures`) and from the plugin's own
tables, so adding one without documenting it fails here.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import re
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import pytest

from pytest_dcs import failures, marker, settings
from pytest_dcs.rung import Rung

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_HEADING = re.compile(r"^#{1,6}[ \t]+`([^`]+)`", re.MULTILINE)
# The name a heading's code span starts with: `--dcs-max-rung=RUNG`, `rung.source(name)`.
_NAME = re.compile(r"(?:rung\.)?(-{0,2}[A-Za-z_][\w-]*)")


def page_text(page: str) -> str:
    """A docs page without its fenced code blocks (a `# comment` in code is no heading)."""
    return _FENCE.sub("", (DOCS / page).read_text(encoding="utf-8"))


def sections(page: str) -> set[str]:
    """The names that have a section of their own on `page`."""
    names = set()
    for span in _HEADING.findall(page_text(page)):
        match = _NAME.match(span)
        if match:
            names.add(match.group(1))
    return names


def assert_documented(names: set[str], page: str, what: str) -> None:
    missing = sorted(names - sections(page))
    assert not missing, (
        f"{what} without a section in docs/{page}: {', '.join(missing)}; add a heading that "
        f"starts with the name in backticks, e.g. ### `{missing[0]}`"
    )


def test_every_option_and_ini_key_is_documented(pytester: pytest.Pytester) -> None:
    # `-p dcs` loads the plugin by its entry point even where autoloading is off.
    result = pytester.runpytest("-p", "dcs", "--help")
    assert result.ret == 0
    text = result.stdout.str()
    options = set(re.findall(r"(?<![\w-])(--dcs-[a-z0-9-]+)", text))
    ini_keys = set(re.findall(r"^\s+(dcs_\w+) \(", text, re.MULTILINE))
    assert "--dcs-max-rung" in options, "the help text no longer reads as expected"
    assert set(settings.INI_OPTIONS) <= ini_keys, "the help text no longer reads as expected"
    assert_documented(options, "reference/options.md", "command-line options")
    assert_documented(ini_keys, "reference/options.md", "ini keys")


def test_every_marker_argument_is_documented() -> None:
    for name in marker.MARKER_KWARGS:
        assert name in marker.MARKER_USAGE, f"the marker's usage text does not name {name}"
    assert_documented(set(marker.MARKER_KWARGS), "reference/marker.md", "marker arguments")


def test_every_failure_kind_and_signature_is_documented() -> None:
    assert set(typing.get_args(failures.FailureKind)) == set(failures.KINDS)
    assert_documented(set(failures.KINDS), "reference/failure-kinds.md", "failure kinds")
    # Signature names reach users as the report's `signature` field.
    text = page_text("reference/failure-kinds.md")
    missing = sorted(s.name for s in failures.SIGNATURES if f"`{s.name}`" not in text)
    assert not missing, (
        f"signatures not named in docs/reference/failure-kinds.md: {', '.join(missing)}"
    )


def _instance_attributes(cls: type) -> set[str]:
    """Public attributes `__init__` assigns (`self.rows = ...`)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls.__init__)))
    return {
        target.attr
        for node in ast.walk(tree)
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id == "self"
        and not target.attr.startswith("_")
    }


def test_every_rung_member_is_documented() -> None:
    members = {name for name in vars(Rung) if not name.startswith("_")}
    members |= _instance_attributes(Rung)
    assert {"expect_rows", "rows"} <= members, "Rung's members no longer read as expected"
    assert_documented(members, "reference/rung.md", "Rung members")


def test_every_fixture_is_documented(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("-p", "dcs", "--fixtures")
    text = result.stdout.str()
    section = re.search(
        r"fixtures defined from pytest_dcs\.plugin -+\n(.*?)(?:\n-{3,} |\Z)", text, re.S
    )
    assert section, "pytest --fixtures lists no fixtures of pytest_dcs.plugin"
    fixtures = set(re.findall(r"^(\w+)(?: \[[^\]]*\])? -- ", section.group(1), re.MULTILINE))
    assert "rung" in fixtures, "the --fixtures text no longer reads as expected"
    assert_documented(fixtures, "reference/fixtures.md", "fixtures")


def test_site_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    if not (importlib.util.find_spec("mkdocs") and importlib.util.find_spec("material")):
        pytest.skip("mkdocs and mkdocs-material are not installed: pip install -e '.[docs]'")
    # A broken link, a missing anchor or a page left out of the nav is a warning, so an error.
    # Not --quiet: it hides the warnings from the count that --strict aborts on.
    command = [sys.executable, "-m", "mkdocs", "build", "--strict"]
    command += ["--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
