"""The timing and confirming logic of a passed rung, without Spark: re-runs are scripted."""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest

from pytest_dcs.ladder import RungRecord
from pytest_dcs.run.scaling import Point
from pytest_dcs.run.timing import (
    Timing,
    faster,
    judge_confirmed,
    scaling_base,
    times_twice,
)
from pytest_dcs.rungs import DISTRIBUTED, LOCAL, fraction_rung, parse_max_rung

FRACTIONS = (0.01, 0.1, 0.4)


class ScriptedTimer:
    """Re-runs whose times are given in advance; records which were asked for."""

    def __init__(
        self,
        tiny: Timing | None = None,
        lower: list[Timing | None] | None = None,
        again: list[Timing | None] | None = None,
    ) -> None:
        self._tiny = tiny
        self._lower = deque(lower or [])
        self._again = deque(again or [])
        self.asked: list[str] = []

    def tiny(self) -> Timing | None:
        self.asked.append("tiny")
        return self._tiny

    def lower(self) -> Timing | None:
        self.asked.append("lower")
        return self._lower.popleft() if self._lower else None

    def again(self) -> Timing | None:
        self.asked.append("again")
        return self._again.popleft() if self._again else None


def record(rung: str, seconds: float | None, rows: int | None, **extra: Any) -> RungRecord:
    spec = {"local": LOCAL, "distributed": DISTRIBUTED}.get(rung) or fraction_rung(
        float(rung[:-3]) / 100
    )
    return RungRecord(
        test="t.py::f",
        rung=rung,
        outcome="passed",
        key=spec.sort_key,
        seconds=seconds,
        rows=rows,
        fraction=spec.fraction,
        **extra,
    )


# -- times_twice ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rung", "twice"),
    [(LOCAL, False), (DISTRIBUTED, True), (fraction_rung(0.01), True), (fraction_rung(0.1), False)],
)
def test_the_overhead_and_the_first_exponents_base_are_timed_warm(rung, twice) -> None:
    assert times_twice(rung, FRACTIONS, None) is twice


def test_nothing_is_timed_twice_for_a_rung_nothing_above_will_use() -> None:
    assert not times_twice(DISTRIBUTED, (), None)
    assert not times_twice(fraction_rung(0.01), (0.01,), None)
    assert not times_twice(DISTRIBUTED, FRACTIONS, parse_max_rung("distributed"))
    assert not times_twice(fraction_rung(0.01), FRACTIONS, parse_max_rung("1pct"))
    assert times_twice(fraction_rung(0.01), FRACTIONS, parse_max_rung("10pct"))


# -- scaling_base ---------------------------------------------------------------------------


def test_the_base_is_the_distributed_time_and_the_fraction_rungs() -> None:
    below = [
        record("local", 0.3, 100),
        record("distributed", 0.8, 100),
        record("1pct", 1.5, 1_000, task_seconds=0.9),
    ]
    overhead, points = scaling_base(below, seconds=4.0)
    assert overhead == 0.8
    assert points == [Point("1pct", 1_000, 1.5, 0.9)]


def test_the_overhead_is_local_without_distributed_and_never_above_a_fraction_time() -> None:
    assert scaling_base([record("local", 0.6, 100)], seconds=4.0)[0] == 0.6
    slow_tiny = [record("distributed", 3.0, 100), record("1pct", 1.2, 1_000)]
    assert scaling_base(slow_tiny, seconds=4.0)[0] == 1.2
    assert scaling_base(slow_tiny, seconds=0.7)[0] == 0.7


def test_rungs_without_rows_or_time_are_no_points() -> None:
    below = [record("1pct", None, 1_000), record("10pct", 2.0, 0), record("0.5pct", 1.0, 500)]
    assert scaling_base(below, seconds=3.0) == (0.0, [Point("0.5pct", 500, 1.0, None)])


# -- faster ---------------------------------------------------------------------------------


def test_faster_keeps_the_smaller_wall_and_task_times() -> None:
    point = Point("10pct", 10_000, 5.0, 2.0)
    assert faster(point, Timing(4.0, 3.0)) == Point("10pct", 10_000, 4.0, 2.0)
    assert faster(point, Timing(6.0, None)) == point
    assert faster(Point("10pct", 10_000, 5.0, None), Timing(6.0, 1.0)).task_seconds == 1.0


# -- judge_confirmed ------------------------------------------------------------------------

LOWER = Point("1pct", 1_000, 1.0, None)
STEEP = Point("10pct", 10_000, 40.0, None)  # 40x the time for 10x the rows: k = 1.6


def judged(point: Point, timer: ScriptedTimer, below: tuple[Point, ...] = (LOWER,)):
    return judge_confirmed(
        point, below, 0.0, fraction=0.1, max_exponent=1.5, budget=None, timer=timer
    )


def test_a_passing_verdict_needs_no_rerun() -> None:
    timer = ScriptedTimer()
    result = judged(Point("10pct", 10_000, 10.0, None), timer)
    assert not result.verdict.failed and not result.timed_again
    assert timer.asked == []


def test_a_slowdown_that_does_not_repeat_is_dropped() -> None:
    timer = ScriptedTimer(
        tiny=Timing(0.1, None), lower=[Timing(1.0, None)], again=[Timing(9.0, None)]
    )
    result = judged(STEEP, timer)
    assert not result.verdict.failed
    assert result.timed_again and result.point.seconds == 9.0
    assert timer.asked == ["tiny", "lower", "again"]


def test_a_slowdown_that_repeats_stands_after_every_round() -> None:
    timer = ScriptedTimer(
        lower=[Timing(1.0, None), Timing(1.1, None)], again=[Timing(41.0, None), Timing(39.0, None)]
    )
    result = judged(STEEP, timer)
    assert result.verdict.failed and result.verdict.problem is not None
    assert result.point.seconds == 39.0  # the fastest time of each rung is judged
    assert timer.asked == ["tiny", "lower", "again", "lower", "again"]


def test_a_faster_lower_rung_can_confirm_the_slowdown() -> None:
    # This rung again at 20 s would pass against 1 s below (k = 1.3), not against 0.5 s.
    timer = ScriptedTimer(lower=[Timing(0.5, None)], again=[Timing(20.0, None)] * 2)
    result = judged(STEEP, timer)
    assert result.verdict.failed
    assert result.verdict.previous == Point("1pct", 1_000, 0.5, None)


def test_a_rerun_that_fails_ends_the_confirming() -> None:
    timer = ScriptedTimer(again=[None])
    result = judged(STEEP, timer)
    assert result.verdict.failed and not result.timed_again
    assert timer.asked == ["tiny", "lower", "again"]


def test_the_tiny_rerun_can_only_lower_the_overhead() -> None:
    alone = Point("1pct", 1_000, 30.0, None)  # projected 1 + 29 / 0.01 = 2901 s > 2500 s

    def overhead_judged(tiny: Timing | None) -> float:
        timer = ScriptedTimer(tiny=tiny, again=[None])
        verdict = judge_confirmed(
            alone, (), 1.0, fraction=0.01, max_exponent=1.5, budget=2_500, timer=timer
        ).verdict
        assert verdict.failed
        return verdict.overhead

    assert overhead_judged(None) == 1.0
    assert overhead_judged(Timing(0.5, None)) == 0.5
    assert overhead_judged(Timing(5.0, None)) == 1.0
