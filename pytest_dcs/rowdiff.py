"""Diff two small lists of rows as multisets, floats approximately, and render the difference.

Spark-free: the `parity` check diffs the collected outputs of `local` and `distributed` with
`diff_rows`, and `assert_frames_equal` renders the bounded sample it fetched with the same
`RowsDiff.render`, so both failures read alike.

The tolerance rule, shared with `pytest_dcs.compare`: two floats are equal when
``abs(a - b) <= max(rel_tol * max(abs(a), abs(b)), abs_tol)`` (`math.isclose`), NaN equals NaN,
``-0.0`` equals ``0.0`` and an infinity only equals itself. Every other value compares with
``==``; a map equals a map with the same keys and values whatever their order.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict, deque
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pytest_dcs.report.table import text_table

CELL_WIDTH = 40


@dataclass(frozen=True)
class Tolerance:
    """How far apart two floats may be and still count as equal (the `math.isclose` rule)."""

    rel_tol: float = 1e-9
    abs_tol: float = 1e-12

    def __post_init__(self) -> None:
        for name in ("rel_tol", "abs_tol"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.rel_tol >= 1:
            raise ValueError(f"rel_tol must be below 1, got {self.rel_tol!r}")

    def close(self, a: float, b: float) -> bool:
        """Whether `a` and `b` are equal under this tolerance."""
        if a == b:
            return True
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if math.isinf(a) or math.isinf(b):
            return False
        return abs(a - b) <= max(self.rel_tol * max(abs(a), abs(b)), self.abs_tol)

    def step(self, x: float) -> float:
        """The width of the rounding bucket of a finite, non-zero `x`; 0 means no rounding.

        At most `rel_tol * |x|` or `abs_tol`, whichever is larger, so two values that round to
        the same representative are always close; close values may still round apart when a
        bucket boundary falls between them, which is why the exact pass has a second, pairing
        pass after it.
        """
        return max(10.0 ** math.floor(math.log10(abs(x))) * self.rel_tol, self.abs_tol)

    def round(self, x: float) -> float:
        """The representative of `x`'s bucket (NaN and infinities stay, -0.0 becomes 0.0)."""
        if x == 0:
            return 0.0
        if not math.isfinite(x):
            return x
        step = self.step(x)
        return round(x / step) * step if step > 0 else x


class _NaN:
    """Stands for NaN in canonical rows, where NaN != NaN would break the multiset."""

    def __repr__(self) -> str:
        return "NaN"


NAN = _NaN()


def canonical(value: Any, tolerance: Tolerance) -> Hashable:
    """A hashable stand-in for `value`: floats rounded to their bucket, maps as sorted pairs."""
    if isinstance(value, float):
        return NAN if math.isnan(value) else tolerance.round(value)
    if isinstance(value, Mapping):
        pairs = [(canonical(k, tolerance), canonical(v, tolerance)) for k, v in value.items()]
        return ("map", tuple(sorted(pairs, key=repr)))
    if isinstance(value, (list, tuple)):
        return tuple(canonical(v, tolerance) for v in value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return value


def values_close(a: Any, b: Any, tolerance: Tolerance) -> bool:
    """Whether two values are equal under the tolerance rule, nested values included."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and isinstance(b, float):
        return tolerance.close(a, b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if len(a) != len(b):
            return False
        by_key = sorted(a.items(), key=lambda kv: repr(canonical(kv[0], tolerance)))
        other = sorted(b.items(), key=lambda kv: repr(canonical(kv[0], tolerance)))
        return all(
            values_close(ka, kb, tolerance) and values_close(va, vb, tolerance)
            for (ka, va), (kb, vb) in zip(by_key, other, strict=True)
        )
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(
            values_close(x, y, tolerance) for x, y in zip(a, b, strict=True)
        )
    return bool(a == b)


Row = tuple[Any, ...]


@dataclass(frozen=True)
class RowsDiff:
    """The rows two collections do not have in common, as multisets.

    `only_expected` / `only_actual` hold the differing rows (all of them from `diff_rows`, a
    bounded sample from `assert_frames_equal`); the `*_count` fields are the true totals, and
    `expected_rows` / `actual_rows` the sizes of the two collections.
    """

    columns: tuple[str, ...]
    only_expected: tuple[Row, ...]
    only_actual: tuple[Row, ...]
    only_expected_count: int
    only_actual_count: int
    expected_rows: int
    actual_rows: int
    tolerance: Tolerance = field(default_factory=Tolerance)

    @property
    def equal(self) -> bool:
        """True when every row of one side was matched by a row of the other."""
        return self.only_expected_count == 0 and self.only_actual_count == 0

    @property
    def differing(self) -> int:
        return self.only_expected_count + self.only_actual_count

    def summary(self, left_label: str = "expected", right_label: str = "actual") -> str:
        """One line, e.g. '3 of 2,000,001 rows differ (1,000,001 actual, 1,000,000 expected):
        2 only in actual, 1 only in expected'. Both counts are of rows on both sides."""
        if self.equal:
            return f"all {self.actual_rows:,} rows are equal"
        return (
            f"{self.differing:,} of {self.actual_rows + self.expected_rows:,} rows differ "
            f"({self.actual_rows:,} {right_label}, {self.expected_rows:,} {left_label}): "
            f"{self.only_actual_count:,} only in {right_label}, "
            f"{self.only_expected_count:,} only in {left_label}"
        )

    def render(
        self, left_label: str = "expected", right_label: str = "actual", limit: int = 10
    ) -> str:
        """The summary line, then up to `limit` differing rows as a plain-text table.

        Rows of the left side (expected) are marked `-`, rows of the right side (actual) `+`.
        A left row is shown above the right row most like it (the most equal cells), and a line
        of `^` under the pair points at the cells that differ.
        """
        lines = [self.summary(left_label, right_label)]
        if self.equal:
            return lines[0]
        entries = _pick_entries(self.only_expected, self.only_actual, self.tolerance, limit)
        shown = sum(len([r for r in entry if r is not None]) for entry in entries)
        lines += _table(self.columns, entries, left_label, right_label, self.tolerance)
        if shown < self.differing:
            lines.append(f"... {self.differing - shown:,} more differing rows not shown")
        return "\n".join(lines)


def diff_rows(
    expected_rows: Iterable[Sequence[Any] | Mapping[str, Any]],
    actual_rows: Iterable[Sequence[Any] | Mapping[str, Any]],
    columns: Sequence[str],
    *,
    rel_tol: float = 1e-9,
    abs_tol: float = 1e-12,
) -> RowsDiff:
    """Diff two small collections of rows, ignoring their order, duplicates counted.

    Rows are sequences of values in `columns` order (tuples, lists, pyspark `Row`s) or
    mappings from column name to value. Floats follow the module's tolerance rule, at any depth
    (inside lists, maps and structs). Rows equal after rounding floats to their tolerance
    bucket match first; the rows left are then paired greedily by the tolerance rule itself,
    so close floats on either side of a bucket boundary still match.

    Holds both collections in memory: meant for collected outputs of a tiny sample.
    """
    tolerance = Tolerance(rel_tol, abs_tol)
    names = tuple(columns)
    expected = [_as_row(r, names) for r in expected_rows]
    actual = [_as_row(r, names) for r in actual_rows]

    waiting: dict[Hashable, deque[int]] = defaultdict(deque)
    for index, row in enumerate(expected):
        waiting[canonical(row, tolerance)].append(index)
    only_actual: list[Row] = []
    for row in actual:
        matches = waiting.get(canonical(row, tolerance))
        if matches:
            matches.popleft()
        else:
            only_actual.append(row)
    left = sorted(i for indexes in waiting.values() for i in indexes)
    only_expected = [expected[i] for i in left]

    unmatched_expected: list[Row] = []
    for row in only_expected:
        partner = next(
            (j for j, other in enumerate(only_actual) if values_close(row, other, tolerance)),
            None,
        )
        if partner is None:
            unmatched_expected.append(row)
        else:
            del only_actual[partner]
    return RowsDiff(
        columns=names,
        only_expected=tuple(unmatched_expected),
        only_actual=tuple(only_actual),
        only_expected_count=len(unmatched_expected),
        only_actual_count=len(only_actual),
        expected_rows=len(expected),
        actual_rows=len(actual),
        tolerance=tolerance,
    )


def _as_row(row: Sequence[Any] | Mapping[str, Any], columns: tuple[str, ...]) -> Row:
    if isinstance(row, Mapping):
        missing = [c for c in columns if c not in row]
        if missing:
            raise ValueError(f"row {row!r} has no column {', '.join(map(repr, missing))}")
        return tuple(row[c] for c in columns)
    values = tuple(row)
    if len(values) != len(columns):
        raise ValueError(
            f"row {values!r} has {len(values)} values, expected {len(columns)} "
            f"({', '.join(columns)})"
        )
    return values


# A displayed entry: (left row or None, right row or None); both set for a pair.
Entry = tuple["Row | None", "Row | None"]


def _pick_entries(
    left: Sequence[Row], right: Sequence[Row], tolerance: Tolerance, limit: int
) -> list[Entry]:
    """Up to `limit` rows to show: the most alike left/right pairs first, then the rest
    alternately from each side, in value order."""
    left, right = list(left[:limit]), list(right[:limit])
    pairs: list[Entry] = []
    free = list(range(len(right)))
    singles_left: list[Row] = []
    for row in left:
        scores = [(_alike(row, right[j], tolerance), -j) for j in free]
        best = max(scores, default=(0, 0))
        if best[0] > 0:
            free.remove(-best[1])
            pairs.append((row, right[-best[1]]))
        else:
            singles_left.append(row)
    singles_right = [right[j] for j in free]

    budget = max(limit, 0)
    chosen: list[Entry] = []
    for pair in pairs:
        if budget >= 2:
            chosen.append(pair)
            budget -= 2
    queues: list[deque[Entry]] = [
        deque((r, None) for r in singles_left),
        deque((None, r) for r in singles_right),
    ]
    turn = 0
    while budget > 0 and any(queues):
        if queues[turn]:
            chosen.append(queues[turn].popleft())
            budget -= 1
        turn = 1 - turn
    return sorted(chosen, key=lambda e: _order_key(e[0] if e[0] is not None else e[1]))


def _alike(a: Row, b: Row, tolerance: Tolerance) -> int:
    return sum(values_close(x, y, tolerance) for x, y in zip(a, b, strict=True))


def _order_key(row: Row | None) -> tuple[Any, ...]:
    """Sorts rows by their values without comparing unlike types (None, numbers, text...)."""
    key: list[tuple[Any, ...]] = []
    for value in row or ():
        if value is None:
            key.append((0,))
        elif isinstance(value, (bool, int, float, Decimal)) and not (
            isinstance(value, float) and math.isnan(value)
        ):
            key.append((1, value))
        elif isinstance(value, str):
            key.append((2, value))
        else:
            key.append((3, format_value(value)))
    return tuple(key)


def format_value(value: Any) -> str:
    """A cell as the diff shows it: strings quoted (so blanks show), null as `null`."""
    if value is None:
        return "null"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return (
            "{" + ", ".join(f"{format_value(k)}: {format_value(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, tuple) and hasattr(value, "asDict"):  # a pyspark Row (a struct)
        fields = value.asDict()
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in fields.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return repr(value)


def _cell(value: Any) -> str:
    text = " ".join(format_value(value).split("\n"))
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 3] + "..."


def _table(
    columns: Sequence[str],
    entries: Sequence[Entry],
    left_label: str,
    right_label: str,
    tolerance: Tolerance,
) -> list[str]:
    rows: list[list[str]] = []
    for left, right in entries:
        if left is not None:
            rows.append(["-", left_label, *map(_cell, left)])
        if right is not None:
            cells = [_cell(v) for v in right]
            rows.append(["+", right_label, *cells])
            if left is not None:
                # Under the right side's cells that differ from the left's.
                marks = [
                    not values_close(a, b, tolerance) for a, b in zip(left, right, strict=True)
                ]
                if any(marks):
                    rows.append(
                        [
                            "",
                            "",
                            *("^" * len(c) if m else "" for c, m in zip(cells, marks, strict=True)),
                        ]
                    )
    return text_table(["", "side", *columns], rows, separator=" | ", rule="-+-", indent=" ")
