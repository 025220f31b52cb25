"""pytest-dcs's entry point (`pytest11`): options, hookspecs, configure, and the fixtures.

Everything else is a plugin object the run's `session.DcsSession` registers in
`pytest_configure`; see docs/how-it-works/architecture.md for the map.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from pytest_dcs import hookspecs
from pytest_dcs.data.codec import SampleError
from pytest_dcs.data.input_problems import MaskError, SourceUnreadable
from pytest_dcs.data.sources import SourceError, parse_source_lines
from pytest_dcs.marker import MARKER_USAGE
from pytest_dcs.run.state import RungState, state_of
from pytest_dcs.rung import Rung
from pytest_dcs.rungs import LOCAL
from pytest_dcs.session import DcsSession
from pytest_dcs.settings import add_options, load_settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SESSION_KEY = pytest.StashKey[DcsSession]()


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
    session.register()


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        session.close()


def _dcs(request: pytest.FixtureRequest) -> DcsSession:
    return request.config.stash[SESSION_KEY]


def _state(request: pytest.FixtureRequest, fixture: str) -> RungState:
    state = state_of(request.node)
    if state is None:
        pytest.fail(
            f"{request.node.nodeid} uses the `{fixture}` fixture but has no @pytest.mark.scale "
            "marker",
            pytrace=False,
        )
    return state


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _dcs_rung() -> None:
    """Placeholder overridden by the rung parametrization of `scale` tests."""
    return None


@pytest.fixture
def rung(request: pytest.FixtureRequest) -> Rung:
    """The current rung of a `@pytest.mark.scale` test."""
    return _dcs(request).rung_for(request.node, _state(request, "rung"))


@pytest.fixture
def scaled(request: pytest.FixtureRequest, rung: Rung) -> DataFrame | None:
    """The marker's source at this rung: tiny sample at local/distributed, else a fraction."""
    state = _state(request, "scaled")
    source = state.spec.source
    if source is None:
        pytest.fail(
            f"{request.node.nodeid} uses `scaled` but its scale marker names no source; "
            "write @pytest.mark.scale('name') or read sources with rung.source('name')",
            pytrace=False,
        )
    try:
        return rung.source(source)
    except SourceUnreadable as exc:
        state.pending = exc
        return None


@pytest.fixture
def spark(request: pytest.FixtureRequest) -> SparkSession:
    """The SparkSession of the current rung's engine (the local engine outside scale tests)."""
    if state_of(request.node) is not None:
        return request.getfixturevalue("rung").spark
    return _dcs(request).session_for("local")


@pytest.fixture
def synthetic(spark: SparkSession) -> Callable[..., DataFrame]:
    """`synthetic(schema, rows=1000, seed=0, null_rate=0, empty_rate=0, extremes_rate=0, ...)`:
    a Faker-backed DataFrame generated on the executors, identical for the same arguments."""
    from pytest_dcs.data.synthetic import SyntheticError, SyntheticSpec, generate

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
    state = state_of(request.node)
    at = state.rung_spec if state is not None and state.rung_spec.kind != "fraction" else LOCAL

    def load(name: str) -> DataFrame:
        key = state.spec.sample_key if state is not None else ()
        required = state is not None and state.spec.source == name
        try:
            df, _ = dcs.inputs.read(name, at, spark, key, key_required=required)
        except (KeyError, SampleError, SourceUnreadable, MaskError) as exc:
            pytest.fail(f"tiny({name!r}): {exc.args[0] if exc.args else exc}", pytrace=False)
        return df

    return load
