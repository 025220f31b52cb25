"""Tables in plain text, aligned by one renderer (`text_table`): the ladder of the terminal
summary, the offending rows of a failure, the rows two frames differ in. Spark-free."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any


def text_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: Collection[int] = (),
    separator: str = "  ",
    rule: str | None = None,
    indent: str = "",
) -> list[str]:
    """`header` and `rows` as lines with aligned columns: the columns in `right` (indexes)
    right-aligned, the others left; `rule` (the separator of dashes, e.g. `-+-`) draws a line
    under the header. Trailing spaces are cut."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        return (indent + separator.join(padded)).rstrip()

    lines = [line(header)]
    if rule is not None:
        lines.append(indent + rule.join("-" * width for width in widths))
    lines.extend(line(row) for row in rows)
    return lines


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
    return text_table(lines[0], lines[1:], right={3, 4, 5, 6})
