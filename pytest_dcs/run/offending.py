"""When a body fails: say so if the kept sample is stale, and find the rows it fails on."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from pytest_dcs.data.capture import capture_linked, report_records, rows_sink
from pytest_dcs.failures import DcsFailure, classify, error_identity
from pytest_dcs.run.partners import Partner, linked_rows, partners_of
from pytest_dcs.run.rerun import call_body
from pytest_dcs.run.state import Localized, RungState
from pytest_dcs.spark.jobs import job_tag
from pytest_dcs.spark.plans import scanned_columns

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row, SparkSession
    from pyspark.sql.types import StructType

    from pytest_dcs.data.inputs import Inputs
    from pytest_dcs.data.masking import Masker
    from pytest_dcs.run.search import Outcome
    from pytest_dcs.rung import Rung


def check_sample_schema(state: RungState, rung: Rung, inputs: Inputs, exc: Exception) -> None:
    """When code meets columns it does not expect on the tiny sample, say so if the sample
    was taken before the source's schema changed: the fix is a refresh, not the code."""
    __tracebackhide__ = True
    source = state.spec.source
    if source is None or state.rung_spec.kind == "fraction" or isinstance(exc, DcsFailure):
        return
    if classify(exc).signature != "analysis_error":
        return
    stale = inputs.stale(source, rung.spark, state.rung_spec, state.spec.sample_key)
    if stale is not None:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DcsFailure(
            "data",
            stale,
            advice=(
                "take the sample again with pytest --dcs-refresh-samples, review the new "
                "file and commit it; rows captured earlier keep being replayed"
            ),
            details=f"the body failed on the kept sample with: {first}",
        ) from exc


def localize(
    item: pytest.Function,
    state: RungState,
    rung: Rung,
    exc: Exception,
    *,
    budget: float,
    inputs: Callable[[], Inputs],
    masker: Masker,
) -> Localized | None:
    """Re-run a body that failed on data on subsets of its input to find the offending rows,
    within `budget` seconds; None when the failure is not one rows can explain."""
    from pytest_dcs.run.localize import Localizer

    source = rung.input
    limit = state.spec.capture
    if source is None or isinstance(exc, DcsFailure) or not limit or budget <= 0:
        return None
    failure = classify(exc)
    if failure.kind != "data" or failure.signature == "analysis_error":
        return None  # an unresolved column fails every subset of rows the same way
    identity = error_identity(exc)

    def replay(subset: DataFrame, partners: Mapping[str, DataFrame] | None = None) -> Outcome:
        with rung.replaced(subset, partners):
            try:
                call_body(item, subset)
            except Exception as again:
                # The re-run's own error: it is raised while `exc` is handled, so `exc` is
                # its context, which must not make a different error look the same.
                same = not isinstance(again, DcsFailure) and error_identity(again) == identity
                return "same" if same else "other"
        return "passed"

    partners = partners_of(rung.read, state.spec.source, source.schema, state.spec.sample_key)
    try:
        # A body that read no column (a count) tells nothing of which columns matter.
        read = scanned_columns(rung.spark, job_tag(item.nodeid)) or None
    except Exception:  # Spark's internals: without them every column is looked at
        read = None
    found = Localizer(
        rung.spark,
        source,
        replay,
        limit=limit,
        budget=budget,
        identity=identity,
        message=identity.message,
        partners=partners,
        read=read,
        rung_calls=state.rung_calls,
    ).run()
    record: dict[str, Any] = found.to_json(budget)
    record["story"] = found.describe(budget)
    if read is not None:
        record["columns_read"] = sorted(read)
    records: list[dict[str, Any]] = []
    captured_to = None
    if found.rows:
        linked = _linked(partners, found.rows)
        unreplayed = _unreplayed(state, masker, rung.spark, source, found.rows, linked, replay)
        replays = unreplayed is None
        sink = rows_sink(state, inputs, masker, capture=replays)
        records, captured_to, summary = sink(source, found.rows, failure.summary, None)
        if unreplayed is not None:
            record["story"] += (
                f"; not captured: {unreplayed}, the rows no longer fail, so `local` could not "
                "replay the failure"
            )
        if linked:
            record["linked"] = {}
            real = state.rung_spec.kind == "fraction"  # below, the rows come masked
            for partner, rows in linked:
                to = None
                # Below the fraction rungs the other source's sample holds them already.
                if replays and captured_to is not None and real:
                    to = capture_linked(state, inputs(), partner.name, partner.df, rows, summary)
                record["linked"][partner.name] = {
                    "rows": len(rows),
                    "records": report_records(masker, rows, partner.schema, mask=real),
                    "captured_to": to,
                }
                if to is not None:
                    record["story"] += (
                        f"; captured with the {len(rows)} row(s) of {partner.name!r} they join"
                    )
    return Localized(records, captured_to, record)


def _linked(partners: Sequence[Partner], rows: Sequence[Row]) -> list[tuple[Partner, list[Row]]]:
    """The rows of each other source the body read that `rows` link to (by `sample_key`, or
    the columns they share), where there are any."""
    found: list[tuple[Partner, list[Row]]] = []
    for partner in partners:
        try:
            linked = linked_rows(partner, rows)
        except Exception:  # a help for the replay: its failure must not hide the rows found
            continue
        if linked:
            found.append((partner, linked))
    return found


def _unreplayed(
    state: RungState,
    masker: Masker,
    spark: SparkSession,
    source: DataFrame,
    rows: Sequence[Row],
    linked: Sequence[tuple[Partner, list[Row]]],
    replay: Callable[[DataFrame, Mapping[str, DataFrame] | None], Outcome],
) -> str | None:
    """Why rows found at a fraction rung would not fail as `local` will replay them, or None
    when they do (or need no check): replayed with the `dcs_mask` columns masked (rows below
    are masked already), and beside only the rows of the other sources the body read that
    they link to."""
    if state.rung_spec.kind != "fraction":
        return None
    originals = [tuple(r) for r in rows]
    masked = bool(masker) and masker.rows(originals, source.schema) != originals
    if not masked and not linked:
        return None

    def frame(rows: Sequence[Row], schema: StructType) -> DataFrame:
        originals = [tuple(r) for r in rows]
        return spark.createDataFrame(
            masker.rows(originals, schema) if masker else originals, schema
        )

    try:
        partners = {p.name: frame(r, p.schema) for p, r in linked}
        if replay(frame(rows, source.schema), partners) == "same":
            return None
    except Exception:  # the session may have gone: capture as before
        return None
    why = ["masked by dcs_mask"] if masked else []
    if linked:
        names = ", ".join(repr(p.name) for p, _ in linked)
        why.append(f"beside only the rows of {names} they join")
    return " and ".join(why)
