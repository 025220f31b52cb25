"""What happened on each rung of each test, and what that means for the rungs above.

Spark-free. A `RungRecord` is built once per rung (`report.record`); it rides on the pytest
report to the xdist controller as a plain dict (`to_wire`), since execnet carries only plain data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Key = tuple[int, float]
"""A rung's place in the climb: (level, fraction), `local` (0, 0.0) lowest."""

SHARED_FIELDS = (
    "test",
    "rung",
    "outcome",
    "seconds",
    "rows",
    "fraction",
    "reason",
    "source",
    "key",
)
"""What another xdist worker needs of a record: whether it failed, how long it took on what."""


def base_nodeid(nodeid: str, rung: str) -> str:
    """The test's node id without its rung parameter (`t.py::f[a-local]` -> `t.py::f[a]`)."""
    if nodeid.endswith(f"[{rung}]"):
        return nodeid[: -len(rung) - 2]
    if nodeid.endswith(f"-{rung}]"):
        return nodeid[: -len(rung) - 2] + "]"
    return nodeid


@dataclass
class RungRecord:
    """One rung of one test as the report tells it (`--dcs-report`), plus where it belongs.

    `test`, `source` and `key` place the record in its ladder and stay out of the report's rung
    objects; every other field is one of them, in this order.
    """

    test: str
    rung: str
    outcome: str
    key: Key
    source: str | None = None
    seconds: float | None = None
    rows: int | None = None
    fraction: float | None = None
    exponent: float | None = None
    exponent_basis: str | None = None
    failure: dict[str, Any] | None = None
    task_seconds: float | None = None
    overhead_seconds: float | None = None
    timed_twice: bool = False
    projected_seconds: float | None = None
    observations: dict[str, Any] = field(default_factory=dict)
    skew: dict[str, Any] = field(default_factory=dict)
    parity: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The rung object of the JSON report."""
        wire = self.to_wire()
        return {k: v for k, v in wire.items() if k not in _PLACE}

    def to_wire(self) -> dict[str, Any]:
        """Every field as plain data (for reports sent between xdist processes)."""
        wire = dataclasses.asdict(self)
        wire["key"] = list(self.key)
        return wire

    def shared(self) -> dict[str, Any]:
        """The fields another worker needs (`SHARED_FIELDS`), as plain data."""
        wire = self.to_wire()
        return {k: wire[k] for k in SHARED_FIELDS}

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> RungRecord:
        """The record `to_wire` or `shared` wrote (fields it lacks keep their defaults)."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["key"] = _key(data["key"])
        return cls(**values)

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"


_PLACE = ("test", "source", "key")


def _key(value: Any) -> Key:
    level, fraction = value
    return (int(level), float(fraction))


@dataclass
class TestLadder:
    """One test's rungs, in climbing order."""

    nodeid: str
    source: str | None
    rungs: dict[str, RungRecord] = field(default_factory=dict)

    def failed_below(self, key: Key) -> str | None:
        """The name of a failed rung below the given one, if any."""
        for name, record in self.rungs.items():
            if record.failed and record.key < key:
                return name
        return None

    def passed_below(self, key: Key) -> list[RungRecord]:
        """The passed rungs below the given one, lowest first."""
        ordered = sorted(self.rungs.values(), key=lambda r: r.key)
        return [r for r in ordered if r.outcome == "passed" and r.key < key]

    def to_json(self) -> dict[str, Any]:
        ordered = sorted(self.rungs.values(), key=lambda r: r.key)
        return {
            "nodeid": self.nodeid,
            "source": self.source,
            "rungs": [r.to_json() for r in ordered],
        }


class Ladder:
    """Every scale test's ladder seen by this process (or, on the xdist controller, by all)."""

    def __init__(self) -> None:
        self.tests: dict[str, TestLadder] = {}
        self.deselected = 0

    def record(self, record: RungRecord) -> None:
        test = self.tests.setdefault(record.test, TestLadder(record.test, record.source))
        previous = test.rungs.get(record.rung)
        # A teardown error after a passed call turns the rung into a failure; nothing undoes one.
        if previous is None or not previous.failed:
            test.rungs[record.rung] = record

    def failed_below(self, test: str, key: Key) -> str | None:
        ladder = self.tests.get(test)
        return ladder.failed_below(key) if ladder else None

    def passed_below(self, test: str, key: Key) -> list[RungRecord]:
        ladder = self.tests.get(test)
        return ladder.passed_below(key) if ladder else []

    def sort(self, position: Callable[[str], int]) -> None:
        """Order the tests by `position` of their node id (records arrive in any order)."""
        self.tests = dict(sorted(self.tests.items(), key=lambda entry: position(entry[0])))

    def to_json(self) -> list[dict[str, Any]]:
        return [t.to_json() for t in self.tests.values()]
