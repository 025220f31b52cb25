"""Rung-major scheduling under pytest-xdist (`pytest -n N`).

A single process sorts its items rung-major. Across workers the controller schedules with
`RungMajorScheduling`: the items of a rung level are released only once every item of the level
below has finished, so each worker meets the levels in order (one session per engine) and a lower
rung's verdict is known before a higher rung starts.

Imported only when xdist is loaded.
"""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import pytest
from xdist.scheduler import LoadScheduling
from xdist.workermanage import parse_tx_spec_config

from pytest_dcs.ladder import Key
from pytest_dcs.xdist.shared import rung_of_nodeid

if TYPE_CHECKING:
    from xdist.remote import Producer
    from xdist.scheduler import Scheduling
    from xdist.workermanage import WorkerController

PLAIN: Key = (0, 0.0)  # tests without a rung run with the `local` rungs, on the local engine


def collection_diff(first: Sequence[str], other: Sequence[str], names: tuple[str, str]) -> str:
    """What one worker collected differently from another, as a unified diff."""
    lines = difflib.unified_diff(list(first), list(other), names[0], names[1], lineterm="")
    return (
        f"Different tests were collected by {names[0]} and {names[1]}, so they cannot share "
        "the run (is the collection order random, or does it depend on the process?):\n"
        + "\n".join(lines)
    )


# -- scheduling -----------------------------------------------------------------------------


class Node(Protocol):
    """What the scheduler uses of xdist's `WorkerController`."""

    @property
    def shutting_down(self) -> bool: ...

    def send_runtest_some(self, indices: Sequence[int]) -> None: ...

    def shutdown(self) -> None: ...


def _no_log(*args: object) -> None:
    return None


class RungMajorScheduling:
    """xdist scheduling level by level of the ladder: `local` rungs and plain tests, then
    `distributed`, then each fraction.

    A worker starts an item only once it has been sent the next one, or told to shut down (the
    next item says which fixtures to tear down), so an item is released by sending another after
    it. Here nothing is sent after an item before its level may start: the next level opens when
    every item of the current one has finished. A worker whose level has nothing left to hand out
    is sent one item of a later level to hold, which it will not start before more is sent.
    Within a level, items go out in small chunks in collection order, as xdist's load scheduling
    does, so each worker's items of a level are contiguous.

    A crashed worker's item counts as finished (xdist reports it failed) and the items it held go
    back to their levels; if every other worker holds a later item by then, they wait for the
    worker xdist starts in its place.
    """

    def __init__(
        self,
        numnodes: int,
        *,
        log: Callable[..., None] = _no_log,
        on_mismatch: Callable[[str, str], None] | None = None,
    ) -> None:
        self.numnodes = numnodes
        self.log = log
        self.on_mismatch = on_mismatch
        self.node2collection: dict[Node, list[str]] = {}
        self.node2pending: dict[Node, list[int]] = {}
        self.collection: list[str] | None = None
        self._level: list[int] = []  # each item's level: its index in the sorted rung keys
        self._unsent: list[deque[int]] = []  # per level, in collection order
        self._left: list[int] = []  # per level, the items not finished yet
        self._current = 0  # the lowest level with unfinished items

    # -- what xdist asks --------------------------------------------------------------------

    @property
    def nodes(self) -> list[Node]:
        return list(self.node2pending)

    @property
    def collection_is_completed(self) -> bool:
        return len(self.node2collection) >= self.numnodes

    @property
    def tests_finished(self) -> bool:
        """Nothing left to send and each worker holds at most one item it may run at shutdown."""
        if self.collection is None or any(self._unsent):
            return False
        return all(
            len(pending) < 2 and not (pending and self._level[pending[0]] > self._current)
            for pending in self.node2pending.values()
        )

    @property
    def has_pending(self) -> bool:
        return any(self._unsent) or any(self.node2pending.values())

    # -- events -----------------------------------------------------------------------------

    def add_node(self, node: Node) -> None:
        assert node not in self.node2pending
        self.node2pending[node] = []

    def add_node_collection(self, node: Node, collection: Sequence[str]) -> None:
        assert node in self.node2pending
        # A worker started later (replacing one that crashed) must have collected the same.
        if self.collection is not None and list(collection) != self.collection:
            first = next(iter(self.node2collection))
            diff = collection_diff(self.collection, collection, _names(first, node))
            self._mismatch(node, diff)
            del self.node2pending[node]
            node.shutdown()
            return
        self.node2collection[node] = list(collection)

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.collection is None:
            self._start()
        for node in self.nodes:
            self._feed(node)

    def mark_test_complete(self, node: Node, item_index: int, duration: float = 0) -> None:
        self.node2pending[node].remove(item_index)
        if self._finish(item_index):
            for each in self.nodes:
                self._feed(each)
        else:
            self._feed(node, duration)

    def mark_test_pending(self, item: str) -> None:
        """Run `item` again (a rerun plugin asks after a crash): back to its level's queue."""
        assert self.collection is not None
        index = self.collection.index(item)
        level = self._level[index]
        self._unsent[level].appendleft(index)
        self._left[level] += 1
        self._current = min(self._current, level)
        for node in self.nodes:
            self._feed(node)

    def remove_pending_tests_from_node(self, node: Node, indices: Sequence[int]) -> None:
        raise NotImplementedError("rung-major scheduling never asks a worker to give tests back")

    def remove_node(self, node: Node) -> str | None:
        """Forget a worker; when it crashed, return the item it was running and requeue the rest."""
        pending = self.node2pending.pop(node)
        if not pending:
            return None
        assert self.collection is not None
        crashed, rest = pending[0], pending[1:]
        for index in reversed(rest):
            self._unsent[self._level[index]].appendleft(index)
        self._finish(crashed)
        for each in self.nodes:
            self._feed(each)
        return self.collection[crashed]

    # -- the levels -------------------------------------------------------------------------

    def _start(self) -> None:
        (first, collection), *others = self.node2collection.items()
        differ = [(node, other) for node, other in others if other != collection]
        for node, other in differ:
            self._mismatch(node, collection_diff(collection, other, _names(first, node)))
        if differ:
            self.collection = []
            return
        self.collection = collection
        keys = [_key(nodeid) for nodeid in collection]
        order = {key: level for level, key in enumerate(sorted(set(keys)))}
        self._level = [order[key] for key in keys]
        self._unsent = [deque() for _ in order]
        for index, level in enumerate(self._level):
            self._unsent[level].append(index)
        self._left = [len(items) for items in self._unsent]
        self.log("levels (items each):", [len(items) for items in self._unsent])

    def _finish(self, index: int) -> bool:
        """Count an item as finished; True when that completes its level and opens the next."""
        self._left[self._level[index]] -= 1
        opened = self._current
        while self._current < len(self._left) and self._left[self._current] == 0:
            self._current += 1
        if self._current != opened:
            self.log("level", opened, "finished; releasing level", self._current)
        return self._current != opened

    def _feed(self, node: Node, duration: float = 0.0) -> None:
        """Send `node` what it may run now: more of the current level, one item of a later level
        to hold, or the shutdown."""
        if node.shutting_down:
            return
        pending = self.node2pending[node]
        if pending and self._level[pending[-1]] > self._current:
            return  # anything sent now would start the later-level item it holds
        current = self._unsent[self._current] if self._current < len(self._unsent) else None
        if current:
            self._top_up(node, pending, current, duration)
            if current:
                return  # it holds two or more and asks again as it finishes them
        later = next((items for items in self._unsent if items), None)
        if later is None:
            node.shutdown()
        elif len(pending) < 2:
            self._send(node, [later.popleft()])

    def _top_up(self, node: Node, pending: list[int], unsent: deque[int], duration: float) -> None:
        share = len(unsent) // len(self.node2pending)
        low, high = max(2, share // 4), max(2, share // 2)
        if len(pending) >= low:
            return
        if duration >= 0.1 and len(pending) >= 2:
            return  # slow items: a backlog here would keep the others waiting at the level's end
        count = min(high - len(pending), len(unsent))
        self._send(node, [unsent.popleft() for _ in range(count)])

    def _send(self, node: Node, indices: list[int]) -> None:
        self.node2pending[node].extend(indices)
        node.send_runtest_some(indices)

    def _mismatch(self, node: Node, message: str) -> None:
        self.log(message)
        if self.on_mismatch is not None:
            self.on_mismatch(_name(node), message)


def _key(nodeid: str) -> Key:
    rung = rung_of_nodeid(nodeid)
    return rung.sort_key if rung is not None else PLAIN


def _name(node: object) -> str:
    gateway = getattr(node, "gateway", None)
    return str(getattr(gateway, "id", node))


def _names(first: object, other: object) -> tuple[str, str]:
    return _name(first), _name(other)


class LadderScheduling:
    """`RungMajorScheduling` when the workers collected rungs, else xdist's `LoadScheduling`.

    The controller makes its scheduler before any worker has collected, so the choice waits for
    the first `schedule()`; until then this keeps the nodes and their collections, and then hands
    them to the chosen scheduler.
    """

    def __init__(self, config: pytest.Config, log: Producer) -> None:
        self.config = config
        self.log = log
        self.numnodes = len(parse_tx_spec_config(config))
        self.chosen: Scheduling | None = None
        self._collections: dict[WorkerController, list[str] | None] = {}

    @property
    def nodes(self) -> list[WorkerController]:
        return self.chosen.nodes if self.chosen else list(self._collections)

    @property
    def collection_is_completed(self) -> bool:
        if self.chosen:
            return self.chosen.collection_is_completed
        return sum(c is not None for c in self._collections.values()) >= self.numnodes

    @property
    def tests_finished(self) -> bool:
        return self.chosen.tests_finished if self.chosen else False

    @property
    def has_pending(self) -> bool:
        return self.chosen.has_pending if self.chosen else False

    def add_node(self, node: WorkerController) -> None:
        if self.chosen:
            self.chosen.add_node(node)
        else:
            self._collections[node] = None

    def add_node_collection(self, node: WorkerController, collection: Sequence[str]) -> None:
        if self.chosen:
            self.chosen.add_node_collection(node, collection)
        else:
            self._collections[node] = list(collection)

    def mark_test_complete(
        self, node: WorkerController, item_index: int, duration: float = 0
    ) -> None:
        assert self.chosen is not None
        self.chosen.mark_test_complete(node, item_index, duration)

    def mark_test_pending(self, item: str) -> None:
        assert self.chosen is not None
        self.chosen.mark_test_pending(item)

    def remove_pending_tests_from_node(
        self, node: WorkerController, indices: Sequence[int]
    ) -> None:
        assert self.chosen is not None
        self.chosen.remove_pending_tests_from_node(node, indices)

    def remove_node(self, node: WorkerController) -> str | None:
        if self.chosen:
            return self.chosen.remove_node(node)
        del self._collections[node]
        return None

    def schedule(self) -> None:
        if self.chosen is None:
            self.chosen = self._choose()
            for node, collection in self._collections.items():
                self.chosen.add_node(node)
                if collection is not None:
                    self.chosen.add_node_collection(node, collection)
        self.chosen.schedule()

    def _choose(self) -> Scheduling:
        collected = next(c for c in self._collections.values() if c is not None)
        if not any(rung_of_nodeid(nodeid) for nodeid in collected):
            return LoadScheduling(self.config, self.log)
        return RungMajorScheduling(
            self.numnodes, log=self.log.rungmajor, on_mismatch=self._report_mismatch
        )

    def _report_mismatch(self, node: str, message: str) -> None:
        report = pytest.CollectReport(nodeid=node, outcome="failed", longrepr=message, result=[])
        self.config.hook.pytest_collectreport(report=report)
