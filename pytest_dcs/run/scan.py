"""Every value the UDF that failed a rung raises on, in one pass over its argument columns.

The rung's error brings home the arguments of one failing call (`pytest_dcs.run.sealed`), and
with them the function the UDF wraps. Where its arguments were plain input columns, the rows
that make it raise are the rows whose values in those columns make the function raise: no need
to re-run the body. One job reads only those columns (`mapInArrow` over a `select`), calls the
function on each row's values and sends back the distinct values it raised on, with each error
line.

On 2M rows this costs about what one pass of the body does with a Python worker reading one
column (0.8 s), and less than a recording re-run of the body (1.5 s), which reads the columns
of every query of the body and builds its results. On a wide source it still reads only the
argument columns.

The scan is used only where it answers the same question as the body:

- the arguments are top-level input columns of types that reach the function as the same
  Python values through Arrow as through the UDF's own path (strings, integers, floats,
  booleans, dates, decimals);
- the rung's own failing arguments are among the values the scan finds: a column the body
  rewrote before the call (same name, other values) gives other values, and the scan is set
  aside.

Rows found this way are still checked alone before they are reported (`pytest_dcs.run.verify`).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_dcs.run.clues import MAX_RECORDS, Call, FailingCalls
from pytest_dcs.run.searchspace import column

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

    from pytest_dcs.failures import ErrorIdentity


@dataclass
class Scanned:
    """What a scan of one call site found."""

    site: int
    calls: FailingCalls
    """The distinct arguments the function raised on (and the rung's own calls)."""
    exhaustive: bool
    """Every value raising was sent back (no task stopped at `MAX_RECORDS`)."""
    values: int = 0
    """Rows the function was called on."""

    @property
    def particular(self) -> bool:
        """Whether the function raised on a few particular values: every one was sent back,
        and they are fewer than the values it returned on. Otherwise it may fail on any row,
        which the rows holding some of them would not show."""
        return self.exhaustive and 2 * len(self.calls.calls) < self.values


def scannable_site(
    calls: FailingCalls, schema: StructType, identity: ErrorIdentity | None
) -> int | None:
    """The call site whose failing call the rung brought home, when its function is known and
    each argument is a top-level input column of a type the scan passes on unchanged, and no
    argument was null (the suspects step finds null rows in one filter); None otherwise."""
    fields = {f.name: f.dataType for f in schema.fields}
    for call in calls.calls:
        if not call.raised(identity) or call.site >= len(calls.functions):
            continue
        if calls.functions[call.site] is None:
            continue
        names = calls.columns[call.site]
        if not names or len(names) != len(call.args) or any(a is None for a in call.args):
            continue
        if all(n is not None and n in fields and _passes_unchanged(fields[n]) for n in names):
            return call.site
    return None


def _passes_unchanged(kind: object) -> bool:
    """Whether values of Spark type `kind` reach a Python UDF as Arrow's `to_pylist` gives
    them: not timestamps (zones), binary (bytes or bytearray) or nested values (Rows)."""
    from pyspark.sql import types as T

    return isinstance(
        kind,
        (
            T.StringType,
            T.IntegralType,
            T.FloatType,
            T.DoubleType,
            T.BooleanType,
            T.DateType,
            T.DecimalType,
        ),
    )


def scan(
    df: DataFrame, calls: FailingCalls, site: int, identity: ErrorIdentity | None
) -> Scanned | None:
    """Call the function of `site` on its argument columns of `df`: the distinct values it
    raises the error of `identity` on. None when the rung's own failing arguments are not
    among them (the body passed other values than the columns hold)."""
    from pyspark.sql.types import BinaryType, StructField, StructType

    func = calls.functions[site]
    assert func is not None
    names = [str(n) for n in calls.columns[site]]
    scanner = _scanner(func, MAX_RECORDS)
    out = StructType([StructField("record", BinaryType(), False)])
    records = df.select(*[column(n) for n in names]).mapInArrow(scanner, out).collect()
    raising: dict[tuple[Any, ...], str] = {}
    exhaustive, values = True, 0
    for (record,) in records:
        found, called, stopped = pickle.loads(record)
        values += called
        exhaustive = exhaustive and not stopped
        for args, error in found:
            raising.setdefault(tuple(args), error)
    own = [c for c in calls.calls if c.site == site and c.raised(identity)]
    if exhaustive and not all(c.args in raising for c in own):
        return None
    scanned = (Call(site, args, error, -1, -1) for args, error in raising.items())
    found_calls = [call for call in scanned if call.raised(identity)]
    merged = FailingCalls(
        columns=list(calls.columns),
        calls=[*own, *found_calls],
        functions=list(calls.functions),
    )
    return Scanned(site, merged, exhaustive and len(raising) <= MAX_RECORDS, values)


def _scanner(
    func: Callable[..., Any], cap: int
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function each task runs: one record of (the distinct values raising, with their
    error lines; rows called; whether it stopped past `cap` raising values). Built here so
    that cloudpickle ships it by value: executors need not have pytest-dcs."""

    def scanner(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pickle

        import pyarrow as pa

        raising: dict[tuple[Any, ...], str] = {}
        called = 0

        def note(values: tuple[Any, ...], exc: Exception) -> bool:
            """Keep a raising value; whether the task stops there (past `cap`)."""
            kind = type(exc)
            name = kind.__qualname__
            if kind.__module__ not in ("builtins", "__main__"):
                name = f"{kind.__module__}.{name}"
            raising.setdefault(values, f"{name}: {exc}".splitlines()[0])
            return len(raising) > cap

        stopped = False
        for batch in batches:
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            called += batch.num_rows
            # A call per row, as the UDF makes them: a set of values seen would cost more
            # than most functions (measured: 1.3 s against 0.8 s for 2M ids).
            if len(columns) == 1:
                for value in columns[0]:
                    try:
                        func(value)
                    except Exception as exc:
                        if note((value,), exc):
                            stopped = True
                            break
            else:
                for values in zip(*columns, strict=True):
                    try:
                        func(*values)
                    except Exception as exc:
                        if note(values, exc):
                            stopped = True
                            break
            if stopped:
                break
        record = pickle.dumps((list(raising.items()), called, stopped), protocol=4)
        yield pa.RecordBatch.from_pylist([{"record": record}])

    return scanner
