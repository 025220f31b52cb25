"""Spark-free parts of localization: the search budget, key ranges, error identity, recorded
UDF calls."""

from __future__ import annotations

import itertools

import pytest

from pytest_dcs.failures import error_identity, message_shape
from pytest_dcs.run.clues import Call, FailingCalls, quoted_values
from pytest_dcs.run.search import Localization
from pytest_dcs.run.searchspace import HIGH, LOW, KeyRange
from pytest_dcs.settings import MIN_LOCALIZE_SECONDS, LocalizeBudget


def test_default_budget_is_three_times_the_rung_with_a_floor() -> None:
    budget = LocalizeBudget.parse("", "dcs_localize_budget in pytest.ini")
    assert budget.for_rung(20.0) == 60.0
    assert budget.for_rung(0.5) == MIN_LOCALIZE_SECONDS


@pytest.mark.parametrize(
    ("raw", "rung_seconds", "expected"),
    [
        ("5x", 10.0, 50.0),
        ("30", 1.0, 30.0),
        ("45s", 100.0, 45.0),
        ("0", 9.0, 0.0),
        ("0x", 9.0, 0.0),
    ],
)
def test_budget_forms(raw: str, rung_seconds: float, expected: float) -> None:
    assert LocalizeBudget.parse(raw, "x").for_rung(rung_seconds) == expected


@pytest.mark.parametrize("raw", ["fast", "-3", "3y", "x"])
def test_bad_budget_names_its_origin_and_the_forms(raw: str) -> None:
    with pytest.raises(pytest.UsageError, match=r"dcs_localize_budget in pytest.ini.*'3x'"):
        LocalizeBudget.parse(raw, "dcs_localize_budget in pytest.ini")


def test_key_ranges_split_evenly_and_cover_the_span() -> None:
    whole = KeyRange(LOW, HIGH)
    parts = whole.split(64)
    assert len(parts) == 64
    assert parts[0].lo == LOW and parts[-1].hi == HIGH
    assert all(a.hi == b.lo for a, b in itertools.pairwise(parts))
    assert KeyRange(5, 7).split(8) == [KeyRange(5, 6), KeyRange(6, 7)]
    assert KeyRange(5, 6).single and not KeyRange(5, 7).single


class _WorkerError(Exception):
    """Looks like PySpark's PythonException: the worker's traceback in the message."""


def _worker_error(error_line: str) -> _WorkerError:
    return _WorkerError(
        "[PYTHON_EXCEPTION] An exception was thrown from the Python worker: "
        "Traceback (most recent call last):\n"
        '  File "/jobs/t.py", line 3, in shout\n'
        "    return text.upper()\n"
        f"{error_line}\n"
    )


def test_error_identity_is_the_workers_exception_type_and_message_shape() -> None:
    found = error_identity(_worker_error("AttributeError: 'NoneType' object has no attribute 'x'"))
    assert found.token == "AttributeError"
    assert found.shape == "AttributeError: '?' object has no attribute '?'"
    assert found.message == "AttributeError: 'NoneType' object has no attribute 'x'"


def test_the_same_error_on_other_values_has_the_same_identity() -> None:
    seven = error_identity(_worker_error("ValueError: id 7 is reserved"))
    twelve = error_identity(_worker_error("ValueError: id -12 is reserved"))
    other = error_identity(_worker_error("ValueError: id 7 is unknown"))
    assert seven == twelve
    assert seven != other


def test_error_identity_falls_back_to_the_error_class_then_the_type() -> None:
    found = error_identity(ArithmeticError("[DIVIDE_BY_ZERO] Division by zero. SQLSTATE: 22012"))
    assert (found.token, found.shape) == ("DIVIDE_BY_ZERO", "[DIVIDE_BY_ZERO] Division by zero.")
    assert error_identity(KeyError("x")).token == "KeyError"


def test_a_rerun_error_is_not_the_error_it_was_raised_while_handling() -> None:
    original = _worker_error("TypeError: 'NoneType' object is not subscriptable")
    try:
        try:
            raise original
        except _WorkerError:
            raise ValueError("RDD is empty")  # noqa: B904 - a plain raise, as a re-run does
    except ValueError as again:
        assert again.__context__ is original
        assert error_identity(again) == error_identity(ValueError("RDD is empty"))
        assert error_identity(again) != error_identity(original)


def test_an_explicit_cause_is_part_of_the_identity() -> None:
    cause = _worker_error("ValueError: id 7 is reserved")
    wrapper = RuntimeError("the job failed")
    wrapper.__cause__ = cause
    assert error_identity(wrapper) == error_identity(cause)


def test_a_task_error_text_matches_the_identity_of_the_same_error() -> None:
    identity = error_identity(_worker_error("ValueError: id 7 is reserved"))
    task = (
        "org.apache.spark.api.python.PythonException: Traceback (most recent call last):\n"
        '  File "/jobs/t.py", line 3, in checked\n'
        "ValueError: id 99 is reserved\n\n\tat org.apache.spark.api.python.X(X.scala:1)"
    )
    assert identity.matches_text(task)
    assert not identity.matches_text(task.replace("reserved", "unknown"))
    assert not identity.matches_text(None)


def test_message_shape_replaces_quoted_values_and_numbers() -> None:
    assert message_shape("The value 'x9' of the type \"STRING\" at 3.5") == (
        "The value '?' of the type '?' at N"
    )
    # A value a message names unquoted, with letters in it: strptime's leftover characters.
    assert message_shape("unconverted data remains: O941") == message_shape(
        "unconverted data remains: O446"
    )
    assert message_shape("unconverted data remains: O941") != message_shape("RDD is empty")


def test_quoted_values_are_the_values_and_numbers_of_a_message() -> None:
    message = (
        '[CAST_INVALID_INPUT] The value \'3b\' of the type "STRING" cannot be cast to "INT" '
        "because it is malformed. Use `try_cast` to tolerate it, or id 42."
    )
    assert quoted_values(message) == ["3b", "42"]
    assert quoted_values("ValueError: id 1234 is reserved") == ["1234"]


def test_the_story_line_says_what_was_found_and_what_it_cost() -> None:
    found = Localization(runs=4, seconds=6.15, method="bisection", complete=True)
    assert found.describe(10.0) == (
        "localized no single rows in 6.2 s, 4 re-run(s) of the body on subsets of its input "
        "(bisection; budget 10.0 s)"
    )
    cut = Localization(runs=0, seconds=10.0, note="the budget ran out")
    assert cut.describe(10.0).endswith("(budget 10.0 s); the budget ran out")
    assert cut.to_json(10.0)["rows_found"] == 0


def test_recorded_calls_name_the_tasks_that_raised_the_error() -> None:
    identity = error_identity(_worker_error("ValueError: id 7 is reserved"))
    recorded = FailingCalls(
        columns=[("id",)],
        calls=[
            Call(0, (7,), "ValueError: id 7 is reserved", 3, 0),
            Call(0, (9,), "ValueError: id 9 is reserved", 3, 4),
            Call(0, (6,), "KeyError: 6", 3, 2),
            Call(0, (8,), "ValueError: id 8 is over", 3, 5),
            Call(0, (1,), "ValueError: id 1 is reserved", 5, 1),
        ],
    )
    # Same type and message shape, whatever the values; the KeyError and the other message are
    # other errors.
    assert recorded.partitions(identity) == {3: {0, 4}, 5: {1}}
    assert recorded.partitions(None) == {3: {0, 2, 4, 5}, 5: {1}}
