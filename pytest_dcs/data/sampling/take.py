"""Taking a tiny sample: survey the source, then take it by row or by key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_dcs.data.sampling.by_key import take_keys
from pytest_dcs.data.sampling.by_row import take_rows
from pytest_dcs.data.sampling.footers import footer_ends
from pytest_dcs.data.sampling.hashing import check_key, with_hashes
from pytest_dcs.data.sampling.survey import generated_code, survey
from pytest_dcs.data.sampling.tiny import DEFAULT_LOW_CARDINALITY, KeyEntry, TinySample

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def take_tiny(
    df: DataFrame,
    rows: int,
    *,
    key: Sequence[str] = (),
    keys: Sequence[KeyEntry] | None = None,
    low_cardinality: int = DEFAULT_LOW_CARDINALITY,
) -> TinySample:
    """A variance-covering sample of at most `rows` rows, in three or four passes (and a read of
    the first rows).

    A survey (`survey`: plain aggregates, then one of the smallest hash per reason) finds, where
    `df` has them, a row with a null in each nullable column, an empty string in each string
    column, the min and max of each orderable column, and a row for every value of columns with
    at most `low_cardinality` values. Those rows come first; if they alone exceed `rows`, the
    later ones are dropped and named in `dropped`. The rest are the rows of smallest hash (a
    seeded random sample), read in the same last pass as the variance rows.

    With a `key`, the sample is made of whole keys of a key set instead (see `take_keys`): the
    given `keys`, or one chosen here from the keys of the variance rows and random keys.
    """
    if key:
        check_key(df.schema, key)
    with generated_code(df.sparkSession):
        return _take_tiny(df, rows, key, keys, low_cardinality)


def _take_tiny(
    df: DataFrame,
    rows: int,
    key: Sequence[str],
    keys: Sequence[KeyEntry] | None,
    low_cardinality: int,
) -> TinySample:
    base = with_hashes(df, key)
    found = survey(base, df.schema, key, low_cardinality, footer_ends(df, df.columns))
    if key:
        return take_keys(base, df.schema, found, rows, key, keys)
    return take_rows(base, found, rows)
