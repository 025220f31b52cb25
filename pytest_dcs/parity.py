"""The parity check of `rung.result`: the output at `distributed` against the one kept at `local`
(same input, one partition against many), rows compared with order ignored and floats
approximately; a difference is a `parity` failure with the differing rows and a hint why."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pytest_dcs import checks
from pytest_dcs.data.results import MAX_KEPT_ROWS, KeptResult
from pytest_dcs.failures import DcsFailure
from pytest_dcs.rowdiff import RowsDiff, diff_rows

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

PARITY_ADVICE = (
    "the same input gave different outputs in 1 partition (local) and in many (distributed): "
    "the result depends on row order or partitioning"
)
# Relative and absolute tolerance for floating-point values in parity comparisons.
PARITY_REL_TOL = 1e-9
PARITY_ABS_TOL = 1e-12


def keep_output(df: DataFrame) -> KeptResult:
    """`df`'s rows as kept for the comparison (None past `MAX_KEPT_ROWS`), its columns, types."""
    rows = df.limit(MAX_KEPT_ROWS + 1).collect()
    kept = [tuple(r) for r in rows] if len(rows) <= MAX_KEPT_ROWS else None
    types = tuple(f.dataType.simpleString() for f in df.schema.fields)
    return KeptResult(tuple(df.columns), df.schema.simpleString(), kept, types)


def check_parity(
    local: KeptResult | None, df: DataFrame, label: str, limit: int
) -> tuple[dict[str, Any], DcsFailure | None]:
    """What the comparison of `df` with the output kept at `local` found (the report's `parity`
    field), and the `parity` failure when they differ; at most `limit` rows a side are shown."""
    __tracebackhide__ = True
    if local is None:
        return {"result": label, "compared": False, "note": "no local output kept"}, None
    mine = keep_output(df)
    if local.rows is None or mine.rows is None:
        note = f"output larger than {MAX_KEPT_ROWS:,} rows at a tiny rung"
        return {"result": label, "compared": False, "note": note}, None
    if (local.columns, local.schema) != (mine.columns, mine.schema):
        raise DcsFailure(
            "parity",
            f"{label} has schema {mine.schema} at distributed, {local.schema} at local",
            advice=PARITY_ADVICE,
        )
    diff = diff_rows(
        local.rows,
        mine.rows,
        list(mine.columns),
        rel_tol=PARITY_REL_TOL,
        abs_tol=PARITY_ABS_TOL,
    )
    record = {
        "result": label,
        "compared": True,
        "local_rows": len(local.rows),
        "distributed_rows": len(mine.rows),
        "differing_rows": diff.differing,
    }
    if not diff.differing:
        return record, None
    hints = checks.order_hints(df)
    if not hints and _floats_differ(mine, diff):
        hints = [checks.FLOAT_HINT]
    return record, DcsFailure(
        "parity",
        f"{label} differs between local and distributed on the same input: "
        f"{diff.only_expected_count} row(s) only at local, {diff.only_actual_count} only at "
        "distributed",
        offending_rows=[
            *(
                {"side": "local", **dict(zip(mine.columns, r, strict=True))}
                for r in diff.only_expected[:limit]
            ),
            *(
                {"side": "distributed", **dict(zip(mine.columns, r, strict=True))}
                for r in diff.only_actual[:limit]
            ),
        ],
        diff=diff.render(left_label="local", right_label="distributed", limit=limit),
        advice=PARITY_ADVICE + "; " + "; ".join(hints or [checks.GENERIC_HINT]),
    )


def _floats_differ(kept: KeptResult, diff: RowsDiff) -> bool:
    """Whether the differing rows pair up when their floating-point columns are left out."""
    plain = [i for i, t in enumerate(kept.types) if t not in ("double", "float")]
    if len(plain) == len(kept.types):
        return False

    def keys(rows: Sequence[tuple[Any, ...]]) -> list[str]:
        return sorted(repr(tuple(r[i] for i in plain)) for r in rows)

    return keys(diff.only_expected) == keys(diff.only_actual)
