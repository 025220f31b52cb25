"""Offending rows on their way out: masked for the report, and captured beside the sample when
they are rows of the source, to be replayed at `local` from then on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pytest_dcs.rung import RowsSink

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row
    from pyspark.sql.types import StructType

    from pytest_dcs.data.inputs import Inputs
    from pytest_dcs.data.masking import Masker
    from pytest_dcs.run.state import RungState


def rows_sink(
    state: RungState, inputs: Callable[[], Inputs], masker: Masker, *, capture: bool = True
) -> RowsSink:
    """Mask offending rows for the report and capture them when they are source rows (and
    `capture`); `inputs` is called only when there is something to capture."""
    spec = state.spec
    real = state.rung_spec.kind == "fraction"  # below the fraction rungs rows come masked

    def sink(
        df: DataFrame, rows: Sequence[Row], summary: str, of_input: Sequence[Row] | None
    ) -> tuple[list[dict[str, Any]], str | None, str]:
        originals = [tuple(r) for r in rows]
        records = report_records(masker, rows, df.schema, mask=real)
        if real:
            # `rows` above remembered these rows' values; an error's summary may quote
            # another row's (localization found others), which one lookup in `df` finds.
            if masker:
                masker.look_up([df], [summary])
            summary = masker.scrub(summary)
        source = spec.source
        if not capture or not spec.capture or source is None:
            return records, None, summary
        schema = inputs().schema_of(source)
        kept = originals if of_input is None else [tuple(r) for r in of_input]
        if schema is None or schema != df.schema or not kept:
            return records, None, summary
        path, _ = inputs().capture(
            source, schema, kept[: spec.capture], mask=real, provenance=provenance(state, summary)
        )
        return records, str(path), summary

    return sink


def report_records(
    masker: Masker, rows: Sequence[Row], schema: StructType, *, mask: bool
) -> list[dict[str, Any]]:
    """`rows` as the report shows them, column by column: masked by `dcs_mask` when `mask`
    (real rows; below the fraction rungs they come masked)."""
    values = [tuple(r) for r in rows]
    shown = masker.rows(values, schema) if mask else values
    return [dict(zip(schema.fieldNames(), r, strict=True)) for r in shown]


def provenance(state: RungState, summary: str, **more: Any) -> dict[str, Any]:
    """Where captured rows came from, kept beside them."""
    return {
        "test": state.test,
        "rung": state.rung_spec.name,
        "kind": "data",
        "summary": summary,
        **more,
        "captured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def capture_linked(
    state: RungState,
    inputs: Inputs,
    name: str,
    df: DataFrame,
    rows: Sequence[Row],
    summary: str,
) -> str | None:
    """Capture rows of another source the body read (`name`) that the offending rows of its
    own source join with: `local` replays the offending rows beside them. None when the
    source's sample was not read here, has another schema, or nothing is to be captured."""
    if not rows or not state.spec.capture or inputs.schema_of(name) != df.schema:
        return None
    path, _ = inputs.capture(
        name,
        df.schema,
        [tuple(r) for r in rows],
        mask=state.rung_spec.kind == "fraction",
        provenance=provenance(state, summary, linked_to=state.spec.source),
    )
    return str(path)
