"""The JSON report (`--dcs-report`): built from the ladder, written atomically. Spark-free."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_dcs.data.samplestore import atomic_write

REPORT_VERSION = 1


def build_report(
    tests: Sequence[Mapping[str, Any]],
    *,
    sessions: Mapping[str, Mapping[str, int]] | None = None,
    deselected: int = 0,
) -> dict[str, Any]:
    """The JSON document: `{"version": 1, "tests": [...]}` plus run-level facts."""
    return {
        "version": REPORT_VERSION,
        "tests": [dict(t) for t in tests],
        "sessions": {k: dict(v) for k, v in (sessions or {}).items()},
        "deselected_rungs": deselected,
    }


def write_report(path: Path, document: Mapping[str, Any]) -> None:
    atomic_write(path, json.dumps(document, indent=2, default=str) + "\n")
