"""Choosing rows: the variance-covering tiny sample and the nested fractions of the fraction rungs.

Every choice is made by a stable hash (Spark's xxhash64, seeded) so it is the same on every run
and engine: a row's *unit hash* maps its values (or its sample key, or to cut a parquet file its
index in the file) to [0, 1).

The modules, bottom up: `hashing` (unit hashes, the hash columns the passes carry),
`fractions` (the file line and nested fractions), `footers` (a parquet source's column ends from
its footers), `survey` (the variance reasons and the row or key of smallest hash for each),
`tiny` (what a tiny sample holds), `by_row` and `by_key` (taking it by row, or as whole keys of
a key set), `take` (`take_tiny`: the survey, then one of those).
"""

from pytest_dcs.data.sampling.by_key import (
    KEY_HASH_COLUMN,
    KEY_REASON_COLUMN,
    choose_keys,
    key_set_schema,
    take_keys,
)
from pytest_dcs.data.sampling.by_row import take_rows
from pytest_dcs.data.sampling.fractions import (
    DEFAULT_SCAN_BYTES,
    FileLine,
    FileSource,
    file_line,
    files_fraction,
    fraction_of,
)
from pytest_dcs.data.sampling.hashing import DEFAULT_SEED, check_key, hash_columns, unit_hash
from pytest_dcs.data.sampling.survey import Hit, Survey, survey
from pytest_dcs.data.sampling.take import take_tiny
from pytest_dcs.data.sampling.tiny import DEFAULT_LOW_CARDINALITY, KeyEntry, TinySample

__all__ = [
    "DEFAULT_LOW_CARDINALITY",
    "DEFAULT_SCAN_BYTES",
    "DEFAULT_SEED",
    "KEY_HASH_COLUMN",
    "KEY_REASON_COLUMN",
    "FileLine",
    "FileSource",
    "Hit",
    "KeyEntry",
    "Survey",
    "TinySample",
    "check_key",
    "choose_keys",
    "file_line",
    "files_fraction",
    "fraction_of",
    "hash_columns",
    "key_set_schema",
    "survey",
    "take_keys",
    "take_rows",
    "take_tiny",
    "unit_hash",
]
