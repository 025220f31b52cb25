"""The ladder as a terminal table and as the JSON report (`--dcs-report`). Spark-free."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_dcs.samplestore import atomic_write

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


def ladder_table(tests: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per rung, grouped by test: outcome, seconds, rows, exponent, failure kind."""
    header = ("test", "rung", "outcome", "seconds", "rows", "exp", "kind")
    lines: list[tuple[str, ...]] = []
    for test in tests:
        for index, rung in enumerate(test["rungs"]):
            failure = rung.get("failure") or {}
            outcome = rung["outcome"]
            if outcome == "skipped" and rung.get("reason"):
                outcome = f"skipped ({rung['reason']})"
            lines.append(
                (
                    test["nodeid"] if index == 0 else "",
                    rung["rung"],
                    outcome,
                    _seconds(rung.get("seconds")),
                    _rows(rung.get("rows")),
                    _exponent(rung.get("exponent")),
                    failure.get("kind", ""),
                )
            )
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    # The outcome column may carry a long skip reason: never let it set the width of the rest.
    widths[2] = min(widths[2], 12)
    right = {3, 4, 5}

    def fmt(row: tuple[str, ...]) -> str:
        cells = [
            row[i].rjust(widths[i]) if i in right else row[i].ljust(widths[i])
            for i in range(len(row))
        ]
        if len(row[2]) > widths[2]:
            # A long outcome goes last so the numeric columns stay aligned.
            cells[2] = "".ljust(widths[2])
            cells.append(row[2])
        return "  ".join(cells).rstrip()

    return [fmt(header), *(fmt(row) for row in lines)]
