"""The ladder of rung records, the JSON report and the terminal table."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_dcs.failures import Failure
from pytest_dcs.ladder import Ladder, RungRecord, base_nodeid
from pytest_dcs.report.document import build_report, write_report
from pytest_dcs.report.table import ladder_table

KEYS = {"local": (0, 0.0), "distributed": (1, 0.0), "1pct": (2, 0.01), "10pct": (2, 0.1)}
FRACTIONS = {"local": None, "distributed": None, "1pct": 0.01, "10pct": 0.1}
TEST = "tests/test_jobs.py::test_summary"


def record(
    rung: str,
    outcome: str,
    *,
    test: str = TEST,
    source: str | None = "events",
    seconds: float | None = 0.5,
    rows: int | None = 200,
    failure: dict[str, Any] | None = None,
    reason: str | None = None,
) -> RungRecord:
    """A rung record as the plugin builds one for each report."""
    return RungRecord(
        test=test,
        rung=rung,
        outcome=outcome,
        key=KEYS[rung],
        source=source,
        seconds=seconds,
        rows=rows,
        fraction=FRACTIONS[rung],
        failure=failure,
        reason=reason,
    )


def data_failure() -> dict[str, Any]:
    return Failure("data", "ValueError: bad row", offending_rows=[{"id": 3}]).to_json()


# -- base_nodeid ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nodeid", "rung", "expected"),
    [
        ("t.py::f[local]", "local", "t.py::f"),
        ("t.py::f[distributed]", "distributed", "t.py::f"),
        ("t.py::f[0.5pct]", "0.5pct", "t.py::f"),
        ("t.py::f[a-local]", "local", "t.py::f[a]"),
        ("t.py::f[a-b-10pct]", "10pct", "t.py::f[a-b]"),
        ("t.py::C::f[x-1-distributed]", "distributed", "t.py::C::f[x-1]"),
        ("t.py::f[nonlocal]", "local", "t.py::f[nonlocal]"),
        ("t.py::f", "local", "t.py::f"),
    ],
)
def test_base_nodeid(nodeid: str, rung: str, expected: str) -> None:
    assert base_nodeid(nodeid, rung) == expected


def test_every_rung_of_a_test_has_the_same_base_nodeid() -> None:
    ids = {base_nodeid(f"t.py::f[a-{rung}]", rung) for rung in ("local", "distributed", "1pct")}
    assert ids == {"t.py::f[a]"}


# -- Ladder ---------------------------------------------------------------------------------


def test_record_groups_rungs_by_test_and_keeps_the_source() -> None:
    ladder = Ladder()
    ladder.record(record("local", "passed"))
    ladder.record(record("local", "passed", test="t.py::other", source=None))
    ladder.record(record("distributed", "passed"))
    assert list(ladder.tests) == [TEST, "t.py::other"]
    assert ladder.tests[TEST].source == "events"
    assert ladder.tests["t.py::other"].source is None
    assert list(ladder.tests[TEST].rungs) == ["local", "distributed"]


def test_failure_below_blocks_the_rungs_above() -> None:
    ladder = Ladder()
    ladder.record(record("local", "failed", failure=data_failure()))
    assert ladder.failed_below(TEST, KEYS["distributed"]) == "local"
    assert ladder.failed_below(TEST, KEYS["10pct"]) == "local"
    assert ladder.failed_below(TEST, KEYS["local"]) is None


def test_failure_above_does_not_block_lower_rungs() -> None:
    ladder = Ladder()
    ladder.record(record("local", "passed"))
    ladder.record(record("10pct", "failed", failure=data_failure()))
    assert ladder.failed_below(TEST, KEYS["local"]) is None
    assert ladder.failed_below(TEST, KEYS["distributed"]) is None
    assert ladder.failed_below(TEST, KEYS["1pct"]) is None
    assert ladder.failed_below(TEST, (2, 0.4)) == "10pct"


def test_failure_between_fractions_blocks_only_higher_fractions() -> None:
    ladder = Ladder()
    ladder.record(record("1pct", "failed", failure=data_failure()))
    assert ladder.failed_below(TEST, KEYS["distributed"]) is None
    assert ladder.failed_below(TEST, KEYS["10pct"]) == "1pct"


def test_skip_or_pass_below_does_not_block() -> None:
    ladder = Ladder()
    ladder.record(record("local", "skipped", reason="no data"))
    ladder.record(record("distributed", "passed"))
    assert ladder.failed_below(TEST, KEYS["10pct"]) is None


def test_failure_of_another_test_does_not_block() -> None:
    ladder = Ladder()
    ladder.record(record("local", "failed", test="t.py::other", failure=data_failure()))
    assert ladder.failed_below(TEST, KEYS["distributed"]) is None
    assert ladder.failed_below("t.py::other", KEYS["distributed"]) == "local"


def test_unknown_test_has_no_failure_below() -> None:
    assert Ladder().failed_below("t.py::never_seen", KEYS["10pct"]) is None


def test_teardown_error_after_a_pass_fails_the_rung() -> None:
    ladder = Ladder()
    ladder.record(record("local", "passed"))
    ladder.record(record("local", "failed", seconds=None, failure=data_failure()))
    assert ladder.tests[TEST].rungs["local"].outcome == "failed"
    assert ladder.failed_below(TEST, KEYS["distributed"]) == "local"


@pytest.mark.parametrize("later", ["passed", "skipped", "failed"])
def test_later_record_cannot_unfail_a_rung(later: str) -> None:
    ladder = Ladder()
    first = record("local", "failed", seconds=1.25, failure=data_failure())
    ladder.record(first)
    ladder.record(record("local", later, seconds=None, failure=None))
    kept = ladder.tests[TEST].rungs["local"]
    assert kept is first
    assert kept.seconds == 1.25
    assert kept.failure is not None and kept.failure["kind"] == "data"
    assert ladder.failed_below(TEST, KEYS["distributed"]) == "local"


def test_to_json_orders_rungs_by_climb_and_drops_private_keys() -> None:
    ladder = Ladder()
    for rung in ("10pct", "local", "1pct", "distributed"):
        ladder.record(record(rung, "passed"))
    (test,) = ladder.to_json()
    assert test["nodeid"] == TEST
    assert test["source"] == "events"
    assert [r["rung"] for r in test["rungs"]] == ["local", "distributed", "1pct", "10pct"]
    for rung in test["rungs"]:
        assert not [k for k in rung if k.startswith("_")]
        assert {"rung", "outcome", "seconds", "rows", "fraction", "exponent", "failure"} <= set(
            rung
        )
        assert not {"test", "source", "key"} & set(rung)


def test_to_json_does_not_change_the_records() -> None:
    ladder = Ladder()
    ladder.record(record("local", "passed"))
    ladder.to_json()
    assert ladder.tests[TEST].rungs["local"].key == (0, 0.0)


def test_a_record_survives_the_trip_to_the_xdist_controller() -> None:
    sent = record("1pct", "failed", failure=data_failure())
    wire = json.loads(json.dumps(sent.to_wire()))
    assert RungRecord.from_wire(wire) == sent
    shared = RungRecord.from_wire(json.loads(json.dumps(sent.shared())))
    assert shared.failure is None  # what another rung needs, no more
    assert (shared.test, shared.key, shared.outcome) == (TEST, (2, 0.01), "failed")


# -- the JSON report ------------------------------------------------------------------------


def full_ladder() -> Ladder:
    ladder = Ladder()
    ladder.record(record("local", "passed", rows=200))
    ladder.record(record("distributed", "passed", rows=200))
    ladder.record(record("1pct", "failed", rows=12_345, failure=data_failure()))
    ladder.record(record("10pct", "skipped", seconds=None, rows=None, reason="rung 1pct failed"))
    ladder.record(record("local", "passed", test="t.py::plain", source=None))
    return ladder


def test_build_report_schema() -> None:
    document = build_report(full_ladder().to_json(), sessions={"gw0": {"local": 1}}, deselected=2)
    assert document["version"] == 1
    assert document["sessions"] == {"gw0": {"local": 1}}
    assert document["deselected_rungs"] == 2
    assert [t["nodeid"] for t in document["tests"]] == [TEST, "t.py::plain"]
    assert [t["source"] for t in document["tests"]] == ["events", None]
    required = {"rung", "outcome", "seconds", "rows", "fraction", "exponent", "failure"}
    for test in document["tests"]:
        assert {"nodeid", "source", "rungs"} <= set(test)
        for rung in test["rungs"]:
            assert required <= set(rung)
    rungs = {r["rung"]: r for r in document["tests"][0]["rungs"]}
    assert [rungs[n]["outcome"] for n in ("local", "distributed", "1pct", "10pct")] == [
        "passed",
        "passed",
        "failed",
        "skipped",
    ]
    assert rungs["1pct"]["fraction"] == 0.01
    assert rungs["1pct"]["rows"] == 12_345
    assert rungs["local"]["failure"] is None
    failure = rungs["1pct"]["failure"]
    assert {"kind", "summary", "offending_rows", "captured_to"} <= set(failure)
    assert failure["kind"] == "data"
    assert failure["offending_rows"] == [{"id": 3}]


def test_build_report_without_run_facts() -> None:
    assert build_report([]) == {
        "version": 1,
        "tests": [],
        "sessions": {},
        "deselected_rungs": 0,
    }


def test_write_report_is_valid_json(tmp_path: Path) -> None:
    document = build_report(full_ladder().to_json(), sessions={"main": {"local": 1}})
    path = tmp_path / "out" / "report.json"
    write_report(path, document)
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert json.loads(text) == document
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.json"]


def test_write_report_stringifies_values_json_cannot_hold(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    write_report(path, {"version": 1, "tests": [], "where": Path("/data/events")})
    assert json.loads(path.read_text(encoding="utf-8"))["where"] == "/data/events"


def test_write_report_replaces_an_old_report(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text("stale, not json")
    write_report(path, build_report([]))
    assert json.loads(path.read_text(encoding="utf-8"))["version"] == 1


# -- the terminal table ---------------------------------------------------------------------


def columns(header: str) -> dict[str, tuple[int, int]]:
    """Each header word's (start, end) offsets in the header line."""
    return {m.group(): (m.start(), m.end()) for m in re.finditer(r"\S+", header)}


def table_tests() -> list[dict[str, Any]]:
    return [
        {
            "nodeid": "tests/test_jobs.py::test_summary",
            "source": "events",
            "rungs": [
                {"rung": "local", "outcome": "passed", "seconds": 0.5, "rows": 200},
                {
                    "rung": "distributed",
                    "outcome": "failed",
                    "seconds": 12.3456,
                    "rows": 1_234_567,
                    "exponent": 1.234,
                    "failure": {"kind": "parity"},
                },
                {
                    "rung": "1pct",
                    "outcome": "skipped",
                    "seconds": None,
                    "rows": None,
                    "reason": "rung distributed failed",
                },
            ],
        },
        {
            "nodeid": "t.py::f",
            "source": None,
            "rungs": [
                {"rung": "local", "outcome": "skipped", "reason": "x"},
                {"rung": "10pct", "outcome": "passed", "seconds": 3.0, "rows": 5},
            ],
        },
    ]


def test_ladder_table_header_comes_first() -> None:
    lines = ladder_table(table_tests())
    assert lines[0].split() == [
        "test",
        "rung",
        "outcome",
        "seconds",
        "task",
        "s",
        "rows",
        "exp",
        "kind",
        "note",
    ]
    assert len(lines) == 1 + 5


def test_ladder_table_names_each_test_on_its_first_rung_only() -> None:
    lines = ladder_table(table_tests())
    rung_start = columns(lines[0])["rung"][0]
    names = [line[:rung_start].strip() for line in lines[1:]]
    assert names == ["tests/test_jobs.py::test_summary", "", "", "t.py::f", ""]


def test_ladder_table_columns_are_aligned() -> None:
    lines = ladder_table(table_tests())
    cols = columns(lines[0])
    rows = lines[1:]
    # Left-aligned text columns start under their header.
    for header, expected in (
        ("rung", ["local", "distributed", "1pct", "local", "10pct"]),
        ("outcome", ["passed", "failed", "skipped", "skipped", "passed"]),
    ):
        start = cols[header][0]
        assert [r[start:].split()[0] for r in rows] == expected
    # Right-aligned numbers end under the end of their header.
    distributed = rows[1]
    for header, value in (("seconds", "12.35"), ("rows", "1,234,567"), ("exp", "1.23")):
        end = cols[header][1]
        assert distributed[end - len(value) : end] == value
        assert distributed[end - len(value) - 1] == " "
    assert rows[0][cols["seconds"][1] - 4 : cols["seconds"][1]] == "0.50"
    assert rows[4][cols["rows"][1] - 1 : cols["rows"][1]] == "5"
    assert distributed[cols["kind"][0] :].split()[0] == "parity"


def test_ladder_table_shows_skip_reasons_in_the_note_column() -> None:
    lines = ladder_table(table_tests())
    note = columns(lines[0])["note"][0]
    assert lines[3][note:] == "rung distributed failed"
    assert lines[4][note:] == "x"
    assert lines[3][:note].split()[-1] == "skipped"


def test_ladder_table_notes_a_failure_summary_on_one_short_line() -> None:
    summary = "ValueError: bad row\n  " + "detail " * 30
    lines = ladder_table(
        [
            {
                "nodeid": "t.py::f",
                "rungs": [
                    {
                        "rung": "local",
                        "outcome": "failed",
                        "failure": {"kind": "data", "summary": summary},
                    }
                ],
            }
        ]
    )
    note = lines[1][columns(lines[0])["note"][0] :]
    assert note.startswith("ValueError: bad row detail detail")
    assert note.endswith("...")
    assert len(note) == 70
    assert "\n" not in lines[1]


def test_ladder_table_leaves_unknown_values_blank() -> None:
    lines = ladder_table([{"nodeid": "t.py::f", "rungs": [{"rung": "local", "outcome": "passed"}]}])
    assert lines[1].split() == ["t.py::f", "local", "passed"]


def test_ladder_table_of_no_tests_is_the_header() -> None:
    assert ladder_table([]) == ["test  rung  outcome  seconds  task s  rows  exp  kind  note"]
