"""The run's xdist hooks: the controller's scheduler and run folder, a worker's shared records.

- the controller schedules rung-major (`scheduling`) and gives workers the run's folder;
- workers append their rung records there (`shared`) and read those of other workers;
- workers send their engine starts back in `workeroutput`, so the controller's report counts
  sessions per worker.

Imported only when xdist is loaded: the hooks of `xdist.newhooks` exist only then. What it needs
of the run is the `Run` protocol, so it does not import the session that registers it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest

from pytest_dcs.ladder import Ladder, base_nodeid
from pytest_dcs.report.record import REPORT_ATTRIBUTE, record_of
from pytest_dcs.xdist.scheduling import LadderScheduling
from pytest_dcs.xdist.shared import RunRecords, crash_record, rung_of_nodeid

if TYPE_CHECKING:
    from xdist.remote import Producer
    from xdist.scheduler import Scheduling
    from xdist.workermanage import WorkerController

RUN_DIR = "dcs_run_dir"
"""`workerinput` key: the controller's run folder, which `DcsSession.run_dir` reads on a worker."""
RUN_STARTED = "dcs_run_started"
"""`workerinput` key: when the controller started (epoch seconds), to tell this run's files."""
OUTPUT = "dcs"
"""`workeroutput` key: what a worker reports back at its end."""


class Run(Protocol):
    """What the xdist hooks use of the run's session."""

    ladder: Ladder
    shared: RunRecords | None
    run_started: float | None
    worker_sessions: dict[str, dict[str, int]]

    @property
    def run_dir(self) -> Path: ...

    def engine_starts(self) -> Mapping[str, int]: ...


class Controller:
    """The controller's side: the scheduler, the run's folder, and what workers report back."""

    def __init__(self, session: Run) -> None:
        self.session = session
        self.folder = session.run_dir  # the session removes it at the end
        self.started = time.time()
        self.records = RunRecords(self.folder, "controller")
        self._position: dict[str, int] = {}

    @pytest.hookimpl
    def pytest_xdist_make_scheduler(
        self, config: pytest.Config, log: Producer
    ) -> Scheduling | None:
        # Other --dist modes were asked for by name: they keep their own order.
        return LadderScheduling(config, log) if config.getvalue("dist") == "load" else None

    @pytest.hookimpl
    def pytest_configure_node(self, node: WorkerController) -> None:
        node.workerinput[RUN_DIR] = str(self.folder)
        node.workerinput[RUN_STARTED] = self.started

    @pytest.hookimpl
    def pytest_xdist_node_collection_finished(
        self, node: WorkerController, ids: Sequence[str]
    ) -> None:
        if self._position:
            return
        for index, nodeid in enumerate(ids):
            rung = rung_of_nodeid(nodeid)
            if rung is not None:
                self._position.setdefault(base_nodeid(nodeid, rung.name), index)

    @pytest.hookimpl
    def pytest_testnodedown(self, node: WorkerController, error: object | None) -> None:
        output = getattr(node, "workeroutput", {}).get(OUTPUT)
        if output is None:  # it crashed: what it started is not known
            return
        self.session.worker_sessions[node.gateway.id] = output["sessions"]
        ladder = self.session.ladder
        ladder.deselected = max(ladder.deselected, output["deselected"])

    @pytest.hookimpl
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport) -> None:
        worker = getattr(getattr(report, "node", None), "gateway", None)
        record = crash_record(crashitem, str(getattr(worker, "id", "?")))
        if record is not None:
            self.records.add(record)  # the rungs above it are skipped, as after any failure
            report.__dict__[REPORT_ATTRIBUTE] = record.to_wire()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        # Tests in collection order, as a single process lists them, not in order of arrival.
        end = len(self._position)
        self.session.ladder.sort(lambda test: self._position.get(test, end))


class Worker:
    """A worker's side: shares its rung records and reports its engine starts at the end.

    A worker on another machine (`--tx ssh=...`) cannot see the run's folder: it shares nothing,
    and only its own failures skip the rungs above them.
    """

    def __init__(self, config: pytest.Config, session: Run) -> None:
        self.config = config
        self.session = session
        workerinput = config.workerinput  # type: ignore[attr-defined]
        folder = session.run_dir
        self.records = RunRecords(folder, workerinput["workerid"]) if folder.is_dir() else None
        if self.records is not None:
            session.shared = self.records
            session.run_started = workerinput[RUN_STARTED]

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = record_of(report)
        if self.records is not None and record is not None:
            # Written before the item counts as finished, so before its level can end.
            self.records.add(record)

    @pytest.hookimpl
    def pytest_sessionfinish(self) -> None:
        self.config.workeroutput[OUTPUT] = {  # type: ignore[attr-defined]
            "sessions": dict(self.session.engine_starts()),
            "deselected": self.session.ladder.deselected,
        }


def register(config: pytest.Config, session: Run) -> None:
    """Join the run as its xdist controller or one of its workers; a run without -n is neither."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        if RUN_DIR in workerinput:
            config.pluginmanager.register(Worker(config, session), "dcs-xdist-worker")
    elif config.getvalue("dist") != "no" and config.getvalue("tx"):
        config.pluginmanager.register(Controller(session), "dcs-xdist-controller")
