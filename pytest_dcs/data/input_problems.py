"""What can be wrong with a rung's input, each said with where it came from and the fix: a
source that cannot be read, a `dcs_mask` column no source has, a `sample_key` its source lacks,
and a tiny sample that had to drop variance reasons."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from pytest_dcs.data.sampling import TinySample
from pytest_dcs.data.sources import SourceSpec
from pytest_dcs.rungs import RungSpec


class SourceUnreadable(Exception):
    """The real source could not be read; carries the reader's error."""

    def __init__(self, source: SourceSpec, rung: RungSpec, error: BaseException) -> None:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        hint = (
            "cap the ladder below it with --dcs-max-rung=distributed"
            if rung.kind == "fraction"
            else "check the path, or commit the tiny sample so the local rungs need no source"
        )
        super().__init__(
            f"source {source.describe()} could not be read at rung {rung.name}: "
            f"{type(error).__name__}: {first}\nIf this machine cannot reach it, {hint}."
        )
        self.error = error


class MaskError(Exception):
    """`dcs_mask` names a column that no source has: a typo that would leave data unmasked."""


def mask_problem(mask: Iterable[str], columns: Mapping[str, Sequence[str]]) -> str | None:
    """Why `dcs_mask` is wrong given every source's columns, or None: a masked column must be
    a column (its exact name: masking matches names exactly) of at least one source."""
    unknown = sorted(c for c in mask if not any(c in cols for cols in columns.values()))
    if not unknown:
        return None
    lines = []
    for column in unknown:
        near = sorted({c for cols in columns.values() for c in cols if c.lower() == column.lower()})
        hint = f" (did you mean {', '.join(map(repr, near))}?)" if near else ""
        lines.append(f"dcs_mask names column {column!r}, which no source has{hint}")
    have = "; ".join(f"{name} has {', '.join(cols)}" for name, cols in sorted(columns.items()))
    return (
        "; ".join(lines) + f". {have}. Fix the column name in dcs_mask (the ini file's "
        "[pytest] section or pyproject's [tool.pytest.ini_options]): masking matches exact "
        "column names, so a misspelt one leaves the real values unmasked."
    )


# Variance reasons a warning names before "and N more" (the meta file lists them all).
NAMED_IN_WARNING = 5


class SampleWarning(UserWarning):
    """A tiny sample that holds less of its source's variance than it could."""


class SampleKeyMissing(KeyError):
    """The marker's `sample_key` names a column its source does not have."""


def key_missing_message(source: str, key: Sequence[str], columns: Sequence[str]) -> str:
    """What is wrong with a `sample_key` naming columns `source` does not have, and the fix."""
    missing = [k for k in key if k not in columns]
    return (
        f"sample_key {', '.join(map(repr, missing))} of @pytest.mark.scale is not a column of "
        f"source {source!r} (its columns: {', '.join(columns)}). Name a column of the source "
        "in sample_key, or leave sample_key out to sample by rows."
    )


def collapse_warning(
    source: str, key: Sequence[str], tiny: TinySample, tiny_rows: int, meta: Path
) -> str | None:
    """The warning for a sample that had to drop variance reasons, or None when it kept all."""
    if not tiny.dropped:
        return None
    named = "; ".join(tiny.dropped[:NAMED_IN_WARNING])
    more = len(tiny.dropped) - NAMED_IN_WARNING
    named += f"; and {more} more" if more > 0 else ""
    kept = tiny.found - len(tiny.dropped)
    if key:
        held = f"{len(tiny.rows)} rows of {tiny.taken_keys} keys (by {'+'.join(key)})"
        fix = (
            f"raise dcs_tiny_rows (now {tiny_rows}) or choose a sample_key with fewer rows per key"
        )
    else:
        held = f"{len(tiny.rows)} rows"
        fix = f"raise dcs_tiny_rows (now {tiny_rows})"
    return (
        f"the tiny sample of {source!r} holds {held} with {kept} of the {tiny.found} variance "
        f"reasons the source has; dropped {len(tiny.dropped)}: {named} (all in {meta}). "
        f"To keep them, {fix}."
    )
