"""Taking a tiny sample by row: a row for each variance reason, then rows of smallest hash."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_dcs.data.sampling.hashing import ROW_HASH
from pytest_dcs.data.sampling.survey import Survey
from pytest_dcs.data.sampling.tiny import TinySample, count_reason, strip_hashes, threshold

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def take_rows(base: DataFrame, found: Survey, rows: int) -> TinySample:
    """At most `rows` rows of `base` (made by `with_hashes`): a row for each variance hit in the
    survey's order, those past `rows` dropped and named, then the rows of smallest hash (a seeded
    random sample), read in one pass with the variance rows."""
    chosen: list[float] = []
    reasons: dict[str, int] = {}
    dropped: list[str] = []
    for hit in found.hits:
        if hit.row_hash is None or hit.row_hash in chosen:
            continue
        if len(chosen) >= rows:
            dropped.append(hit.reason)
            continue
        chosen.append(hit.row_hash)
        count_reason(reasons, hit.reason)
    import pyspark.sql.functions as F

    need = rows - len(chosen)
    h = F.col(ROW_HASH)
    wanted = h.isin(chosen) if chosen else F.lit(False)
    picked = {
        r[-1]: tuple(r) for r in base.where(wanted | (h < threshold(need, found.rows))).collect()
    }
    passes = found.passes + 1
    randoms = sorted(v for v in picked if v not in set(chosen))
    if len(randoms) < need and len(picked) < found.rows:
        # The threshold fell short (equal rows share a hash): take the smallest hashes outright.
        passes += 1
        for r in base.orderBy(ROW_HASH).limit(3 * rows).collect():
            picked.setdefault(r[-1], tuple(r))
        randoms = sorted(v for v in picked if v not in set(chosen))
    for value in randoms[:need]:
        chosen.append(value)
        count_reason(reasons, "random")
    sample = [picked[v] for v in chosen if v in picked]
    return TinySample(strip_hashes(sample), reasons, dropped, passes, found=len(found.hits))
