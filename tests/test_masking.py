"""Masking values inside text: the pure parts (no Spark session)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import types as T

from pytest_dcs.data.masking import (
    Masker,
    candidate_tokens,
    pseudonym,
    scrub_text,
    text_forms,
)

EMAIL = T.StructType([T.StructField("email", T.StringType())])


def _fake(value: str) -> str:
    return pseudonym(value, "email", T.StringType())


def test_a_value_is_replaced_only_as_a_whole_word() -> None:
    table = {"ann": "P1"}
    assert scrub_text("ann, annual anna joann ann_x x_ann 5ann ann.", table) == (
        "P1, annual anna joann ann_x x_ann 5ann P1."
    )


def test_a_value_that_starts_or_ends_with_punctuation_needs_no_word_edge_there() -> None:
    table = {"-42.5%": "P"}
    assert scrub_text("rate x-42.5%y", table) == "rate xPy"


def test_numbers_are_not_replaced_inside_longer_numbers() -> None:
    table = {"12345": "99"}
    assert scrub_text("id 12345, not 123456 or 912345 or 12345.6", table) == (
        "id 99, not 123456 or 912345 or 99.6"
    )


def test_a_value_inside_a_longer_value_does_not_break_the_longer_one_up() -> None:
    masker = Masker(["email"])
    masker.rows([("ann@x.com",), ("joann@x.com",), ("x.com",)], EMAIL)
    text = "bad joann@x.com then ann@x.com at x.com"
    assert masker.scrub(text) == (
        f"bad {_fake('joann@x.com')} then {_fake('ann@x.com')} at {_fake('x.com')}"
    )


def test_a_value_with_spaces_wins_over_the_word_it_starts_with() -> None:
    table = {"Ann": "P1", "Ann Lee": "P2"}
    assert scrub_text("Ann Lee and Ann", table) == "P2 and P1"


def test_a_pseudonym_is_not_replaced_again() -> None:
    table = {"alpha": "beta gamma", "gamma": "delta"}
    assert scrub_text("alpha gamma", table) == "beta gamma delta"


def test_repr_quoted_values_are_replaced_inside_their_quotes() -> None:
    original = "it's\nme@corp.example"  # repr escapes the newline and picks double quotes
    masker = Masker(["email"])
    masker.rows([(original,)], EMAIL)
    scrubbed = masker.scrub(f"ValueError: bad email {original!r}")
    assert scrubbed == f'ValueError: bad email "{_fake(original)}"'


def test_str_and_repr_of_a_date_are_both_replaced() -> None:
    masker = Masker(["birthday"])
    schema = T.StructType([T.StructField("birthday", T.DateType())])
    [(fake,)] = masker.rows([(dt.date(1984, 7, 9),)], schema)
    text = "born 1984-07-09 (datetime.date(1984, 7, 9))"
    assert masker.scrub(text) == f"born {fake} ({fake!r})"


def test_text_forms_skip_what_carries_no_secret() -> None:
    assert text_forms(None, None) == []
    assert text_forms("ab", "zz") == []  # too short to replace safely
    assert text_forms(True, True) == []
    assert text_forms({"a": 1}, None) == []  # masked whole, nothing to put in its place
    assert text_forms(["alice", "bob"], ["P1", "P2"]) == [("alice", "P1"), ("bob", "P2")]


def test_the_pseudonym_in_text_is_the_one_in_the_rows() -> None:
    masker = Masker(["client_id"])
    schema = T.StructType([T.StructField("client_id", T.IntegerType())])
    [(fake,)] = masker.rows([(7_000_123,)], schema)
    assert masker.scrub("client 7000123 failed") == f"client {fake} failed"


def test_scrub_still_takes_the_originals_as_records() -> None:
    masker = Masker(["email"])
    text = masker.scrub("bad a.b@corp.example", [{"email": "a.b@corp.example", "id": 12345}])
    assert text == f"bad {_fake('a.b@corp.example')}"


def test_unmasked_columns_are_left_in_text() -> None:
    masker = Masker(["email"])
    masker.record({"email": "a.b@corp.example", "city": "Berlin"})
    assert masker.scrub("Berlin") == "Berlin"


def test_scrub_json_walks_nested_values() -> None:
    masker = Masker(["email"])
    masker.rows([("a.b@corp.example",)], EMAIL)
    fake = _fake("a.b@corp.example")
    document = {"summary": "x a.b@corp.example", "rows": [{"email": "a.b@corp.example"}], "n": 3}
    assert masker.scrub_json(document) == {
        "summary": f"x {fake}",
        "rows": [{"email": fake}],
        "n": 3,
    }


def test_tokens_are_quoted_strings_words_and_runs_of_words() -> None:
    text = "ValueError: bad name 'Ann Lee' (email=a.b@corp.example), Bob Ray."
    tokens = candidate_tokens([text])
    assert {"Ann Lee", "a.b@corp.example", "Bob Ray", "ValueError"} <= set(tokens)
    assert "email=a.b@corp.example" not in tokens
    assert "o'neil@corp.example" in candidate_tokens(["bad email o'neil@corp.example."])
    assert all(len(t) >= 3 for t in tokens)


def test_tokens_skip_java_frames_and_stop_at_the_limit() -> None:
    text = "\tat org.apache.spark.Secret.run(Secret.java:12)\n\t... 5 more\nfound bob@corp.example"
    tokens = candidate_tokens([text])
    assert not any("Secret" in t for t in tokens)
    assert "bob@corp.example" in tokens
    many = " ".join(f"word{i}" for i in range(100))
    assert len(candidate_tokens([many], limit=10)) == 10


class _Frame:
    """Stands in for a DataFrame: only its schema is read before a job would run."""

    def __init__(self, schema: T.StructType | None) -> None:
        self._schema = schema

    @property
    def schema(self) -> T.StructType:
        if self._schema is None:
            raise RuntimeError("the session is stopped\nJVM trace follows")
        return self._schema


def test_a_frame_without_masked_columns_is_not_looked_up() -> None:
    masker = Masker(["email"])
    other = T.StructType([T.StructField("id", T.LongType())])
    assert masker.learn_from(_Frame(other), ["bad id 12345"]) == 0  # type: ignore[arg-type]


def test_a_failed_lookup_is_told_and_known_values_are_still_masked() -> None:
    masker = Masker(["email"])
    masker.rows([("a.b@corp.example",)], EMAIL)
    lookup = masker.look_up([_Frame(None)], ["bad a.b@corp.example"])  # type: ignore[list-item]
    assert lookup["values_found"] == 0
    assert lookup["error"] == "RuntimeError: the session is stopped"
    assert masker.scrub("bad a.b@corp.example") == f"bad {_fake('a.b@corp.example')}"


def test_a_value_cut_short_at_an_ellipsis_is_replaced() -> None:
    table = {"user10003.secret@corp.example": "P"}
    assert scrub_text("bad email user10003.secr...", table) == "bad email P..."
    # pytest's saferepr keeps both ends of a long repr.
    assert scrub_text("['user10003.se...rp.example']", table) == "['P...P']"


def test_a_short_stump_or_a_word_that_merely_ends_like_a_value_is_left() -> None:
    table = {"user10003.secret@corp.example": "P"}
    assert scrub_text("the user...", table) == "the user..."
    assert scrub_text("superuser10003...", table) == "superuser10003..."
    assert scrub_text("and more...", table) == "and more..."


def test_scrub_json_masks_a_number_only_in_a_field_of_its_column() -> None:
    masker = Masker(["client_id"])
    schema = T.StructType([T.StructField("client_id", T.LongType())])
    [(fake,)] = masker.rows([(7_000_123,)], schema)
    skew_row = {"client_id": 7_000_123, "rows": 7_000_123, "share": "90.0%"}
    assert masker.scrub_json(skew_row) == {"client_id": fake, "rows": 7_000_123, "share": "90.0%"}
