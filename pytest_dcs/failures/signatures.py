"""A known way a rung fails (`Signature`): how it is recognised, its kind, how its summary is
written from the evidence, and its remedy."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pytest_dcs.failures.model import FailureKind
from pytest_dcs.failures.trace import (
    _SPARK_ADVICE,
    _SQLSTATE,
    _SUMMARY_LIMIT,
    Symptoms,
    _first_line,
)

ANY_WORKER_ERROR = "*"
SummaryBuilder = Callable[[Symptoms, str], str]


@dataclass(frozen=True)
class Signature:
    """One known way a rung fails.

    A signature matches when its `modules` and `raised_in` conditions (where given) hold and at
    least one recogniser matches:
    `exception_types` (names of the exception's class or its bases), `java_classes` (Java
    exception classes named in the message outside the worker traceback), `error_classes`
    (PySpark/Spark error classes; `X` also matches `X.SUBCLASS`), `patterns` (regexes over the
    message outside the worker traceback), `worker_errors` (the worker's final Python error type;
    `ANY_WORKER_ERROR` for any) and `worker_patterns` (regexes over that error line).
    `summary` builds the one-line summary from the symptoms and the evidence: the matched part
    of the message, from where its sentence starts.
    """

    name: str
    kind: FailureKind
    remedy: str
    summary: SummaryBuilder
    exception_types: tuple[str, ...] = ()
    java_classes: tuple[str, ...] = ()
    error_classes: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    worker_errors: tuple[str, ...] = ()
    worker_patterns: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    raised_in: tuple[str, ...] = ()
    generic: bool = False

    def evidence(self, found: Symptoms) -> str | None:
        """The part of the message that shows this signature, or None when it does not match."""
        if self.modules and not found.module.startswith(self.modules):
            return None
        if self.raised_in and not any(
            re.search(rf"(?:^|[\\/]){re.escape(part)}(?:[\\/.]|$)", path)
            for path in found.raised_in
            for part in self.raised_in
        ):
            return None
        line = found.first_line()
        default = f"{found.type_name}: {line}" if line else found.type_name
        if set(self.exception_types) & set(found.type_names):
            return default
        for name in self.java_classes:
            match = re.search(rf"(?<![\w.$]){re.escape(name)}(?!\w|\.\d)", found.java_text)
            if match:
                return _rest_of_line(found.java_text, match.start())
        for wanted in self.error_classes:
            for reported in found.error_classes:
                if reported == wanted or reported.startswith(wanted + "."):
                    return _error_class_evidence(found, reported) or default
        for pattern in self.patterns:
            match = re.search(pattern, found.java_text, re.MULTILINE)
            if match:
                return _sentence_at(found.java_text, match.start())
        worker = found.worker
        if worker is not None and worker.error:
            if ANY_WORKER_ERROR in self.worker_errors or worker.error_type in self.worker_errors:
                return worker.error
            if any(re.search(p, worker.error) for p in self.worker_patterns):
                return worker.error
        return None if self.has_recognisers else default

    @property
    def has_recognisers(self) -> bool:
        """False for a catch-all entry, which matches whatever passes its conditions."""
        return bool(
            self.exception_types
            or self.java_classes
            or self.error_classes
            or self.patterns
            or self.worker_errors
            or self.worker_patterns
        )


_LOST_TASK = r"Lost task [\d.]+ in stage [\d.]+ \(TID \d+\) \([^)]*\):\s+"
# Where a message nested in a Java message starts: after `SomeException: ` or a lost task's id.
_MESSAGE_START = re.compile(
    r"(?:[\w$]+\.)*[A-Z][\w$]*(?:Exception|Error|Failure):\s+|" + _LOST_TASK
)


def _sentence_at(text: str, position: int) -> str:
    """From `position`'s line, the message that contains it: after the last `SomeException: `."""
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    line = text[start : end if end >= 0 else len(text)]
    offset = position - start
    begin = 0
    for match in _MESSAGE_START.finditer(line):
        if match.end() <= offset:
            begin = match.end()
        elif match.start() <= offset and not match.group().startswith("Lost task"):
            begin = match.start()
    return line[begin:].strip()


def _rest_of_line(text: str, position: int) -> str:
    end = text.find("\n", position)
    return text[position : end if end >= 0 else len(text)].strip()


def _error_class_evidence(found: Symptoms, error_class: str) -> str | None:
    """The sentence that carries `[ERROR_CLASS]`: in the Java text, or the worker's error line."""
    tag = f"[{error_class}]"
    position = found.java_text.find(tag)
    if position >= 0:
        return _sentence_at(found.java_text, position)
    if found.worker is not None and tag in found.worker.error:
        return found.worker.error
    return None


def _clip(text: str, *, from_spark: bool = True) -> str:
    text = " ".join(text.split())
    if from_spark:
        text = _SPARK_ADVICE.sub("", _SQLSTATE.sub("", text))
    if len(text) > _SUMMARY_LIMIT:
        return text[: _SUMMARY_LIMIT - 3].rstrip() + "..."
    return text


def _told(prefix: str) -> SummaryBuilder:
    return lambda _found, evidence: _clip(f"{prefix}: {evidence}")


def _root_cause(found: Symptoms) -> str | None:
    """The last `Caused by:` of the first Java trace in the message (the driver's comes after)."""
    own = found.java_text.split("Driver stacktrace:", 1)[0]
    causes = _CAUSED_BY.findall(own)
    return causes[-1].strip() if causes else None


def _with_root_cause(prefix: str) -> SummaryBuilder:
    def build(found: Symptoms, evidence: str) -> str:
        cause = _root_cause(found)
        return _clip(f"{prefix}: {evidence}" + (f" (caused by {cause})" if cause else ""))

    return build


def _as_is(_found: Symptoms, evidence: str) -> str:
    return _clip(evidence)


_CAUSED_BY = re.compile(r"^Caused by: (.+)$", re.MULTILINE)
_NO_MODULE = re.compile(r"No module named '([^']+)'")
_NO_NAME = re.compile(r"cannot import name '([^']+)' from '([^']+)'")


def missing_module(error: str) -> str | None:
    """The module an ImportError line names: `No module named 'x'` or `... from 'x'`."""
    match = _NO_MODULE.search(error)
    if match:
        return match.group(1)
    match = _NO_NAME.search(error)
    return match.group(2) if match else None


def _import_summary(_found: Symptoms, evidence: str) -> str:
    name = _NO_NAME.search(evidence)
    if name:
        return _clip(f"executors cannot import {name.group(1)!r} from module {name.group(2)!r}")
    module = missing_module(evidence)
    if module:
        return _clip(f"executors cannot import module {module!r}")
    return _clip(f"executors cannot import: {evidence}")


def _closure_summary(_found: Symptoms, evidence: str) -> str:
    reason = re.sub(r"^(?:[\w.]*PicklingError: )?Could not serialize \w+: ", "", evidence)
    return _clip(
        f"a function shipped to executors holds an object that cannot be pickled: {reason}"
    )


_TASK_ERROR = re.compile(_LOST_TASK + "(.+)")


def _task_summary(found: Symptoms, evidence: str) -> str:
    task = _TASK_ERROR.search(found.java_text)
    if task is None:
        return _clip(evidence)
    cause = _root_cause(found)
    root = f" (caused by {cause})" if cause else ""
    return _clip(f"a task failed: {task.group(1).strip()}{root}")


def _assertion_summary(found: Symptoms, _evidence: str) -> str:
    return _clip(_first_line(found.text) or "assertion failed", from_spark=False)


def _driver_summary(_found: Symptoms, evidence: str) -> str:
    return _clip(evidence, from_spark=False)


_SHIP_REMEDY = (
    "ship it to the executors: list it in the ini as `dcs_ship = path/to/module_or_package`, "
    "or add it to spark.submit.pyFiles, or install it on the cluster"
)
_MEMORY_REMEDY = (
    "lighten the load: more, smaller partitions (repartition before the heavy step), fewer rows "
    "or columns brought to the driver (no collect()/toPandas() of big results), less key skew; "
    "or raise spark.executor.memory / spark.driver.memory in dcs_spark_conf"
)

_CONNECT_REMEDY = (
    "Spark Connect has no SparkContext, RDD API or JVM on the client; use the DataFrame API "
    "(rung.expect_rows instead of rung.check_rows, mapInPandas or mapInArrow instead of RDD "
    "functions), or run the cluster rungs on a classic master (--dcs-cluster=spark://HOST:7077)"
)
_CLASSIC_ON_CONNECT_REMEDY = (
    "pyspark builds a UDF or Column for the kind of session active when it is made: one made "
    "at import (a module-level @udf) or while the classic local rung ran is classic, and fails "
    "over Spark Connect; make UDFs and Columns inside the function that uses them, or run the "
    "cluster rungs on a classic master (--dcs-cluster=spark://HOST:7077)"
)


def _connect_summary(_found: Symptoms, evidence: str) -> str:
    first = re.split(r"(?<=\.)\s", evidence, maxsplit=1)[0]
    return _clip(f"not available over Spark Connect: {first}")


def _classic_on_connect_summary(_found: Symptoms, evidence: str) -> str:
    return _clip(f"a classic PySpark object was used over Spark Connect: {evidence}")
