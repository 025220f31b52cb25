"""How a passed rung's time is judged: which rungs are timed twice, the base of the judgement,
and the confirming re-runs of a failing verdict. Spark-free: the re-runs come in as a `Timer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from pytest_dcs.ladder import RungRecord
from pytest_dcs.run import scaling
from pytest_dcs.rungs import RungCap, RungSpec, fraction_rung

CONFIRMING_ROUNDS = 2
"""How many times a failing slowdown verdict is re-timed (the rung below, then this one) before
it stands."""


class Timing(NamedTuple):
    """Seconds of one extra run of a body, and its executors' task seconds where known."""

    seconds: float
    task_seconds: float | None


class Timer(Protocol):
    """Extra runs of the body on this rung's engine; each returns None when the run failed."""

    def tiny(self) -> Timing | None:
        """A run on the tiny sample in many partitions: the fixed overhead, now."""

    def lower(self) -> Timing | None:
        """A run on the input of the passed fraction rung below."""

    def again(self) -> Timing | None:
        """A run on this rung's own input."""


@dataclass(frozen=True)
class Judged:
    """The verdict that stands, the point it judged, and whether the body was timed again."""

    verdict: scaling.Verdict
    point: scaling.Point
    timed_again: bool


def faster(point: scaling.Point, timing: Timing) -> scaling.Point:
    """`point` with the smaller wall time and the smaller task time of it and `timing`."""
    tasks = [t for t in (point.task_seconds, timing.task_seconds) if t is not None]
    return scaling.Point(
        point.rung, point.rows, min(point.seconds, timing.seconds), min(tasks) if tasks else None
    )


def times_twice(rung: RungSpec, fractions: Sequence[float], cap: RungCap | None) -> bool:
    """Whether this rung's warm time is needed: at `distributed` (the fixed overhead) and at
    the first fraction rung (the base of the first exponent), when a fraction rung follows.

    The first run of a plan on an engine compiles its code and starts its Python workers;
    the rungs above reuse both, so a cold time there would look like fixed cost or growth.
    """
    if rung.kind == "distributed":
        above = fractions[:1]
    elif rung.kind == "fraction" and fractions and rung.fraction == fractions[0]:
        above = fractions[1:2]
    else:
        return False
    return bool(above) and (cap is None or cap.allows(fraction_rung(above[0])))


def scaling_base(below: Sequence[RungRecord], seconds: float) -> tuple[float, list[scaling.Point]]:
    """The fixed overhead and the passed fraction rungs among `below` (passed, lowest first).

    The overhead is the tiny `distributed` rung's time (same engine, next to no rows), but
    never more than a fraction rung's time (`seconds` is this rung's): those include it, so
    a tiny rung slowed by the machine cannot hide a fraction rung's growth.
    """
    overhead = 0.0
    for wanted in ("distributed", "local"):
        tiny = [r for r in below if r.rung == wanted and r.seconds is not None]
        if tiny and tiny[0].seconds is not None:
            overhead = float(tiny[0].seconds)
            break
    points = [
        scaling.Point(
            r.rung,
            int(r.rows),
            float(r.seconds),
            float(r.task_seconds) if r.task_seconds is not None else None,
        )
        for r in below
        if r.fraction is not None and r.rows and r.seconds is not None
    ]
    overhead = min([overhead, seconds, *(p.seconds for p in points)])
    return overhead, points


def judge_confirmed(
    point: scaling.Point,
    below: Sequence[scaling.Point],
    overhead: float,
    *,
    fraction: float,
    max_exponent: float,
    budget: float | None,
    timer: Timer,
    rounds: int = CONFIRMING_ROUNDS,
) -> Judged:
    """Judge `point` against the fraction rungs `below` it; a failing verdict is confirmed first.

    One slow run on a busy machine is not a verdict. Time the body on the tiny sample (the
    overhead, now), then the rung below and this rung again, back to back, so a load that came
    between the rungs is not read as growth; keep the fastest time of each, as benchmarks do,
    and stop as soon as the times pass.
    """
    previous = below[-1] if below else None

    def judge(at: scaling.Point, lower: scaling.Point | None, overhead: float) -> scaling.Verdict:
        return scaling.judge(
            at,
            fraction,
            lower,
            overhead,
            max_exponent=max_exponent,
            budget=budget,
            below=[*below[:-1], lower] if lower is not None else (),
        )

    verdict = judge(point, previous, overhead)
    timed_again = False
    if not verdict.failed:
        return Judged(verdict, point, timed_again)
    tiny = timer.tiny()
    if tiny is not None:
        overhead = min(overhead, tiny.seconds)
    for _ in range(rounds):
        if previous is not None:
            lower = timer.lower()
            if lower is not None:
                previous = faster(previous, lower)
        again = timer.again()
        if again is not None:
            timed_again = True
            point = faster(point, again)
        verdict = judge(point, previous, overhead)
        if not verdict.failed or again is None:
            break
    return Judged(verdict, point, timed_again)
