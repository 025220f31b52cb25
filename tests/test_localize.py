"""Spark-free parts of localization: the search budget, key ranges, error identity."""

from __future__ import annotations

import itertools

import pytest

from pytest_dcs.failures import error_token
from pytest_dcs.localize import HIGH, LOW, KeyRange, Localization
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


def test_error_token_is_the_workers_exception_type() -> None:
    text = (
        "[PYTHON_EXCEPTION] An exception was thrown from the Python worker: "
        "Traceback (most recent call last):\n"
        '  File "/jobs/t.py", line 3, in shout\n'
        "    return text.upper()\n"
        "AttributeError: 'NoneType' object has no attribute 'upper'\n"
    )
    assert error_token(_WorkerError(text)) == "AttributeError"


def test_error_token_falls_back_to_the_error_class_then_the_type() -> None:
    assert error_token(ArithmeticError("[DIVIDE_BY_ZERO] Division by zero.")) == "DIVIDE_BY_ZERO"
    assert error_token(KeyError("x")) == "KeyError"


def test_the_story_line_says_what_was_found_and_what_it_cost() -> None:
    found = Localization(runs=4, seconds=6.15, method="bisection", complete=True)
    assert found.describe(10.0) == (
        "localized no single rows in 6.2 s, 4 re-run(s) of the body on subsets of its input "
        "(bisection; budget 10.0 s)"
    )
    cut = Localization(runs=0, seconds=10.0, note="the budget ran out")
    assert cut.describe(10.0).endswith("(budget 10.0 s); the budget ran out")
    assert cut.to_json(10.0)["rows_found"] == 0
