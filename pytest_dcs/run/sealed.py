"""The arguments of the UDF call that failed a rung, carried home sealed in the rung's own error.

A job ends at its first failed task, so the failing rung has read only the rows up to the first
call that raised; the error says which value it choked on only when its message happens to quote
it. While a rung's body runs, each plain Python UDF it calls is wrapped so that a call that raises
adds a note to its exception (`BaseException.add_note`, Python 3.11 on the executors) holding its
arguments, then raises that same exception on. The Python worker's traceback carries the note to
the driver inside the error the body sees, at no cost to a call that returns.

On the driver `take_calls` reads the notes out of the error and takes them off again, with the
wrapper's frame, from the message and every exception it is chained to: what the user, the
report and the failure's identity see is the error as the UDF raised it. The arguments are the
localizer's first clue (`pytest_dcs.run.localize`): one filter and one check find the rows that
failed the rung before any re-run of the whole input.

The note is sealed: Spark writes a failed task's error to its logs, and the arguments may be
values `dcs_mask` hides. Each rung draws a random key that travels to the executors only inside
the pickled UDF; a note is its pickled arguments XORed with a SHAKE-256 stream of that key and a
nonce of its own, so a log holds no readable value. A note larger than `MAX_NOTE` bytes, or
arguments that do not pickle, are left out: the search then starts from its other clues.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import pickle
import re
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pytest_dcs.run.clues import Call, FailingCalls, column_names

if TYPE_CHECKING:
    from pyspark.sql import Column, SparkSession

# Sealed bytes one note may hold; a call on larger values leaves no note.
MAX_NOTE = 16_384
# How deep `take_calls` follows an error's causes and contexts.
MAX_CHAIN = 8

PREFIX = "[pytest-dcs sealed call "
_NOTE = re.compile(r"\n?\[pytest-dcs sealed call (\d+) ([0-9a-f]{16}) ([A-Za-z0-9+/=]+)\]")
_NONCE = 8
# This file, as the wrapper's frames name it.
_SOURCE = os.path.join("pytest_dcs", "run", "sealed.py")


def _xor(data: bytes, key: bytes, nonce: bytes) -> bytes:
    """`data` XORed with the SHAKE-256 stream of `key` and `nonce`: sealed, or unsealed."""
    pad = hashlib.shake_256(key + nonce).digest(len(data))
    return (int.from_bytes(data, "big") ^ int.from_bytes(pad, "big")).to_bytes(len(data), "big")


class Notebook:
    """What one rung's wrapped UDFs share with the driver: the key, and per call site the
    input columns it was given (None where an argument is no plain column) and the function
    the UDF wraps."""

    def __init__(self) -> None:
        self.key = os.urandom(32)
        self.columns: list[tuple[str | None, ...]] = []
        self.functions: list[Any] = []

    def unseal(self, site: int, nonce: str, sealed: str) -> Call | None:
        """The call a note holds; None when it is not one of this rung's."""
        try:
            data = base64.b64decode(sealed, validate=True)
            raw = _xor(data, self.key, bytes.fromhex(nonce))
            args, error, stage, partition = pickle.loads(raw)  # only this rung's key seals a note
        except Exception:  # another rung's note, or one cut short: no clue
            return None
        if not 0 <= site < len(self.columns) or not isinstance(args, tuple):
            return None
        return Call(site, args, str(error), int(stage), int(partition))


@contextlib.contextmanager
def noting_udfs(spark: SparkSession | None) -> Iterator[Notebook | None]:
    """While the body runs inside: a plain Python UDF call that raises notes its arguments,
    sealed, on its exception, and raises it on. Yields None (nothing is noted) without a
    classic SparkContext (Spark Connect, no session) or where PySpark's UDF class cannot be
    patched."""
    try:
        from pyspark import TaskContext
        from pyspark.sql.udf import UserDefinedFunction
        from pyspark.util import PythonEvalType
    except ImportError:
        yield None
        return
    if spark is None or getattr(spark, "_sc", None) is None:
        yield None
        return
    book = Notebook()
    key, limit, size = book.key, MAX_NOTE, _NONCE

    def seal(value: object) -> str | None:
        """`value` pickled and sealed with the rung's key: `nonce sealed`, or None when too
        large."""
        raw = pickle.dumps(value, protocol=4)
        if len(raw) > limit:
            return None
        nonce = os.urandom(size)
        pad = hashlib.shake_256(key + nonce).digest(len(raw))
        sealed = (int.from_bytes(raw, "big") ^ int.from_bytes(pad, "big")).to_bytes(len(raw), "big")
        return f"{nonce.hex()} {base64.b64encode(sealed).decode('ascii')}"

    plain = (PythonEvalType.SQL_BATCHED_UDF, PythonEvalType.SQL_ARROW_BATCHED_UDF)
    original = UserDefinedFunction.__call__
    inside = [False]

    def noting(self: UserDefinedFunction, *args: Any, **kwargs: Any) -> Column:
        if (
            self.evalType not in plain
            or kwargs
            or inside[0]
            or getattr(self, "transpiled", None)  # runs as SQL, not in Python
        ):
            return original(self, *args, **kwargs)
        site = len(book.columns)
        book.columns.append(column_names(args))
        func = self.func
        book.functions.append(func)

        # Nested (and `seal` with it), so that cloudpickle ships it by value: executors need
        # not have pytest-dcs.
        def calling(*values: Any) -> Any:
            try:
                return func(*values)
            except Exception as exc:
                add = getattr(exc, "add_note", None)
                if add is not None:
                    with contextlib.suppress(Exception):
                        kind = type(exc)
                        name = kind.__qualname__
                        if kind.__module__ not in ("builtins", "__main__"):
                            name = f"{kind.__module__}.{name}"
                        task = TaskContext.get()
                        where = (task.stageId(), task.partitionId()) if task else (-1, -1)
                        line = f"{name}: {exc}".splitlines()[0]
                        note = seal((values, line, *where))
                        if note is not None:
                            add(f"{PREFIX}{site} {note}]")
                raise

        inside[0] = True
        try:
            wrapped = UserDefinedFunction(
                calling,
                self.returnType,
                self._name,
                self.evalType,
                deterministic=self.deterministic,
            )
            return original(wrapped, *args)
        finally:
            inside[0] = False

    UserDefinedFunction.__call__ = noting  # type: ignore[method-assign]
    try:
        yield book
    finally:
        UserDefinedFunction.__call__ = original  # type: ignore[method-assign]


def take_calls(exc: BaseException, book: Notebook | None) -> FailingCalls | None:
    """The calls the notes in `exc` (and the errors it is chained to) hold, the notes and the
    wrapper's frames taken off their messages; None when no note is this rung's."""
    calls: dict[str, Call] = {}
    seen: set[int] = set()
    chain: list[BaseException | None] = [exc]
    while chain and len(seen) < MAX_CHAIN:
        current = chain.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        for text in _texts(current):
            for site, nonce, sealed in _NOTE.findall(text):
                call = book.unseal(int(site), nonce, sealed) if book is not None else None
                if call is not None:
                    calls.setdefault(repr(call), call)
        _clean(current)
        chain += [current.__cause__, current.__context__]
    if book is None or not calls:
        return None
    return FailingCalls(
        columns=list(book.columns), calls=list(calls.values()), functions=list(book.functions)
    )


def strip(text: str) -> str:
    """`text` without the notes and the wrapper's traceback frames."""
    return _FRAME.sub("", _NOTE.sub("", text))


# The wrapper's frame in a worker's traceback: its `File` line and the source lines under it.
_FRAME = re.compile(
    r"^[ \t]*File \"[^\"\n]*" + re.escape(_SOURCE)
    + r"\", line \d+, in calling\n(?:[ \t]{4,}.*\n)*",
    re.MULTILINE,
)  # fmt: skip


def _texts(exc: BaseException) -> list[str]:
    texts = [str(arg) for arg in exc.args if isinstance(arg, str)]
    for name in ("_desc", "_stackTrace"):
        value = getattr(exc, name, None)
        if isinstance(value, str):
            texts.append(value)
    return texts


def _clean(exc: BaseException) -> None:
    """Take the notes off `exc`'s message in place: PySpark's captured errors keep it in
    `_desc` (and the JVM's stack trace), others in `args`. A `PythonException` reads its
    message from the JVM's error each time: it becomes an instance of a subclass of the same
    name whose message is read without the notes."""
    with contextlib.suppress(Exception):
        for name in ("_desc", "_stackTrace"):
            value = getattr(exc, name, None)
            if isinstance(value, str) and PREFIX in value:
                setattr(exc, name, strip(value))
        if any(isinstance(a, str) and PREFIX in a for a in exc.args):
            exc.args = tuple(strip(a) if isinstance(a, str) else a for a in exc.args)
        if PREFIX in str(exc):
            exc.__class__ = _without_notes(type(exc))
    with contextlib.suppress(Exception):
        _unlink_wrapper(exc)


def _unlink_wrapper(exc: BaseException) -> None:
    """Take the wrapper's frames out of `exc`'s traceback in place. PySpark rebuilds the Python
    worker's traceback onto the error it raises on the driver, so the frame of `calling` is
    there too, and pytest would show it."""
    before: TracebackType | None = None
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == "calling" and code.co_filename.endswith(_SOURCE):
            if before is None:
                exc.__traceback__ = tb.tb_next
            else:
                before.tb_next = tb.tb_next
        else:
            before = tb
        tb = tb.tb_next


_CLEAN_KINDS: dict[type[BaseException], type[BaseException]] = {}


def _without_notes(kind: type[BaseException]) -> type[BaseException]:
    """A subclass of `kind`, named as it is, whose message and message parameters are read
    without the notes."""
    if getattr(kind, "_dcs_without_notes", False):
        return kind
    made = _CLEAN_KINDS.get(kind)
    if made is None:

        def __str__(self: BaseException) -> str:
            return strip(kind.__str__(self))

        def getMessageParameters(self: Any) -> dict[str, str] | None:
            found = kind.getMessageParameters(self)  # type: ignore[attr-defined]
            if not found:
                return found  # type: ignore[no-any-return]
            return {k: strip(v) if isinstance(v, str) else v for k, v in found.items()}

        members: dict[str, Any] = {
            "__str__": __str__,
            "__module__": kind.__module__,
            "__qualname__": kind.__qualname__,
            "_dcs_without_notes": True,
        }
        if hasattr(kind, "getMessageParameters"):
            members["getMessageParameters"] = getMessageParameters
        made = type(kind.__name__, (kind,), members)
        _CLEAN_KINDS[kind] = made
    return made
