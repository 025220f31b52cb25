"""The ladder plot, drawn from synthetic report tests (no Spark)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_dcs.report.plot import (
    PlotUnavailable,
    draw_ladder_plot,
    ladder_figure,
    points_of,
)
from pytest_dcs.run.scaling import Point, fit_law

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def rung(
    name: str,
    seconds: float | None,
    rows: int | None,
    *,
    fraction: float | None = None,
    exponent: float | None = None,
    kind: str | None = None,
    outcome: str = "passed",
) -> dict[str, Any]:
    failed = kind is not None
    return {
        "rung": name,
        "outcome": "failed" if failed else outcome,
        "seconds": seconds,
        "rows": rows,
        "fraction": fraction,
        "exponent": exponent,
        "failure": {"kind": kind, "summary": f"{kind} on {name}"} if failed else None,
    }


def ladder(nodeid: str, *rungs: dict[str, Any]) -> dict[str, Any]:
    return {"nodeid": nodeid, "source": "events", "rungs": list(rungs)}


def quadratic() -> dict[str, Any]:
    """Time grows as rows**2 across the fractions; the 40% rung failed on it."""
    return ladder(
        "tests/test_jobs.py::test_self_join",
        rung("local", 0.5, 200),
        rung("distributed", 1.4, 200),
        rung("1pct", 1e-8 * 10_000**2, 10_000, fraction=0.01),
        rung("10pct", 1e-8 * 100_000**2, 100_000, fraction=0.1, exponent=2.0),
        rung("40pct", 1e-8 * 400_000**2, 400_000, fraction=0.4, exponent=2.0, kind="slowdown"),
    )


def report_tests() -> list[dict[str, Any]]:
    return [
        quadratic(),
        ladder(
            "tests/test_jobs.py::test_linear",
            rung("local", 0.3, 200),
            rung("distributed", 1.0, 200),
            rung("1pct", 2.0, 10_000, fraction=0.01),
            rung("10pct", 20.0, 100_000, fraction=0.1),
        ),
        ladder(
            "tests/test_jobs.py::test_broken",
            rung("local", 0.4, 200, kind="data"),
            rung("distributed", None, None, outcome="skipped"),
        ),
        ladder("tests/test_jobs.py::test_nothing_timed", rung("local", None, None)),
    ]


def test_plot_is_a_png(tmp_path: Path) -> None:
    target = tmp_path / "out" / "ladder.png"
    draw_ladder_plot(report_tests(), target)
    data = target.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 10_000
    assert [p.name for p in target.parent.iterdir()] == ["ladder.png"]  # no temporary left


def test_one_panel_per_test_with_its_fit() -> None:
    figure = ladder_figure(report_tests())
    axes = figure.get_axes()
    assert len(axes) == 4
    assert axes[0].get_xscale() == axes[0].get_yscale() == "log"
    assert "fit k=2.00" in axes[0].get_title()
    assert "reported k=2.00" in axes[0].get_title()
    assert "fit k=1.00" in axes[1].get_title()
    assert axes[2].get_title().endswith("no fit")
    texts = [t.get_text() for t in axes[0].texts]
    assert "slowdown" in texts
    labels = axes[0].get_legend_handles_labels()[1]
    assert "failed" in labels
    assert any(label.startswith("t ~ rows^2.00") for label in labels)
    assert any(label.startswith("projected 100%") for label in labels)
    assert "no rung with rows and seconds" in [t.get_text() for t in axes[3].texts]


def test_fit_uses_passed_and_slow_fraction_rungs_only() -> None:
    crashed = ladder(
        "t.py::test_crash",
        rung("1pct", 1.0, 1_000, fraction=0.01),
        rung("10pct", 10.0, 10_000, fraction=0.1),
        rung("40pct", 0.2, 40_000, fraction=0.4, kind="panic"),
    )
    title = ladder_figure([crashed]).get_axes()[0].get_title()
    assert "fit k=1.00" in title


def test_the_plotted_law_is_the_one_scaling_fits() -> None:
    rows = (1_000, 10_000, 100_000)
    law = fit_law([Point(f"{r}", r, 2.0 * (r / 1e3) ** 1.5) for r in rows], 0.0)
    assert law is not None
    assert math.isclose(law.exponent, 1.5)
    assert math.isclose(law.seconds(1e3), 2.0)
    assert fit_law([Point("1pct", 1_000, 2.0)], 0.0) is None
    assert fit_law([Point("1pct", 1_000, 2.0), Point("2pct", 1_000, 3.0)], 0.0) is None


def test_points_skip_rungs_without_rows_or_seconds() -> None:
    points = points_of(report_tests()[2])
    assert [(p.rung, p.kind, p.failure_kind) for p in points] == [("local", "local", "data")]


def test_missing_matplotlib_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(PlotUnavailable, match=r"pip install 'pytest-dcs\[plot\]'"):
        draw_ladder_plot(report_tests(), tmp_path / "ladder.png")
    assert not (tmp_path / "ladder.png").exists()
