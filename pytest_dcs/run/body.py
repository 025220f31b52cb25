"""The one wrapper around a rung's test body (`pytest_pyfunc_call`), its steps in plain order.

Outside in: a progress line when the body runs long; the guard (its jobs tagged, cancelled at the
rung's timeout, a dead session read as a panic); then, when the body failed, the stale-sample
check and localization, and when it passed, its deferred checks, a warm second timing where the
exponent needs one, and the scaling judgement. One wrapper, so the order is the code's, not
pluggy's.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

import pytest

from pytest_dcs.failures import DcsFailure, Failure, classify
from pytest_dcs.ladder import Ladder
from pytest_dcs.run import offending, scaling, timing
from pytest_dcs.run.guard import Watchdog, panic_failure, timeout_failure
from pytest_dcs.run.rerun import BodyTimer, Reruns
from pytest_dcs.run.sealed import noting_udfs, take_calls
from pytest_dcs.run.state import RungState, state_of
from pytest_dcs.rungs import rung_below
from pytest_dcs.settings import Settings
from pytest_dcs.spark.jobs import JobScope, job_scope, job_tag, tagged

if TYPE_CHECKING:
    from pytest_dcs.data.inputs import Inputs
    from pytest_dcs.data.masking import Masker
    from pytest_dcs.rung import Rung
    from pytest_dcs.spark.engines import Engines

ProgressFor = Callable[[RungState], contextlib.AbstractContextManager[object]]


class BodyRunner:
    """The plugin object holding the body wrapper; registered by the session."""

    def __init__(
        self,
        *,
        settings: Settings,
        engines: Engines,
        ladder: Ladder,
        inputs: Callable[[], Inputs],
        masker: Masker,
        progress: ProgressFor,
    ) -> None:
        self.settings = settings
        self.engines = engines
        self.ladder = ladder
        self.inputs = inputs
        self.masker = masker
        self.progress = progress
        self.reruns = Reruns(engines)

    @pytest.hookimpl(wrapper=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> Generator[None, object, object]:
        state = state_of(pyfuncitem)
        if state is None:
            return (yield)
        began = time.perf_counter()
        try:
            with self.progress(state):
                result = yield from self._guarded(pyfuncitem, state)
        except Exception as exc:
            state.body_seconds = time.perf_counter() - began
            self._failed(pyfuncitem, state, exc)
            raise
        state.body_seconds = time.perf_counter() - began
        self._passed(pyfuncitem, state)
        return result

    # -- the guard --------------------------------------------------------------------------

    def _guarded(self, item: pytest.Function, state: RungState) -> Generator[None, object, object]:
        """The body under its job tag and watchdog; what became of its session, after."""
        if state.pending is not None:
            # The rung's input could not be read: that is this rung's failure, not a setup error.
            summary, _, hint = str(state.pending).partition("\n")
            state.failure = Failure("framework", summary, advice=hint)
            pytest.fail(str(state.pending), pytrace=False)
        timeout = state.spec.timeout
        jobs = job_scope(self.engines.current, job_tag(item.nodeid))
        watchdog = Watchdog(timeout, jobs) if timeout is not None else None
        live_before = self.engines.state() == "live"
        error: Exception | None = None
        result = None
        # A failing UDF call notes its arguments on its error; the notes are taken off before
        # anything reads the error (`sealed`). The watchdog interrupts only inside its `with`.
        with noting_udfs(self.engines.current) as book:
            try:
                # Outside the `with`: an interrupt landing just after the body is caught here.
                with watchdog or tagged(jobs):
                    result = yield
            except Exception as exc:
                error = exc
        if error is not None:
            state.rung_calls = take_calls(error, book)
        self._read_task_seconds(state, jobs)
        failure = self._guard_failure(state, live_before, watchdog, error)
        if failure is not None:
            state.failure = failure
            if error is None:
                raise DcsFailure(failure.kind, failure.summary, advice=failure.advice)
        if error is not None:
            raise error
        return result

    def _read_task_seconds(self, state: RungState, jobs: JobScope | None) -> None:
        if jobs is None or self.engines.state() != "live":
            return
        with contextlib.suppress(Exception):  # the status store is Spark's internals
            seconds = jobs.task_seconds()
            if seconds is not None:
                state.task_seconds = seconds

    def _guard_failure(
        self,
        state: RungState,
        live_before: bool,
        watchdog: Watchdog | None,
        error: Exception | None,
    ) -> Failure | None:
        """A panic when the body's session ended under it, else a timeout when it ran too long."""
        now = self.engines.state()
        if live_before and now is not None and now != "live":
            raised = classify(error) if error is not None else None
            return panic_failure(now, self.engines.active or "local", raised)
        expiry = watchdog.expiry if watchdog is not None else None
        if expiry is None:
            return None
        lower = rung_below(state.rung_spec, state.spec.fractions)
        return timeout_failure(state.rung_spec.name, expiry, lower.name if lower else None)

    # -- after the body ---------------------------------------------------------------------

    def _failed(self, item: pytest.Function, state: RungState, exc: Exception) -> None:
        __tracebackhide__ = True
        rung = state.rung
        if rung is None:
            return
        offending.check_sample_schema(state, rung, self.inputs(), exc)
        if state.failure is not None or self.engines.state() != "live":
            return  # a timeout or a panic: the guard has told what happened
        assert state.body_seconds is not None
        state.localized = offending.localize(
            item,
            state,
            rung,
            exc,
            budget=self.settings.localize_budget.for_rung(state.body_seconds),
            inputs=self.inputs,
            masker=self.masker,
        )

    def _passed(self, item: pytest.Function, state: RungState) -> None:
        __tracebackhide__ = True
        rung = state.rung
        if rung is None:
            return
        rung.finish()
        if timing.times_twice(state.rung_spec, state.spec.fractions, self.settings.max_rung):
            again = self.reruns.timed(item, rung, rung.input)
            if again is not None:
                if state.body_seconds is None or again.seconds < state.body_seconds:
                    state.body_seconds = again.seconds
                state.keep_faster_tasks(again.task_seconds)
            state.timed_twice = True
        self._check_scaling(item, state, rung)

    def _check_scaling(self, item: pytest.Function, state: RungState, rung: Rung) -> None:
        """Judge a passed fraction rung's time against the rungs below it (`scaling`)."""
        __tracebackhide__ = True
        fraction, seconds = state.rung_spec.fraction, state.body_seconds
        if fraction is None or rung.rows is None or seconds is None:
            return
        below = self.ladder.passed_below(state.test, state.param.sort_key)
        overhead, points = timing.scaling_base(below, seconds)
        point = scaling.Point(rung.name, rung.rows, seconds, state.task_seconds)
        lower = points[-1].rung if points else None
        judged = timing.judge_confirmed(
            point,
            points,
            overhead,
            fraction=fraction,
            max_exponent=state.spec.max_exponent,
            budget=self.settings.budget,
            timer=BodyTimer(self.reruns, item, state, rung, self.inputs(), lower),
        )
        if judged.timed_again:
            # The record shows the times that were judged.
            state.timed_twice = True
            state.body_seconds = judged.point.seconds
            if judged.point.task_seconds is not None:
                state.task_seconds = judged.point.task_seconds
        state.verdict = judged.verdict
        if judged.verdict.problem is not None:
            raise DcsFailure("slowdown", judged.verdict.problem, advice=scaling.SLOWDOWN_ADVICE)
