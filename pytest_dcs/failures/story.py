"""The text of pytest's failure section for a rung: the short story first, the offending rows
as a table, the advice; the full trace at -vv."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_dcs.failures.model import Failure
from pytest_dcs.failures.trace import _FRAME, Frame
from pytest_dcs.report.table import text_table


def user_trace(python_trace: str) -> str:
    """A Python traceback with PySpark's own frames dropped: the user's frames and the error."""
    kept: list[str] = []
    skipping = False
    for line in python_trace.splitlines():
        frame = _FRAME.match(line)
        if frame:
            skipping = Frame(frame["path"], int(frame["line"]), frame["function"]).is_toolchain
        elif not line.startswith("    "):
            skipping = False
        if not skipping:
            kept.append(line)
    return "\n".join(kept)


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def render_story(
    failure: Failure,
    *,
    rung: str,
    rows_table: str | None = None,
    verbose: bool = False,
) -> str:
    """The "short story first" text of a failed rung, for pytest's failure section.

    The headline names kind, rung and summary; then where in the user's code it happened and the
    worker's traceback (the user's frames only, unless `verbose`); then the offending rows
    (`rows_table`, or the failure's own rows rendered); then the advice. `verbose` appends the
    full trace.
    """
    lines = [f"[dcs] {failure.kind} failure at rung {rung}: {failure.summary}"]
    if failure.where:
        lines.append(f"where: {failure.where}")
    trace = failure.python_trace if verbose else user_trace(failure.python_trace)
    if any(_FRAME.match(line) for line in trace.splitlines()):
        # Without a frame of the user's, the trace would only repeat the summary.
        lines.append("worker traceback:" if verbose else "worker traceback (your code):")
        lines.append(_indent(trace))
    localization = failure.localization or {}
    read = localization.get("columns_read")
    table = rows_table
    narrowed = ""
    if table is None and failure.offending_rows:
        shown, narrowed = _narrowed(failure.offending_rows, read)
        # `_table`, since the `rows_table` argument hides the function of that name here.
        table = _table(shown, 10, _CELL_WIDTH)
    if table:
        count = len(failure.offending_rows)
        lines.append(f"offending rows ({count}):" if count else "offending rows:")
        lines.append(_indent(table))
        if narrowed:
            lines.append(narrowed)
    for name, linked in (localization.get("linked") or {}).items():
        # Rows of a joined source that the offending rows join: often the actual culprits.
        lines.append(f"rows of {name!r} they join ({linked['rows']}):")
        shown, narrowed = _narrowed(linked["records"], read)
        lines.append(_indent(_table(shown, 10, _CELL_WIDTH)))
        if narrowed:
            lines.append(narrowed)
    if failure.diff:
        lines.append(failure.diff)
    if failure.localization and failure.localization.get("story"):
        lines.append(str(failure.localization["story"]))
    if failure.captured_to:
        lines.append(f"captured to: {failure.captured_to}")
    if failure.advice:
        lines.append(f"advice: {failure.advice}")
    if verbose and failure.trace:
        lines.append("full trace:")
        lines.append(_indent(failure.trace))
    return "\n".join(lines)


_CELL_WIDTH = 30
# Rows wider than this show the columns the body read only (when the search knows them).
_WIDE = 12


def _narrowed(
    rows: Sequence[Mapping[str, Any]], read: Sequence[str] | None
) -> tuple[list[Mapping[str, Any]], str]:
    """`rows` with only the columns the body read, when they are wide and those are known, and
    the line that says so ("" when shown whole)."""
    columns = list(rows[0]) if rows else []
    kept = [c for c in columns if read and c in read]
    if len(columns) <= _WIDE or not kept or len(kept) == len(columns):
        return list(rows), ""
    note = (
        f"  (the {len(kept)} of {len(columns)} columns the body read; "
        "every column is in the JSON report)"
    )
    return [{c: row.get(c) for c in kept} for row in rows], note


_CONTROL = str.maketrans({"\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _cell(value: Any, width: int) -> str:
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value).translate(_CONTROL)
    if len(text) > width:
        return text[: max(width - 3, 1)] + "..."
    return text


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _table(rows: Sequence[Mapping[str, Any]], limit: int, width: int) -> str:
    if not rows:
        return "(no rows)"
    shown = rows[:limit]
    columns = list(dict.fromkeys(key for row in shown for key in row))
    cells = [[_cell(row[c], width) if c in row else "" for c in columns] for row in shown]
    headers = [_cell(c, width) for c in columns]
    numeric = [
        all(_is_number(row.get(c)) for row in shown if row.get(c) is not None)
        and any(row.get(c) is not None for row in shown)
        for c in columns
    ]
    right = {i for i, is_number in enumerate(numeric) if is_number}
    out = text_table(headers, cells, right=right, separator=" | ", rule="-+-")
    if len(rows) > limit:
        more = len(rows) - limit
        out.append(f"... {more} more row{'s' if more > 1 else ''}")
    return "\n".join(out)


def rows_table(
    rows: Sequence[Mapping[str, Any]], limit: int = 10, *, width: int = _CELL_WIDTH
) -> str:
    """Rows as an aligned text table: a header, `null` for None, cells cut to `width` with `...`.

    At most `limit` rows are shown; a last line says how many more there are.
    """
    return _table(rows, limit, width)
