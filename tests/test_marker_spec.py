"""The `scale` marker resolved against the run's settings, and `key = value` conf lines."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_dcs.marker import MARKER_KWARGS, MarkerError, ScaleSpec, scale_spec
from pytest_dcs.settings import DEFAULT_CAPTURE, LocalizeBudget, Settings, parse_conf_lines

SETTINGS = Settings(
    rootpath=Path("/project"),
    fractions=(0.01, 0.1, 0.4),
    tiny_rows=200,
    sample_dir=Path("/project/dcs_samples"),
    mask=(),
    max_exponent=1.5,
    budget=None,
    rung_timeout=None,
    localize_budget=LocalizeBudget(),
    spark_conf={},
    ship=(),
    max_rung=None,
    local_master="local[2]",
    cluster_master="local-cluster[2,1,1024]",
    refresh_samples=False,
    forget_captured=False,
    report_path=None,
    plot_path=None,
    strict_plan=False,
    source_lines=(),
)
SOURCES = ("events", "clients")


def spec(
    *args: Any,
    settings: Settings = SETTINGS,
    known: tuple[str, ...] = SOURCES,
    **kwargs: Any,
) -> ScaleSpec:
    return scale_spec(args, kwargs, settings, known)


def error(*args: Any, known: tuple[str, ...] = SOURCES, **kwargs: Any) -> str:
    """The MarkerError message for these marker arguments."""
    with pytest.raises(MarkerError) as excinfo:
        spec(*args, known=known, **kwargs)
    return str(excinfo.value)


# -- misuse ---------------------------------------------------------------------------------


def test_two_positional_arguments() -> None:
    message = error("events", "clients")
    assert message == (
        "takes one positional argument (the source name), got 2: ('events', 'clients')"
    )


def test_unknown_keyword_names_it_and_the_known_ones() -> None:
    message = error("events", fraction=[0.1])
    assert message.startswith("unknown argument fraction;")
    assert "the marker takes source, fractions, sample_key, max_exponent, timeout, capture" in (
        message
    )


def test_several_unknown_keywords_are_all_named() -> None:
    message = error(sample="x", key="y")
    assert message.startswith("unknown argument key, sample;")


def test_source_both_positional_and_keyword() -> None:
    assert error("events", source="events") == ("source is given both positionally and as source=")


def test_unknown_source_lists_known_sources_and_how_to_add_one() -> None:
    message = error("evnts")
    assert message.startswith("unknown source 'evnts' (known: clients, events)")
    assert "'evnts = parquet:path/to/data' to dcs_sources" in message
    assert "pytest_dcs_sources(config) hook in conftest.py" in message


def test_unknown_source_by_keyword() -> None:
    assert error(source="nope").startswith("unknown source 'nope' (known: clients, events)")


def test_unknown_source_when_none_are_configured() -> None:
    message = error("events", known=())
    assert "(known: none are configured)" in message
    assert "dcs_sources" in message


@pytest.mark.parametrize("source", [1, ["events"], b"events"])
def test_source_must_be_a_string(source: object) -> None:
    assert error(source) == f"source {source!r} must be a source name (a string)"


@pytest.mark.parametrize("raw", [0.1, "0.1", "0.01 0.1", 5, b"0.1"])
def test_fractions_must_be_a_list(raw: object) -> None:
    assert error("events", fractions=raw) == (
        f"fractions={raw!r} must be a list such as [0.01, 0.1, 0.4]"
    )


@pytest.mark.parametrize("raw", [[], ()])
def test_fractions_must_not_be_empty(raw: object) -> None:
    assert error("events", fractions=raw) == (
        "fractions=[] is empty; leave it out to use dcs_fractions"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([0, 0.5], "fractions=[0, 0.5]: fraction 0 is outside (0, 1]"),
        ([0.1, 1.5], "fractions=[0.1, 1.5]: fraction 1.5 is outside (0, 1]"),
        ([-0.1], "fractions=[-0.1]: fraction -0.1 is outside (0, 1]"),
        ([0.5, 0.1], "fractions=[0.5, 0.1]: fractions must increase"),
        ([0.1, 0.1], "fractions=[0.1, 0.1]: fractions must increase"),
        ([0.1, "x"], "fractions=[0.1, 'x']: fraction 'x' is not a number"),
        ([True], "fractions=[True]: fraction True is not a number"),
    ],
)
def test_bad_fractions_say_which_and_why(raw: list[object], expected: str) -> None:
    assert error("events", fractions=raw).startswith(expected)


@pytest.mark.parametrize("raw", ["", [], (), ["a", ""], ["a", 1], 5, {"client_id"}, [None]])
def test_bad_sample_key(raw: object) -> None:
    assert error("events", sample_key=raw) == (
        f"sample_key={raw!r} must be a column name or a list of them"
    )


@pytest.mark.parametrize("name", ["max_exponent", "timeout"])
@pytest.mark.parametrize("raw", [0, -1, -0.5, "2", True, False, math.nan, [1]])
def test_bad_positive_numbers(name: str, raw: object) -> None:
    assert error("events", **{name: raw}) == f"{name}={raw!r} must be a number greater than 0"


@pytest.mark.parametrize("raw", [-1, 2.5, "5", [1]])
def test_bad_capture(raw: object) -> None:
    assert error("events", capture=raw) == (
        f"capture={raw!r} must be True, False or the most rows to capture (>= 0)"
    )


# -- resolution -----------------------------------------------------------------------------


def test_defaults_come_from_settings() -> None:
    settings = dataclasses.replace(
        SETTINGS, fractions=(0.05, 0.5), max_exponent=2.5, rung_timeout=30.0
    )
    assert spec("events", settings=settings) == ScaleSpec(
        source="events",
        fractions=(0.05, 0.5),
        sample_key=(),
        max_exponent=2.5,
        timeout=30.0,
        capture=DEFAULT_CAPTURE,
    )


def test_marker_overrides_settings() -> None:
    settings = dataclasses.replace(
        SETTINGS, fractions=(0.05, 0.5), max_exponent=2.5, rung_timeout=30.0
    )
    result = spec(
        "events",
        settings=settings,
        fractions=[0.001, "0.2", 1],
        sample_key=["client_id", "day"],
        max_exponent=1.1,
        timeout=7,
        capture=3,
    )
    assert result == ScaleSpec(
        source="events",
        fractions=(0.001, 0.2, 1.0),
        sample_key=("client_id", "day"),
        max_exponent=1.1,
        timeout=7.0,
        capture=3,
    )
    assert type(result.timeout) is float


def test_no_source_is_allowed() -> None:
    result = spec(known=())
    assert result.source is None
    assert result.fractions == SETTINGS.fractions


def test_source_by_keyword() -> None:
    assert spec(source="clients").source == "clients"


def test_none_keywords_mean_use_the_settings() -> None:
    settings = dataclasses.replace(SETTINGS, rung_timeout=12.0)
    result = spec(
        settings=settings,
        source="events",
        fractions=None,
        sample_key=None,
        max_exponent=None,
        timeout=None,
    )
    assert result.source == "events"
    assert (result.fractions, result.sample_key, result.max_exponent, result.timeout) == (
        (0.01, 0.1, 0.4),
        (),
        1.5,
        12.0,
    )


@pytest.mark.parametrize(("raw", "expected"), [(True, 10), (False, 0), (0, 0), (1, 1), (25, 25)])
def test_capture(raw: object, expected: int) -> None:
    assert spec("events", capture=raw).capture == expected


def test_sample_key_string_becomes_a_tuple() -> None:
    assert spec("events", sample_key="client_id").sample_key == ("client_id",)


def test_sample_key_tuple_is_kept() -> None:
    assert spec("events", sample_key=("a", "b")).sample_key == ("a", "b")


def test_fractions_tuple_is_accepted() -> None:
    assert spec("events", fractions=(0.2, 0.6)).fractions == (0.2, 0.6)


def test_marker_kwargs_match_the_documented_signature() -> None:
    assert MARKER_KWARGS == (
        "source",
        "fractions",
        "sample_key",
        "max_exponent",
        "timeout",
        "capture",
    )


# -- parse_conf_lines -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["spark.sql.shuffle.partitions = 8"], {"spark.sql.shuffle.partitions": "8"}),
        (["a=1", "  b  =  two words  "], {"a": "1", "b": "two words"}),
        (["spark.driver.extraJavaOptions = -Dx=y"], {"spark.driver.extraJavaOptions": "-Dx=y"}),
        ([], {}),
    ],
)
def test_parse_conf_lines(lines: list[str], expected: Mapping[str, str]) -> None:
    assert parse_conf_lines(lines, "dcs_spark_conf in pytest.ini") == expected


@pytest.mark.parametrize("line", ["spark.sql.shuffle.partitions", "= 8", "  =8", ""])
def test_parse_conf_lines_rejects_lines_without_key_and_value(line: str) -> None:
    with pytest.raises(pytest.UsageError) as excinfo:
        parse_conf_lines(["a = 1", line], "dcs_spark_conf in pytest.ini")
    message = str(excinfo.value)
    assert message.startswith(f"Invalid dcs_spark_conf in pytest.ini: {line!r} is not")
    assert "(for example: spark.sql.shuffle.partitions = 8)" in message
