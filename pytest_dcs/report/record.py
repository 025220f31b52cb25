"""A rung item's `RungRecord`, built once from its state and its report, and the story the
report shows when the rung failed (masked when its values are real)."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_dcs.failures import Failure, classify, render_story
from pytest_dcs.ladder import RungRecord
from pytest_dcs.run import sealed
from pytest_dcs.run.state import RungState, state_of

if TYPE_CHECKING:
    from pytest_dcs.data.masking import Masker
    from pytest_dcs.spark.engines import Engines

REPORT_ATTRIBUTE = "dcs_rung"
"""The report attribute carrying the record (`RungRecord.to_wire`), also to the xdist controller."""


def record_of(report: pytest.TestReport) -> RungRecord | None:
    """The record a rung item's report carries, else None."""
    wire = getattr(report, REPORT_ATTRIBUTE, None)
    return RungRecord.from_wire(wire) if wire is not None else None


def build_record(
    state: RungState, report: pytest.TestReport, call: pytest.CallInfo[None]
) -> tuple[RungRecord, Failure | None]:
    """The rung's record and, when it failed, its failure (classified unless the guard knew)."""
    rung = state.rung
    failure: Failure | None = None
    reason = None
    if report.failed and call.excinfo is not None:
        failure = state.failure or classify(call.excinfo.value)
        failure.captured_to = getattr(call.excinfo.value, "captured_to", None)
        localized = state.localized
        if localized is not None:
            failure.offending_rows = localized.records
            failure.captured_to = localized.captured_to
            failure.localization = localized.localization
        failure.offending_rows = json.loads(json.dumps(failure.offending_rows, default=str))
        failure.trace = str(report.longreprtext)
        if failure.module:
            failure.advice = _driver_import_note(failure.module) + failure.advice
    elif report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2]).removeprefix("Skipped: ")
    verdict = state.verdict
    ran = report.when == "call"
    body_seconds = state.body_seconds if state.body_seconds is not None else report.duration
    fitted = verdict is not None and verdict.exponent is not None
    record = RungRecord(
        test=state.test,
        rung=state.rung_spec.name,
        outcome="failed" if report.failed else report.outcome,
        key=state.param.sort_key,
        source=state.spec.source,
        seconds=round(body_seconds, 4) if ran else None,
        rows=rung.rows if rung is not None else None,
        fraction=state.rung_spec.fraction,
        exponent=round(verdict.exponent, 3) if verdict and verdict.exponent is not None else None,
        exponent_basis=verdict.basis if verdict is not None and fitted else None,
        failure=failure.to_json() if failure else None,
        task_seconds=round(state.task_seconds, 3)
        if ran and state.task_seconds is not None
        else None,
        overhead_seconds=round(verdict.overhead, 4) if verdict is not None else None,
        timed_twice=state.timed_twice,
        projected_seconds=round(verdict.projected, 2)
        if verdict is not None and verdict.projected is not None
        else None,
        observations=_safely(rung.observations) if rung is not None else {},
        skew=dict(rung.skew) if rung is not None else {},
        parity=rung.parity if rung is not None else None,
        warnings=list(rung.warnings) if rung is not None else [],
        reason=reason,
    )
    return record, failure


def undescribed_record(state: RungState, report: pytest.TestReport, error: Exception) -> RungRecord:
    """The record of a rung whose record could not be built: its outcome and, for a failed
    rung, the failure the guard found, else a `panic` naming the error; pytest's traceback
    stays on the report."""
    failure = None
    if report.failed:
        why = "".join(traceback.format_exception_only(type(error), error)).strip()
        failure = state.failure or Failure(
            "panic",
            f"pytest-dcs could not describe this rung's failure: {why}",
            advice="the test's own error is in the trace; please report this to pytest-dcs",
        )
        failure.trace = f"{report.longreprtext}\n\n{''.join(traceback.format_exception(error))}"
    return RungRecord(
        test=state.test,
        rung=state.rung_spec.name,
        outcome="failed" if report.failed else report.outcome,
        key=state.param.sort_key,
        source=state.spec.source,
        seconds=round(report.duration, 4) if report.when == "call" else None,
        fraction=state.rung_spec.fraction,
        failure=failure.to_json() if failure else None,
    )


class RecordMaker:
    """The plugin object that puts each rung's record on its final report."""

    def __init__(self, config: pytest.Config, engines: Engines, masker: Masker) -> None:
        self.config = config
        self.engines = engines
        self.masker = masker

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        state = state_of(item)
        if state is None:
            return report
        if report.when != "call" and report.passed:
            return report
        try:
            record = self._describe(state, report, call)
        except Exception as exc:
            # A report hook that raises ends the whole run with INTERNALERROR, and the rungs
            # after this one never run: a rung that cannot be described (say, its JVM died in
            # a way nothing above foresaw) still gets a record, which says why.
            record = undescribed_record(state, report, exc)
        # A plain attribute travels with the report to the xdist controller.
        report.__dict__[REPORT_ATTRIBUTE] = record.to_wire()
        _junit_properties(item, record)
        return report

    def _describe(
        self, state: RungState, report: pytest.TestReport, call: pytest.CallInfo[None]
    ) -> RungRecord:
        """The rung's record; for a failed rung, the story replaces pytest's traceback."""
        record, failure = build_record(state, report, call)
        if failure is not None:
            # The short story first; the full trace stays in the JSON report (and at -vv).
            verbose = self.config.get_verbosity() >= 2
            report.longrepr = render_story(failure, rung=record.rung, verbose=verbose)
            # Spark logs a failed task's error as its worker sent it, with the sealed notes.
            report.sections = [(title, sealed.strip(text)) for title, text in report.sections]
            if state.rung_spec.kind == "fraction" and self.masker:
                self._mask_text(state, report, record)
        return record

    def _mask_text(self, state: RungState, report: pytest.TestReport, record: RungRecord) -> None:
        """Replace the real values of masked columns in every text of a failed fraction rung:
        the story (terminal and JUnit), the captured output and the report record. Values of the
        rung's input that the texts quote are looked up first, one filter job per source read."""
        failure = record.failure
        assert failure is not None
        texts = [
            failure["summary"],
            failure["python_trace"],
            str(report.longrepr),
            failure["trace"],
            *(content for _, content in report.sections),
        ]
        usable = failure["kind"] not in ("panic", "timeout") and self.engines.state() == "live"
        frames = state.rung.read.values() if state.rung is not None and usable else ()
        lookup = self.masker.look_up(frames, texts)
        scrub = self.masker.scrub
        report.longrepr = scrub(str(report.longrepr))
        report.sections = [(title, scrub(content)) for title, content in report.sections]
        captured_to = failure["captured_to"]
        record.failure = self.masker.scrub_json(failure)
        record.failure["captured_to"] = captured_to
        record.failure["masking"] = self.masker.scrub_json(lookup)
        record.skew = self.masker.scrub_json(record.skew)


def _safely(read: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """What a rung read from a session that may have died under it ({} then)."""
    try:
        return read()
    except Exception:
        return {}


def _junit_properties(item: pytest.Item, record: RungRecord) -> None:
    """Per-rung facts as JUnit XML properties (`--junitxml`), read from the teardown report."""
    failure = record.failure or {}
    facts = {
        "dcs_rung": record.rung,
        "dcs_outcome": record.outcome,
        "dcs_rows": record.rows,
        "dcs_seconds": record.seconds,
        "dcs_task_seconds": record.task_seconds,
        "dcs_exponent": record.exponent,
        "dcs_kind": failure.get("kind"),
    }
    item.user_properties.extend((k, v) for k, v in facts.items() if v is not None)


def _driver_import_note(module: str) -> str:
    """Where the driver imports a module the executors cannot, to say what to ship."""
    loaded = sys.modules.get(module) or sys.modules.get(module.split(".")[0])
    path = getattr(loaded, "__file__", None)
    return f"{module!r} imports on the driver from {path}; " if path else ""
