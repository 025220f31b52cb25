"""`--dcs-plot=PATH.png`: time against input rows, log-log, one panel per test.

A straight line on log-log axes is a power law, t = c * rows**k: k near 1 scales linearly, k
well above 1 is the self-join that is fine at 1% and takes all night at 100%. Each panel shows
every rung that has rows and seconds, the power law fitted to the fraction rungs (extended,
dashed, to the full source when the fractions say how big it is) and the failing rung as a red
X with its failure kind.

matplotlib is an optional extra (``pip install 'pytest-dcs[plot]'``); it is imported only
when a plot is drawn, with the Agg backend, never pyplot's global state.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_dcs.run import scaling
from pytest_dcs.run.scaling import PowerLaw

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

INSTALL_HINT = "pip install 'pytest-dcs[plot]'"
COLUMNS = 3
PANEL_SIZE = (5.0, 3.8)  # inches
KIND_COLOURS = {"local": "tab:gray", "distributed": "tab:blue", "fraction": "tab:green"}
# Rungs whose seconds are the time of a whole run of the body, so they belong in the fit.
TIMED_FAILURES = {"slowdown"}


class PlotUnavailable(RuntimeError):
    """The plot cannot be drawn because matplotlib is not installed."""

    def __init__(self) -> None:
        super().__init__(f"--dcs-plot needs matplotlib, which is not installed: {INSTALL_HINT}")


@dataclass(frozen=True)
class Point:
    """One rung drawn on a panel."""

    rung: str
    kind: str
    rows: int
    seconds: float
    fraction: float | None
    failure_kind: str | None


def draw_ladder_plot(tests: Sequence[Mapping[str, Any]], path: Path | str) -> None:
    """Write the ladder plot of the report's `tests` list to `path` (PNG), atomically.

    Raises `PlotUnavailable` when matplotlib is missing.
    """
    figure = ladder_figure(tests)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".png", dir=target.parent)
    os.close(fd)
    try:
        figure.savefig(temporary, format="png", dpi=100)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the plot from a CI artifact reader
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def ladder_figure(tests: Sequence[Mapping[str, Any]]) -> Figure:
    """The figure `draw_ladder_plot` saves: one axes per test, in report order."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise PlotUnavailable() from exc

    count = max(len(tests), 1)
    columns = min(count, COLUMNS)
    rows = math.ceil(count / columns)
    figure = Figure(figsize=(PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows), layout="constrained")
    if not tests:
        axes = figure.add_subplot()
        axes.set_axis_off()
        axes.text(0.5, 0.5, "no scale tests ran", ha="center", va="center")
        return figure
    for index, test in enumerate(tests):
        _draw_test(figure.add_subplot(rows, columns, index + 1), test)
    return figure


def points_of(test: Mapping[str, Any]) -> list[Point]:
    """The rungs of a report test that can be placed on log-log axes (rows and seconds > 0)."""
    points = []
    for rung in test.get("rungs", []):
        rows, seconds = rung.get("rows"), rung.get("seconds")
        if not rows or not seconds or rows <= 0 or seconds <= 0:
            continue
        failure = rung.get("failure") or None
        points.append(
            Point(
                rung=str(rung.get("rung", "?")),
                kind=_kind(rung),
                rows=int(rows),
                seconds=float(seconds),
                fraction=rung.get("fraction"),
                failure_kind=failure.get("kind", "failed") if failure is not None else None,
            )
        )
    return points


def _kind(rung: Mapping[str, Any]) -> str:
    if rung.get("fraction") is not None:
        return "fraction"
    return "local" if rung.get("rung") == "local" else "distributed"


def _fitted(points: Sequence[Point]) -> list[Point]:
    """The fraction rungs whose time is a whole run: passed, or failed on being slow."""
    return [
        p
        for p in points
        if p.kind == "fraction" and (p.failure_kind is None or p.failure_kind in TIMED_FAILURES)
    ]


def _reported_exponent(test: Mapping[str, Any]) -> float | None:
    """The exponent the plugin reported on the highest rung that has one."""
    values = [r["exponent"] for r in test.get("rungs", []) if r.get("exponent") is not None]
    return float(values[-1]) if values else None


def _basis(test: Mapping[str, Any]) -> str:
    """The suffix for an exponent measured on the executors' task time; empty for wall time."""
    values = [r for r in test.get("rungs", []) if r.get("exponent") is not None]
    return " on task time" if values and values[-1].get("exponent_basis") == "task" else ""


def _overhead(test: Mapping[str, Any]) -> float:
    """The fixed overhead the plugin subtracted on the highest rung that says."""
    values = [r["overhead_seconds"] for r in test.get("rungs", []) if r.get("overhead_seconds")]
    return float(values[-1]) if values else 0.0


def _draw_test(axes: Axes, test: Mapping[str, Any]) -> None:
    points = points_of(test)
    fitted = [scaling.Point(p.rung, p.rows, p.seconds) for p in _fitted(points)]
    fit = scaling.fit_law(fitted, _overhead(test))
    reported = _reported_exponent(test)
    title = _short(str(test.get("nodeid", "?")))
    exponents = []
    if fit is not None:
        exponents.append(f"fit k={fit.exponent:.2f}")
    if reported is not None:
        exponents.append(f"reported k={reported:.2f}{_basis(test)}")
    axes.set_title(f"{title}\n{', '.join(exponents) or 'no fit'}", fontsize=9)
    axes.set_xlabel("input rows")
    axes.set_ylabel("seconds")
    if not points:
        axes.set_axis_off()
        axes.text(0.5, 0.5, "no rung with rows and seconds", ha="center", va="center")
        return
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.grid(True, which="both", alpha=0.3)

    for kind, colour in KIND_COLOURS.items():
        mine = [p for p in points if p.kind == kind and p.failure_kind is None]
        if mine:
            axes.scatter(
                [p.rows for p in mine], [p.seconds for p in mine], color=colour, label=kind
            )
    for point in points:
        axes.annotate(
            point.rung, (point.rows, point.seconds), textcoords="offset points", xytext=(4, 4)
        )
    failed = [p for p in points if p.failure_kind is not None]
    if failed:
        axes.scatter(
            [p.rows for p in failed],
            [p.seconds for p in failed],
            color="red",
            marker="X",
            s=90,
            label="failed",
            zorder=3,
        )
        for point in failed:
            axes.annotate(
                point.failure_kind or "",
                (point.rows, point.seconds),
                textcoords="offset points",
                xytext=(4, -12),
                color="red",
            )
    if fit is not None:
        _draw_fit(axes, fit, _fitted(points), reported)
    # Times grow with rows, so the upper left corner is where no point is.
    axes.legend(fontsize=7, loc="upper left")


def _draw_fit(axes: Axes, fit: PowerLaw, fitted: Sequence[Point], reported: float | None) -> None:
    low, high = min(p.rows for p in fitted), max(p.rows for p in fitted)
    label = f"t ~ rows^{fit.exponent:.2f}"
    if fit.overhead:
        label = f"t ~ {fit.overhead:.2g} s + rows^{fit.exponent:.2f}"
    if reported is not None:
        label += f" (reported {reported:.2f})"
    span = _between(low, high)
    axes.plot(span, [fit.seconds(r) for r in span], color="black", label=label)
    top = max(fitted, key=lambda p: p.rows)
    if top.fraction and 0 < top.fraction < 1:
        full = top.rows / top.fraction
        span = _between(high, full)
        axes.plot(
            span,
            [fit.seconds(r) for r in span],
            color="black",
            linestyle="--",
            label=f"projected 100%: {fit.seconds(full):.3g} s",
        )


def _between(low: float, high: float, steps: int = 24) -> list[float]:
    """Rows spaced evenly on a log axis (the curve bends where the overhead stops counting)."""
    ratio = (high / low) ** (1 / steps)
    return [low * ratio**i for i in range(steps + 1)]


def _short(nodeid: str, width: int = 60) -> str:
    """The test part of a node id, cut to fit above a panel."""
    name = nodeid.rsplit("/", 1)[-1]
    return name if len(name) <= width else "..." + name[-(width - 3) :]
