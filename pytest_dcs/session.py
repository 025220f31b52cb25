"""The run's session: its state (settings, engines, sources, the ladder seen so far), how scale
tests are collected and ordered, and when a rung is skipped. The other concerns are plugin
objects of their own that it registers: `run.body` (the body), `report.record` (each rung's
record), `report.summary` (the end of the run) and, under xdist, `xdist.hooks`."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_dcs.data.capture import rows_sink
from pytest_dcs.data.codec import SampleError
from pytest_dcs.data.input_problems import MaskError
from pytest_dcs.data.inputs import Inputs
from pytest_dcs.data.masking import Masker
from pytest_dcs.data.results import ResultStore
from pytest_dcs.data.samplestore import SampleStore
from pytest_dcs.data.sources import SourceError, SourceSpec, merge_hook_sources
from pytest_dcs.ladder import Ladder, base_nodeid
from pytest_dcs.marker import MarkerError, scale_spec
from pytest_dcs.progress import Progress
from pytest_dcs.report.record import RecordMaker, record_of
from pytest_dcs.report.summary import Summary
from pytest_dcs.run.body import BodyRunner
from pytest_dcs.run.state import RUNG_PARAM, STATE_KEY, RungParam, RungState, state_of
from pytest_dcs.rung import Rung
from pytest_dcs.rungs import build_ladder
from pytest_dcs.settings import Settings
from pytest_dcs.spark.config import EngineConfig, EngineError
from pytest_dcs.spark.engines import Engines

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from pytest_dcs.xdist.shared import RunRecords


class DcsSession:
    """The run's state: settings, engines, sources, and the ladder seen so far."""

    def __init__(
        self, config: pytest.Config, settings: Settings, declared: dict[str, SourceSpec]
    ) -> None:
        self.config = config
        self.settings = settings
        self._declared = declared
        self._sources: dict[str, SourceSpec] | None = None
        self.engines = Engines(
            EngineConfig(
                local_master=settings.local_master,
                cluster_master=settings.cluster_master,
                spark_conf=dict(settings.spark_conf),
                ship=settings.ship,
            )
        )
        self.ladder = Ladder()
        self.masker = Masker(settings.mask)
        self._inputs: Inputs | None = None
        self._run_dir: Path | None = None
        self._owns_run_dir = False
        self._terminal_fd: int | None = None
        # Under xdist (see `xdist.hooks`): on a worker, the rung records of the other workers and
        # when the run started; on the controller, each worker's engine starts.
        self.shared: RunRecords | None = None
        self.run_started: float | None = None
        self.worker_sessions: dict[str, dict[str, int]] = {}

    def register(self) -> None:
        """Register this session and the plugin objects of the other concerns."""
        manager = self.config.pluginmanager
        manager.register(self, "dcs-session")
        body = BodyRunner(
            settings=self.settings,
            engines=self.engines,
            ladder=self.ladder,
            inputs=lambda: self.inputs,
            masker=self.masker,
            progress=self._progress,
        )
        manager.register(body, "dcs-body")
        manager.register(RecordMaker(self.config, self.engines, self.masker), "dcs-record")
        manager.register(
            Summary(self.config, self.settings, self.ladder, self._sessions), "dcs-summary"
        )
        if manager.hasplugin("xdist"):
            from pytest_dcs.xdist import hooks

            hooks.register(self.config, self)

    def close(self) -> None:
        """Stop the engines, remove the run's folder, let go of the terminal."""
        self.engines.shutdown()
        if self._owns_run_dir and self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None
        if self._terminal_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._terminal_fd)
            self._terminal_fd = None

    @property
    def run_dir(self) -> Path:
        """A folder of this run, shared with xdist workers (given by the controller)."""
        if self._run_dir is None:
            given = getattr(self.config, "workerinput", {}).get("dcs_run_dir")
            if given:
                self._run_dir = Path(given)
            else:
                self._run_dir = Path(tempfile.mkdtemp(prefix="pytest-dcs-run-"))
                self._owns_run_dir = True
        return self._run_dir

    def engine_starts(self) -> Mapping[str, int]:
        return self.engines.starts

    def _sessions(self) -> Mapping[str, Mapping[str, int]]:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        return self.worker_sessions or {worker: dict(self.engines.starts)}

    # -- sources ----------------------------------------------------------------------------

    def sources(self) -> dict[str, SourceSpec]:
        """Declared sources plus those from `pytest_dcs_sources` hooks (frozen once tests run)."""
        if self._sources is not None:
            return self._sources
        results = self.config.hook.pytest_dcs_sources(config=self.config)
        return merge_hook_sources(self._declared, results)

    @property
    def inputs(self) -> Inputs:
        if self._inputs is None:
            self._inputs = Inputs(
                sources=self.sources(),
                store=SampleStore(self.settings.sample_dir),
                tiny_rows=self.settings.tiny_rows,
                masker=self.masker,
                refresh=self.settings.refresh_samples,
                refreshed_since=self.run_started,
                run_id=self.run_dir.name,
                progress=self._sampling_progress,
            )
        return self._inputs

    # -- collection -------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        mark = metafunc.definition.get_closest_marker("scale")
        if mark is None:
            return
        where = f"{metafunc.definition.nodeid}: @pytest.mark.scale"
        problem = None
        try:
            spec = scale_spec(mark.args, mark.kwargs, self.settings, self.sources())
        except (MarkerError, SourceError) as exc:
            problem = str(exc)
        if problem is not None:
            # Outside the `except`, so the message is not repeated as "during handling of...".
            pytest.fail(f"{where}: {problem}", pytrace=False)
        rungs = build_ladder(spec.fractions)
        metafunc.parametrize(
            RUNG_PARAM, [RungParam(r, spec) for r in rungs], ids=[r.name for r in rungs]
        )

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        cap = self.settings.max_rung
        kept: list[pytest.Item] = []
        deselected: list[pytest.Item] = []
        for item in items:
            param = _rung_param(item)
            if param is not None:
                test = base_nodeid(item.nodeid, param.rung.name)
                item.stash[STATE_KEY] = RungState(test, param)
                if cap is not None and not cap.allows(param.rung):
                    deselected.append(item)
                    continue
            kept.append(item)
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            self.ladder.deselected += len(deselected)
        # Rung-major: every local rung (and plain Spark tests), then distributed, then each
        # fraction, so that each engine is started once. The sort is stable within a rung.
        kept.sort(key=_order_key)
        items[:] = kept

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        try:
            self._sources = self.sources()
        except SourceError as exc:
            raise pytest.UsageError(str(exc)) from None

    # -- running ----------------------------------------------------------------------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        on_worker = hasattr(self.config, "workerinput")
        if reporter is not None and not on_worker:
            # Global capture is suspended between phases, so fd 1 is the terminal here.
            with contextlib.suppress(OSError):
                self._terminal_fd = os.dup(1)
        if self.settings.forget_captured and not on_worker:
            removed = SampleStore(self.settings.sample_dir).forget_captured()
            if reporter is not None:
                reporter.write_line(f"dcs: forgot {len(removed)} capture file(s)")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        state = state_of(item)
        if state is None:
            return
        if self.shared is not None:
            # Lower rungs of this test may have run on other workers: their failures skip this
            # one, and their times are the base of its scaling check.
            for record in self.shared.of_test(state.test):
                self.ladder.record(record)
        failed = self.ladder.failed_below(state.test, state.param.sort_key)
        if failed is not None:
            pytest.skip(f"rung {failed} failed")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = record_of(report)
        if record is not None:
            self.ladder.record(record)

    # -- the terminal -----------------------------------------------------------------------

    def _progress(self, state: RungState) -> contextlib.AbstractContextManager[object]:
        """A line on the terminal when the body runs long (not on xdist workers: no terminal)."""
        if self._terminal_fd is None:
            return contextlib.nullcontext()
        label = f"{state.test.rsplit('::', 1)[-1]} {state.rung_spec.name}"
        rows = state.rung.rows if state.rung is not None else None
        return Progress(label, rows, self._write_terminal)

    def _sampling_progress(self, label: str) -> contextlib.AbstractContextManager[object]:
        """A line on the terminal while a tiny sample is taken, when that takes long."""
        if self._terminal_fd is None:
            return contextlib.nullcontext()
        return Progress(label, None, self._write_terminal, detail="reading the source")

    def _write_terminal(self, line: str) -> None:
        # Straight to the terminal, from the watching thread: pytest's capture of the
        # test's output is left as it is (suspending it from another thread races).
        if self._terminal_fd is not None:
            os.write(self._terminal_fd, f"\n{line}\n".encode())

    # -- for the fixtures -------------------------------------------------------------------

    def session_for(self, engine: str) -> SparkSession:
        try:
            return self.engines.session("local" if engine == "local" else "cluster")
        except EngineError as exc:
            pytest.fail(str(exc), pytrace=False)

    def rung_for(self, item: pytest.Item, state: RungState) -> Rung:
        """The `rung` fixture's object of a rung item, made once."""
        if state.rung is not None:
            return state.rung
        spark = self.session_for(state.rung_spec.engine)
        spec = state.spec

        def reader(name: str) -> tuple[DataFrame, int | None]:
            try:
                return self.inputs.read(
                    name, state.rung_spec, spark, spec.sample_key, key_required=name == spec.source
                )
            except KeyError as exc:
                pytest.fail(f"{item.nodeid}: {exc.args[0]}", pytrace=False)
            except (SampleError, MaskError) as exc:
                pytest.fail(str(exc), pytrace=False)

        state.rung = Rung(
            state.rung_spec,
            spark,
            reader,
            spec.source,
            rows_sink(state, lambda: self.inputs, self.masker),
            spec.capture,
            test=state.test,
            results=ResultStore(self.run_dir / "results"),
            strict_plan=self.settings.strict_plan,
        )
        return state.rung


def _rung_param(item: pytest.Item) -> RungParam | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    value = callspec.params.get(RUNG_PARAM)
    return value if isinstance(value, RungParam) else None


def _order_key(item: pytest.Item) -> tuple[int, float]:
    state = state_of(item)
    return state.param.sort_key if state is not None else (0, 0.0)
