"""How a test's time grows with its input rows, and whether that is a `slowdown`. Spark-free.

Every rung's body costs a fixed part (planning, scheduling, starting tasks: what the tiny
`distributed` rung measures, on the same engine) plus a part that grows with the rows. Between two
consecutive fraction rungs `a` and `b` the exponent is

    k = log(net_b / net_a) / log(rows_b / rows_a),    net = max(seconds - overhead, floor)

so `k = 1` is linear and `k = 2` quadratic. The floor keeps a job whose growing part is lost in
the noise of a busy machine from showing a steep exponent: both of its net times sit at the floor
and `k` comes out near 0.

Where the engine reports it, the executors' task time (the run time of the body's tasks, summed)
is a cleaner measure of the work: it holds no driver or scheduling time, so it needs no overhead
taken off, and the parallelism that makes a larger rung's wall time grow slower than its work
does not bend it. When the task time at the upper rung covers the growing part of the wall time
(the executors did the work that grew), `k` is taken from the task times instead:

    k = log(task_b / task_a) / log(rows_b / rows_a),    task = max(task seconds, floor)

Work that grows on the driver (a Python loop over collected rows) leaves the task time small, and
the wall time decides. A rung fails as `slowdown` when `k > max_exponent`, or when the time of a
whole-source run exceeds `dcs_budget`. With two fraction rungs or more that time is projected
from their measured growth: `c + a * rows^k` fitted to their wall times, with `k` at least 1 (no
job is assumed to get cheaper per row as it grows). A single fraction rung has no growth to
fit; it fails the budget only when its net time is clearly above the noise and, with the noise
floor taken off, still exceeds the budget projected linearly: the floor multiplied by
1/fraction is no evidence of anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Net times below this are noise on a shared 2-core machine (measured: a repeated 0.3 s job
# varies by up to 0.4 s while another Spark application runs).
NOISE_FLOOR_SECONDS = 0.5
# ...and below this share of the fixed overhead, which varies with it.
NOISE_FLOOR_SHARE = 0.5


# At the first fraction rung there is no growth to fit: its net time is evidence against
# dcs_budget only when it is this many noise floors (a read of the source costs a fixed part
# that a linear projection would multiply by 1/fraction, too).
CLEAR_NET_FLOORS = 4.0

# Task times below this are the tasks' own start-up, not work.
TASK_FLOOR_SECONDS = 0.5


@dataclass(frozen=True)
class Point:
    """One measured rung: its id, input rows, the body's seconds and, where the engine reports
    it, the executors' task seconds of the body's jobs."""

    rung: str
    rows: int
    seconds: float
    task_seconds: float | None = None


@dataclass(frozen=True)
class Verdict:
    """What the fraction rung `point` says about scaling.

    `exponent` is None on the first fraction rung (nothing to compare with); `basis` says what it
    was measured on: "task" (the executors' task time) or "wall" (the body's wall time).
    `projected` is the estimated seconds of a run on the whole source (at the first fraction
    rung, the least it can take; None there when the rung's time is within the noise).
    `problem` is the `slowdown` message, or None.
    """

    point: Point
    previous: Point | None
    overhead: float
    exponent: float | None
    projected: float | None
    problem: str | None
    basis: str = "wall"

    @property
    def failed(self) -> bool:
        return self.problem is not None


def noise_floor(overhead: float) -> float:
    return max(NOISE_FLOOR_SECONDS, NOISE_FLOOR_SHARE * overhead)


def net_seconds(seconds: float, overhead: float) -> float:
    """The part of `seconds` that grows with rows, never below the noise floor."""
    return max(seconds - overhead, noise_floor(overhead))


def exponent(a: Point, b: Point, overhead: float) -> float | None:
    """The power-law exponent of time in rows from `a` to `b` (None without growth in rows).

    Never below 0: a time that shrank while the rows grew is the machine's noise, not a job
    that gets faster with more data."""
    if a.rows <= 0 or b.rows <= a.rows:
        return None
    growth = net_seconds(b.seconds, overhead) / net_seconds(a.seconds, overhead)
    return max(0.0, math.log(growth) / math.log(b.rows / a.rows))


def task_exponent(a: Point, b: Point) -> float | None:
    """The exponent of the executors' task time in rows from `a` to `b`; None when either rung
    has no task time or the rows did not grow. Never below 0, like `exponent`."""
    if a.task_seconds is None or b.task_seconds is None or a.rows <= 0 or b.rows <= a.rows:
        return None
    growth = max(b.task_seconds, TASK_FLOOR_SECONDS) / max(a.task_seconds, TASK_FLOOR_SECONDS)
    return max(0.0, math.log(growth) / math.log(b.rows / a.rows))


def executors_carry(point: Point, overhead: float) -> bool:
    """Whether the executors' task time at `point` covers the growing part of its wall time:
    then the work that grew ran in tasks, and their time measures it best."""
    return point.task_seconds is not None and point.task_seconds >= net_seconds(
        point.seconds, overhead
    )


def project(
    point: Point,
    fraction: float,
    overhead: float,
    k: float | None,
    below: Sequence[Point] = (),
) -> float | None:
    """Seconds of a whole-source run, from `point` measured at `fraction` of the source and the
    fraction rungs `below` it; None when they give no evidence.

    With a rung below, `c + a * rows^k` is fitted to the wall times (`k` at least 1) and read
    at the whole source's rows: the growth the rungs measured, not their noise, is carried up.
    With `point` alone there is no growth to fit: the least a whole-source run can take
    (`first_rung_floor`), or None when its net time is within the noise (the noise times
    1/fraction is not a projection of anything).
    """
    if fraction >= 1.0:
        return point.seconds
    whole_rows = point.rows / fraction
    points = [p for p in (*below, point) if p.rows > 0]
    if len({p.rows for p in points}) < 2:
        return first_rung_floor(point, fraction, overhead)
    steepness = max(k if k is not None else 1.0, 1.0)
    c, a = growth_fit(points, steepness)
    return c + a * whole_rows**steepness


def growth_fit(points: Sequence[Point], k: float) -> tuple[float, float]:
    """`(c, a)` of `seconds = c + a * rows^k` fitted by least squares to `points` (at least two
    row counts), with `a` and `c` never below 0: time that shrank as rows grew is noise."""
    xs = [float(p.rows) ** k for p in points]
    ys = [p.seconds for p in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    a = max(0.0, sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var)
    return max(0.0, my - a * mx), a


def first_rung_floor(point: Point, fraction: float, overhead: float) -> float | None:
    """The least a whole-source run can take, judged from the first fraction rung alone: its net
    time less the noise floor, projected linearly; None when the net time is not clearly above
    the noise (`CLEAR_NET_FLOORS` floors), which is then no evidence either way."""
    net, floor = point.seconds - overhead, noise_floor(overhead)
    if net < CLEAR_NET_FLOORS * floor:
        return None
    return overhead + (net - floor) / fraction


@dataclass(frozen=True)
class PowerLaw:
    """t = overhead + coefficient * rows ** exponent, the growing part fitted on log-log."""

    exponent: float
    coefficient: float
    overhead: float = 0.0

    def seconds(self, rows: float) -> float:
        return self.overhead + self.coefficient * rows**self.exponent


def fit_law(points: Sequence[Point], overhead: float) -> PowerLaw | None:
    """Least squares of log(net seconds) on log(rows) over all fraction points, the exponent
    never below 0 (as `exponent`); None without two distinct row counts."""
    usable = [p for p in points if p.rows > 0]
    if len({p.rows for p in usable}) < 2:
        return None
    xs = [math.log(p.rows) for p in usable]
    ys = [math.log(net_seconds(p.seconds, overhead)) for p in usable]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    k = max(0.0, sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var)
    return PowerLaw(k, math.exp(my - k * mx), overhead)


def fit(points: Sequence[Point], overhead: float) -> float | None:
    """The exponent of `fit_law` (for the summary)."""
    law = fit_law(points, overhead)
    return law.exponent if law is not None else None


def judge(
    point: Point,
    fraction: float,
    previous: Point | None,
    overhead: float,
    *,
    max_exponent: float,
    budget: float | None,
    below: Sequence[Point] = (),
) -> Verdict:
    """The verdict on fraction rung `point`, given the fraction rung just below it (if any), the
    fixed overhead measured at the tiny rungs, and every fraction rung `below` it for the
    projection (`previous` alone when not given)."""
    k = exponent(previous, point, overhead) if previous is not None else None
    basis = "wall"
    if k is not None and previous is not None and executors_carry(point, overhead):
        by_tasks = task_exponent(previous, point)
        if by_tasks is not None:
            k, basis = by_tasks, "task"
    history = list(below) or ([previous] if previous is not None else [])
    projected = project(point, fraction, overhead, k, history)
    problem = None
    if k is not None and previous is not None and k > max_exponent:
        problem = steep_message(
            previous, point, overhead, k, max_exponent, projected, fraction, basis
        )
    elif budget is not None and projected is not None and projected > budget:
        problem = budget_message(point, overhead, k, len(history), projected, budget)
    return Verdict(point, previous, overhead, k, projected, problem, basis)


def budget_message(
    point: Point,
    overhead: float,
    k: float | None,
    rungs_below: int,
    projected: float,
    budget: float,
) -> str:
    """Why the `projected` whole-source run breaks `dcs_budget`: fitted to the fraction rungs,
    or at the first fraction rung (`rungs_below` is 0) the least it can take."""
    limit = f"dcs_budget={_duration(budget)}"
    if rungs_below:
        growth = f", exponent {k:.2f}" if k is not None else ""
        return (
            f"a run on the whole source would take about {_duration(projected)}, more than "
            f"{limit}: {_point(point)}{growth}, fitted to {rungs_below + 1} fraction rungs"
        )
    return (
        f"a run on the whole source would take at least {_duration(projected)}, more than {limit}: "
        f"{_point(point)}, less {overhead:.2f} s fixed overhead and "
        f"{noise_floor(overhead):.2f} s of noise, assuming time grows linearly"
    )


def steep_message(
    a: Point,
    b: Point,
    overhead: float,
    k: float,
    max_exponent: float,
    projected: float | None,
    fraction: float,
    basis: str = "wall",
) -> str:
    rows_ratio = b.rows / a.rows
    whole = "at 100%" if fraction >= 1.0 else "projected at 100%"
    projection = f"; {whole}: {_duration(projected)}" if projected is not None else ""
    k = round(k, 3)  # as the report and the table keep it, so all three show the same digits
    if basis == "task" and a.task_seconds is not None and b.task_seconds is not None:
        task_ratio = max(b.task_seconds, TASK_FLOOR_SECONDS) / max(
            a.task_seconds, TASK_FLOOR_SECONDS
        )
        return (
            f"executor time grows as rows^{k:.2f} (max_exponent {max_exponent:g}): "
            f"data x{rows_ratio:.3g} -> task time x{task_ratio:.3g} "
            f"({_task_point(a)}; {_task_point(b)}){projection}"
        )
    time_ratio = net_seconds(b.seconds, overhead) / net_seconds(a.seconds, overhead)
    return (
        f"time grows as rows^{k:.2f} (max_exponent {max_exponent:g}): "
        f"data x{rows_ratio:.3g} -> time x{time_ratio:.3g} "
        f"({_point(a)}; {_point(b)}; less {overhead:.2f} s fixed overhead){projection}"
    )


SLOWDOWN_ADVICE = (
    "look for work that compares every row with every row (self-joins on a skewed or "
    "low-cardinality key, cross joins, a UDF collecting whole groups) and for growing shuffles; "
    "the plan of rung.result(df) is checked for cartesian products"
)


def _point(p: Point) -> str:
    return f"{p.rung}: {p.rows:,} rows in {p.seconds:.2f} s"


def _task_point(p: Point) -> str:
    return f"{p.rung}: {p.rows:,} rows, {p.task_seconds:.2f} s of tasks in {p.seconds:.2f} s"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
