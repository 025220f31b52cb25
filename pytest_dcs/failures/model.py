"""The failure model: the kinds a rung fails with, and the `Failure` the report tells."""

from __future__ import annotations

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
        diff: str = "",
    ) -> None:
        super().__init__(summary)
        self.kind: FailureKind = kind
        self.summary = summary
        self.offending_rows = list(offending_rows)
        self.advice = advice
        self.details = details
        self.diff = diff


@dataclass
class Failure:
    """A classified rung failure, as the report keeps it.

    `signature` names the `SIGNATURES` entry that matched (None for a `DcsFailure`). For an error
    raised in a Python worker, `where` is the user's `file:line in function` and `python_trace`
    the worker's Python traceback without the Java around it. `module` is the module executors
    could not import.
    """

    kind: FailureKind
    summary: str
    offending_rows: list[dict[str, Any]] = field(default_factory=list)
    captured_to: str | None = None
    advice: str = ""
    trace: str = ""
    signature: str | None = None
    where: str | None = None
    python_trace: str = ""
    module: str | None = None
    localization: dict[str, Any] | None = None
    """How the offending rows were found by re-running the body (see `localize`), if they were."""
    diff: str = ""
    """A side-by-side diff of two results (`parity`), as text."""

    def to_json(self) -> dict[str, Any]:
        """The failure as the JSON report stores it."""
        return {
            "kind": self.kind,
            "summary": self.summary,
            "offending_rows": self.offending_rows,
            "captured_to": self.captured_to,
            "advice": self.advice,
            "trace": self.trace,
            "signature": self.signature,
            "where": self.where,
            "module": self.module,
            "python_trace": self.python_trace,
            "localization": self.localization,
            "diff": self.diff or None,
        }
