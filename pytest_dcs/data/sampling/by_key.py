"""Taking a tiny sample by key: whole keys of one key set, shared by every source sampled by
the same `sample_key` so their samples join whole."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_dcs.data.sampling.hashing import KEY_HASH, ROW_HASH, column
from pytest_dcs.data.sampling.survey import Survey
from pytest_dcs.data.sampling.tiny import (
    KeyEntry,
    TinySample,
    count_reason,
    strip_hashes,
    threshold,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

# The columns a key set file holds after the key's own: each key's hash and why it is there.
KEY_HASH_COLUMN = "dcs_key_hash"
KEY_REASON_COLUMN = "dcs_reason"


def key_set_schema(schema: StructType, key: Sequence[str]) -> StructType:
    """The schema of a key set file: the key's columns of `schema`, its hash, its reason."""
    from pyspark.sql import types as T

    fields = [schema[k] for k in key]
    fields += [
        T.StructField(KEY_HASH_COLUMN, T.DoubleType(), nullable=False),
        T.StructField(KEY_REASON_COLUMN, T.StringType(), nullable=False),
    ]
    return T.StructType(fields)


def choose_keys(
    found: Survey, candidates: Mapping[float, tuple[tuple[Any, ...], int]], size: int
) -> list[KeyEntry]:
    """A key set of at most `size` keys: the keys of the variance hits in their order, then the
    candidate keys of smallest hash (the keys the smallest fraction rungs keep)."""
    entries: dict[float, KeyEntry] = {}
    for hit in found.hits:
        if len(entries) >= size:
            break
        key_hash = hit.key_hash
        if key_hash is not None and key_hash in candidates and key_hash not in entries:
            entries[key_hash] = KeyEntry(candidates[key_hash][0], key_hash, hit.reason)
    for key_hash in sorted(candidates):
        if len(entries) >= size:
            break
        if key_hash not in entries:
            entries[key_hash] = KeyEntry(candidates[key_hash][0], key_hash, "random")
    return list(entries.values())


def take_keys(
    base: DataFrame,
    schema: StructType,
    found: Survey,
    rows: int,
    key: Sequence[str],
    keys: Sequence[KeyEntry] | None,
) -> TinySample:
    """Every row of as many keys of a key set as fit in `rows`, in the key set's order.

    Without `keys` the key set is chosen from this source (`choose_keys`); with them (another
    source's key set) this source's sample holds only keys of that set, so samples of sources
    that share a `sample_key` join whole. A key is taken whole or not at all, so per-key logic
    sees real groups; a key too big for what is left of the budget is skipped (and named). Rows
    whose key has a null are one group at scale (often the heaviest: the talks' 'MISSING'
    client); at most a twentieth of the sample is spent on them, the rows of smallest hash.
    """
    import pyspark.sql.functions as F

    kh, h = F.col(KEY_HASH), F.col(ROW_HASH)
    known = [e.key_hash for e in keys] if keys is not None else []
    hit_hashes = [x.key_hash for x in found.hits if x.key_hash is not None]
    wanted = known + hit_hashes
    condition = kh.isin(sorted(set(wanted))) if wanted else F.lit(False)
    if keys is None:
        condition = condition | (kh < threshold(rows, found.keys))
    key_struct = F.struct(*[column(k) for k in key])
    counted = (
        base.where(condition)
        .groupBy(KEY_HASH)
        # Every row of a group has the same key: min picks it without hashing whole rows.
        .agg(F.count(F.lit(1)).alias("n"), F.min(key_struct).alias("k"))
        .collect()
    )
    sizes = {r[KEY_HASH]: (tuple(r["k"]), int(r["n"])) for r in counted}
    key_set = list(keys) if keys is not None else choose_keys(found, sizes, rows)
    null_budget = max(1, rows // 20)
    whole: list[float] = []
    partial: dict[float, int] = {}
    used = 0
    for entry in key_set:
        size = sizes.get(entry.key_hash, (entry.key, 0))[1]
        take = min(size, null_budget) if entry.has_null else size
        if not take or used + take > rows:
            continue
        if entry.has_null:
            partial[entry.key_hash] = take
        else:
            whole.append(entry.key_hash)
        used += take
    taken = set(whole) | set(partial)
    reasons: dict[str, int] = {}
    dropped: list[str] = []
    in_set = {e.key_hash for e in key_set}
    for hit in found.hits:
        if hit.key_hash in taken:
            continue
        value, size = sizes.get(hit.key_hash, ((), 0))
        shown = value[0] if len(value) == 1 else value
        if hit.key_hash not in in_set:
            dropped.append(f"{hit.reason} (its key {shown!r} is not in the key set)")
        else:
            dropped.append(f"{hit.reason} (key {shown!r} has {size} rows)")
    for entry in key_set:
        if entry.key_hash in taken:
            count_reason(reasons, entry.reason)
    rows_of = kh.isin(whole) if whole else F.lit(False)
    for key_hash, take in partial.items():
        size = sizes[key_hash][1]
        rows_of = rows_of | ((kh == F.lit(key_hash)) & (h < threshold(take, size)))
    picked: list[tuple[Any, ...]] = []
    nulls: dict[float, list[tuple[Any, ...]]] = {k: [] for k in partial}
    for r in base.where(rows_of).collect():
        row = tuple(r)
        if row[-1] in partial:
            nulls[row[-1]].append(row)
        else:
            picked.append(row)
    for key_hash, group in nulls.items():
        picked += sorted(group, key=lambda r: r[-2])[: partial[key_hash]]
    sample = strip_hashes([r[:-1] for r in picked])
    return TinySample(
        sample,
        reasons,
        dropped,
        found.passes + 2,
        found=len(found.hits),
        keys=key_set,
        taken_keys=len(taken),
    )
