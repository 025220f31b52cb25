"""Hooks that conftest.py files and other plugins may implement."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


@pytest.hookspec
def pytest_dcs_sources(config: pytest.Config) -> dict[str, Callable[[SparkSession], DataFrame]]:
    """Return data sources as ``{name: callable(spark) -> DataFrame}``.

    Sources returned here are used like ``dcs_sources`` ini lines: by name in
    ``@pytest.mark.scale("name")`` and ``rung.source("name")``. Every implementation is called and
    the results are merged; a name declared twice is an error.
    """
    raise NotImplementedError


@pytest.hookspec
def pytest_dcs_report(config: pytest.Config, report: dict[str, Any]) -> None:
    """Extend the JSON ladder report before it is written (add fields; do not rename)."""
    raise NotImplementedError
