"""The exponent of time in rows, the noise floor and the slowdown verdicts (no Spark)."""

from __future__ import annotations

import math

import pytest

from pytest_dcs.run.scaling import (
    Point,
    exponent,
    first_rung_floor,
    fit,
    growth_fit,
    judge,
    net_seconds,
    noise_floor,
    project,
    task_exponent,
)


def test_quadratic_growth_has_exponent_two_after_the_overhead() -> None:
    # 1 s of fixed cost, then 4 s -> 16 s of work for twice the rows.
    a, b = Point("10pct", 1000, 5.0), Point("20pct", 2000, 17.0)
    assert exponent(a, b, overhead=1.0) == pytest.approx(2.0)


def test_linear_growth_has_exponent_one() -> None:
    a, b = Point("10pct", 10_000, 3.0), Point("40pct", 40_000, 9.0)
    assert exponent(a, b, overhead=1.0) == pytest.approx(math.log(8 / 2) / math.log(4))


def test_times_within_the_noise_floor_give_no_growth() -> None:
    # A job whose growing part is lost in noise: both net times sit at the floor.
    a, b = Point("1pct", 100, 1.1), Point("10pct", 1000, 1.4)
    assert exponent(a, b, overhead=1.0) == 0.0


def test_a_time_that_shrinks_as_rows_grow_is_noise_not_a_negative_exponent() -> None:
    a, b = Point("10pct", 10_000, 3.0), Point("40pct", 40_000, 2.0)
    assert exponent(a, b, overhead=0.5) == 0.0
    assert fit([a, b, Point("80pct", 80_000, 1.8)], overhead=0.5) == 0.0


def test_noise_floor_grows_with_the_overhead() -> None:
    assert noise_floor(0.2) == 0.5
    assert noise_floor(3.0) == 1.5
    assert net_seconds(1.0, 3.0) == 1.5


def test_no_exponent_without_more_rows() -> None:
    assert exponent(Point("a", 100, 1.0), Point("b", 100, 5.0), 0.0) is None
    assert exponent(Point("a", 0, 1.0), Point("b", 100, 5.0), 0.0) is None


def test_projection_is_at_least_linear() -> None:
    # Sublinear growth between rungs does not make the whole source cheaper per row.
    at_one, at_ten = Point("1pct", 100, 1.2), Point("10pct", 1000, 3.0)
    assert project(at_ten, 0.1, 1.0, k=0.5, below=[at_one]) == pytest.approx(1.0 + 2.0 * 10)
    assert project(at_ten, 1.0, overhead=1.0, k=2.0) == 3.0


def test_one_fraction_rung_projects_the_least_a_whole_run_takes() -> None:
    # 2 s over a 1 s overhead, less 0.5 s of noise, x100: at least 151 s.
    assert project(Point("1pct", 100, 3.0), 0.01, overhead=1.0, k=None) == 151.0
    # Within the noise there is nothing to project: the floor x100 would be a made-up figure.
    assert project(Point("1pct", 100, 0.4), 0.01, overhead=0.5, k=None) is None
    assert project(Point("1pct", 100, 2.4), 0.01, overhead=0.5, k=None) is None


def test_two_rungs_project_the_fitted_growth_not_the_noise_floor() -> None:
    # Growth lost in the noise: 0.1 s more for x10 rows. The floor (0.5 s) times 1/fraction
    # would have projected 5.5 s; the fit carries up the 0.1 s that was measured.
    low, high = Point("1pct", 1000, 0.8), Point("10pct", 10_000, 0.9)
    c, a = growth_fit([low, high], 1.0)
    assert (c, a) == (pytest.approx(0.8 - 1000 * 0.1 / 9000), pytest.approx(0.1 / 9000))
    assert project(high, 0.1, 0.5, k=0.0, below=[low]) == pytest.approx(c + a * 100_000)
    assert project(high, 0.1, 0.5, k=0.0, below=[low]) < 2.0


def test_the_fit_finds_the_overhead_and_the_quadratic_growth() -> None:
    points = [Point(r, n, 2.0 + 1e-6 * n**2) for r, n in (("1pct", 100), ("10pct", 1000))]
    assert growth_fit(points, 2.0) == (pytest.approx(2.0), pytest.approx(1e-6))
    top = Point("40pct", 4000, 2.0 + 16.0)
    assert project(top, 0.4, 0.3, k=2.0, below=points) == pytest.approx(2.0 + 1e-6 * 10_000**2)


def test_the_fit_takes_every_rung_below_and_never_goes_negative() -> None:
    noisy = [Point("1pct", 100, 1.0), Point("10pct", 1000, 3.1), Point("40pct", 4000, 8.9)]
    c, a = growth_fit(noisy, 1.0)
    assert a == pytest.approx(0.002, rel=0.05) and c == pytest.approx(0.9, abs=0.1)
    # Times that shrank as rows grew: no growth, and the mean time is the projection.
    shrinking = [Point("1pct", 100, 2.0), Point("10pct", 1000, 1.0)]
    assert growth_fit(shrinking, 1.0) == (1.5, 0.0)


def test_steep_rung_fails_with_points_ratio_and_projection() -> None:
    verdict = judge(
        Point("40pct", 4000, 33.0),
        0.4,
        Point("20pct", 2000, 9.0),
        1.0,
        max_exponent=1.5,
        budget=None,
    )
    assert verdict.failed
    assert verdict.exponent == pytest.approx(2.0)
    assert verdict.problem is not None
    assert "rows^2.00" in verdict.problem
    assert "data x2 -> time x4" in verdict.problem
    assert "20pct: 2,000 rows in 9.00 s" in verdict.problem
    assert "40pct: 4,000 rows in 33.00 s" in verdict.problem
    assert "projected at 100%" in verdict.problem
    # 1 + 32 * 2.5^2
    assert verdict.projected == pytest.approx(201.0)


def test_linear_rung_passes_and_reports_its_exponent() -> None:
    verdict = judge(
        Point("40pct", 4000, 9.0),
        0.4,
        Point("10pct", 1000, 3.0),
        1.0,
        max_exponent=1.5,
        budget=None,
    )
    assert not verdict.failed
    assert verdict.exponent == pytest.approx(1.0)


# The task seconds below are those of a real run of the suite's linear and quadratic jobs on
# 2 cores: the wall times bend (parallelism, overhead), the task times do not.


def test_task_time_decides_when_the_executors_carry_the_work() -> None:
    # Linear per-row work: wall 0.90 s -> 3.55 s reads k=1.30 after 0.52 s of overhead, whose
    # subtraction leaves the lower rung at the noise floor; its tasks grew x3.87 for x4 rows.
    verdict = judge(
        Point("40pct", 4002, 3.5464, task_seconds=6.403),
        0.4,
        Point("10pct", 1001, 0.8987, task_seconds=1.653),
        0.5227,
        max_exponent=1.5,
        budget=None,
    )
    assert not verdict.failed
    assert verdict.basis == "task"
    assert verdict.exponent == pytest.approx(0.977, abs=0.01)
    assert exponent(verdict.previous, verdict.point, 0.5227) == pytest.approx(1.30, abs=0.01)


def test_quadratic_work_fails_on_task_time_with_the_task_story() -> None:
    verdict = judge(
        Point("40pct", 4002, 4.6359, task_seconds=9.094),
        0.4,
        Point("20pct", 2000, 1.6846, task_seconds=2.353),
        0.3934,
        max_exponent=1.5,
        budget=None,
    )
    assert verdict.failed and verdict.basis == "task"
    assert verdict.exponent == pytest.approx(1.95, abs=0.01)
    assert verdict.problem is not None
    assert verdict.problem.startswith("executor time grows as rows^1.95 (max_exponent 1.5)")
    assert "data x2 -> task time x3.86" in verdict.problem
    assert "20pct: 2,000 rows, 2.35 s of tasks in 1.68 s" in verdict.problem


def test_growth_on_the_driver_is_judged_on_wall_time() -> None:
    # A Python loop over collected rows: the tasks stay small while the wall time grows x4.
    verdict = judge(
        Point("40pct", 4000, 33.0, task_seconds=0.3),
        0.4,
        Point("20pct", 2000, 9.0, task_seconds=0.2),
        1.0,
        max_exponent=1.5,
        budget=None,
    )
    assert verdict.failed and verdict.basis == "wall"
    assert verdict.exponent == pytest.approx(2.0)


def test_task_exponent_needs_task_times_and_more_rows() -> None:
    assert task_exponent(Point("a", 100, 1.0), Point("b", 200, 2.0, task_seconds=4.0)) is None
    a, b = Point("a", 100, 1.0, task_seconds=2.0), Point("b", 100, 2.0, task_seconds=4.0)
    assert task_exponent(a, b) is None
    # Task times under the floor are start-up, not work: no growth.
    small = Point("a", 100, 1.0, task_seconds=0.05), Point("b", 400, 1.0, task_seconds=0.4)
    assert task_exponent(*small) == 0.0


def test_budget_fails_the_first_fraction_assuming_linear_growth() -> None:
    verdict = judge(Point("1pct", 100, 11.0), 0.01, None, 1.0, max_exponent=1.5, budget=600.0)
    assert verdict.exponent is None
    assert verdict.projected == pytest.approx(1.0 + (10.0 - 0.5) * 100)
    assert verdict.problem is not None
    assert "dcs_budget=10.0 min" in verdict.problem
    assert "assuming time grows linearly" in verdict.problem


def test_budget_not_exceeded_passes() -> None:
    verdict = judge(Point("1pct", 100, 1.2), 0.01, None, 1.0, max_exponent=1.5, budget=600.0)
    assert not verdict.failed


def test_budget_at_the_first_fraction_does_not_project_the_noise_floor() -> None:
    # The case: a body 0.4 s over its overhead, within the noise, at 1%. Projecting the
    # floor (0.5 s x 100) failed nearly every test against a 30 s budget.
    verdict = judge(Point("1pct", 100, 0.9), 0.01, None, 0.5, max_exponent=1.5, budget=30.0)
    assert verdict.projected is None
    assert not verdict.failed


def test_budget_at_the_first_fraction_needs_a_net_time_well_above_the_noise() -> None:
    # 1 s over the overhead: above the floor, but reading the source alone may cost that much,
    # and x100 it would be 100 s.
    verdict = judge(Point("1pct", 100, 1.5), 0.01, None, 0.5, max_exponent=1.5, budget=30.0)
    assert not verdict.failed
    assert first_rung_floor(Point("1pct", 100, 1.5), 0.01, 0.5) is None
    assert first_rung_floor(Point("1pct", 100, 2.5), 0.01, 0.5) == pytest.approx(150.5)


def test_budget_at_the_first_fraction_fails_on_clear_evidence() -> None:
    verdict = judge(Point("1pct", 100, 3.0), 0.01, None, 0.5, max_exponent=1.5, budget=30.0)
    assert verdict.problem == (
        "a run on the whole source would take at least 3.3 min, more than dcs_budget=30.0 s: "
        "1pct: 100 rows in 3.00 s, less 0.50 s fixed overhead and 0.50 s of noise, assuming "
        "time grows linearly"
    )


def test_budget_above_the_first_fraction_is_judged_on_the_fit() -> None:
    below = [Point("1pct", 1000, 0.8), Point("10pct", 10_000, 0.9)]
    top = Point("40pct", 40_000, 1.0)
    passed = judge(top, 0.4, below[-1], 0.5, max_exponent=1.5, budget=30.0, below=below)
    assert not passed.failed and passed.projected is not None and passed.projected < 2.0
    heavy = [Point("1pct", 1000, 1.0), Point("10pct", 10_000, 10.0)]
    failed = judge(
        Point("40pct", 40_000, 40.0),
        0.4,
        heavy[-1],
        0.5,
        max_exponent=1.5,
        budget=60.0,
        below=heavy,
    )
    assert failed.problem is not None
    assert failed.problem.startswith("a run on the whole source would take about 102.3 s")
    assert failed.problem.endswith("exponent 1.03, fitted to 3 fraction rungs")


def test_fit_over_several_points() -> None:
    points = [Point(f"{n}", n, 1.0 + (n / 100) ** 2) for n in (100, 200, 400, 800)]
    assert fit(points, 1.0) == pytest.approx(2.0, abs=0.25)
    assert fit(points[:1], 1.0) is None
