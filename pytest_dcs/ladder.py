"""What happened on each rung of each test, and what that means for the rungs above.

Spark-free. Records are plain dicts so they can ride on pytest reports across xdist workers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RungRecord = dict[str, Any]


def base_nodeid(nodeid: str, rung: str) -> str:
    """The test's node id without its rung parameter (`t.py::f[a-local]` -> `t.py::f[a]`)."""
    if nodeid.endswith(f"[{rung}]"):
        return nodeid[: -len(rung) - 2]
    if nodeid.endswith(f"-{rung}]"):
        return nodeid[: -len(rung) - 2] + "]"
    return nodeid


@dataclass
class TestLadder:
    """One test's rungs, in climbing order."""

    nodeid: str
    source: str | None
    rungs: dict[str, RungRecord] = field(default_factory=dict)

    def failed_below(self, level_key: tuple[int, float]) -> str | None:
        """The name of a failed rung below the given one, if any."""
        for name, record in self.rungs.items():
            if record["outcome"] == "failed" and tuple(record["_key"]) < level_key:
                return name
        return None

    def to_json(self) -> dict[str, Any]:
        ordered = sorted(self.rungs.values(), key=lambda r: tuple(r["_key"]))
        return {
            "nodeid": self.nodeid,
            "source": self.source,
            "rungs": [{k: v for k, v in r.items() if not k.startswith("_")} for r in ordered],
        }


class Ladder:
    """Every scale test's ladder seen by this process (or, on the xdist controller, by all)."""

    def __init__(self) -> None:
        self.tests: dict[str, TestLadder] = {}
        self.deselected = 0

    def record(self, record: RungRecord) -> None:
        test = self.tests.setdefault(
            record["_test"], TestLadder(nodeid=record["_test"], source=record.get("_source"))
        )
        previous = test.rungs.get(record["rung"])
        # A teardown error after a passed call turns the rung into a failure; nothing undoes one.
        if previous is None or previous["outcome"] != "failed":
            test.rungs[record["rung"]] = record

    def failed_below(self, test: str, level_key: tuple[int, float]) -> str | None:
        ladder = self.tests.get(test)
        return ladder.failed_below(level_key) if ladder else None

    def sort(self, position: Callable[[str], int]) -> None:
        """Order the tests by `position` of their node id (records arrive in any order)."""
        self.tests = dict(sorted(self.tests.items(), key=lambda entry: position(entry[0])))

    def to_json(self) -> list[dict[str, Any]]:
        return [t.to_json() for t in self.tests.values()]
