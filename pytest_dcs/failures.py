"""Failure kinds: what went wrong at a rung, told in one screen.

`classify` is a pure function over an exception: it reads PySpark error classes, Py4J and Java
exception names and messages, never a live JVM.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

FailureKind = Literal[
    "data", "framework", "parity", "control_flow", "slowdown", "panic", "timeout", "assertion"
]
KINDS: tuple[str, ...] = (
    "data",
    "framework",
    "parity",
    "control_flow",
    "slowdown",
    "panic",
    "timeout",
    "assertion",
)


class DcsFailure(AssertionError):
    """A rung failure whose kind and offending rows the plugin already knows."""

    def __init__(
        self,
        kind: FailureKind,
        summary: str,
        *,
        offending_rows: Sequence[dict[str, Any]] = (),
        advice: str = "",
        details: str = "",
    ) -> None:
        super().__init__(summary)
        self.kind: FailureKind = kind
        self.summary = summary
        self.offending_rows = list(offending_rows)
        self.advice = advice
        self.details = details


@dataclass
class Failure:
    """A classified rung failure, as the report keeps it."""

    kind: FailureKind
    summary: str
    offending_rows: list[dict[str, Any]] = field(default_factory=list)
    captured_to: str | None = None
    advice: str = ""
    trace: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "summary": self.summary,
            "offending_rows": self.offending_rows,
            "captured_to": self.captured_to,
            "advice": self.advice,
            "trace": self.trace,
        }


PANIC_SIGNATURES: tuple[tuple[str, str], ...] = (
    ("Py4JNetworkError", "the Spark JVM went away; the next test gets a fresh session"),
    ("SparkContext was shut down", "the SparkContext was stopped under the test"),
    ("OutOfMemoryError", "lighten the load: fewer rows per task, more partitions, more memory"),
    ("Kryo serialization failed", "raise spark.kryoserializer.buffer.max"),
)
FRAMEWORK_SIGNATURES: tuple[tuple[str, str], ...] = (
    ("ModuleNotFoundError", "ship the module to executors with dcs_ship, or install it there"),
    ("ImportError", "ship the module to executors with dcs_ship, or install it there"),
)


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


_ERROR_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Exit)): (.*)$")
_MISSING_MODULE = re.compile(r"No module named '([^']+)'")


def worker_error(text: str) -> str | None:
    """The last `SomeError: message` line of a Python traceback carried inside `text`."""
    found = None
    for line in text.splitlines():
        match = _ERROR_LINE.match(line)
        if match and not match.group(1).startswith(("org.", "java.", "py4j.")):
            found = f"{match.group(1)}: {match.group(2).strip()}"
    return found


def classify(exc: BaseException) -> Failure:
    """The kind, one-line summary and advice for an exception raised by a rung's body."""
    if isinstance(exc, DcsFailure):
        return Failure(exc.kind, exc.summary, list(exc.offending_rows), advice=exc.advice)
    name = type(exc).__name__
    text = str(exc)
    for needle, advice in PANIC_SIGNATURES:
        if needle in name or needle in text:
            return Failure("panic", f"{name}: {_first_line(text)}", advice=advice)
    module = type(exc).__module__ or ""
    from_spark = module.startswith(("pyspark", "py4j"))
    if from_spark:
        summary = worker_error(text) or f"{name}: {_first_line(text)}"
        missing = _MISSING_MODULE.search(text)
        if missing:
            return Failure(
                "framework",
                f"executors cannot import module {missing.group(1)!r} ({summary})",
                advice=FRAMEWORK_SIGNATURES[0][1],
            )
        for needle, advice in FRAMEWORK_SIGNATURES:
            if needle in text:
                return Failure("framework", summary, advice=advice)
        return Failure("data", summary)
    if isinstance(exc, AssertionError):
        return Failure("assertion", _first_line(text) or "assertion failed")
    return Failure("assertion", f"{name}: {_first_line(text)}")
