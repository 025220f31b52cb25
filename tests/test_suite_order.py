"""The suite's own module order (tests/conftest.py): the longest modules must name real files."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import LONGEST_FIRST


def test_every_module_run_first_exists_once() -> None:
    # A renamed or folded module left in the list would silently fall back to the slow order.
    here = Path(__file__).parent
    missing = [name for name in LONGEST_FIRST if not (here / name).is_file()]
    assert not missing, f"LONGEST_FIRST in tests/conftest.py names no such module: {missing}"
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)


def test_xdist_keeps_the_collection_order(pytestconfig: pytest.Config) -> None:
    # Without it xdist's loadscope reorder runs the modules with most tests, the fast ones, first.
    assert "--no-loadscope-reorder" in pytestconfig.getini("addopts")
