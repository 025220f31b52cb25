"""What `classify` reads off an exception: its chain, the Python worker trace Spark carries
inside its message, Java classes and error classes, and the identity of the error (to tell the
same failure on a re-run). Pure text work: no JVM."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field


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
# A value the message did not quote: a word with a digit in it (`O941`, `x7b`, `int64`).
_WITH_DIGIT = re.compile(r"\b\w*\d\w*\b")
_NUMBER = re.compile(r"(?<![\w.])-?(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?!\w|\.\d)")


def message_shape(message: str) -> str:
    """`message` with its quoted values, numbers and words holding a digit replaced: what stays
    the same when one error is raised by different rows (`id 7 is reserved` and `id 12 is
    reserved` match, as do `unconverted data remains: O941` and `...: O446`)."""
    return _WITH_DIGIT.sub("N", _NUMBER.sub("N", _QUOTED.sub("'?'", message.strip())))


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
