"""Source declarations: `dcs_sources` lines and `pytest_dcs_sources` hook results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_dcs.data.sources import (
    SourceError,
    SourceSpec,
    merge_hook_sources,
    parse_source_lines,
)

ORIGIN = "dcs_sources in pytest.ini"
HOOK = "a pytest_dcs_sources hook"


def parse(*lines: str, rootpath: Path = Path("/project")) -> dict[str, SourceSpec]:
    return parse_source_lines(lines, rootpath, ORIGIN)


def parse_error(*lines: str) -> str:
    with pytest.raises(SourceError) as excinfo:
        parse(*lines)
    return str(excinfo.value)


def loader(spark: Any) -> Any:
    return spark


# -- parse_source_lines ---------------------------------------------------------------------


def test_good_lines() -> None:
    sources = parse(
        "events = parquet:data/events",
        "clients=json:/abs/clients",
        "  raw   =   CSV : data/raw.csv  ",
        "logs = orc:logs",
    )
    assert list(sources) == ["events", "clients", "raw", "logs"]
    assert sources["events"] == SourceSpec(
        name="events",
        origin=ORIGIN,
        format="parquet",
        location="/project/data/events",
        base="/project",
    )
    assert sources["clients"].location == "/abs/clients"
    assert (sources["raw"].format, sources["raw"].location) == ("csv", "/project/data/raw.csv")
    assert sources["logs"].format == "orc"
    assert all(s.is_file for s in sources.values())
    assert all(s.loader is None for s in sources.values())


def test_relative_path_is_resolved_against_rootpath(tmp_path: Path) -> None:
    sources = parse("events = parquet:../shared/./events", rootpath=tmp_path / "proj")
    assert sources["events"].location == str((tmp_path / "shared" / "events").resolve())


def test_path_may_contain_equals_and_colons() -> None:
    sources = parse("events = parquet:data/date=2024-01-01/hour=10:00")
    assert sources["events"].location == "/project/data/date=2024-01-01/hour=10:00"


def test_table_keeps_its_name() -> None:
    sources = parse("events = table:analytics.main_summary")
    spec = sources["events"]
    assert (spec.format, spec.location) == ("table", "analytics.main_summary")
    assert not spec.is_file
    assert spec.describe() == "events = table:analytics.main_summary"


def test_comments_and_blank_lines_are_ignored() -> None:
    sources = parse("", "   ", "# events = parquet:old", "  # indented comment", "a = json:x")
    assert list(sources) == ["a"]


def test_no_lines_no_sources() -> None:
    assert parse() == {}


def test_describe_a_file_source() -> None:
    assert parse("events = parquet:/data/ev")["events"].describe() == "events = parquet:/data/ev"


@pytest.mark.parametrize(
    "line",
    [
        "events parquet:data/events",
        "events = parquet",
        "events = data/events",
        "= parquet:data/events",
        "events = parquet:",
        "events =",
    ],
)
def test_malformed_line_gives_an_example(line: str) -> None:
    message = parse_error(line)
    assert message == (
        f"Invalid {ORIGIN}: {line.strip()!r} is not 'name = format:path' "
        "(for example: events = parquet:data/events)"
    )


@pytest.mark.parametrize("fmt", ["xls", "delta", "avro", "text"])
def test_unknown_format_lists_the_known_ones(fmt: str) -> None:
    message = parse_error(f"events = {fmt}:data/events")
    assert message.startswith(f"Invalid {ORIGIN}: 'events = {fmt}:data/events' has unknown format")
    assert f"{fmt!r}" in message
    assert "use one of parquet, json, csv, orc, table" in message


def test_duplicate_name() -> None:
    message = parse_error("events = parquet:a", "other = json:b", "events = json:c")
    assert message == f"Invalid {ORIGIN}: source 'events' is declared twice"


@pytest.mark.parametrize("name", ["my-events", "1events", "main summary", "a.b"])
def test_name_must_be_an_identifier(name: str) -> None:
    message = parse_error(f"{name} = parquet:data")
    assert message == f"Invalid {ORIGIN}: source name {name!r} must be a Python identifier"


def test_error_names_the_origin() -> None:
    with pytest.raises(SourceError, match=r"^Invalid dcs_sources in pyproject.toml: "):
        parse_source_lines(["bad"], Path("/project"), "dcs_sources in pyproject.toml")


@pytest.mark.parametrize(
    "uri", ["s3a://bucket/events", "hdfs://namenode:8020/data/events", "file:///data/events"]
)
def test_uri_locations_are_kept(uri: str) -> None:
    assert parse(f"events = parquet:{uri}")["events"].location == uri


# -- merge_hook_sources ---------------------------------------------------------------------


def test_hook_sources_are_added_to_declared_ones() -> None:
    declared = parse("events = parquet:data/events")
    merged = merge_hook_sources(declared, [None, {}, {"clients": loader}])
    assert list(merged) == ["events", "clients"]
    assert merged["events"] is declared["events"]
    clients = merged["clients"]
    assert clients == SourceSpec(name="clients", origin=HOOK, loader=loader)
    assert not clients.is_file
    assert clients.describe() == f"clients (from {HOOK})"
    assert list(declared) == ["events"]  # the declared mapping is left alone


def test_results_of_several_hooks_are_merged() -> None:
    merged = merge_hook_sources({}, [{"a": loader}, {"b": loader}])
    assert sorted(merged) == ["a", "b"]


@pytest.mark.parametrize("result", [["events"], "events", 42, ("a", loader)])
def test_hook_result_must_be_a_dict(result: object) -> None:
    with pytest.raises(SourceError) as excinfo:
        merge_hook_sources({}, [result])  # type: ignore[list-item]
    message = str(excinfo.value)
    assert message == (
        f"{HOOK} returned {type(result).__name__}; return a dict "
        "{name: callable(spark) -> DataFrame}"
    )


@pytest.mark.parametrize(
    ("name", "value"), [("events", "parquet:data"), ("events", None), (1, loader)]
)
def test_hook_entries_must_map_names_to_callables(name: object, value: object) -> None:
    with pytest.raises(SourceError) as excinfo:
        merge_hook_sources({}, [{name: value}])
    message = str(excinfo.value)
    assert message.startswith(f"{HOOK} returned {name!r}: {value!r};")
    assert "each entry must map a source name to a callable(spark) -> DataFrame" in message


def test_hook_source_clashing_with_a_declared_one() -> None:
    declared = parse("events = parquet:data/events")
    with pytest.raises(SourceError) as excinfo:
        merge_hook_sources(declared, [{"events": loader}])
    assert str(excinfo.value) == (
        f"source 'events' is declared twice (in {ORIGIN} and in {HOOK}); keep one"
    )


def test_two_hooks_returning_the_same_source() -> None:
    with pytest.raises(SourceError, match=r"source 'a' is declared twice"):
        merge_hook_sources({}, [{"a": loader}, {"a": loader}])


# -- reading through a loader (no Spark: the loader gets whatever it is handed) -------------


class FakeFrame:
    schema = "struct<>"
    columns = ("id",)


def test_read_returns_what_the_loader_gives() -> None:
    frame = FakeFrame()
    spec = SourceSpec(name="clients", origin=HOOK, loader=lambda spark: frame)
    assert spec.read(object()) is frame  # type: ignore[arg-type]


def test_read_rejects_a_loader_that_returns_no_dataframe() -> None:
    spec = SourceSpec(name="clients", origin=HOOK, loader=lambda spark: [1, 2])
    with pytest.raises(SourceError) as excinfo:
        spec.read(object())  # type: ignore[arg-type]
    assert str(excinfo.value) == (
        f"source 'clients' from {HOOK} returned list, not a DataFrame; "
        "return a callable(spark) -> DataFrame"
    )


def test_synthetic_lines_are_checked_at_start() -> None:
    sources = parse("fake = synthetic:rows=10;seed=3;schema=client_id string, n bigint")
    assert sources["fake"].format == "synthetic"
    assert sources["fake"].location == "rows=10;seed=3;schema=client_id string, n bigint"
    with pytest.raises(SourceError, match="fake = synthetic:rows=ten"):
        parse("fake = synthetic:rows=ten;schema=a string")
