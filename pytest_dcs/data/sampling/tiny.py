"""What a tiny sample holds (its rows, why each is there, its key set), and the arithmetic the
ways of taking one share: counting reasons, hash thresholds, dropping the carried hashes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_LOW_CARDINALITY = 20
# How many random candidates a pass reads per random row (or key) wanted: hash thresholds are
# estimates, so read more than needed and keep the smallest hashes.
_OVERDRAW = 2


@dataclass(frozen=True)
class KeyEntry:
    """One key of a key set, the reason it is there ("random" or a variance reason)."""

    key: tuple[Any, ...]
    key_hash: float
    reason: str

    @property
    def has_null(self) -> bool:
        return any(v is None for v in self.key)


@dataclass
class TinySample:
    """Rows chosen for a tiny sample and why each variance row is there."""

    rows: list[tuple[Any, ...]]
    reasons: dict[str, int]
    dropped: list[str] = field(default_factory=list)
    passes: int = 0
    found: int = 0
    """Variance reasons the source has (covered or dropped)."""
    keys: list[KeyEntry] = field(default_factory=list)
    """With a key: the key set the sample was drawn from (chosen here, or given)."""
    taken_keys: int = 0
    """With a key: how many keys of the key set the sample holds."""


def count_reason(reasons: dict[str, int], reason: str) -> None:
    """Count one more row (or key) of the sample for `reason`, by its kind ("null", ...)."""
    kind = reason.split(" ", 1)[0]
    reasons[kind] = reasons.get(kind, 0) + 1


def threshold(wanted: int, out_of: int) -> float:
    """A hash threshold below which about `_OVERDRAW` times `wanted` of `out_of` items fall."""
    if wanted <= 0:
        return -1.0
    return min(1.0, (_OVERDRAW * wanted + 16) / max(out_of, 1))


def strip_hashes(rows: Any) -> list[tuple[Any, ...]]:
    """The rows without the row hash carried last, ordered by it so the file diffs stably."""
    width = len(rows[0]) if rows else 0
    hash_at = width - 1
    return [r[:hash_at] for r in sorted(rows, key=lambda r: r[hash_at])]
