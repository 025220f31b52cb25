"""Running a test body again, outside pytest's call: to time it warm, to confirm a slowdown,
to find the rows it fails on. Each timed re-run's jobs carry a tag of their own."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

import pytest

from pytest_dcs.run.timing import Timing
from pytest_dcs.rungs import DISTRIBUTED, RungSpec, fraction_rung
from pytest_dcs.spark.jobs import job_scope, job_tag, tagged

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from pytest_dcs.data.inputs import Inputs
    from pytest_dcs.run.state import RungState
    from pytest_dcs.rung import Rung
    from pytest_dcs.spark.engines import Engines


def call_body(item: pytest.Function, scaled: DataFrame | None) -> None:
    """Run the test function again with its fixtures, `scaled` replaced (as pytest calls it)."""
    funcargs = dict(item.funcargs)
    if "scaled" in funcargs and scaled is not None:
        funcargs["scaled"] = scaled
    item.obj(**{name: funcargs[name] for name in item._fixtureinfo.argnames})


class Reruns:
    """The run's extra runs of bodies, numbered so each has a job tag of its own."""

    def __init__(self, engines: Engines) -> None:
        self._engines = engines
        self._count = 0

    def timed(self, item: pytest.Function, rung: Rung, data: DataFrame | None) -> Timing | None:
        """One more run of the body on `data` (None: its own input), its jobs under a tag of
        their own for their task time; None if it failed."""
        self._count += 1
        jobs = job_scope(self._engines.current, f"{job_tag(item.nodeid)}#{self._count}")
        began = time.perf_counter()
        try:
            with rung.replaced(data), tagged(jobs):
                call_body(item, data)
        except Exception:
            return None
        seconds = time.perf_counter() - began
        task_seconds = None
        if jobs is not None:
            with contextlib.suppress(Exception):  # the status store is Spark's internals
                task_seconds = jobs.task_seconds()
        return Timing(seconds, task_seconds)


class BodyTimer:
    """The `timing.Timer` of one passed fraction rung: its body re-run on this rung's engine."""

    def __init__(
        self,
        reruns: Reruns,
        item: pytest.Function,
        state: RungState,
        rung: Rung,
        inputs: Inputs,
        lower: str | None,
    ) -> None:
        self._reruns = reruns
        self._item = item
        self._state = state
        self._rung = rung
        self._inputs = inputs
        self._lower = next(
            (r for r in map(fraction_rung, state.spec.fractions) if r.name == lower), None
        )

    def tiny(self) -> Timing | None:
        return self._on(DISTRIBUTED)

    def lower(self) -> Timing | None:
        return self._on(self._lower)

    def again(self) -> Timing | None:
        return self._reruns.timed(self._item, self._rung, self._rung.input)

    def _on(self, at: RungSpec | None) -> Timing | None:
        """The body's time on the input of rung `at` (the tiny sample in many partitions for
        `distributed`, the same fraction for a fraction rung)."""
        spec = self._state.spec
        if spec.source is None or at is None:
            return None
        try:
            data, _ = self._inputs.read(spec.source, at, self._rung.spark, spec.sample_key)
        except Exception:
            return None
        return self._reruns.timed(self._item, self._rung, data)
