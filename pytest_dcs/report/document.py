"""The ladder as a terminal table and as the JSON report (`--dcs-report`). Spark-free."""

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


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _rows(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _exponent(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _note(rung: Mapping[str, Any], width: int = 70) -> str:
    failure = rung.get("failure") or {}
    text = rung.get("reason") or failure.get("summary") or ""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def ladder_table(tests: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per rung, grouped by test: outcome, the body's seconds, the executors' task
    seconds, input rows, the exponent of time in rows, failure kind and a note."""
    header = ("test", "rung", "outcome", "seconds", "task s", "rows", "exp", "kind", "note")
    lines = [header]
    for test in tests:
        for index, rung in enumerate(test["rungs"]):
            lines.append(
                (
                    test["nodeid"] if index == 0 else "",
                    rung["rung"],
                    rung["outcome"],
                    _seconds(rung.get("seconds")),
                    _seconds(rung.get("task_seconds")),
                    _rows(rung.get("rows")),
                    _exponent(rung.get("exponent")),
                    (rung.get("failure") or {}).get("kind", ""),
                    _note(rung),
                )
            )
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    right = {3, 4, 5, 6}
    return [
        "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in lines
    ]
