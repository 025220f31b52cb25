"""pytest-dcs hook implementations and fixtures. The logic lives in the modules named here."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import pytest

from pytest_dcs import hookspecs, scaling
from pytest_dcs.engines import EngineConfig, EngineError, Engines
from pytest_dcs.failures import DcsFailure, Failure, classify, error_identity, render_story
from pytest_dcs.guard import (
    JobScope,
    Watchdog,
    job_scope,
    job_tag,
    panic_failure,
    tagged,
    timeout_failure,
)
from pytest_dcs.inputs import Inputs, MaskError, SourceUnreadable
from pytest_dcs.ladder import Ladder, RungRecord, base_nodeid
from pytest_dcs.masking import Masker
from pytest_dcs.progress import Progress
from pytest_dcs.report import build_report, ladder_table, write_report
from pytest_dcs.results import ResultStore
from pytest_dcs.rung import RowsSink, Rung
from pytest_dcs.rungs import RungSpec, build_ladder, fraction_rung, rung_below
from pytest_dcs.samplestore import SampleError, SampleStore
from pytest_dcs.settings import (
    MARKER_USAGE,
    MarkerError,
    ScaleSpec,
    Settings,
    add_options,
    load_settings,
    scale_spec,
)
from pytest_dcs.sources import SourceError, SourceSpec, merge_hook_sources, parse_source_lines

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row, SparkSession

    from pytest_dcs.distribute import RunRecords

RUNG_PARAM = "_dcs_rung"


@dataclass(frozen=True)
class RungParam:
    """The value a scale test is parametrized with: its rung and its resolved marker."""

    rung: RungSpec
    spec: ScaleSpec

    @property
    def sort_key(self) -> tuple[int, float]:
        return (self.rung.level, self.rung.fraction or 0.0)


@dataclass(frozen=True)
class ItemInfo:
    test: str
    param: RungParam


SESSION_KEY = pytest.StashKey["DcsSession"]()
ITEM_KEY = pytest.StashKey[ItemInfo]()
RUNG_KEY = pytest.StashKey[Rung]()
PENDING_KEY = pytest.StashKey[SourceUnreadable]()
FAILURE_KEY = pytest.StashKey[Failure]()
BODY_SECONDS_KEY = pytest.StashKey[float]()
LOCALIZED_KEY = pytest.StashKey["Localized"]()
TASK_SECONDS_KEY = pytest.StashKey[float]()
VERDICT_KEY = pytest.StashKey[scaling.Verdict]()
TIMED_TWICE_KEY = pytest.StashKey[bool]()

# How many times a failing slowdown verdict is re-timed (the rung below, then this one)
# before it stands.
CONFIRMING_ROUNDS = 2


@dataclass(frozen=True)
class Localized:
    """Offending rows found by re-running a failed body: report records, capture file, cost."""

    records: list[dict[str, Any]]
    captured_to: str | None
    localization: dict[str, Any]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_USAGE)
    settings = load_settings(config)
    try:
        declared = parse_source_lines(settings.source_lines, settings.rootpath, "dcs_sources")
    except SourceError as exc:
        raise pytest.UsageError(str(exc)) from None
    session = DcsSession(config, settings, declared)
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(session, "dcs-session")
    if config.pluginmanager.hasplugin("xdist"):
        from pytest_dcs import distribute

        distribute.register(config, session)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        session.engines.shutdown()
        session.remove_run_dir()
        session.close_terminal()


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
        self._plotted = False
        self._terminal_fd: int | None = None
        # Extra runs of bodies (warm timing, confirming a slowdown), each under its own job tag.
        self._reruns = 0
        # Under xdist (see `distribute`): on a worker, the rung records of the other workers and
        # when the run started; on the controller, each worker's engine starts.
        self.shared: RunRecords | None = None
        self.run_started: float | None = None
        self.worker_sessions: dict[str, dict[str, int]] = {}

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

    def close_terminal(self) -> None:
        if self._terminal_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._terminal_fd)
            self._terminal_fd = None

    def remove_run_dir(self) -> None:
        if self._owns_run_dir and self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None

    @property
    def results(self) -> ResultStore:
        return ResultStore(self.run_dir / "results")

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
            known = self.sources()
            spec = scale_spec(mark.args, mark.kwargs, self.settings, known)
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
                item.stash[ITEM_KEY] = ItemInfo(base_nodeid(item.nodeid, param.rung.name), param)
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
        if reporter is not None and not hasattr(self.config, "workerinput"):
            # Global capture is suspended between phases, so fd 1 is the terminal here.
            with contextlib.suppress(OSError):
                self._terminal_fd = os.dup(1)
        if self.settings.forget_captured and not hasattr(self.config, "workerinput"):
            removed = SampleStore(self.settings.sample_dir).forget_captured()
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(f"dcs: forgot {len(removed)} capture file(s)")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        info = item.stash.get(ITEM_KEY, None)
        if info is None:
            return
        if self.shared is not None:
            # Lower rungs of this test may have run on other workers: their failures skip this
            # one, and their times are the base of its scaling check.
            for record in self.shared.of_test(info.test):
                self.ladder.record(record)
        failed = self.ladder.failed_below(info.test, info.param.sort_key)
        if failed is not None:
            pytest.skip(f"rung {failed} failed")

    @pytest.hookimpl(wrapper=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> Generator[None, object, object]:
        info = pyfuncitem.stash.get(ITEM_KEY, None)
        if info is None:
            return (yield)
        pending = pyfuncitem.stash.get(PENDING_KEY, None)
        if pending is not None:
            # The rung's input could not be read: that is this rung's failure, not a setup error.
            summary, _, hint = str(pending).partition("\n")
            pyfuncitem.stash[FAILURE_KEY] = Failure("framework", summary, advice=hint)
            pytest.fail(str(pending), pytrace=False)
        # The body runs guarded: its jobs under a tag the watchdog cancels at the timeout.
        # Its jobs carry a tag: for the task time, and for the watchdog to cancel them.
        timeout = info.param.spec.timeout
        jobs = job_scope(self.engines.current, job_tag(pyfuncitem.nodeid))
        watchdog = Watchdog(timeout, jobs) if timeout is not None else None
        live_before = self.engines.state() == "live"
        error: Exception | None = None
        result = None
        try:
            # Outside the `with`: an interrupt landing just after the body is caught here too.
            with watchdog or tagged(jobs):
                result = yield
        except Exception as exc:
            error = exc
        self._task_seconds(pyfuncitem, jobs)
        failure = self._guard_failure(info, live_before, watchdog, error)
        if failure is not None:
            pyfuncitem.stash[FAILURE_KEY] = failure
            if error is None:
                raise DcsFailure(failure.kind, failure.summary, advice=failure.advice)
        if error is not None:
            raise error
        return result

    def _task_seconds(self, item: pytest.Item, jobs: JobScope | None) -> None:
        if jobs is None or self.engines.state() != "live":
            return
        try:
            seconds = jobs.task_seconds()
        except Exception:  # the status store is Spark's internals: do without
            return
        if seconds is not None:
            item.stash[TASK_SECONDS_KEY] = seconds

    def _guard_failure(
        self,
        info: ItemInfo,
        live_before: bool,
        watchdog: Watchdog | None,
        error: Exception | None,
    ) -> Failure | None:
        """A panic when the body's session ended under it, else a timeout when it ran too long."""
        state = self.engines.state()
        if live_before and state is not None and state != "live":
            raised = classify(error) if error is not None else None
            return panic_failure(state, self.engines.active or "local", raised)
        expiry = watchdog.expiry if watchdog is not None else None
        if expiry is None:
            return None
        lower = rung_below(info.param.rung, info.param.spec.fractions)
        return timeout_failure(info.param.rung.name, expiry, lower.name if lower else None)

    @pytest.hookimpl(wrapper=True, specname="pytest_pyfunc_call")
    def pytest_pyfunc_call_measure(self, pyfuncitem: pytest.Function) -> Generator[None, Any, Any]:
        """Time the body. When it fails on executors because of data, find the rows that did
        it; when it passes, check its deferred expectations and how its time scales."""
        began = time.perf_counter()
        try:
            with self._progress(pyfuncitem):
                result = yield
        except Exception as exc:
            seconds = time.perf_counter() - began
            pyfuncitem.stash[BODY_SECONDS_KEY] = seconds
            self._check_sample_schema(pyfuncitem, exc)
            self._localize(pyfuncitem, exc, seconds)
            raise
        seconds = time.perf_counter() - began
        pyfuncitem.stash[BODY_SECONDS_KEY] = seconds
        info = pyfuncitem.stash.get(ITEM_KEY, None)
        rung = pyfuncitem.stash.get(RUNG_KEY, None)
        if info is not None and rung is not None:
            rung.finish()
            if self._times_twice(info):
                again = self._time_again(pyfuncitem, rung)
                if again is not None:
                    if again.seconds < seconds:
                        seconds = pyfuncitem.stash[BODY_SECONDS_KEY] = again.seconds
                    self._keep_faster_tasks(pyfuncitem, again)
                pyfuncitem.stash[TIMED_TWICE_KEY] = True
            self._check_scaling(pyfuncitem, info, rung, seconds)
        return result

    def _progress(self, item: pytest.Item) -> contextlib.AbstractContextManager[object]:
        """A line on the terminal when the body runs long (not on xdist workers: no terminal)."""
        info = item.stash.get(ITEM_KEY, None)
        if info is None or self._terminal_fd is None:
            return contextlib.nullcontext()
        rung = item.stash.get(RUNG_KEY, None)
        label = f"{info.test.rsplit('::', 1)[-1]} {info.param.rung.name}"
        return Progress(label, rung.rows if rung is not None else None, self._write_terminal)

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

    def _times_twice(self, info: ItemInfo) -> bool:
        """Whether this rung's warm time is needed: at `distributed` (the fixed overhead) and at
        the first fraction rung (the base of the first exponent), when a fraction rung follows.

        The first run of a plan on an engine compiles its code and starts its Python workers;
        the rungs above reuse both, so a cold time there would look like fixed cost or growth.
        """
        rung, fractions = info.param.rung, info.param.spec.fractions
        if rung.kind == "distributed":
            above = fractions[:1]
        elif rung.kind == "fraction" and fractions and rung.fraction == fractions[0]:
            above = fractions[1:2]
        else:
            return False
        cap = self.settings.max_rung
        return bool(above) and (cap is None or cap.allows(fraction_rung(above[0])))

    def _check_scaling(
        self, item: pytest.Function, info: ItemInfo, rung: Rung, seconds: float
    ) -> None:
        """Judge a passed fraction rung's time against the rungs below it (`scaling`)."""
        __tracebackhide__ = True
        spec, fraction = info.param.spec, info.param.rung.fraction
        if fraction is None or rung.rows is None:
            return
        overhead, below = self._scaling_base(info, seconds)
        previous = below[-1] if below else None
        point = scaling.Point(rung.name, rung.rows, seconds, item.stash.get(TASK_SECONDS_KEY, None))

        def judge(at: scaling.Point, overhead: float) -> scaling.Verdict:
            return scaling.judge(
                at,
                fraction,
                previous,
                overhead,
                max_exponent=spec.max_exponent,
                budget=self.settings.budget,
                below=[*below[:-1], previous] if previous is not None else (),
            )

        verdict = judge(point, overhead)
        if verdict.failed:
            # One slow run on a busy machine is not a verdict. Time the body on the tiny sample
            # (the overhead, now), then the rung below and this rung again, back to back, so a
            # load that came between the rungs is not read as growth; keep the fastest time of
            # each, as benchmarks do, and stop as soon as the times pass.
            tiny = self._time_on(item, info, rung, build_ladder(())[1])
            if tiny is not None:
                overhead = min(overhead, tiny.seconds)
            lower_rung = _fraction_rung_named(spec, previous.rung) if previous else None
            for _ in range(CONFIRMING_ROUNDS):
                if previous is not None:
                    lower = self._time_on(item, info, rung, lower_rung)
                    if lower is not None:
                        previous = _faster(previous, lower)
                again = self._time_again(item, rung)
                item.stash[TIMED_TWICE_KEY] = item.stash.get(TIMED_TWICE_KEY, False) or (
                    again is not None
                )
                if again is not None:
                    point = _faster(point, again)
                    # The record shows the times that were judged.
                    item.stash[BODY_SECONDS_KEY] = point.seconds
                    if point.task_seconds is not None:
                        item.stash[TASK_SECONDS_KEY] = point.task_seconds
                verdict = judge(point, overhead)
                if not verdict.failed or again is None:
                    break
        item.stash[VERDICT_KEY] = verdict
        if verdict.problem is not None:
            raise DcsFailure("slowdown", verdict.problem, advice=scaling.SLOWDOWN_ADVICE)

    def _keep_faster_tasks(self, item: pytest.Item, timing: Timing) -> None:
        """Keep the smaller task time of the body's runs (the warm one, or the quieter one)."""
        if timing.task_seconds is None:
            return
        kept = item.stash.get(TASK_SECONDS_KEY, None)
        if kept is None or timing.task_seconds < kept:
            item.stash[TASK_SECONDS_KEY] = timing.task_seconds

    def _time_on(
        self, item: pytest.Function, info: ItemInfo, rung: Rung, at: RungSpec | None
    ) -> Timing | None:
        """The body's time, on this rung's engine, on the input of rung `at` (the tiny sample in
        many partitions for `distributed`, the same fraction for a fraction rung)."""
        spec = info.param.spec
        if spec.source is None or at is None:
            return None
        try:
            data, _ = self.inputs.read(spec.source, at, rung.spark, spec.sample_key)
        except Exception:
            return None
        return self._timed_run(item, rung, data)

    def _scaling_base(self, info: ItemInfo, seconds: float) -> tuple[float, list[scaling.Point]]:
        """The fixed overhead and the passed fraction rungs below this one, lowest first.

        The overhead is the tiny `distributed` rung's time (same engine, next to no rows), but
        never more than a fraction rung's time (`seconds` is this rung's): those include it, so
        a tiny rung slowed by the machine cannot hide a fraction rung's growth.
        """
        test = self.ladder.tests.get(info.test)
        records = sorted(
            (r for r in (test.rungs.values() if test else ()) if r["outcome"] == "passed"),
            key=lambda r: tuple(r["_key"]),
        )
        below = [r for r in records if tuple(r["_key"]) < info.param.sort_key]
        overhead = 0.0
        for wanted in ("distributed", "local"):
            tiny = [r for r in below if r["rung"] == wanted and r.get("seconds") is not None]
            if tiny:
                overhead = float(tiny[0]["seconds"])
                break
        fractions = [
            r
            for r in below
            if r.get("fraction") is not None and r.get("rows") and r.get("seconds") is not None
        ]
        points = [
            scaling.Point(
                r["rung"],
                int(r["rows"]),
                float(r["seconds"]),
                float(r["task_seconds"]) if r.get("task_seconds") is not None else None,
            )
            for r in fractions
        ]
        overhead = min([overhead, seconds, *(p.seconds for p in points)])
        return overhead, points

    def _time_again(self, item: pytest.Function, rung: Rung) -> Timing | None:
        """Run the body once more on the same input; its time, or None if it failed."""
        return self._timed_run(item, rung, rung.input)

    def _timed_run(
        self, item: pytest.Function, rung: Rung, data: DataFrame | None
    ) -> Timing | None:
        """One more run of the body on `data` (None: its own input), its jobs under a tag of
        their own for their task time; None if it failed."""
        self._reruns += 1
        jobs = job_scope(self.engines.current, f"{job_tag(item.nodeid)}#{self._reruns}")
        began = time.perf_counter()
        try:
            with rung.replaced(data), tagged(jobs):
                _call_body(item, data)
        except Exception:
            return None
        seconds = time.perf_counter() - began
        task_seconds = None
        if jobs is not None:
            with contextlib.suppress(Exception):  # the status store is Spark's internals
                task_seconds = jobs.task_seconds()
        return Timing(seconds, task_seconds)

    def _check_sample_schema(self, item: pytest.Function, exc: Exception) -> None:
        """When code meets columns it does not expect on the tiny sample, say so if the sample
        was taken before the source's schema changed: the fix is a refresh, not the code."""
        __tracebackhide__ = True
        info = item.stash.get(ITEM_KEY, None)
        rung = item.stash.get(RUNG_KEY, None)
        if info is None or rung is None or info.param.spec.source is None:
            return
        if info.param.rung.kind == "fraction" or isinstance(exc, DcsFailure):
            return
        if classify(exc).signature != "analysis_error":
            return
        spec = info.param.spec
        stale = self.inputs.stale(spec.source, rung.spark, info.param.rung, spec.sample_key)
        if stale is not None:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DcsFailure(
                "data",
                stale,
                advice=(
                    "take the sample again with pytest --dcs-refresh-samples, review the new "
                    "file and commit it; rows captured earlier keep being replayed"
                ),
                details=f"the body failed on the kept sample with: {first}",
            ) from exc

    def _localize(self, item: pytest.Function, exc: Exception, seconds: float) -> None:
        from pytest_dcs.localize import Localizer

        info = item.stash.get(ITEM_KEY, None)
        rung = item.stash.get(RUNG_KEY, None)
        if info is None or rung is None or rung.input is None or isinstance(exc, DcsFailure):
            return
        if FAILURE_KEY in item.stash or self.engines.state() != "live":
            return  # a timeout or a panic: the guard has told what happened
        limit = info.param.spec.capture
        budget = self.settings.localize_budget.for_rung(seconds)
        failure = classify(exc)
        if not limit or budget <= 0 or failure.kind != "data":
            return
        if failure.signature == "analysis_error":
            return  # a column the plan cannot resolve: every subset of rows fails the same way
        identity = error_identity(exc)

        def reproduce(subset: DataFrame) -> Literal["same", "passed", "other"]:
            with rung.replaced(subset):
                try:
                    _call_body(item, subset)
                except Exception as again:
                    # The re-run's own error: it is raised while `exc` is handled, so `exc` is
                    # its context, which must not make a different error look the same.
                    same = not isinstance(again, DcsFailure) and error_identity(again) == identity
                    return "same" if same else "other"
            return "passed"

        source = rung.input
        found = Localizer(
            rung.spark,
            source,
            reproduce,
            limit=limit,
            budget=budget,
            identity=identity,
            message=identity.message,
        ).run()
        record = found.to_json(budget)
        record["story"] = found.describe(budget)
        records: list[dict[str, Any]] = []
        captured_to = None
        if found.rows:
            replays = self._replays(info, rung.spark, source, found.rows, reproduce)
            sink = self._sink(info, capture=replays)
            records, captured_to, _ = sink(source, found.rows, failure.summary, None)
            if not replays:
                record["story"] += (
                    "; not captured: masked by dcs_mask, the rows no longer fail, so `local` "
                    "could not replay the failure"
                )
        item.stash[LOCALIZED_KEY] = Localized(records, captured_to, record)

    def _replays(
        self,
        info: ItemInfo,
        spark: SparkSession,
        source: DataFrame,
        rows: Sequence[Row],
        reproduce: Callable[[DataFrame], str],
    ) -> bool:
        """Whether rows found at a fraction rung still fail the same way as `local` will replay
        them: with the `dcs_mask` columns masked (rows below are masked already)."""
        if info.param.rung.kind != "fraction" or not self.masker:
            return True
        originals = [tuple(r) for r in rows]
        masked = self.masker.rows(originals, source.schema)
        if masked == originals:
            return True
        try:
            return reproduce(spark.createDataFrame(masked, source.schema)) == "same"
        except Exception:  # the session may have gone: capture as before
            return True

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        info = item.stash.get(ITEM_KEY, None)
        if info is None:
            return report
        final = report.when == "call" or (report.when != "call" and not report.passed)
        if final:
            try:
                record = self._describe(item, info, report, call)
            except Exception as exc:
                # A report hook that raises ends the whole run with INTERNALERROR, and the rungs
                # after this one never run: a rung that cannot be described (say, its JVM died in
                # a way nothing above foresaw) still gets a record, which says why.
                record = self._undescribed(item, info, report, exc)
            # A plain attribute travels with the report to the xdist controller.
            report.__dict__["dcs_rung"] = record
            _junit_properties(item, record)
        return report

    def _describe(
        self,
        item: pytest.Item,
        info: ItemInfo,
        report: pytest.TestReport,
        call: pytest.CallInfo[None],
    ) -> RungRecord:
        """The rung's record; for a failed rung, the story replaces pytest's traceback."""
        record, failure = self._record(item, info, report, call)
        if failure is not None:
            # The short story first; the full trace stays in the JSON report (and at -vv).
            verbose = self.config.get_verbosity() >= 2
            report.longrepr = render_story(failure, rung=info.param.rung.name, verbose=verbose)
            if info.param.rung.kind == "fraction" and self.masker:
                self._mask_text(item, report, record)
        return record

    def _undescribed(
        self, item: pytest.Item, info: ItemInfo, report: pytest.TestReport, error: Exception
    ) -> RungRecord:
        """The record of a rung `_describe` failed on: its outcome, and for a failed rung the
        failure the guard found, else a `panic` naming the error; pytest's traceback stays."""
        failure = None
        if report.failed:
            why = "".join(traceback.format_exception_only(type(error), error)).strip()
            failure = item.stash.get(FAILURE_KEY, None) or Failure(
                "panic",
                f"pytest-dcs could not describe this rung's failure: {why}",
                advice="the test's own error is in the trace; please report this to pytest-dcs",
            )
            failure.trace = f"{report.longreprtext}\n\n{''.join(traceback.format_exception(error))}"
        ran = report.when == "call"
        return {
            "rung": info.param.rung.name,
            "outcome": "failed" if report.failed else report.outcome,
            "seconds": round(report.duration, 4) if ran else None,
            "rows": None,
            "fraction": info.param.rung.fraction,
            "exponent": None,
            "exponent_basis": None,
            "failure": failure.to_json() if failure else None,
            "task_seconds": None,
            "overhead_seconds": None,
            "timed_twice": False,
            "projected_seconds": None,
            "observations": {},
            "skew": {},
            "parity": None,
            "warnings": [],
            "reason": None,
            "_test": info.test,
            "_source": info.param.spec.source,
            "_key": list(info.param.sort_key),
        }

    def _mask_text(self, item: pytest.Item, report: pytest.TestReport, record: RungRecord) -> None:
        """Replace the real values of masked columns in every text of a failed fraction rung:
        the story (terminal and JUnit), the captured output and the report record. Values of the
        rung's input that the texts quote are looked up first, one filter job per source read."""
        failure = record["failure"]
        texts = [
            failure["summary"],
            failure["python_trace"],
            str(report.longrepr),
            failure["trace"],
            *(content for _, content in report.sections),
        ]
        rung = item.stash.get(RUNG_KEY, None)
        usable = failure["kind"] not in ("panic", "timeout") and self.engines.state() == "live"
        frames = rung.read.values() if rung is not None and usable else ()
        lookup = self.masker.look_up(frames, texts)
        scrub = self.masker.scrub
        report.longrepr = scrub(str(report.longrepr))
        report.sections = [(title, scrub(content)) for title, content in report.sections]
        captured_to = failure["captured_to"]
        record["failure"] = self.masker.scrub_json(failure)
        record["failure"]["captured_to"] = captured_to
        record["failure"]["masking"] = self.masker.scrub_json(lookup)
        record["skew"] = self.masker.scrub_json(record["skew"])

    def _record(
        self,
        item: pytest.Item,
        info: ItemInfo,
        report: pytest.TestReport,
        call: pytest.CallInfo[None],
    ) -> tuple[RungRecord, Failure | None]:
        rung = item.stash.get(RUNG_KEY, None)
        outcome = "failed" if report.failed else report.outcome
        failure: Failure | None = None
        reason = None
        if report.failed and call.excinfo is not None:
            failure = item.stash.get(FAILURE_KEY, None) or classify(call.excinfo.value)
            failure.captured_to = getattr(call.excinfo.value, "captured_to", None)
            localized = item.stash.get(LOCALIZED_KEY, None)
            if localized is not None:
                failure.offending_rows = localized.records
                failure.captured_to = localized.captured_to
                failure.localization = localized.localization
            failure.offending_rows = json.loads(json.dumps(failure.offending_rows, default=str))
            failure.trace = str(report.longreprtext)
            if failure.module:
                failure.advice = _driver_import_note(failure.module) + failure.advice
        elif report.skipped and isinstance(report.longrepr, tuple):
            reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        verdict = item.stash.get(VERDICT_KEY, None)
        task_seconds = item.stash.get(TASK_SECONDS_KEY, None)
        ran = report.when == "call"
        return {
            "rung": info.param.rung.name,
            "outcome": outcome,
            "seconds": round(item.stash.get(BODY_SECONDS_KEY, report.duration), 4) if ran else None,
            "rows": rung.rows if rung is not None else None,
            "fraction": info.param.rung.fraction,
            "exponent": None
            if verdict is None or verdict.exponent is None
            else round(verdict.exponent, 3),
            "exponent_basis": verdict.basis
            if verdict is not None and verdict.exponent is not None
            else None,
            "failure": failure.to_json() if failure else None,
            "task_seconds": round(task_seconds, 3) if ran and task_seconds is not None else None,
            "overhead_seconds": round(verdict.overhead, 4) if verdict is not None else None,
            "timed_twice": item.stash.get(TIMED_TWICE_KEY, False),
            "projected_seconds": round(verdict.projected, 2)
            if verdict is not None and verdict.projected is not None
            else None,
            "observations": _safely(rung.observations) if rung is not None else {},
            "skew": dict(rung.skew) if rung is not None else {},
            "parity": rung.parity if rung is not None else None,
            "warnings": list(rung.warnings) if rung is not None else [],
            "reason": reason,
            "_test": info.test,
            "_source": info.param.spec.source,
            "_key": list(info.param.sort_key),
        }, failure

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = getattr(report, "dcs_rung", None)
        if record is not None:
            self.ladder.record(record)

    # -- reporting --------------------------------------------------------------------------

    def report_document(self) -> dict[str, Any]:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        document = build_report(
            self.ladder.to_json(),
            sessions=self.worker_sessions or {worker: dict(self.engines.starts)},
            deselected=self.ladder.deselected,
        )
        self.config.hook.pytest_dcs_report(config=self.config, report=document)
        return document

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.ladder.tests and not self.ladder.deselected:
            return
        terminalreporter.write_sep("-", "dcs ladder")
        for line in ladder_table(self.ladder.to_json()):
            terminalreporter.write_line(line)
        cap = self.settings.max_rung
        if cap is not None and self.ladder.deselected:
            terminalreporter.write_line(
                f"{self.ladder.deselected} rung(s) above --dcs-max-rung={cap.text} deselected"
            )
        warnings = _plan_warnings(self.ladder.to_json())
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
            from pytest_dcs.plot import draw_ladder_plot

            draw_ladder_plot(self.ladder.to_json(), self.settings.plot_path)
            self._plotted = True

    # -- fixtures' helpers ------------------------------------------------------------------

    def session_for(self, engine: str) -> SparkSession:
        try:
            return self.engines.session("local" if engine == "local" else "cluster")
        except EngineError as exc:
            pytest.fail(str(exc), pytrace=False)

    def rung_for(self, item: pytest.Item) -> Rung:
        rung = item.stash.get(RUNG_KEY, None)
        if rung is not None:
            return rung
        info = item.stash[ITEM_KEY]
        spark = self.session_for(info.param.rung.engine)
        spec = info.param.spec

        def reader(name: str) -> tuple[DataFrame, int | None]:
            try:
                return self.inputs.read(
                    name,
                    info.param.rung,
                    spark,
                    spec.sample_key,
                    key_required=name == spec.source,
                )
            except KeyError as exc:
                pytest.fail(f"{item.nodeid}: {exc.args[0]}", pytrace=False)
            except (SampleError, MaskError) as exc:
                pytest.fail(str(exc), pytrace=False)

        rung = Rung(
            info.param.rung,
            spark,
            reader,
            spec.source,
            self._sink(info),
            spec.capture,
            test=info.test,
            results=self.results,
            strict_plan=self.settings.strict_plan,
        )
        item.stash[RUNG_KEY] = rung
        return rung

    def _sink(self, info: ItemInfo, *, capture: bool = True) -> RowsSink:
        """Mask offending rows for the report and capture them when they are source rows (and
        `capture`)."""
        spec = info.param.spec

        def sink(
            df: DataFrame, rows: Sequence[Row], summary: str, of_input: Sequence[Row] | None
        ) -> tuple[list[dict[str, Any]], str | None, str]:
            originals = [tuple(r) for r in rows]
            # Below the fraction rungs the rows come from the sample: masked already.
            real = info.param.rung.kind == "fraction"
            masked = self.masker.rows(originals, df.schema) if real else originals
            records = [dict(zip(df.columns, r, strict=True)) for r in masked]
            if real:
                # `rows` above remembered these rows' values; an error's summary may quote
                # another row's (localization found others), which one lookup in `df` finds.
                if self.masker:
                    self.masker.look_up([df], [summary])
                summary = self.masker.scrub(summary)
            source = spec.source
            if not capture or not spec.capture or source is None:
                return records, None, summary
            schema = self.inputs.schema_of(source)
            kept = originals if of_input is None else [tuple(r) for r in of_input]
            if schema is None or schema != df.schema or not kept:
                return records, None, summary
            path, _ = self.inputs.capture(
                source,
                schema,
                kept[: spec.capture],
                mask=real,
                provenance={
                    "test": info.test,
                    "rung": info.param.rung.name,
                    "kind": "data",
                    "summary": summary,
                    "captured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                },
            )
            return records, str(path), summary

        return sink


class Timing(NamedTuple):
    """Seconds of one extra run of a body, and its executors' task seconds where known."""

    seconds: float
    task_seconds: float | None


def _faster(point: scaling.Point, timing: Timing) -> scaling.Point:
    """`point` with the smaller wall time and the smaller task time of it and `timing`."""
    tasks = [t for t in (point.task_seconds, timing.task_seconds) if t is not None]
    return scaling.Point(
        point.rung,
        point.rows,
        min(point.seconds, timing.seconds),
        min(tasks) if tasks else None,
    )


def _call_body(item: pytest.Function, scaled: DataFrame | None) -> None:
    """Run the test function again with its fixtures, `scaled` replaced (as pytest calls it)."""
    funcargs = dict(item.funcargs)
    if "scaled" in funcargs and scaled is not None:
        funcargs["scaled"] = scaled
    item.obj(**{name: funcargs[name] for name in item._fixtureinfo.argnames})


def _fraction_rung_named(spec: ScaleSpec, name: str) -> RungSpec | None:
    return next((r for r in map(fraction_rung, spec.fractions) if r.name == name), None)


def _safely(read: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """What a rung read from a session that may have died under it ({} then)."""
    try:
        return read()
    except Exception:
        return {}


def _junit_properties(item: pytest.Item, record: RungRecord) -> None:
    """Per-rung facts as JUnit XML properties (`--junitxml`), read from the teardown report."""
    failure = record.get("failure") or {}
    facts = {
        "dcs_rung": record["rung"],
        "dcs_outcome": record["outcome"],
        "dcs_rows": record.get("rows"),
        "dcs_seconds": record.get("seconds"),
        "dcs_task_seconds": record.get("task_seconds"),
        "dcs_exponent": record.get("exponent"),
        "dcs_kind": failure.get("kind"),
    }
    item.user_properties.extend((k, v) for k, v in facts.items() if v is not None)


def _driver_import_note(module: str) -> str:
    """Where the driver imports a module the executors cannot, to say what to ship."""
    loaded = sys.modules.get(module) or sys.modules.get(module.split(".")[0])
    path = getattr(loaded, "__file__", None)
    return f"{module!r} imports on the driver from {path}; " if path else ""


def _plan_warnings(tests: Sequence[dict[str, Any]]) -> list[str]:
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


def _rung_param(item: pytest.Item) -> RungParam | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    value = callspec.params.get(RUNG_PARAM)
    return value if isinstance(value, RungParam) else None


def _order_key(item: pytest.Item) -> tuple[int, float]:
    info = item.stash.get(ITEM_KEY, None)
    return info.param.sort_key if info is not None else (0, 0.0)


def _dcs(request: pytest.FixtureRequest) -> DcsSession:
    return request.config.stash[SESSION_KEY]


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _dcs_rung() -> None:
    """Placeholder overridden by the rung parametrization of `scale` tests."""
    return None


@pytest.fixture
def rung(request: pytest.FixtureRequest) -> Rung:
    """The current rung of a `@pytest.mark.scale` test."""
    if ITEM_KEY not in request.node.stash:
        pytest.fail(
            f"{request.node.nodeid} uses the `rung` fixture but has no @pytest.mark.scale marker",
            pytrace=False,
        )
    return _dcs(request).rung_for(request.node)


@pytest.fixture
def scaled(request: pytest.FixtureRequest, rung: Rung) -> DataFrame | None:
    """The marker's source at this rung: tiny sample at local/distributed, else a fraction."""
    source = request.node.stash[ITEM_KEY].param.spec.source
    if source is None:
        pytest.fail(
            f"{request.node.nodeid} uses `scaled` but its scale marker names no source; "
            "write @pytest.mark.scale('name') or read sources with rung.source('name')",
            pytrace=False,
        )
    try:
        return rung.source(source)
    except SourceUnreadable as exc:
        request.node.stash[PENDING_KEY] = exc
        return None


@pytest.fixture
def spark(request: pytest.FixtureRequest) -> SparkSession:
    """The SparkSession of the current rung's engine (the local engine outside scale tests)."""
    if ITEM_KEY in request.node.stash:
        return request.getfixturevalue("rung").spark
    return _dcs(request).session_for("local")


@pytest.fixture
def synthetic(spark: SparkSession) -> Callable[..., DataFrame]:
    """`synthetic(schema, rows=1000, seed=0, null_rate=0, empty_rate=0, extremes_rate=0, ...)`:
    a Faker-backed DataFrame generated on the executors, identical for the same arguments."""
    from pytest_dcs.synthetic import SyntheticError, SyntheticSpec, generate

    def make(schema: Any, **options: Any) -> DataFrame:
        try:
            return generate(spark, SyntheticSpec(schema=schema, **options))
        except (SyntheticError, TypeError) as exc:
            pytest.fail(f"synthetic(...): {exc}", pytrace=False)

    return make


@pytest.fixture
def tiny(request: pytest.FixtureRequest, spark: SparkSession) -> Callable[[str], DataFrame]:
    """`tiny("name")`: the cached tiny sample of a source plus its replayed captured rows, as a
    DataFrame (the sample is taken if missing). The marker's `sample_key` picks the samples
    kept by that key, as `rung.source` does."""
    dcs = _dcs(request)
    info = request.node.stash.get(ITEM_KEY, None)
    rung_spec = info.param.rung if info is not None else None
    if rung_spec is None or rung_spec.kind == "fraction":
        rung_spec = build_ladder(())[0]

    def load(name: str) -> DataFrame:
        key = info.param.spec.sample_key if info else ()
        required = info is not None and info.param.spec.source == name
        try:
            df, _ = dcs.inputs.read(name, rung_spec, spark, key, key_required=required)
        except (KeyError, SampleError, SourceUnreadable, MaskError) as exc:
            pytest.fail(f"tiny({name!r}): {exc.args[0] if exc.args else exc}", pytrace=False)
        return df

    return load
