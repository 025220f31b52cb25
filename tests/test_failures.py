"""Failure kinds from exceptions, without a JVM."""

from __future__ import annotations

from pytest_dcs.failures import DcsFailure, Failure, classify


def foreign_error(name: str, module: str, message: str) -> Exception:
    """An exception whose class looks like it was raised by PySpark or Py4J."""
    cls = type(name, (Exception,), {"__module__": module})
    return cls(message)


def test_assertion_error_is_an_assertion() -> None:
    failure = classify(AssertionError("\n  expected 3 rows, got 2\nassert 2 == 3"))
    assert failure.kind == "assertion"
    assert failure.summary == "expected 3 rows, got 2"


def test_dcs_failure_keeps_kind_rows_and_advice() -> None:
    rows = [{"id": 1, "exp": None}, {"id": 7, "exp": None}]
    failure = classify(
        DcsFailure("data", "2 rows broke 'is e10s'", offending_rows=rows, advice="filter nulls")
    )
    assert failure == Failure("data", "2 rows broke 'is e10s'", rows, advice="filter nulls")
    assert failure.offending_rows is not rows  # the report owns its copy


def test_module_missing_on_executors_is_framework() -> None:
    exc = foreign_error(
        "PythonException",
        "pyspark.errors.exceptions.captured",
        "\n  An exception was thrown from the Python worker.\n"
        "ModuleNotFoundError: No module named 'x'",
    )
    failure = classify(exc)
    assert failure.kind == "framework"
    assert "'x'" in failure.summary
    assert "ModuleNotFoundError" in failure.summary
    assert "dcs_ship" in failure.advice


def test_out_of_memory_is_panic() -> None:
    exc = foreign_error(
        "Py4JJavaError",
        "py4j.protocol",
        "An error occurred while calling o42.collect.\n: java.lang.OutOfMemoryError: Java heap",
    )
    failure = classify(exc)
    assert failure.kind == "panic"
    assert failure.summary.startswith("Py4JJavaError: An error occurred while calling o42")
    assert "more memory" in failure.advice


def test_py4j_network_error_is_panic() -> None:
    failure = classify(
        foreign_error("Py4JNetworkError", "py4j.protocol", "Answer from Java side is empty")
    )
    assert failure.kind == "panic"
    assert failure.summary == "Py4JNetworkError: Answer from Java side is empty"
    assert "JVM went away" in failure.advice


def test_failure_to_json_has_the_report_fields() -> None:
    document = Failure("timeout", "ran past 30s", captured_to="dcs_samples/x.jsonl").to_json()
    assert document["kind"] == "timeout"
    assert document["summary"] == "ran past 30s"
    assert document["offending_rows"] == []
    assert document["captured_to"] == "dcs_samples/x.jsonl"
