"""Rung-major xdist scheduling and the rung records workers share, without Spark or real workers.

`Workers` plays xdist's side: a worker starts an item only once it holds the next one or was
told to shut down, and the controller shuts every worker down once the scheduler says the tests
are finished. Everything else is the scheduler's own logic.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadScheduling

from pytest_dcs.ladder import Ladder, RungRecord
from pytest_dcs.rungs import DISTRIBUTED, LOCAL, fraction_rung
from pytest_dcs.xdist.scheduling import LadderScheduling, RungMajorScheduling
from pytest_dcs.xdist.shared import RunRecords, crash_record, rung_of_nodeid


class FakeNode:
    """What the scheduler sees of a worker: it is sent items and the shutdown."""

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.queue: list[int] = []
        self.shutting_down = False

    def send_runtest_some(self, indices: Sequence[int]) -> None:
        assert not self.shutting_down, "sent items after its shutdown"
        self.queue.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True

    @property
    def can_start(self) -> bool:
        """As xdist's worker loop: the first item runs once a next one or the shutdown is there."""
        return len(self.queue) >= 2 or (self.shutting_down and bool(self.queue))

    def __repr__(self) -> str:
        return f"<{self.gateway.id}>"


def ladder(tests: int, fractions: Sequence[str] = ("1pct", "10pct"), plain: int = 0) -> list[str]:
    """A collection as a worker sends it: rung-major, plain tests with the local rungs."""
    names = [f"t.py::test_{i}" for i in range(tests)]
    ids = [f"{n}[local]" for n in names] + [f"t.py::test_plain_{i}" for i in range(plain)]
    for rung in ("distributed", *fractions):
        ids += [f"{n}[{rung}]" for n in names]
    return ids


def level_of(nodeid: str) -> tuple[int, float]:
    rung = rung_of_nodeid(nodeid)
    return rung.sort_key if rung else (0, 0.0)


class Workers:
    """Drives a scheduler as xdist would, in an order picked by `rng`, and checks the promises."""

    def __init__(self, sched: RungMajorScheduling, collection: list[str], count: int) -> None:
        self.sched = sched
        self.collection = collection
        self.nodes = [FakeNode(f"gw{i}") for i in range(count)]
        self.finished: set[int] = set()
        self.ran: dict[str, list[int]] = {n.gateway.id: [] for n in self.nodes}
        for node in self.nodes:
            sched.add_node(node)
        for node in self.nodes:
            sched.add_node_collection(node, collection)
        sched.schedule()

    def step(self, node: FakeNode) -> None:
        index = node.queue.pop(0)
        started = level_of(self.collection[index])
        unfinished = [
            self.collection[i]
            for i in range(len(self.collection))
            if i not in self.finished and level_of(self.collection[i]) < started
        ]
        assert not unfinished, f"{self.collection[index]} started before {unfinished}"
        self.ran[node.gateway.id].append(index)
        self.finished.add(index)
        self.sched.mark_test_complete(node, index, duration=1.0)
        if self.sched.tests_finished:
            for each in self.sched.nodes:
                each.shutdown()

    def run(self, rng: random.Random) -> None:
        for _ in range(10 * len(self.collection) + 10):
            ready = [n for n in self.nodes if n.can_start]
            if not ready:
                break
            self.step(rng.choice(ready))
        assert self.finished == set(range(len(self.collection))), "some items never ran"
        assert self.sched.tests_finished
        assert not self.sched.has_pending


# -- reading rungs off node ids -------------------------------------------------------------


@pytest.mark.parametrize(
    ("nodeid", "rung"),
    [
        ("t.py::test_a[local]", LOCAL),
        ("t.py::test_a[distributed]", DISTRIBUTED),
        ("t.py::test_a[1pct]", fraction_rung(0.01)),
        ("t.py::test_a[x-y-0.5pct]", fraction_rung(0.005)),
        ("t.py::Test::test_a[3-100pct]", fraction_rung(1.0)),
        ("t.py::test_a", None),
        ("t.py::test_a[remote]", None),
        ("t.py::test_a[10percent]", None),
        ("t.py::test_a[150pct]", None),
        ("t.py::test_a[10.0pct]", None),
        ("t.py::test_a[local-x]", None),
    ],
)
def test_rung_of_nodeid_reads_the_last_parameter(nodeid: str, rung: object) -> None:
    assert rung_of_nodeid(nodeid) == rung


# -- the levels -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize(
    ("tests", "plain", "workers"), [(5, 3, 2), (1, 0, 2), (12, 0, 3), (3, 9, 4)]
)
def test_levels_start_only_after_the_level_below_finished(
    seed: int, tests: int, plain: int, workers: int
) -> None:
    collection = ladder(tests, plain=plain)
    sched = RungMajorScheduling(workers)
    cluster = Workers(sched, collection, workers)
    cluster.run(random.Random(seed))
    for name, ran in cluster.ran.items():
        keys = [level_of(collection[i]) for i in ran]
        assert keys == sorted(keys), f"{name} went back down the ladder: {keys}"


def test_a_drained_level_hands_one_later_item_to_hold() -> None:
    collection = ladder(2, fractions=())  # a[local] b[local] a[distributed] b[distributed]
    sched = RungMajorScheduling(2)
    cluster = Workers(sched, collection, 2)
    gw0, gw1 = cluster.nodes
    assert (gw0.queue, gw1.queue) == ([0, 1], [2])
    assert not gw1.can_start  # a[distributed] is held: level 0 is not finished
    cluster.step(gw0)  # a[local]; b[local] needs a follower: b[distributed], held behind it
    assert (gw0.queue, gw1.queue) == ([1, 3], [2])
    assert not gw1.can_start
    cluster.step(gw0)  # b[local]: level 0 finished, nothing left to send
    assert gw0.shutting_down and gw1.shutting_down
    cluster.run(random.Random(0))


def test_a_worker_given_the_last_item_of_a_level_gets_a_follower_too() -> None:
    collection = ladder(3, fractions=())
    sched = RungMajorScheduling(2)
    cluster = Workers(sched, collection, 2)
    gw0, gw1 = cluster.nodes
    # gw1 got c[local], the last of level 0: alone it would never start.
    assert (gw0.queue, gw1.queue) == ([0, 1], [2, 3])
    cluster.run(random.Random(0))


def test_tests_finished_waits_for_a_held_item_of_a_later_level() -> None:
    collection = ["t.py::test_a[local]", "t.py::test_b[local]", "t.py::test_a[distributed]"]
    sched = RungMajorScheduling(2)
    gw0, gw1 = FakeNode("gw0"), FakeNode("gw1")
    for node in (gw0, gw1):
        sched.add_node(node)
        sched.add_node_collection(node, collection)
    sched.schedule()
    assert (gw0.queue, gw1.queue) == ([0, 1], [2])
    assert not sched.tests_finished  # shutting gw1 down now would start a[distributed]
    sched.mark_test_complete(gw0, 0)
    assert gw0.shutting_down and not gw1.shutting_down
    assert not sched.tests_finished
    sched.mark_test_complete(gw0, 1)
    assert gw1.shutting_down
    assert sched.tests_finished


def test_plain_collection_is_one_level_in_chunks() -> None:
    collection = [f"t.py::test_{i}" for i in range(40)]
    sched = RungMajorScheduling(2)
    cluster = Workers(sched, collection, 2)
    assert len(cluster.nodes[0].queue) == 10  # half of each worker's share, as xdist's load
    cluster.run(random.Random(1))


def test_empty_collection_is_finished_at_once() -> None:
    sched = RungMajorScheduling(1)
    node = FakeNode("gw0")
    sched.add_node(node)
    sched.add_node_collection(node, [])
    sched.schedule()
    assert sched.tests_finished
    assert node.shutting_down


# -- crashes and collections ----------------------------------------------------------------


def test_a_crashed_worker_returns_its_running_item_and_its_rest_runs_elsewhere() -> None:
    collection = ladder(4, fractions=())
    sched = RungMajorScheduling(2)
    cluster = Workers(sched, collection, 2)
    gw0 = cluster.nodes[0]
    held = list(gw0.queue)
    crashed = sched.remove_node(gw0)
    assert crashed == collection[held[0]]
    cluster.nodes.remove(gw0)
    cluster.finished.add(held[0])  # xdist reports it failed; it counts as done
    cluster.run(random.Random(2))
    assert set(held[1:]) <= set(cluster.ran["gw1"])


def test_a_replacement_worker_takes_over_the_crashed_ones_items() -> None:
    collection = ladder(4)
    sched = RungMajorScheduling(2)
    cluster = Workers(sched, collection, 2)
    gw0 = cluster.nodes[0]
    crashed = sched.remove_node(gw0)
    cluster.finished.add(collection.index(crashed))
    cluster.nodes.remove(gw0)
    gw2 = FakeNode("gw2")
    sched.add_node(gw2)
    sched.add_node_collection(gw2, collection)
    sched.schedule()
    cluster.nodes.append(gw2)
    cluster.ran["gw2"] = []
    cluster.run(random.Random(3))
    assert cluster.ran["gw2"]


def test_a_rerun_crashed_item_goes_back_to_its_level() -> None:
    collection = ladder(3, fractions=())
    sched = RungMajorScheduling(2)
    cluster = Workers(sched, collection, 2)
    gw0, gw1 = cluster.nodes
    crashed = sched.remove_node(gw0)
    assert crashed == collection[0]
    cluster.nodes.remove(gw0)
    sched.mark_test_pending(crashed)  # as a rerun plugin does from pytest_handlecrashitem
    # gw1 holds c[distributed]: the level's items wait for the worker xdist starts instead.
    assert gw1.queue == [2, 3]
    gw2 = FakeNode("gw2")
    sched.add_node(gw2)
    sched.add_node_collection(gw2, collection)
    sched.schedule()
    cluster.nodes.append(gw2)
    cluster.ran["gw2"] = []
    cluster.run(random.Random(4))
    assert sorted(cluster.ran["gw2"])[:2] == [0, 1]


def test_workers_with_different_collections_run_nothing() -> None:
    seen: list[tuple[str, str]] = []
    sched = RungMajorScheduling(2, on_mismatch=lambda node, msg: seen.append((node, msg)))
    gw0, gw1 = FakeNode("gw0"), FakeNode("gw1")
    for node, collection in ((gw0, ladder(2)), (gw1, ladder(3))):
        sched.add_node(node)
        sched.add_node_collection(node, collection)
    assert sched.collection_is_completed
    sched.schedule()
    assert gw0.queue == gw1.queue == []
    assert sched.tests_finished
    assert seen[0][0] == "gw1"
    assert "+t.py::test_2[local]" in seen[0][1]


def test_a_late_worker_with_another_collection_is_shut_down() -> None:
    seen: list[str] = []
    sched = RungMajorScheduling(1, on_mismatch=lambda node, msg: seen.append(node))
    cluster = Workers(sched, ladder(2), 1)
    late = FakeNode("gw1")
    sched.add_node(late)
    sched.add_node_collection(late, ladder(1))
    assert seen == ["gw1"]
    assert late.shutting_down and late not in sched.nodes
    cluster.run(random.Random(5))


# -- choosing the scheduler -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("collection", "chosen"),
    [(ladder(2), RungMajorScheduling), ([f"t.py::test_{i}" for i in range(6)], LoadScheduling)],
)
def test_ladder_scheduling_leaves_runs_without_rungs_to_xdist(
    pytester: pytest.Pytester, collection: list[str], chosen: type
) -> None:
    config = pytester.parseconfigure("--tx=2*popen", "--dist=load", "-p", "no:dcs")
    sched = LadderScheduling(config, Producer("test", enabled=False))
    nodes = [FakeNode("gw0"), FakeNode("gw1")]
    for node in nodes:
        sched.add_node(node)  # type: ignore[arg-type]
        assert not sched.collection_is_completed
        sched.add_node_collection(node, collection)  # type: ignore[arg-type]
    assert sched.collection_is_completed
    sched.schedule()
    assert isinstance(sched.chosen, chosen)
    assert nodes[0].queue and nodes[1].queue
    assert sched.nodes == nodes


# -- rung records shared between workers ----------------------------------------------------


def shared(rung: str, outcome: str, test: str = "t.py::test_a", **extra: Any) -> RungRecord:
    keys = {"local": (0, 0.0), "distributed": (1, 0.0), "1pct": (2, 0.01), "10pct": (2, 0.1)}
    return RungRecord(test=test, rung=rung, outcome=outcome, key=keys[rung], **extra)


def test_run_records_are_read_from_the_other_writers(tmp_path: Path) -> None:
    gw0, gw1 = RunRecords(tmp_path, "gw0"), RunRecords(tmp_path, "gw1")
    gw0.add(shared("local", "passed", seconds=0.5, rows=200, failure={"trace": "x" * 1000}))
    gw1.add(shared("local", "failed", test="t.py::test_b"))
    assert gw0.of_test("t.py::test_a") == []  # its own records are in its own ladder
    [record] = gw1.of_test("t.py::test_a")
    assert record.seconds == 0.5 and record.rows == 200 and record.key == (0, 0.0)
    assert record.failure is None  # what another rung needs, no more
    assert [r.outcome for r in gw0.of_test("t.py::test_b")] == ["failed"]
    assert gw1.of_test("t.py::test_c") == []


def test_run_records_read_on_from_where_they_stopped(tmp_path: Path) -> None:
    gw0, gw1 = RunRecords(tmp_path, "gw0"), RunRecords(tmp_path, "gw1")
    gw0.add(shared("local", "passed"))
    assert len(gw1.of_test("t.py::test_a")) == 1
    with open(tmp_path / "rungs-gw0.jsonl", "a") as out:
        out.write('{"rung": "distributed", "outcome": "pa')  # a line being written
    assert len(gw1.of_test("t.py::test_a")) == 1
    with open(tmp_path / "rungs-gw0.jsonl", "a") as out:
        out.write('ssed", "test": "t.py::test_a", "key": [1, 0.0]}\n')
    gw0.add(shared("1pct", "failed"))
    assert [r.rung for r in gw1.of_test("t.py::test_a")] == ["local", "distributed", "1pct"]


def test_shared_records_skip_and_time_a_ladder(tmp_path: Path) -> None:
    gw0, gw1 = RunRecords(tmp_path, "gw0"), RunRecords(tmp_path, "gw1")
    gw0.add(shared("local", "passed", seconds=0.2))
    gw0.add(shared("distributed", "failed"))
    ladder = Ladder()
    for record in gw1.of_test("t.py::test_a"):
        ladder.record(record)
    assert ladder.failed_below("t.py::test_a", (2, 0.01)) == "distributed"
    assert ladder.tests["t.py::test_a"].rungs["local"].seconds == 0.2


def test_a_crashed_rung_is_a_panic_record() -> None:
    record = crash_record("t.py::test_a[x-10pct]", "gw1")
    assert record is not None
    assert record.test == "t.py::test_a[x]"
    assert record.key == (2, 0.1)
    assert record.outcome == "failed"
    assert record.failure is not None and record.failure["kind"] == "panic"
    assert "gw1 crashed" in record.failure["summary"]
    assert crash_record("t.py::test_plain", "gw1") is None
