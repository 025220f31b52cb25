"""One rung item's state, under one StashKey: what it is, and what happened while it ran."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from pytest_dcs.ladder import Key
from pytest_dcs.marker import ScaleSpec
from pytest_dcs.rungs import RungSpec

if TYPE_CHECKING:
    from pytest_dcs.data.input_problems import SourceUnreadable
    from pytest_dcs.failures import Failure
    from pytest_dcs.run.clues import FailingCalls
    from pytest_dcs.run.scaling import Verdict
    from pytest_dcs.rung import Rung

RUNG_PARAM = "_dcs_rung"
"""The parameter a scale test is parametrized with (its value a `RungParam`)."""


@dataclass(frozen=True)
class RungParam:
    """The value a scale test is parametrized with: its rung and its resolved marker."""

    rung: RungSpec
    spec: ScaleSpec

    @property
    def sort_key(self) -> Key:
        return (self.rung.level, self.rung.fraction or 0.0)


@dataclass(frozen=True)
class Localized:
    """Offending rows found by re-running a failed body: report records, capture file, cost."""

    records: list[dict[str, Any]]
    captured_to: str | None
    localization: dict[str, Any]


@dataclass
class RungState:
    """A scale test item at one rung: set at collection, filled in while it runs."""

    test: str
    """The test's node id without the rung parameter."""
    param: RungParam
    rung: Rung | None = None
    """The `rung` fixture's object, once a fixture asked for it."""
    pending: SourceUnreadable | None = None
    """The rung's input could not be read: the body is not run, this is its failure."""
    failure: Failure | None = None
    """What the guard saw (a timeout, a panic, an unreadable input), before any classifying."""
    body_seconds: float | None = None
    task_seconds: float | None = None
    timed_twice: bool = False
    verdict: Verdict | None = None
    localized: Localized | None = None
    rung_calls: FailingCalls | None = None
    """The arguments of the UDF calls that failed the body, read from its error (`sealed`)."""

    @property
    def spec(self) -> ScaleSpec:
        return self.param.spec

    @property
    def rung_spec(self) -> RungSpec:
        return self.param.rung

    def keep_faster_tasks(self, task_seconds: float | None) -> None:
        """Keep the smaller task time of the body's runs (the warm one, or the quieter one)."""
        if task_seconds is not None and (
            self.task_seconds is None or task_seconds < self.task_seconds
        ):
            self.task_seconds = task_seconds


STATE_KEY = pytest.StashKey[RungState]()
"""The one key of a rung item's state; items without it are not scale tests."""


def state_of(item: pytest.Item) -> RungState | None:
    return item.stash.get(STATE_KEY, None)
