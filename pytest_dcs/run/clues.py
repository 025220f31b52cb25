"""Clues to the offending rows, read before any search: what the error and the UDFs tell.

A failed job names at most the first value it choked on, and only sometimes. Two clues are
turned into a Column condition over the input, so that one filter gives the candidate rows:

- **Quoted values** of the error's message (`The value 'x9' of the type "STRING" cannot be
  cast`, `id 1234 is reserved`): rows holding one of them in a column of a fitting type.
- **Failing UDF arguments**: the body is run once more with every plain Python UDF it calls
  wrapped, so that a call that raises records its arguments (through an accumulator) and
  returns null instead of failing the job (up to `MAX_RECORDS` failing calls per task; beyond,
  the call raises again and the re-run fails as the rung did, instead of reading every row of
  an input a UDF fails on everywhere). A UDF called on input columns by name gives a condition
  matching exactly the rows with the recorded arguments. Each call is recorded with the stage
  and partition of its task, so that a re-run on rows laid out one per partition tells which
  rows' own tasks raised (`pytest_dcs.run.verify`). Accumulators need a classic SparkContext;
  over Spark Connect this clue is not read.

- **Column extremes**: the row at each column's min and max (one aggregate over the input),
  where overflows, out-of-range dates and off-by-one bounds show.

Candidates are never reported as they are: the localizer re-runs the body on them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, NamedTuple

from pytest_dcs.data.sampling import hash_columns
from pytest_dcs.data.sampling.survey import generated_code
from pytest_dcs.failures import message_shape
from pytest_dcs.run.partners import Partner, linked_input
from pytest_dcs.run.searchspace import column

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from pytest_dcs.failures import ErrorIdentity

# Values read from one message: a message quoting more is rarely about one row.
MAX_QUOTED = 8
# Failing calls recorded in one re-run; the rest are dropped (a UDF failing on every row
# would otherwise ship every row back to the driver).
MAX_RECORDS = 200

_QUOTED = re.compile(r"'([^'\n]{1,200})'|\"([^\"\n]{1,200})\"")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?!\w|\.\d)")
_SIMPLE_COLUMN = re.compile(r"^Column<'([A-Za-z_][\w]*)'>$")
# Spark's own words in its messages, quoted but never data.
_SPARK_WORDS = frozenset(
    {"STRING", "INT", "BIGINT", "SMALLINT", "TINYINT", "DOUBLE", "FLOAT", "DATE", "TIMESTAMP",
     "BOOLEAN", "DECIMAL", "BINARY", "spark.sql.ansi.enabled", "NoneType"}
)  # fmt: skip


def quoted_values(message: str) -> list[str]:
    """Values an error message quotes, and the numbers it names, in order, without repeats."""
    found: list[str] = []
    for match in _QUOTED.finditer(message):
        value = match.group(1) if match.group(1) is not None else match.group(2)
        if value not in _SPARK_WORDS and not value.startswith("try_"):
            found.append(value)
    unquoted = _QUOTED.sub(" ", message)
    found += _NUMBER.findall(unquoted)
    return list(dict.fromkeys(found))[:MAX_QUOTED]


def _as_type(text: str, kind: object) -> Any:
    """`text` as a value of Spark type `kind`, or None when it is not one."""
    from pyspark.sql import types as T

    try:
        if isinstance(kind, T.StringType):
            return text
        if isinstance(kind, T.IntegralType):
            return int(text)
        if isinstance(kind, (T.FloatType, T.DoubleType)):
            return float(text)
        if isinstance(kind, T.DecimalType):
            return Decimal(text)
        if isinstance(kind, T.DateType):
            return dt.date.fromisoformat(text)
    except (ValueError, InvalidOperation):
        return None
    return None


def quoted_condition(schema: StructType, values: Sequence[str]) -> Column | None:
    """Rows holding one of `values` in a top-level column whose type can hold it: equal to
    it, or (for strings of 2 characters or more) containing it, since code often fails on a
    part it cut out of a value."""
    from pyspark.sql import functions as F

    terms: list[Column] = []
    for spec in schema.fields:
        column_ = column(spec.name)
        typed = [v for v in (_as_type(value, spec.dataType) for value in values) if v is not None]
        if not typed:
            continue
        if isinstance(typed[0], str):
            parts = [column_.contains(v) for v in typed if len(v) >= 2]
            terms += [column_.isin(typed), *parts]
        else:
            terms.append(column_.isin(typed))
    if not terms:
        return None
    return F.coalesce(functools.reduce(lambda a, b: a | b, terms), F.lit(False))


def extremes_condition(
    df: DataFrame, columns: set[str] | None = None
) -> tuple[Column, Column] | None:
    """Rows of `df` that hold a top-level column's min or max (of the `columns` named, when
    given), picked in one aggregate by a hash of the row (fixed-width buffers, so a fast hash
    aggregate), and that hash. With `columns`, the hash is of those columns only: the rows
    alike in them are alike to a body that reads no other, and one of them is enough. None
    when no column is orderable or `df` is empty."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    atomic = (T.NumericType, T.StringType, T.DateType, T.TimestampType, T.TimestampNTZType)
    ordered = [
        f.name
        for f in df.schema.fields
        if isinstance(f.dataType, atomic) and (columns is None or f.name in columns)
    ]
    # Rows alike in every column read are alike to the body: one of them stands for all.
    hashed = [n for n in hash_columns(df) if columns is None or n in columns] or hash_columns(df)
    if not ordered or not hashed:
        return None
    row_hash = F.xxhash64(*[column(n) for n in hashed])
    ends = [by(F.col(_ROW_HASH), column(n)) for n in ordered for by in (F.min_by, F.max_by)]
    found = df.select(*[column(n) for n in ordered], row_hash.alias(_ROW_HASH)).agg(*ends)
    # A wide input has more fields than Spark generates code for by default (measured on 122
    # columns, 60k rows: 1.1-1.6x faster generated).
    with generated_code(df.sparkSession):
        hashes = sorted({h for h in found.collect()[0] if h is not None})
    return (row_hash.isin(hashes), row_hash) if hashes else None


_ROW_HASH = "__dcs_row_hash"


class Call(NamedTuple):
    """One UDF call that raised, as a recording re-run saw it."""

    site: int
    """Which call site of the body (an index into `FailingCalls.columns`)."""
    args: tuple[Any, ...]
    error: str
    """The error line, `Type: message`."""
    stage: int
    """The id of the stage whose task made the call."""
    partition: int
    """The partition that task computed."""

    def raised(self, identity: ErrorIdentity | None) -> bool:
        """Whether the call raised the error of `identity` (own type and message shape); any
        error, without one."""
        if identity is None:
            return True
        kind = self.error.split(":", 1)[0].rsplit(".", 1)[-1]
        return identity.token == kind and identity.shape == message_shape(self.error)


@dataclass
class FailingCalls:
    """What a recording re-run (or the rung itself) saw: per UDF call site, the input columns
    it was given (None where an argument is not a plain column), the calls that raised, and per
    call site how many calls returned."""

    columns: list[tuple[str | None, ...]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    truncated: bool = False
    returned: dict[int, int] = field(default_factory=dict)
    functions: list[Any] = field(default_factory=list, repr=False, compare=False)
    """Per call site, the function the UDF wraps, where known (the rung's own calls)."""

    def partitions(self, identity: ErrorIdentity | None) -> dict[int, set[int]]:
        """Per stage id, the partitions whose tasks made a call raising `identity`'s error."""
        found: dict[int, set[int]] = {}
        for call in self.calls:
            if call.raised(identity):
                found.setdefault(call.stage, set()).add(call.partition)
        return found

    def condition(
        self,
        schema: StructType,
        identity: ErrorIdentity | None,
        partners: Sequence[Partner] = (),
    ) -> tuple[Column | None, list[Partner]]:
        """Rows of an input with `schema` whose columns hold the arguments of a recorded call
        that raised the error of `identity` (any error, without one).

        An argument that is no column of the input narrows nothing: the condition keeps what
        the other arguments say (the candidates are checked alone anyway). One that is a
        column of a partner source (the body joined it in) gives the input rows linked to the
        partner rows holding it. Returns the condition (None when no call narrows the input)
        and the partners it went through."""
        from pyspark.sql import functions as F

        names = set(schema.fieldNames())
        own: list[Column | None] = []
        elsewhere: list[tuple[Partner, Column] | None] = []
        # Calls on one input column: one `isin` per column, which Spark hands to the source
        # (a parquet scan skips the row groups whose bounds hold none of the values).
        single: dict[str, list[Any]] = {}
        raised = (c for c in self.calls if c.raised(identity))
        for site, args in dict.fromkeys((c.site, c.args) for c in raised):
            columns = self.columns[site]
            if len(columns) != len(args) or not all(_literal(a) for a in args):
                continue
            pairs = list(zip(columns, args, strict=True))
            if len(pairs) == 1 and pairs[0][0] in names:
                single.setdefault(str(pairs[0][0]), []).append(pairs[0][1])
                continue
            mine = [_equal(c, v) for c, v in pairs if c is not None and c in names]
            other = [(c, v) for c, v in pairs if c is not None and c not in names]
            partner = next((p for p in partners if p.has([c for c, _ in other])), None)
            if not mine and (not other or partner is None):
                continue  # nothing to narrow the input by
            own.append(functools.reduce(lambda a, b: a & b, mine) if mine else None)
            if other and partner is not None:
                parts = [_equal(c, v) for c, v in other]
                elsewhere.append((partner, functools.reduce(lambda a, b: a & b, parts)))
            else:
                elsewhere.append(None)
        if not own and not single:
            return None, []
        # One job per partner: the input rows linked to any of its rows the calls point at.
        links: dict[str, Column | None] = {}
        for partner in {e[0].name: e[0] for e in elsewhere if e is not None}.values():
            wanted = [e[1] for e in elsewhere if e is not None and e[0].name == partner.name]
            links[partner.name] = linked_input(
                partner, functools.reduce(lambda a, b: a | b, wanted)
            )
        terms: list[Column] = []
        for name, values in single.items():
            present = [v for v in values if v is not None]
            if present:
                terms.append(column(name).isin(present))
            if len(present) < len(values):
                terms.append(column(name).isNull())
        through: dict[str, Partner] = {}
        for mine_term, other_term in zip(own, elsewhere, strict=True):
            link = None if other_term is None else links.get(other_term[0].name)
            if other_term is not None and link is None and mine_term is None:
                continue
            if other_term is not None and link is not None:
                through[other_term[0].name] = other_term[0]
            parts = [t for t in (mine_term, link) if t is not None]
            terms.append(functools.reduce(lambda a, b: a & b, parts))
        if not terms:
            return None, []
        condition = F.coalesce(functools.reduce(lambda a, b: a | b, terms), F.lit(False))
        return condition, list(through.values())


def _equal(name: str, value: object) -> Column:
    from pyspark.sql import functions as F

    return column(name).eqNullSafe(F.lit(value))


def _literal(value: object) -> bool:
    return value is None or isinstance(
        value, (str, int, float, bool, Decimal, dt.date, dt.datetime)
    )


_recording = threading.local()


def column_names(args: Sequence[object]) -> tuple[str | None, ...]:
    """The input column each argument of a UDF call names, None where it is no plain column."""
    return tuple(_column_name(a) for a in args)


def _column_name(arg: object) -> str | None:
    if isinstance(arg, str):
        return arg
    match = _SIMPLE_COLUMN.match(str(arg))
    return match.group(1) if match else None


@contextlib.contextmanager
def recording_udfs(spark: SparkSession) -> Iterator[FailingCalls | None]:
    """While the body runs inside: plain Python UDFs record failing calls instead of raising,
    up to `MAX_RECORDS` per task (beyond, they raise again: the re-run fails as the body did).

    Yields None (nothing is recorded) over Spark Connect, or when PySpark's UDF class cannot
    be patched. The returned `FailingCalls` is filled when the block ends.
    """
    sc = getattr(spark, "_sc", None)
    try:
        from pyspark import TaskContext
        from pyspark.accumulators import AccumulatorParam
        from pyspark.sql.udf import UserDefinedFunction
        from pyspark.util import PythonEvalType
    except ImportError:
        sc = None
    if sc is None:
        yield None
        return

    # Defined here so that cloudpickle ships them by value: executors need not have pytest-dcs.
    class Calls(AccumulatorParam):  # type: ignore[type-arg]
        def zero(self, value: list[Any]) -> list[Any]:
            return []

        def addInPlace(self, value1: list[Any], value2: list[Any]) -> list[Any]:
            value1.extend(value2[: max(0, MAX_RECORDS + 1 - len(value1))])
            return value1

    class Returns(AccumulatorParam):  # type: ignore[type-arg]
        def zero(self, value: list[Any]) -> list[Any]:
            return []

        def addInPlace(self, value1: list[Any], value2: list[Any]) -> list[Any]:
            value1.extend(value2)
            return value1

    calls = sc.accumulator([], Calls())
    returns = sc.accumulator([], Returns())
    found = FailingCalls()
    plain = (PythonEvalType.SQL_BATCHED_UDF, PythonEvalType.SQL_ARROW_BATCHED_UDF)
    original = UserDefinedFunction.__call__

    def record(self: UserDefinedFunction, *args: Any, **kwargs: Any) -> Column:
        if self.evalType not in plain or kwargs or getattr(_recording, "inside", False):
            return original(self, *args, **kwargs)
        site = len(found.columns)
        found.columns.append(column_names(args))
        func = self.func
        # Failing calls so far in this task: the function is unpickled afresh for each task.
        failed = [0]
        # Calls that returned in this task: counted in place and added to `returns` once, as
        # a task sends its accumulators' values when it ends (an add per call costs more).
        returned = [site, 0]

        def calling(*values: Any) -> Any:
            try:
                result = func(*values)
            except Exception as exc:
                failed[0] += 1
                if failed[0] > MAX_RECORDS:
                    # A UDF failing on so many rows fails on most: end the re-run as the rung
                    # ended, instead of reading all of the input to record nothing more.
                    raise
                kind = type(exc)
                # Named as a traceback names it, so it compares with the worker's error line.
                name = kind.__qualname__
                if kind.__module__ not in ("builtins", "__main__"):
                    name = f"{kind.__module__}.{name}"
                task = TaskContext.get()
                where = (task.stageId(), task.partitionId()) if task is not None else (-1, -1)
                calls.add([(site, values, f"{name}: {exc}".splitlines()[0], *where)])
                return None
            if not returned[1]:
                returns.add([returned])
            returned[1] += 1
            return result

        _recording.inside = True
        try:
            # Built like the user's UDF, but not transpiled into SQL: the wrapper must run.
            wrapped = UserDefinedFunction(
                calling, self.returnType, self._name, self.evalType, deterministic=False
            )
            return original(wrapped, *args)
        finally:
            _recording.inside = False

    UserDefinedFunction.__call__ = record  # type: ignore[method-assign]
    try:
        yield found
    finally:
        UserDefinedFunction.__call__ = original  # type: ignore[method-assign]
        values = list(calls.value)
        found.truncated = len(values) > MAX_RECORDS
        found.calls = [
            Call(site, tuple(args), error, stage, partition)
            for site, args, error, stage, partition in values[:MAX_RECORDS]
        ]
        for site, count in returns.value:
            found.returned[site] = found.returned.get(site, 0) + count
