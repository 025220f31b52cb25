"""Failure kinds: what went wrong at a rung, told in one screen.

`classify` is a pure function over an exception: it reads the exception's type, module, PySpark
error class and message (including the Python worker traceback Spark carries inside it) and looks
them up in `SIGNATURES`, a table of known failures, each with its kind, summary and remedy. It
never talks to a JVM, so it works after the JVM is gone and in tests without Spark.
`render_story` and `rows_table` turn the result into the text of pytest's failure section.

The modules: `model` (kinds, `Failure`, `DcsFailure`), `trace` (reading an exception),
`signatures` and `catalog` (the known failures), `classify`, `story` (the text).
"""

from pytest_dcs.failures.catalog import SIGNATURES, SIGNATURES_BY_NAME
from pytest_dcs.failures.classify import classify, find_signature
from pytest_dcs.failures.model import KINDS, DcsFailure, Failure, FailureKind
from pytest_dcs.failures.signatures import Signature, missing_module
from pytest_dcs.failures.story import render_story, rows_table, user_trace
from pytest_dcs.failures.trace import (
    ErrorIdentity,
    Frame,
    Symptoms,
    WorkerTrace,
    error_identity,
    identity_of_text,
    message_shape,
    split_worker_trace,
    symptoms,
)

__all__ = [
    "KINDS",
    "SIGNATURES",
    "SIGNATURES_BY_NAME",
    "DcsFailure",
    "ErrorIdentity",
    "Failure",
    "FailureKind",
    "Frame",
    "Signature",
    "Symptoms",
    "WorkerTrace",
    "classify",
    "error_identity",
    "find_signature",
    "identity_of_text",
    "message_shape",
    "missing_module",
    "render_story",
    "rows_table",
    "split_worker_trace",
    "symptoms",
    "user_trace",
]
