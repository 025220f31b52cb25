"""Failure kinds: what went wrong at a rung, told in one screen.

`classify` is a pure function over an exception: it reads the exception's type, module, PySpark
error class and message (including the Python worker traceback Spark carries inside it) and looks
them up in `SIGNATURES`, a table of known failures, each with its kind, summary and remedy. It
never talks to a JVM, so it works after the JVM is gone and in tests without Spark.
`render_story` and `rows_table` turn the result into the text of pytest's failure section.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
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


# -- what classify reads off an exception ---------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One `File "...", line N, in f` entry of a Python traceback."""

    path: str
    line: int
    function: str

    @property
    def is_toolchain(self) -> bool:
        """True for frames inside PySpark, Py4J, cloudpickle or the import machinery."""
        return bool(_TOOLCHAIN_PATH.search(self.path)) or self.path.startswith("<frozen ")

    def where(self) -> str:
        """`file.py:12 in function`, the way the story names a place in the user's code."""
        return f"{os.path.basename(self.path)}:{self.line} in {self.function}"


@dataclass(frozen=True)
class WorkerTrace:
    """The Python traceback a worker sent back, cut out of the Java exception carrying it."""

    text: str
    frames: tuple[Frame, ...]
    error: str
    error_type: str

    @property
    def user_frame(self) -> Frame | None:
        """The innermost frame that is the user's code, not PySpark's."""
        for frame in reversed(self.frames):
            if not frame.is_toolchain:
                return frame
        return None


@dataclass(frozen=True)
class Symptoms:
    """Everything `classify` looks at, read once from one exception."""

    type_name: str
    type_names: tuple[str, ...]
    module: str
    error_classes: tuple[str, ...]
    text: str
    java_text: str
    worker: WorkerTrace | None
    raised_in: tuple[str, ...]

    def first_line(self) -> str:
        """The message's first line, past Py4J's `An error occurred while calling o42.x` line."""
        lines = [x.strip() for x in self.java_text.splitlines() if x.strip()]
        if len(lines) > 1 and _PY4J_CALL.match(lines[0]):
            lines = lines[1:]
        return lines[0].removeprefix(": ") if lines else _first_line(self.text)


_SPARK_MODULES = ("pyspark", "py4j")
_TOOLCHAIN_PATH = re.compile(r"(?:^|[\\/])(?:pyspark|py4j|cloudpickle)(?:[\\/.]|$)")
_TRACEBACK_HEAD = "Traceback (most recent call last):"
_CHAIN_LINES = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
_FRAME = re.compile(r'^  File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<function>.+)$')
_ERROR_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::(?: (?P<message>.*))?)?$")
_JAVA_LINE = re.compile(r"^\s*(?:at [\w$.<>/]+\(|\.\.\. \d+ more|Caused by: |Driver stacktrace:)")
_ERROR_CLASS_TAG = re.compile(r"\[([A-Z][A-Z0-9_]*(?:\.[A-Z][A-Z0-9_]*)*)\]")
_PY4J_CALL = re.compile(r"^An error occurred while calling [\w.$]+")
_SQLSTATE = re.compile(r"\s*SQLSTATE: \w+;?")
# Spark Connect ends a worker's traceback with the error's SQLSTATE on a line of its own.
_SQLSTATE_LINE = re.compile(r"^\s*SQLSTATE: \w+;?\s*$")
# Spark's own advice sentences; the signature's remedy replaces them.
_SPARK_ADVICE = re.compile(
    r"(?<=[.!])\s+(?:(?:Consider|Please|To avoid|If necessary|Correct the value)\b|Use `try_).*$"
)
_SUMMARY_LIMIT = 300
_CHAIN_LIMIT = 8


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        # A captured PySpark exception asks the JVM while printing itself; the JVM may be gone.
        return " ".join(str(arg) for arg in exc.args)


def _reported_error_class(exc: BaseException) -> str | None:
    for name in ("getCondition", "getErrorClass"):
        method = getattr(exc, name, None)
        if not callable(method):
            continue
        try:
            with warnings.catch_warnings():
                # getErrorClass is deprecated in PySpark 4 and warns on every call.
                warnings.simplefilter("ignore")
                value = method()
        except Exception:
            return None
        return value if isinstance(value, str) and value else None
    return None


def _raised_in(exc: BaseException) -> tuple[str, ...]:
    files = []
    tb = exc.__traceback__
    while tb is not None:
        files.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    return tuple(files)


def _traceback_end(lines: list[str]) -> int:
    """How many of `lines` (starting at a traceback head) belong to that Python traceback."""
    index = 1
    in_message = False
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            following = next((x for x in lines[index + 1 :] if x.strip()), "")
            if following not in _CHAIN_LINES and following != _TRACEBACK_HEAD:
                break
            in_message = False
        elif _JAVA_LINE.match(line) or _SQLSTATE_LINE.match(line):
            break
        elif line.startswith(" ") and not in_message:
            pass
        elif line in _CHAIN_LINES or line == _TRACEBACK_HEAD:
            in_message = False
        elif in_message or _ERROR_LINE.match(line.split(": ", 1)[0]):
            # An error line, or a later line of a multi-line error message.
            in_message = True
        else:
            break
        index += 1
    return index


def _error_of(block: list[str]) -> tuple[str, str]:
    """The final `Type: message` line of a traceback block and the type's short name."""
    error = ""
    for line in block[1:]:
        if line.startswith(" ") or not line.strip():
            continue
        if line in _CHAIN_LINES or line == _TRACEBACK_HEAD:
            error = ""
            continue
        if not error:
            error = line.strip()
    match = _ERROR_LINE.match(error.split(": ", 1)[0])
    short = match.group("type").rsplit(".", 1)[-1] if match else ""
    return error, short


def split_worker_trace(text: str) -> tuple[WorkerTrace | None, str]:
    """The first Python traceback inside `text`, and `text` with every Python traceback removed.

    Spark repeats a worker's traceback in each `Caused by:` of the Java trace; the first copy is
    the one to show, and the rest of the text is what the JVM said.
    """
    found: WorkerTrace | None = None
    kept: list[str] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        head = line.find(_TRACEBACK_HEAD)
        if head < 0:
            kept.append(line)
            index += 1
            continue
        block = [_TRACEBACK_HEAD, *lines[index + 1 :]]
        block = block[: _traceback_end(block)]
        if line[:head].strip():
            kept.append(line[:head].rstrip())
        if found is None:
            frames = tuple(
                Frame(m["path"], int(m["line"]), m["function"])
                for m in (_FRAME.match(x) for x in block)
                if m
            )
            error, error_type = _error_of(block)
            found = WorkerTrace("\n".join(block).rstrip(), frames, error, error_type)
        index += len(block)
    return found, "\n".join(kept)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < _CHAIN_LIMIT:
        seen.add(id(current))
        yield current
        if current.__cause__ is not None:
            current = current.__cause__
        elif not current.__suppress_context__:
            current = current.__context__
        else:
            current = None


# Quoted values and numbers vary from row to row; the rest of a message is the error's shape.
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|`[^`\n]*`")
_NUMBER = re.compile(r"(?<![\w.])-?(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?!\w|\.\d)")


def message_shape(message: str) -> str:
    """`message` with its quoted values and numbers replaced: what stays the same when one
    error is raised by different rows (`id 7 is reserved` and `id 12 is reserved` match)."""
    return _NUMBER.sub("N", _QUOTED.sub("'?'", message.strip()))


@dataclass(frozen=True)
class ErrorIdentity:
    """What makes two failures "the same" across re-runs of a body on different rows.

    `token` is the Python worker's exception type, else Spark's error class, else the
    exception's type name; `shape` is the error's message line passed through `message_shape`.
    """

    token: str
    shape: str
    message: str = field(default="", compare=False)
    """The message line as raised, with its values: where clues to the rows are read."""

    def matches_text(self, text: str | None) -> bool:
        """Whether a task's error message (as Spark's status store keeps it) is this error."""
        if not text:
            return False
        found = identity_of_text(text)
        return found == self if found is not None else self.token in text


def _class_line(text: str, error_class: str) -> str:
    """The rest of the line from `[ERROR_CLASS]` on, without its SQLSTATE."""
    start = text.find(f"[{error_class}]")
    line = text[start:].split("\n", 1)[0] if start >= 0 else _first_line(text)
    return _SQLSTATE.sub("", line)


def identity_of_text(text: str) -> ErrorIdentity | None:
    """The identity of an error told only as text: a worker's traceback, else an error class."""
    worker, java_text = split_worker_trace(text)
    if worker is not None and worker.error_type:
        return _identity(worker.error_type, worker.error)
    classes = [c for c in _ERROR_CLASS_TAG.findall(java_text) if c != "PYTHON_EXCEPTION"]
    if classes:
        return _identity(classes[0], _class_line(java_text, classes[0]))
    return None


def _identity(token: str, message: str) -> ErrorIdentity:
    return ErrorIdentity(token, message_shape(message), message.strip())


def error_identity(exc: BaseException) -> ErrorIdentity:
    """The identity of `exc` itself: its explicit causes (`raise ... from`) are read, never the
    exception it was raised while handling (`__context__`). The plugin re-runs a body inside
    the handler of its first failure, so every re-run's error has that failure as context."""
    link: BaseException | None = exc
    for _ in range(_CHAIN_LIMIT):
        if link is None:
            break
        found = symptoms(link)
        if found.worker is not None and found.worker.error_type:
            return _identity(found.worker.error_type, found.worker.error)
        classes = [c for c in found.error_classes if c != "PYTHON_EXCEPTION"]
        if classes:
            line = _class_line(found.java_text or found.text, classes[0])
            return _identity(classes[0], line)
        link = link.__cause__
    return _identity(type(exc).__name__, _first_line(_message(exc)))


def symptoms(exc: BaseException) -> Symptoms:
    """Read what `classify` needs from `exc`, without calling into a JVM."""
    text = _message(exc)
    worker, java_text = split_worker_trace(text)
    classes = []
    reported = _reported_error_class(exc)
    if reported:
        classes.append(reported)
    for source in (java_text, worker.error if worker else ""):
        classes.extend(_ERROR_CLASS_TAG.findall(source))
    return Symptoms(
        type_name=type(exc).__name__,
        type_names=tuple(cls.__name__ for cls in type(exc).__mro__),
        module=type(exc).__module__ or "",
        error_classes=tuple(dict.fromkeys(classes)),
        text=text,
        java_text=java_text,
        worker=worker,
        raised_in=_raised_in(exc),
    )


# -- the table ------------------------------------------------------------------------------

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


#: The known failures, tried in this order; the first match wins. The order is the precedence:
#: 0. the test's own verdict: an AssertionError (pytest's rewritten asserts, PySpark's
#:    assertDataFrameEqual) is an assertion, whatever its message mentions.
#: 1. panics: the toolchain died or ran out of room. Whatever else the message says (a worker
#:    error, a cancelled job) is a consequence, so these come first; an OOM inside a
#:    Py4JJavaError or a PythonException is a panic.
#: 2. framework: the code cannot run on executors at all (imports, pickling, jars, Python
#:    version). Before `data`, since these also arrive as worker errors or AnalysisExceptions.
#: 3. timeout: Spark cancelled the rung's jobs (after "SparkContext was shut down", a panic).
#: 4. data: the code raised on this rung's rows (worker errors, ANSI SQL errors, unreadable
#:    files, schema). A missing path or table (framework) and a SQL syntax error (the test's
#:    own) sit among them because they, too, arrive as AnalysisExceptions.
#: 5. fallbacks (`generic`): unknown Spark failures, PySpark misuse, and any other driver-side
#:    exception, which is the test's own assertion or bug. For a generic match, `classify`
#:    also tries the exception's cause chain for a specific one.
SIGNATURES: tuple[Signature, ...] = (
    Signature(
        name="assertion",
        kind="assertion",
        remedy="",
        summary=_assertion_summary,
        exception_types=("AssertionError",),
    ),
    Signature(
        name="out_of_memory",
        kind="panic",
        remedy=f"a JVM or Python worker ran out of memory; {_MEMORY_REMEDY}",
        summary=_told("out of memory"),
        java_classes=(
            "java.lang.OutOfMemoryError",
            "org.apache.spark.memory.SparkOutOfMemoryError",
        ),
        error_classes=("UNABLE_TO_ACQUIRE_MEMORY",),
        patterns=(r"Java heap space", r"GC overhead limit exceeded"),
        exception_types=("MemoryError",),
        worker_errors=("MemoryError",),
    ),
    Signature(
        name="container_killed",
        kind="panic",
        remedy=(
            "an executor used more memory than its container allows (JVM heap plus off-heap plus "
            "Python workers); raise spark.executor.memoryOverhead (Python workers live there) or "
            "spark.executor.memory, or lighten the load: more, smaller partitions, less skew"
        ),
        summary=_told("executor killed"),
        patterns=(
            r"Container killed by YARN for exceeding (?:\w+ )?memory limits",
            r"exit(?:ed)? (?:with )?(?:exit )?(?:code|status):? ?137\b",
            r"\bOOMKilled\b",
        ),
    ),
    Signature(
        name="kryo_buffer_overflow",
        kind="panic",
        remedy=(
            "a record did not fit Kryo's buffer: raise spark.kryoserializer.buffer.max in "
            "dcs_spark_conf (e.g. `spark.kryoserializer.buffer.max = 512m`, at most 2047m), "
            "or avoid single huge records (collect less at once, split wide rows)"
        ),
        summary=_told("Kryo buffer overflow"),
        error_classes=("KRYO_BUFFER_OVERFLOW",),
        patterns=(r"Kryo serialization failed: Buffer overflow", r"KryoException: Buffer overflow"),
    ),
    Signature(
        name="jvm_gone",
        kind="panic",
        remedy=(
            "the Spark JVM died or stopped answering (often killed for memory); the next test "
            "gets a fresh session; lighten the load at this rung (fewer rows to the driver, more "
            "partitions, more spark.driver.memory) and look for the JVM's own error in its log"
        ),
        summary=_told("the Spark JVM is gone"),
        exception_types=("Py4JNetworkError",),
        patterns=(
            r"Answer from Java side is empty",
            r"An error occurred while trying to connect to the Java server",
            r"Error while sending or receiving",
            r"Error while receiving",
        ),
    ),
    Signature(
        name="jvm_socket_closed",
        kind="panic",
        remedy=(
            "the connection to the Spark JVM was refused or reset: the JVM is gone; the next "
            "test gets a fresh session; lighten the load at this rung"
        ),
        summary=_told("the Spark JVM is gone"),
        exception_types=("ConnectionRefusedError", "ConnectionResetError", "BrokenPipeError"),
        raised_in=("py4j",),
    ),
    Signature(
        name="context_stopped",
        kind="panic",
        remedy=(
            "the SparkContext was stopped under the test, by spark.stop() in test code or a "
            "fixture, or by a crash of the driver JVM; leave stopping to pytest-dcs, which owns "
            "the session; the next test gets a fresh one"
        ),
        summary=_told("the SparkContext was shut down"),
        patterns=(
            r"SparkContext was shut down",
            r"Cannot call methods on a stopped SparkContext",
            r"SparkContext has been shutdown",
        ),
    ),
    Signature(
        name="fetch_failed",
        kind="panic",
        remedy=(
            "shuffle output was lost: an executor died (often killed for memory) or the shuffle "
            "service is unreachable; lighten the load (more partitions, less skew), give "
            "executors more memory, or check the cluster's external shuffle service"
        ),
        summary=_with_root_cause("shuffle fetch failed"),
        java_classes=(
            "org.apache.spark.shuffle.FetchFailedException",
            "org.apache.spark.shuffle.MetadataFetchFailedException",
        ),
        patterns=(r"Missing an output location for shuffle", r"\bFetchFailed\b"),
    ),
    Signature(
        name="python_worker_crashed",
        kind="panic",
        remedy=(
            "a Python worker process died without a Python error: os._exit(), a segfault in a "
            "native library, or killed by the OS for memory; set "
            "spark.python.worker.faulthandler.enabled = true in dcs_spark_conf to see where; "
            "lighten the load if it is memory"
        ),
        summary=_told("Python worker crashed"),
        patterns=(
            r"Python worker exited unexpectedly \(crashed\)",
            r"Fatal Python error: Segmentation fault",
        ),
    ),
    Signature(
        name="executor_lost",
        kind="panic",
        remedy=(
            "an executor went away while running a task (killed, crashed, or lost to the "
            "cluster); look at its log; lighten the load if it ran out of memory"
        ),
        summary=_told("executor lost"),
        patterns=(r"ExecutorLostFailure",),
    ),
    Signature(
        name="python_version_mismatch",
        kind="framework",
        remedy=(
            "executors run another Python minor version than the driver; point "
            "spark.pyspark.python (or PYSPARK_PYTHON) at the same Python version on both sides"
        ),
        summary=_told("driver and executors run different Pythons"),
        error_classes=("PYTHON_VERSION_MISMATCH",),
        worker_patterns=(r"Python in worker has different version",),
    ),
    Signature(
        name="executor_import",
        kind="framework",
        remedy=(
            "the module imports on the driver but not on the executors (a function shipped to "
            f"them refers to it, or imports it); {_SHIP_REMEDY}"
        ),
        summary=_import_summary,
        worker_errors=("ModuleNotFoundError", "ImportError"),
    ),
    Signature(
        name="closure_references_spark",
        kind="framework",
        remedy=(
            "a UDF or RDD function refers to the SparkContext or SparkSession (directly, or "
            "through an object that holds one), which exist only on the driver; compute what it "
            "needs on the driver and pass plain values, or a broadcast variable"
        ),
        summary=lambda _found, _evidence: (
            "a function shipped to executors refers to the SparkContext or SparkSession"
        ),
        error_classes=("CONTEXT_ONLY_VALID_ON_DRIVER", "RDD_TRANSFORM_ONLY_VALID_ON_DRIVER"),
        patterns=(r"It appears that you are attempting to reference SparkContext",),
    ),
    Signature(
        name="unpicklable_closure",
        kind="framework",
        remedy=(
            "a UDF or RDD function captures an object that cannot be pickled (a lock, socket, "
            "client or open file); create it inside the function (per partition with "
            "mapPartitions), or pass read-only data as a broadcast variable"
        ),
        summary=_closure_summary,
        exception_types=("PicklingError", "PySparkPicklingError"),
        java_classes=("java.io.NotSerializableException",),
        patterns=(r"Could not serialize (?:object|broadcast)", r"Task not serializable"),
    ),
    Signature(
        name="connect_unsupported",
        kind="framework",
        remedy=_CONNECT_REMEDY,
        summary=_connect_summary,
        error_classes=("JVM_ATTRIBUTE_NOT_SUPPORTED", "NOT_IMPLEMENTED"),
        raised_in=("connect",),
    ),
    Signature(
        name="classic_object_on_connect",
        kind="framework",
        remedy=_CLASSIC_ON_CONNECT_REMEDY,
        summary=_classic_on_connect_summary,
        error_classes=("SESSION_OR_CONTEXT_NOT_EXISTS",),
    ),
    Signature(
        name="classic_column_on_connect",
        kind="framework",
        remedy=_CLASSIC_ON_CONNECT_REMEDY,
        summary=_classic_on_connect_summary,
        patterns=(r"'Column' object is not callable",),
        raised_in=("connect",),
    ),
    Signature(
        name="missing_jar",
        kind="framework",
        remedy=(
            "a data source or class is not on this engine's classpath: add its package with "
            "spark.jars.packages (e.g. org.apache.spark:spark-avro_2.13:<spark version>) or "
            "spark.jars in dcs_spark_conf, or install it on the cluster"
        ),
        summary=_told("missing on the classpath"),
        error_classes=("DATA_SOURCE_NOT_FOUND", "AVRO_DATA_SOURCE_NOT_ENABLED"),
        java_classes=("java.lang.ClassNotFoundException", "java.lang.NoClassDefFoundError"),
        patterns=(r"Failed to find (?:the )?data source",),
    ),
    Signature(
        name="job_cancelled",
        kind="timeout",
        remedy=(
            "Spark cancelled the rung's jobs, as the rung timeout does; raise `timeout=` on the "
            "scale marker or dcs_rung_timeout, or cap the ladder with --dcs-max-rung; a rung "
            "that slow is worth a look at its time exponent"
        ),
        summary=_told("Spark cancelled the job"),
        error_classes=("SPARK_JOB_CANCELLED", "OPERATION_CANCELED"),
        patterns=(r"cancelled part of cancelled job (?:group|tags?)", r"Job \d+ cancelled\b"),
    ),
    Signature(
        name="python_worker_error",
        kind="data",
        remedy=(
            "the function raised on some rows of this rung's data: handle the value (null, "
            "empty, out of range) the failing line did not expect; rung.check_rows(df, fn) "
            "finds the rows it raises on"
        ),
        summary=_as_is,
        worker_errors=(ANY_WORKER_ERROR,),
    ),
    Signature(
        name="sql_runtime_error",
        kind="data",
        remedy=(
            "a SQL expression failed on some values of this rung's data (ANSI mode): tolerate "
            "them with try_cast / try_divide / try_element_at, or filter them first; "
            "rung.expect_rows(df, condition) shows the offending rows"
        ),
        summary=_as_is,
        exception_types=(
            "ArithmeticException",
            "NumberFormatException",
            "DateTimeException",
            "ArrayIndexOutOfBoundsException",
            "SparkNoSuchElementException",
        ),
        error_classes=(
            "DIVIDE_BY_ZERO",
            "CAST_INVALID_INPUT",
            "CAST_OVERFLOW",
            "ARITHMETIC_OVERFLOW",
            "NUMERIC_VALUE_OUT_OF_RANGE",
            "INVALID_ARRAY_INDEX",
            "INVALID_ARRAY_INDEX_IN_ELEMENT_AT",
            "CANNOT_PARSE_TIMESTAMP",
            "DATETIME_FIELD_OUT_OF_BOUNDS",
            "MALFORMED_RECORD_IN_PARSING",
            "USER_RAISED_EXCEPTION",
        ),
    ),
    Signature(
        name="unreadable_input",
        kind="data",
        remedy=(
            "a file of this rung's input cannot be read (corrupt, truncated, or written with "
            "another schema); the message names it; rewrite or remove it, or set "
            "spark.sql.files.ignoreCorruptFiles = true if skipping such files is acceptable"
        ),
        summary=_as_is,
        error_classes=("FAILED_READ_FILE",),
    ),
    Signature(
        name="missing_input",
        kind="framework",
        remedy=(
            "this engine cannot see the input: a path that exists only on this machine, or a "
            "table in another catalog; use a path or table every executor can read"
        ),
        summary=_as_is,
        error_classes=("PATH_NOT_FOUND", "TABLE_OR_VIEW_NOT_FOUND"),
    ),
    Signature(
        name="sql_parse_error",
        kind="assertion",
        remedy="the SQL text does not parse; it fails the same way at every rung",
        summary=_as_is,
        exception_types=("ParseException",),
        error_classes=("PARSE_SYNTAX_ERROR",),
    ),
    Signature(
        name="analysis_error",
        kind="data",
        remedy=(
            "the data at this rung has another schema than the code expects (a column missing, "
            "renamed, or of another type); compare the tiny sample's schema with the source's: "
            'tiny("<source>").printSchema() against rung.source("<source>").printSchema()'
        ),
        summary=_as_is,
        exception_types=("AnalysisException",),
        error_classes=(
            "UNRESOLVED_COLUMN",
            "UNRESOLVED_FIELD",
            "UNRESOLVED_MAP_KEY",
            "DATATYPE_MISMATCH",
            "AMBIGUOUS_REFERENCE",
            "FIELD_NOT_FOUND",
            "INCOMPATIBLE_COLUMN_TYPE",
            "NUM_COLUMNS_MISMATCH",
        ),
    ),
    Signature(
        name="spark_task_failed",
        kind="data",
        remedy=(
            "a Spark task failed on some rows of this rung's data; the JVM trace in the JSON "
            "report (--dcs-report) names the expression"
        ),
        summary=_task_summary,
        patterns=(r"Job aborted due to stage failure",),
        modules=_SPARK_MODULES,
        generic=True,
    ),
    Signature(
        name="pyspark_usage",
        kind="assertion",
        remedy="PySpark rejected the call on the driver before any job ran; fix the call",
        summary=_as_is,
        modules=("pyspark.errors.exceptions.base",),
        generic=True,
    ),
    Signature(
        name="spark_error",
        kind="framework",
        remedy=(
            "Spark failed in a way pytest-dcs does not recognise; the full JVM trace is in the "
            "JSON report (--dcs-report)"
        ),
        summary=_as_is,
        modules=_SPARK_MODULES,
        generic=True,
    ),
    Signature(
        name="driver_error",
        kind="assertion",
        remedy="",
        summary=_driver_summary,
        generic=True,
    ),
)
SIGNATURES_BY_NAME: Mapping[str, Signature] = {s.name: s for s in SIGNATURES}


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


# -- the story ------------------------------------------------------------------------------


def user_trace(python_trace: str) -> str:
    """A Python traceback with PySpark's own frames dropped: the user's frames and the error."""
    kept: list[str] = []
    skipping = False
    for line in python_trace.splitlines():
        frame = _FRAME.match(line)
        if frame:
            skipping = Frame(frame["path"], int(frame["line"]), frame["function"]).is_toolchain
        elif not line.startswith("    "):
            skipping = False
        if not skipping:
            kept.append(line)
    return "\n".join(kept)


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def render_story(
    failure: Failure,
    *,
    rung: str,
    rows_table: str | None = None,
    verbose: bool = False,
) -> str:
    """The "short story first" text of a failed rung, for pytest's failure section.

    The headline names kind, rung and summary; then where in the user's code it happened and the
    worker's traceback (the user's frames only, unless `verbose`); then the offending rows
    (`rows_table`, or the failure's own rows rendered); then the advice. `verbose` appends the
    full trace.
    """
    lines = [f"[dcs] {failure.kind} failure at rung {rung}: {failure.summary}"]
    if failure.where:
        lines.append(f"where: {failure.where}")
    shown = failure.python_trace if verbose else user_trace(failure.python_trace)
    if any(_FRAME.match(line) for line in shown.splitlines()):
        # Without a frame of the user's, the trace would only repeat the summary.
        lines.append("worker traceback:" if verbose else "worker traceback (your code):")
        lines.append(_indent(shown))
    table = rows_table
    if table is None and failure.offending_rows:
        # `_table`, since the `rows_table` argument hides the function of that name here.
        table = _table(failure.offending_rows, 10, _CELL_WIDTH)
    if table:
        count = len(failure.offending_rows)
        lines.append(f"offending rows ({count}):" if count else "offending rows:")
        lines.append(_indent(table))
    if failure.diff:
        lines.append(failure.diff)
    if failure.localization and failure.localization.get("story"):
        lines.append(str(failure.localization["story"]))
    if failure.captured_to:
        lines.append(f"captured to: {failure.captured_to}")
    if failure.advice:
        lines.append(f"advice: {failure.advice}")
    if verbose and failure.trace:
        lines.append("full trace:")
        lines.append(_indent(failure.trace))
    return "\n".join(lines)


_CELL_WIDTH = 30
_CONTROL = str.maketrans({"\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _cell(value: Any, width: int) -> str:
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value).translate(_CONTROL)
    if len(text) > width:
        return text[: max(width - 3, 1)] + "..."
    return text


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _table(rows: Sequence[Mapping[str, Any]], limit: int, width: int) -> str:
    if not rows:
        return "(no rows)"
    shown = rows[:limit]
    columns = list(dict.fromkeys(key for row in shown for key in row))
    cells = [[_cell(row[c], width) if c in row else "" for c in columns] for row in shown]
    headers = [_cell(c, width) for c in columns]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    numeric = [
        all(_is_number(row.get(c)) for row in shown if row.get(c) is not None)
        and any(row.get(c) is not None for row in shown)
        for c in columns
    ]

    def line(values: list[str]) -> str:
        padded = (
            v.rjust(w) if right else v.ljust(w)
            for v, w, right in zip(values, widths, numeric, strict=True)
        )
        return " | ".join(padded).rstrip()

    out = [line(headers), "-+-".join("-" * w for w in widths)]
    out.extend(line(r) for r in cells)
    if len(rows) > limit:
        more = len(rows) - limit
        out.append(f"... {more} more row{'s' if more > 1 else ''}")
    return "\n".join(out)


def rows_table(
    rows: Sequence[Mapping[str, Any]], limit: int = 10, *, width: int = _CELL_WIDTH
) -> str:
    """Rows as an aligned text table: a header, `null` for None, cells cut to `width` with `...`.

    At most `limit` rows are shown; a last line says how many more there are.
    """
    return _table(rows, limit, width)
