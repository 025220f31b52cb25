"""Offending rows on real Spark: a body that fails on executors because of a few rows is re-run
on subsets of its input until those rows are found, reported, captured (masked) and replayed.

The `events` tiny sample is taken while the source is clean; then three rows with a null and
one with a malformed experiment id are added, as when the data changes after the sample was
taken. The sample rungs pass, the fraction rungs meet the new rows. A second source, `people`,
has rows that break an expectation only at its 50% fraction, and e-mail addresses to mask.
A third, `accounts`, has e-mail addresses that only the real rows' UDFs raise on and quote:
the real values in failure text are masked at fraction rungs (the sample rungs see pseudonyms
and pass; the 100% rung meets the real ones).

One project, four runs, each a fresh pytest process shared by the tests of this module (a
climb starts a local-cluster, so the three sources share one):
  1. local only: takes the clean `events` sample;
  2. the climb: localizes and captures rows of `events` and `people`, and masks what the
     `accounts` failures quote in the terminal, the report, JUnit XML and the sample files;
  3. local only: the captured rows are replayed and fail the local rung;
  4. local only, with --dcs-forget-captured: the captures are gone and the local rung passes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pytest
from conftest import Project, Run, write_events
from pyspark.sql import types as T

from pytest_dcs.data.masking import pseudonym

CLEAN_ROWS = 199_997
BAD_IDS = [500_001, 500_002, 500_003]
# One of the rows with a null that one body divides by zero on: the others are harmless to it.
DIVIDING_ID = BAD_IDS[1]
# A row whose experiment id is malformed; in a file that the 50% fraction of the file line reads.
MALFORMED_ID = 600_001
MALFORMED_FILE = "extra-4.json"
# A row whose value is far above every other: the largest of its column.
OUTLIER_ID = 700_001

PEOPLE_ROWS = 20_000
MAGIC = [i for i in range(PEOPLE_ROWS) if i % 4999 == 5]  # the rows a rare-value bug trips on

ACCOUNTS_ROWS = 20_000
LOCALIZED = [i for i in range(ACCOUNTS_ROWS) if i % 4999 == 5]  # the first UDF raises (one found)
UNLOCALIZED = [i for i in range(ACCOUNTS_ROWS) if i % 4999 == 7]  # the second's, not searched for
ASSERTED = 10_003  # the row whose email an assertion shows

INI = """
[pytest]
dcs_sources =
    events = json:data/events
    people = json:data/people
    accounts = json:data/accounts
dcs_fractions = 1.0
# Rows captured at a fraction rung are masked; the failure must survive it.
dcs_mask = client_id email
# Correctness, not speed, is checked here: a busy machine must not run the search out of time.
dcs_localize_budget = 120
"""

TESTS = """
import pyspark.sql.functions as F
import pytest


@pytest.mark.scale("events")
def test_shout(scaled):
    # Defined in the body, so that executors get it by value, not by importing this module.
    shout = F.udf(lambda text: text.upper(), "string")
    assert scaled.select(shout("exp").alias("s")).where("s IS NOT NULL").count() > 0


@pytest.mark.scale("events")
def test_first_id(scaled, rung):
    def checked(number):
        if number == 0:
            raise ValueError("id 0 is reserved")
        return number

    guard = F.udf(checked, "long")
    assert scaled.select(guard("id").alias("g")).where("g IS NOT NULL").count() == rung.rows


@pytest.mark.scale("events")
def test_wrong_count(scaled):
    assert scaled.count() < 0, "no frame has fewer than 0 rows"


@pytest.mark.scale("events")
def test_chained(scaled):
    # Fails on one row; on subsets without an e10s-6 row (such as the other rows with a null)
    # `rdd.first()` raises "ValueError: RDD is empty" instead, a different error.
    ratio = scaled.select("id", "exp", (F.lit(1) / (F.col("id") - F.lit(DIVIDING_ID))).alias("r"))
    assert ratio.where("r IS NOT NULL").count() > 0
    assert ratio.where("exp = 'e10s-6'").rdd.first() is not None


@pytest.mark.scale("events", fractions=[0.5])
def test_malformed(scaled):
    # ANSI cast: the error quotes the part of the value it could not read.
    number = F.regexp_replace("exp", "e10s-", "").cast("int")
    assert scaled.select(number.alias("n")).where("n >= 0").count() > 0


@pytest.mark.scale("events")
def test_outlier(scaled):
    # The message quotes no value: the row is the column's max.
    bounded = F.assert_true(F.col("value") < 1000, "value out of range").alias("ok")
    assert scaled.select(bounded).where("ok IS NULL").count() > 0


@pytest.mark.scale("events")
def test_every_row(scaled):
    broken = F.udf(lambda value: value / 0, "double")
    assert scaled.select(broken("value").alias("b")).where("b IS NOT NULL").count() > 0


@pytest.mark.scale("people", fractions=[0.5])
def test_no_magic_value(scaled, rung):
    rung.expect_rows(scaled, F.col("value") != 500.05, name="no magic value")


@pytest.mark.scale("people", fractions=[0.5])
def test_shifted_values(scaled, rung):
    # The source's schema, other values: these rows are no rows of the source.
    shifted = scaled.withColumn("value", F.col("value") - 10000)
    rung.expect_rows(shifted, F.col("value") >= 0, name="no negative value")
"""


# Real emails end with the bank domain, pseudonyms with example.com: only real rows raise. (Not
# the corp domain of `people`, which must show nowhere: traces quote this code.)
MASK_TEXT_TESTS = """
import pyspark.sql.functions as F
import pytest


@pytest.mark.scale("accounts", capture=1)
def test_udf_names_the_email(scaled):
    def check(number, email):
        if email.endswith("@bank.example") and number % 4999 == 5:
            raise ValueError(f"bad email {email}")
        return number

    checked = F.udf(check, "long")
    assert scaled.select(checked("id", "email").alias("c")).where("c IS NOT NULL").count() > 0


@pytest.mark.scale("accounts", capture=0)
def test_udf_quotes_the_email_unlocalized(scaled):
    def check(number, email):
        if email.endswith("@bank.example") and number % 4999 == 7:
            raise ValueError(f"bad email {email!r}")
        return number

    checked = F.udf(check, "long")
    assert scaled.select(checked("id", "email").alias("c")).where("c IS NOT NULL").count() > 0


@pytest.mark.scale("accounts", capture=0)
def test_assertion_shows_an_email(scaled):
    emails = [r.email for r in scaled.where(F.col("id") == 10003).collect()]
    assert all(e.endswith("@example.com") for e in emails), f"real emails: {emails}"
"""


def _bad_rows(folder) -> None:
    lines = [
        json.dumps({"id": i, "client_id": f"c{i}", "exp": None, "value": 1.5}) for i in BAD_IDS
    ]
    outlier = {"id": OUTLIER_ID, "client_id": "c2", "exp": "e10s-1", "value": 1e12}
    lines.append(json.dumps(outlier))
    (folder / "part-999.json").write_text("\n".join(lines) + "\n")
    malformed = {"id": MALFORMED_ID, "client_id": "c1", "exp": "e10s-3b", "value": 2.5}
    (folder / MALFORMED_FILE).write_text(json.dumps(malformed) + "\n")


def _email(i: int) -> str:
    return f"user{i}.secret@corp.example"


def _write_people(folder: Path) -> None:
    folder.mkdir(parents=True)
    for part in range(4):
        lines = []
        for i in range(part * 5000, (part + 1) * 5000):
            value = 500.05 if i in MAGIC else (i * 7919) % 10_000 / 10 + 100
            lines.append(json.dumps({"id": i, "email": _email(i), "value": value}))
        (folder / f"part-{part}.json").write_text("\n".join(lines) + "\n")


def _account_email(i: int) -> str:
    # An apostrophe and a non-ASCII letter in some: quoted by repr, looked up as SQL literals.
    if i in UNLOCALIZED:
        return f"user{i}.o'neil.ü@bank.example"
    return f"user{i}.secret@bank.example"


def _fake(i: int) -> str:
    return str(pseudonym(_account_email(i), "email", T.StringType()))


def _write_accounts(folder: Path) -> None:
    folder.mkdir(parents=True)
    for part in range(4):
        lines = [
            json.dumps({"id": i, "email": _account_email(i), "value": i % 97})
            for i in range(part * 5000, (part + 1) * 5000)
        ]
        (folder / f"part-{part}.json").write_text("\n".join(lines) + "\n")


def _decoded(path: Path) -> str:
    """A sample or capture file as text, its JSON strings read back (escapes undone)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".jsonl":
        return text
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.dumps(records, ensure_ascii=False)


@dataclass
class Runs:
    """The project's runs, and its capture files as they were before the last run forgot them;
    the climb's JUnit XML, and the `accounts` sample and capture files after it, decoded."""

    project: Project
    climbed: Run
    replayed: Run
    forgotten: Run
    captured: dict[str, str]
    junit: str
    accounts_samples: str

    @property
    def all(self) -> list[Run]:
        return [self.climbed, self.replayed, self.forgotten]


def _captured_text(project: Project, source: str) -> str:
    return (project.path / "dcs_samples" / f"{source}.captured.jsonl").read_text()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    project = Project(tmp_path_factory.mktemp("localize"))
    project.write("pytest.ini", INI)
    project.write("test_jobs.py", TESTS.replace("DIVIDING_ID", str(DIVIDING_ID)))
    project.write("test_mask_text.py", MASK_TEXT_TESTS)
    folder = project.path / "data" / "events"
    write_events(folder, CLEAN_ROWS)
    _write_people(project.path / "data" / "people")
    _write_accounts(project.path / "data" / "accounts")
    project.run("--dcs-max-rung=local", "-k", "test_shout")  # takes the clean sample
    _bad_rows(folder)
    junit = project.path / "junit.xml"
    # A search per test, on a machine that may be busy.
    climbed = project.run(f"--junitxml={junit}", timeout=1500)
    captured = {"people": _captured_text(project, "people")}
    samples = sorted((project.path / "dcs_samples").glob("accounts.*"))
    accounts_samples = "\n".join(map(_decoded, samples))
    junit_text = junit.read_text() if junit.exists() else ""
    replayed = project.run(
        "--dcs-max-rung=local", "-k", "test_shout or test_malformed or test_no_magic_value"
    )
    captured["events"] = _captured_text(project, "events")
    forgotten = project.run(
        "--dcs-max-rung=local", "--dcs-forget-captured", "-k", "test_no_magic_value"
    )
    yield Runs(project, climbed, replayed, forgotten, captured, junit_text, accounts_samples)
    project.kill_leftovers()


def test_the_rows_that_fail_are_localized_and_captured(runs: Runs) -> None:
    climbed = runs.climbed
    rungs = climbed.rungs("test_shout")
    assert rungs["local"]["outcome"] == "passed"
    assert rungs["distributed"]["outcome"] == "passed"
    failure = rungs["100pct"]["failure"]
    assert failure["kind"] == "data", climbed.output
    assert sorted(row["id"] for row in failure["offending_rows"]) == BAD_IDS
    assert all(row["exp"] is None for row in failure["offending_rows"])
    assert failure["localization"]["rows_found"] == 3
    assert failure["localization"]["runs"] >= 1
    assert failure["captured_to"], failure
    assert all(str(i) in runs.captured["events"] for i in BAD_IDS)


def test_the_story_shows_the_rows_and_how_they_were_found(
    runs: Runs,
) -> None:
    climbed = runs.climbed
    climbed.result.stdout.fnmatch_lines(
        [
            "*[[]dcs] data failure at rung 100pct*",
            "*offending rows (3):*",
            "*localized 3 row(s) in * s, * re-run(s) of the body*",
            "captured to: *events.captured.jsonl",
        ]
    )


def test_captured_rows_fail_the_local_rung_next_run(runs: Runs) -> None:
    replayed = runs.replayed
    failure = replayed.rungs("test_shout")["local"]["failure"]
    assert failure["kind"] == "data", replayed.output
    assert sorted(row["id"] for row in failure["offending_rows"]) == BAD_IDS


def test_rows_without_nulls_are_found_by_the_general_search(
    runs: Runs,
) -> None:
    climbed = runs.climbed
    failure = climbed.rungs("test_first_id")["local"]["failure"]
    assert failure["kind"] == "data"
    assert [row["id"] for row in failure["offending_rows"]] == [0]
    # The rung's own failing call named the UDF: one pass of its function over the `id`
    # column found every id it raises on, and the search ended there, without a re-run of the
    # body on the whole input.
    localization = failure["localization"]
    assert localization["method"] == (
        "values the failing UDF raises on (one pass over its argument columns)"
    )
    steps = list(localization["steps"])
    assert "scan of the failing UDF" in steps, steps
    assert "recording re-run" not in steps, steps
    assert localization["complete"] is True
    assert 0 < localization["first_row_seconds"] <= localization["seconds"]


def test_the_notes_carrying_failing_calls_show_nowhere(runs: Runs) -> None:
    # A UDF call that raised came back with its arguments sealed in its error; the notes and
    # the wrapper's frame are taken off before anything shows the error.
    for where, text in _texts(runs).items():
        assert "pytest-dcs sealed call" not in text, where
        assert "sealed.py" not in text, where


def test_a_plain_assert_is_an_assertion_without_a_row_search(
    runs: Runs,
) -> None:
    climbed = runs.climbed
    failure = climbed.rungs("test_wrong_count")["local"]["failure"]
    assert failure["kind"] == "assertion"
    assert failure["localization"] is None
    assert failure["offending_rows"] == []


def test_a_different_error_on_a_subset_does_not_make_its_rows_offending(
    runs: Runs,
) -> None:
    # Re-runs happen while the first error is handled; "RDD is empty" on harmless subsets
    # carries it as context and must not count as the division by zero.
    climbed = runs.climbed
    failure = climbed.rungs("test_chained")["100pct"]["failure"]
    assert failure["kind"] == "data", climbed.output
    assert [row["id"] for row in failure["offending_rows"]] == [DIVIDING_ID], failure
    assert failure["localization"]["rows_found"] == 1


def test_a_value_quoted_in_the_error_finds_its_row(runs: Runs) -> None:
    climbed = runs.climbed
    failure = climbed.rungs("test_malformed")["50pct"]["failure"]
    assert failure["kind"] == "data", climbed.output
    assert [row["id"] for row in failure["offending_rows"]] == [MALFORMED_ID], failure
    assert failure["localization"]["method"].startswith("values quoted in the error")
    assert failure["captured_to"], failure


def test_rows_captured_at_a_fraction_rung_fail_the_local_rung_next_run(
    runs: Runs,
) -> None:
    replayed = runs.replayed
    failure = replayed.rungs("test_malformed")["local"]["failure"]
    assert failure["kind"] == "data", replayed.output
    assert [row["id"] for row in failure["offending_rows"]] == [MALFORMED_ID], failure
    # Captured masked, as the sample is: the real client id is not in the file.
    assert '"client_id": "c1"' not in runs.captured["events"]


def test_a_body_failing_on_every_row_says_so_instead_of_naming_rows(
    runs: Runs,
) -> None:
    climbed = runs.climbed
    failure = climbed.rungs("test_every_row")["local"]["failure"]
    assert failure["kind"] == "data", climbed.output
    assert failure["offending_rows"] == []
    assert "fails the same way on any row" in failure["localization"]["note"]
    assert failure["localization"]["complete"] is True


def test_a_row_at_a_column_extreme_is_found_from_the_extremes(
    runs: Runs,
) -> None:
    climbed = runs.climbed
    failure = climbed.rungs("test_outlier")["100pct"]["failure"]
    assert failure["kind"] == "data", climbed.output
    assert [row["id"] for row in failure["offending_rows"]] == [OUTLIER_ID], failure
    assert failure["localization"]["method"].startswith("rows at a column's min or max")


def test_fraction_rung_reports_and_captures_the_offending_rows(runs: Runs) -> None:
    rungs = runs.climbed.rungs("test_no_magic_value")
    assert rungs["local"]["outcome"] == rungs["distributed"]["outcome"] == "passed"
    failure = rungs["50pct"]["failure"]
    assert rungs["50pct"]["outcome"] == "failed"
    assert failure["kind"] == "data"
    assert "break expectation 'no magic value'" in failure["summary"]
    offending = failure["offending_rows"]
    assert offending and all(r["value"] == 500.05 for r in offending)
    assert {r["id"] for r in offending} <= set(MAGIC)
    captured = runs.project.path / "dcs_samples" / "people.captured.jsonl"
    assert failure["captured_to"] == str(captured)
    lines = runs.captured["people"].splitlines()
    assert len(lines) == 1 + len(offending)
    entry = json.loads(lines[1])
    assert entry["test"] == "test_jobs.py::test_no_magic_value"
    assert entry["rung"] == "50pct" and entry["kind"] == "data"


def test_captured_rows_are_replayed_at_local_next_run(runs: Runs) -> None:
    found = runs.climbed.rungs("test_no_magic_value")
    local = runs.replayed.rungs("test_no_magic_value")["local"]
    assert local["outcome"] == "failed"
    assert local["failure"]["kind"] == "data"
    offending = found["50pct"]["failure"]["offending_rows"]
    assert local["rows"] == found["local"]["rows"] + len(offending)


def test_forget_captured_clears_the_replay(runs: Runs) -> None:
    assert runs.forgotten.rungs("test_no_magic_value")["local"]["outcome"] == "passed"
    samples = runs.project.path / "dcs_samples"
    assert not (samples / "people.captured.jsonl").exists()
    assert not (samples / "events.captured.jsonl").exists()
    runs.forgotten.result.stdout.fnmatch_lines(["dcs: forgot 2 capture file(s)"])


def test_masked_values_appear_nowhere(runs: Runs) -> None:
    folder = runs.project.path / "dcs_samples"
    texts = [p.read_text() for p in folder.iterdir() if p.is_file()]
    texts += [run.output for run in runs.all]
    texts += [json.dumps(run.report) for run in runs.all]
    texts += runs.captured.values()
    assert "@corp.example" not in "".join(texts)
    offending = runs.climbed.rungs("test_no_magic_value")["50pct"]["failure"]["offending_rows"]
    assert all(r["email"].endswith("@example.com") for r in offending)


def test_rows_of_a_derived_frame_are_reported_not_captured(runs: Runs) -> None:
    failure = runs.climbed.rungs("test_shifted_values")["local"]["failure"]
    assert failure["kind"] == "data"
    assert failure["offending_rows"] and all(r["value"] < 0 for r in failure["offending_rows"])
    # Replaying them would test rows the source never had (and grow every test's input).
    assert failure["captured_to"] is None


# -- real values quoted in failure text -------------------------------------------------------


def _texts(runs: Runs) -> dict[str, str]:
    """Each place's text, unescaped: JSON strings and XML attributes escape some characters."""
    unescaped = [
        text
        for element in ElementTree.fromstring(runs.junit).iter()
        for text in (element.text or "", *element.attrib.values())
    ]
    return {
        "terminal": runs.climbed.output,
        "report": json.dumps(runs.climbed.report, ensure_ascii=False),
        "junit": "\n".join(unescaped),
        "samples": runs.accounts_samples,
    }


def test_the_sample_rungs_pass_and_the_real_rung_fails(runs: Runs) -> None:
    run = runs.climbed
    for name, kind in [
        ("test_udf_names_the_email", "data"),
        ("test_udf_quotes_the_email_unlocalized", "data"),
        ("test_assertion_shows_an_email", "assertion"),
    ]:
        rungs = run.rungs(name)
        assert rungs["local"]["outcome"] == "passed", run.output
        assert rungs["distributed"]["outcome"] == "passed", run.output
        assert rungs["100pct"]["failure"]["kind"] == kind, run.output
    cases = ElementTree.fromstring(runs.junit).iter("testcase")
    failed = [
        c for c in cases if c.get("classname") == "test_mask_text" and c.find("failure") is not None
    ]
    assert len(failed) == 3, runs.junit


def test_no_real_email_appears_anywhere(runs: Runs) -> None:
    # The UDF raises on real emails only: masked, the localized row no longer fails, so it is
    # not captured (a replay at local could not fail), and the story says why.
    failure = runs.climbed.rungs("test_udf_names_the_email")["100pct"]["failure"]
    assert failure["captured_to"] is None, failure
    assert "not captured: masked by dcs_mask" in failure["localization"]["story"], failure
    assert "captured_at" not in runs.accounts_samples
    for where, text in _texts(runs).items():
        leaked = [e for e in map(_account_email, range(ACCOUNTS_ROWS)) if e in text]
        assert not leaked, f"{where} shows real emails {leaked[:5]}"


def test_the_localized_rows_and_the_message_show_the_same_pseudonyms(runs: Runs) -> None:
    failure = runs.climbed.rungs("test_udf_names_the_email")["100pct"]["failure"]
    fakes = sorted(map(_fake, LOCALIZED))
    [row] = failure["offending_rows"]
    assert row["email"] in fakes, failure["localization"]
    quoted = [f for f in fakes if f"bad email {f}" in failure["summary"]]
    assert quoted, failure["summary"]
    assert quoted[0] in failure["python_trace"]
    assert quoted[0] in failure["trace"]
    texts = _texts(runs)
    assert quoted[0] in texts["terminal"]
    assert quoted[0] in texts["junit"]


def test_a_quoted_value_no_row_was_found_for_is_looked_up_in_the_input(runs: Runs) -> None:
    run = runs.climbed
    failure = run.rungs("test_udf_quotes_the_email_unlocalized")["100pct"]["failure"]
    assert failure["offending_rows"] == []
    assert failure["masking"]["values_found"] >= 1, failure["masking"]
    assert failure["masking"]["error"] is None
    quoted = [f for f in map(_fake, UNLOCALIZED) if f'bad email "{f}"' in failure["summary"]]
    assert quoted, failure["summary"]
    assert quoted[0] in run.output
    assert quoted[0] in _texts(runs)["junit"]


def test_a_driver_assertion_quoting_a_value_is_masked(runs: Runs) -> None:
    run = runs.climbed
    failure = run.rungs("test_assertion_shows_an_email")["100pct"]["failure"]
    assert f"real emails: ['{_fake(ASSERTED)}']" in failure["trace"]
    assert _fake(ASSERTED) in run.output
    assert _fake(ASSERTED) in _texts(runs)["junit"]
