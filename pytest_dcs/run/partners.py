"""The other sources a body reads: where the offending rows of a join come from.

A body that joins its input with another source (`rung.source("clients")`) can fail on a row of
that other source, its *partner*. The search re-runs the body on subsets of its own input only,
with the partner whole, so such a row is found through the input rows that join with it: those
holding the same *link* values. The link is the marker's `sample_key` when both sources have it
(the documented way to join two sources consistently), else each column the two share.

And a row found that way fails on its own only beside its partner rows: `local` replays it
with the partner's tiny sample, which may not hold them. So the partner rows linked to the rows
found are captured with them (`linked_rows`), and the failure is checked on both together
before anything is captured.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_dcs.run.search import collect_few
from pytest_dcs.run.searchspace import column

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row
    from pyspark.sql.types import StructType

# Link values read from a partner for one clue: beyond, the clue points at a common value.
MAX_LINK_VALUES = 1_000
# Partner rows captured beside the rows found (a key can have many rows in a partner).
MAX_LINKED_ROWS = 100


@dataclass(frozen=True)
class Partner:
    """Another source the body read at this rung, and how its rows link to the input's."""

    name: str
    df: DataFrame
    links: tuple[str, ...]
    keyed: bool
    """Whether `links` is the `sample_key` (rows link when all of it matches), not the
    columns both sources have (rows link when any one matches)."""

    @property
    def schema(self) -> StructType:
        return self.df.schema

    def has(self, columns: Sequence[str]) -> bool:
        names = set(self.schema.fieldNames())
        return all(c in names for c in columns)


def partners_of(
    read: Mapping[str, DataFrame], own: str | None, input_schema: StructType, key: Sequence[str]
) -> list[Partner]:
    """The sources other than `own` that a rung read, each with its link to the input; a
    source that shares no column with the input cannot be linked and is left out."""
    found: list[Partner] = []
    own_names = input_schema.fieldNames()
    for name, df in read.items():
        if name == own:
            continue
        names = set(df.schema.fieldNames())
        if key and all(k in names and k in own_names for k in key):
            found.append(Partner(name, df, tuple(key), keyed=True))
            continue
        shared = tuple(c for c in own_names if c in names)
        if shared:
            found.append(Partner(name, df, shared, keyed=False))
    return found


def link_condition(partner: Partner, values: Sequence[Sequence[Any]]) -> Column | None:
    """Rows (of the input or of the partner) holding one of the link `values` (tuples in the
    order of `partner.links`); null link values join nothing and are left out."""
    from pyspark.sql import functions as F

    terms: list[Column] = []
    if partner.keyed:
        for value in dict.fromkeys(tuple(v) for v in values):
            if any(v is None for v in value):
                continue
            parts = [column(c) == F.lit(v) for c, v in zip(partner.links, value, strict=True)]
            terms.append(functools.reduce(lambda a, b: a & b, parts))
    else:
        for index, name in enumerate(partner.links):
            single = sorted({v[index] for v in values if v[index] is not None}, key=repr)
            if single:
                terms.append(column(name).isin(single))
    return functools.reduce(lambda a, b: a | b, terms) if terms else None


def linked_input(partner: Partner, condition: Column) -> Column | None:
    """Rows of the input that link to the partner's rows matching `condition`: one job over the
    partner. None when no partner row matches, or too many link values for a clue."""
    links = partner.df.where(condition).select(*[column(c) for c in partner.links]).distinct()
    values = collect_few(links, MAX_LINK_VALUES + 1)
    if not values or len(values) > MAX_LINK_VALUES:
        return None
    return link_condition(partner, [tuple(v) for v in values])


def linked_rows(partner: Partner, rows: Sequence[Row]) -> list[Row]:
    """The partner's rows that link to `rows` (rows of the input), at most `MAX_LINKED_ROWS`."""
    values = [tuple(row[c] for c in partner.links) for row in rows]
    condition = link_condition(partner, values)
    if condition is None:
        return []
    return collect_few(partner.df.where(condition), MAX_LINKED_ROWS)
