"""Offending rows on their way out: masked for the report, and captured beside the sample when
they are rows of the source, to be replayed at `local` from then on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pytest_dcs.rung import RowsSink

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row

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
        masked = masker.rows(originals, df.schema) if real else originals
        records = [dict(zip(df.columns, r, strict=True)) for r in masked]
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
            source,
            schema,
            kept[: spec.capture],
            mask=real,
            provenance={
                "test": state.test,
                "rung": state.rung_spec.name,
                "kind": "data",
                "summary": summary,
                "captured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            },
        )
        return records, str(path), summary

    return sink
