"""Real values of masked columns quoted in failure text are masked at fraction rungs.

A UDF raising `ValueError(f"bad email {email}")` on the real data puts the real email in the
exception, the worker traceback, the summary, the story and JUnit's failure message. The sample
rungs run on pseudonyms and pass; the 100% rung meets the real emails. One pytest process,
shared by the tests of this module.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple
from xml.etree import ElementTree

import pytest
from conftest import Project, Run
from pyspark.sql import types as T

from pytest_dcs.data.masking import pseudonym

ROWS = 20_000
LOCALIZED = [i for i in range(ROWS) if i % 4999 == 5]  # rows the first UDF raises on (one found)
UNLOCALIZED = [i for i in range(ROWS) if i % 4999 == 7]  # the second's, not searched for
ASSERTED = 10_003  # the row whose email an assertion shows

INI = """
[pytest]
dcs_sources =
    people = json:data/people
dcs_fractions = 1.0
dcs_mask = email
# Correctness, not speed, is checked here: a busy machine must not run the search out of time.
dcs_localize_budget = 120
"""

# Real emails end with the corp domain, pseudonyms with example.com: only real rows raise.
TESTS = """
import pyspark.sql.functions as F
import pytest


@pytest.mark.scale("people", capture=1)
def test_udf_names_the_email(scaled):
    def check(number, email):
        if email.endswith("@corp.example") and number % 4999 == 5:
            raise ValueError(f"bad email {email}")
        return number

    checked = F.udf(check, "long")
    assert scaled.select(checked("id", "email").alias("c")).where("c IS NOT NULL").count() > 0


@pytest.mark.scale("people", capture=0)
def test_udf_quotes_the_email_unlocalized(scaled):
    def check(number, email):
        if email.endswith("@corp.example") and number % 4999 == 7:
            raise ValueError(f"bad email {email!r}")
        return number

    checked = F.udf(check, "long")
    assert scaled.select(checked("id", "email").alias("c")).where("c IS NOT NULL").count() > 0


@pytest.mark.scale("people", capture=0)
def test_assertion_shows_an_email(scaled):
    emails = [r.email for r in scaled.where(F.col("id") == 10003).collect()]
    assert all(e.endswith("@example.com") for e in emails), f"real emails: {emails}"
"""


def _email(i: int) -> str:
    # An apostrophe and a non-ASCII letter in some: quoted by repr, looked up as SQL literals.
    return f"user{i}.o'neil.ü@corp.example" if i in UNLOCALIZED else f"user{i}.secret@corp.example"


def _fake(i: int) -> str:
    return str(pseudonym(_email(i), "email", T.StringType()))


def _write_people(folder: Path) -> None:
    folder.mkdir(parents=True)
    for part in range(4):
        lines = [
            json.dumps({"id": i, "email": _email(i), "value": i % 97})
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


class Climbed(NamedTuple):
    run: Run
    junit: str
    samples: str
    """The sample and capture files, decoded."""


@pytest.fixture(scope="module")
def climbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Climbed]:
    project = Project(tmp_path_factory.mktemp("masktext"))
    project.write("pytest.ini", INI)
    project.write("test_people.py", TESTS)
    _write_people(project.path / "data" / "people")
    junit = project.path / "junit.xml"
    run = project.run(f"--junitxml={junit}")
    samples = "\n".join(map(_decoded, sorted((project.path / "dcs_samples").iterdir())))
    yield Climbed(run, junit.read_text() if junit.exists() else "", samples)
    project.kill_leftovers()


def _texts(climbed: Climbed) -> dict[str, str]:
    """Each place's text, unescaped: JSON strings and XML attributes escape some characters."""
    run, junit, samples = climbed
    unescaped = [
        text
        for element in ElementTree.fromstring(junit).iter()
        for text in (element.text or "", *element.attrib.values())
    ]
    return {
        "terminal": run.output,
        "report": json.dumps(run.report, ensure_ascii=False),
        "junit": "\n".join(unescaped),
        "samples": samples,
    }


def test_the_sample_rungs_pass_and_the_real_rung_fails(climbed: Climbed) -> None:
    run, junit, _ = climbed
    for name, kind in [
        ("test_udf_names_the_email", "data"),
        ("test_udf_quotes_the_email_unlocalized", "data"),
        ("test_assertion_shows_an_email", "assertion"),
    ]:
        rungs = run.rungs(name)
        assert rungs["local"]["outcome"] == "passed", run.output
        assert rungs["distributed"]["outcome"] == "passed", run.output
        assert rungs["100pct"]["failure"]["kind"] == kind, run.output
    assert junit.count("<failure ") == 3, junit


def test_no_real_email_appears_anywhere(climbed: Climbed) -> None:
    # The UDF raises on real emails only: masked, the localized row no longer fails, so it is
    # not captured (a replay at local could not fail), and the story says why.
    failure = climbed.run.rungs("test_udf_names_the_email")["100pct"]["failure"]
    assert failure["captured_to"] is None, failure
    assert "not captured: masked by dcs_mask" in failure["localization"]["story"], failure
    assert "captured_at" not in climbed.samples
    for where, text in _texts(climbed).items():
        leaked = [e for e in map(_email, range(ROWS)) if e in text]
        assert not leaked, f"{where} shows real emails {leaked[:5]}"


def test_the_localized_rows_and_the_message_show_the_same_pseudonyms(
    climbed: Climbed,
) -> None:
    run = climbed.run
    failure = run.rungs("test_udf_names_the_email")["100pct"]["failure"]
    fakes = sorted(map(_fake, LOCALIZED))
    [row] = failure["offending_rows"]
    assert row["email"] in fakes, failure["localization"]
    quoted = [f for f in fakes if f"bad email {f}" in failure["summary"]]
    assert quoted, failure["summary"]
    assert quoted[0] in failure["python_trace"]
    assert quoted[0] in failure["trace"]
    texts = _texts(climbed)
    assert quoted[0] in texts["terminal"]
    assert quoted[0] in texts["junit"]


def test_a_quoted_value_no_row_was_found_for_is_looked_up_in_the_input(
    climbed: Climbed,
) -> None:
    run = climbed.run
    failure = run.rungs("test_udf_quotes_the_email_unlocalized")["100pct"]["failure"]
    assert failure["offending_rows"] == []
    assert failure["masking"]["values_found"] >= 1, failure["masking"]
    assert failure["masking"]["error"] is None
    quoted = [f for f in map(_fake, UNLOCALIZED) if f'bad email "{f}"' in failure["summary"]]
    assert quoted, failure["summary"]
    assert quoted[0] in run.output
    assert quoted[0] in _texts(climbed)["junit"]


def test_a_driver_assertion_quoting_a_value_is_masked(climbed: Climbed) -> None:
    run = climbed.run
    failure = run.rungs("test_assertion_shows_an_email")["100pct"]["failure"]
    assert f"real emails: ['{_fake(ASSERTED)}']" in failure["trace"]
    assert _fake(ASSERTED) in run.output
    assert _fake(ASSERTED) in _texts(climbed)["junit"]
