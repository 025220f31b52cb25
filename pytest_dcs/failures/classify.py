"""`classify`: an exception to the `Failure` of the first signature that matches. It never
talks to a JVM, so it works after the JVM is gone and in tests without Spark."""

from __future__ import annotations

from pytest_dcs.failures.catalog import SIGNATURES
from pytest_dcs.failures.model import DcsFailure, Failure
from pytest_dcs.failures.signatures import Signature, missing_module
from pytest_dcs.failures.trace import Symptoms, _chain, symptoms


def find_signature(found: Symptoms) -> tuple[Signature, str]:
    """The first signature of `SIGNATURES` that matches, and its evidence."""
    for signature in SIGNATURES:
        evidence = signature.evidence(found)
        if evidence is not None:
            return signature, evidence
    raise AssertionError("driver_error matches every exception")  # pragma: no cover


def classify(exc: BaseException) -> Failure:
    """The kind, one-line summary and remedy for an exception raised by a rung's body.

    A `DcsFailure` keeps the kind the plugin gave it. For anything else the first matching entry
    of `SIGNATURES` decides; when only a generic entry matches, the exception's causes are tried
    for a specific one (a Py4J error wrapping a network error, a user's wrapper of a Spark error).
    """
    if isinstance(exc, DcsFailure):
        return Failure(
            exc.kind,
            exc.summary,
            list(exc.offending_rows),
            advice=exc.advice,
            trace=exc.details,
            diff=exc.diff,
        )
    chosen: tuple[Signature, str, Symptoms] | None = None
    for link in _chain(exc):
        found = symptoms(link)
        signature, evidence = find_signature(found)
        if chosen is None or not signature.generic:
            chosen = (signature, evidence, found)
        if not signature.generic:
            break
    assert chosen is not None
    signature, evidence, found = chosen
    worker = found.worker
    user_frame = worker.user_frame if worker else None
    module = (
        missing_module(worker.error) if worker and signature.name == "executor_import" else None
    )
    return Failure(
        kind=signature.kind,
        summary=signature.summary(found, evidence),
        advice=signature.remedy,
        trace=found.text,
        signature=signature.name,
        where=user_frame.where() if user_frame else None,
        python_trace=worker.text if worker else "",
        module=module,
    )
