"""The end of the run: the ladder table in the terminal summary, the JSON report, the plot."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from pytest_dcs.ladder import Ladder
from pytest_dcs.report.document import build_report, write_report
from pytest_dcs.report.table import ladder_table
from pytest_dcs.settings import Settings


class Summary:
    """The plugin object that tells the ladder at the end (on the controller under xdist)."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        ladder: Ladder,
        sessions: Callable[[], Mapping[str, Mapping[str, int]]],
    ) -> None:
        self.config = config
        self.settings = settings
        self.ladder = ladder
        self.sessions = sessions
        self._plotted = False

    def report_document(self) -> dict[str, Any]:
        """The JSON report, as `pytest_dcs_report` hooks extended it."""
        document = build_report(
            self.ladder.to_json(), sessions=self.sessions(), deselected=self.ladder.deselected
        )
        self.config.hook.pytest_dcs_report(config=self.config, report=document)
        return document

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.ladder.tests and not self.ladder.deselected:
            return
        terminalreporter.write_sep("-", "dcs ladder")
        tests = self.ladder.to_json()
        for line in ladder_table(tests):
            terminalreporter.write_line(line)
        cap = self.settings.max_rung
        if cap is not None and self.ladder.deselected:
            terminalreporter.write_line(
                f"{self.ladder.deselected} rung(s) above --dcs-max-rung={cap.text} deselected"
            )
        warnings = plan_warnings(tests)
        if warnings:
            terminalreporter.write_sep("-", "dcs plan warnings")
            for line in warnings:
                terminalreporter.write_line(line, yellow=True)
        if self.settings.report_path is not None:
            terminalreporter.write_line(f"ladder report: {self.settings.report_path}")
        if self.settings.plot_path is not None and self._plotted:
            terminalreporter.write_line(f"ladder plot: {self.settings.plot_path}")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return
        if self.settings.report_path is not None:
            write_report(self.settings.report_path, self.report_document())
        if self.settings.plot_path is not None and self.ladder.tests:
            from pytest_dcs.report.plot import draw_ladder_plot

            draw_ladder_plot(self.ladder.to_json(), self.settings.plot_path)
            self._plotted = True


def plan_warnings(tests: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per test and plan warning, with the rungs it was seen at."""
    lines = []
    for test in tests:
        seen: dict[str, list[str]] = {}
        for record in test["rungs"]:
            for warning in record.get("warnings") or ():
                seen.setdefault(warning, []).append(record["rung"])
        for warning, rungs in seen.items():
            lines.append(f"{test['nodeid']}: {warning} (at {', '.join(rungs)})")
    return lines
