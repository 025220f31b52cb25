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
import threading
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

# Rows of local parquet files the scan reads in this process rather than on executors: one
# Python process calls the function on 2M ids in 0.3 s here, where a job on a local-cluster of
# two executors takes 1.2-1.4 s (its workers' start and Arrow's hand-over); past some tens of
# millions of rows, a cluster's cores win.
IN_PROCESS_ROWS = 20_000_000
# Rows read at a time from a file scanned here.
_BATCH = 65_536


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
    in_process: bool = False
    """The columns were read from their files and the function called in this process."""

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
        if all(n is not None and n in fields and passes_unchanged(fields[n]) for n in names):
            return call.site
    return None


def passes_unchanged(kind: object) -> bool:
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
    df: DataFrame,
    calls: FailingCalls,
    site: int,
    identity: ErrorIdentity | None,
    *,
    seconds_left: Callable[[], float] | None = None,
    reading_here: Callable[[], object] | None = None,
) -> Scanned | None:
    """Call the function of `site` on its argument columns of `df`: the distinct values it
    raises the error of `identity` on. None when the rung's own failing arguments are not
    among them (the body passed other values than the columns hold).

    Where `df` reads its columns unchanged from a few local parquet files, they are read here
    (`in_files`); otherwise, or when the function does not raise the rung's error on the
    rung's own arguments here, on the executors. The former waits `seconds_left()` at most
    (`OutOfTime`). `reading_here` is called before the columns are read here: the executors
    stay idle meanwhile, and one core."""
    from pyspark.sql.types import BinaryType, StructField, StructType

    func = calls.functions[site]
    assert func is not None
    names = [str(n) for n in calls.columns[site]]
    scanner = _scanner(func, MAX_RECORDS)
    own = [c for c in calls.calls if c.site == site and c.raised(identity)]
    records = None
    files = local_files(df, names)
    if files is not None:
        if reading_here is not None:
            reading_here()
        records = [bytes(r) for r in in_files(files, names, scanner, seconds_left)]
        raising, exhaustive, _ = _merged(records)
        if exhaustive:  # the rung's own arguments raise its error here too
            here = [(c.args, raising.get(c.args, "")) for c in own]
        else:  # it raised on too many values to keep them all: some raised the rung's error
            here = list(raising.items())
        agrees = (Call(site, args, error, -1, -1).raised(identity) for args, error in here)
        if not (all if exhaustive else any)(agrees):
            # The function behaves otherwise in this process: ask the executors.
            records, files = None, None
    if records is None:
        out = StructType([StructField("record", BinaryType(), False)])
        selected = df.select(*[column(n) for n in names])
        records = [r for (r,) in selected.mapInArrow(scanner, out).collect()]
    raising, exhaustive, values = _merged(records)
    if exhaustive and not all(c.args in raising for c in own):
        return None
    scanned = (Call(site, args, error, -1, -1) for args, error in raising.items())
    found_calls = [call for call in scanned if call.raised(identity)]
    merged = FailingCalls(
        columns=list(calls.columns),
        calls=[*own, *found_calls],
        functions=list(calls.functions),
    )
    complete = exhaustive and len(raising) <= MAX_RECORDS
    return Scanned(site, merged, complete, values, in_process=files is not None)


def _merged(records: list[bytes]) -> tuple[dict[tuple[Any, ...], str], bool, int]:
    """The scanner's records put together: each value raising with its error line, whether no
    task stopped early, and the rows called."""
    raising: dict[tuple[Any, ...], str] = {}
    exhaustive, values = True, 0
    for record in records:
        found, called, stopped = pickle.loads(record)
        values += called
        exhaustive = exhaustive and not stopped
        for args, error in found:
            raising.setdefault(tuple(args), error)
    return raising, exhaustive, values


def local_files(df: DataFrame, names: list[str]) -> list[str] | None:
    """The local parquet files whose rows `df` holds some of, with the columns `names` as the
    files hold them, when the scan may read them here: Spark's plan of those columns reads a
    parquet relation and computes no value (`local_parquet_files`), the files hold each column
    under its own name, of the Arrow type Spark passes the function, and they hold at most
    `IN_PROCESS_ROWS` rows. None otherwise (any doubt included)."""
    from pytest_dcs.spark.plans import local_parquet_files

    try:
        paths = local_parquet_files(df.select(*[column(n) for n in names]))
        return paths if paths and _readable_here(paths, names, df.schema) else None
    except Exception:
        return None


def _readable_here(paths: list[str], names: list[str], schema: StructType) -> bool:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql.pandas.types import to_arrow_type

    fields = {f.name: f.dataType for f in schema.fields}
    wanted = {name: to_arrow_type(fields[name]) for name in names}
    rows = 0
    for path in paths:
        meta = pq.ParquetFile(path)
        rows += meta.metadata.num_rows
        if rows > IN_PROCESS_ROWS:
            return False
        held = meta.schema_arrow
        for name, kind in wanted.items():
            at = held.get_field_index(name)
            if at < 0:
                return False  # a partition column, or a name in another case: Spark's to read
            found = held.field(at).type
            if found != kind and not (pa.types.is_large_string(found) and kind == pa.string()):
                return False
    return True


def in_files(
    paths: list[str],
    names: list[str],
    scanner: Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]],
    seconds_left: Callable[[], float] | None = None,
) -> list[Any]:
    """The scanner's records, run here over the columns `names` of the parquet files `paths`.

    The user's function runs in a thread of its own, waited for at most `seconds_left()`: a
    call that never returns (a regular expression backtracking forever on one value) must not
    hold the run past the search's budget, as a cancelled job would not. The thread is left to
    stop at its next batch (`OutOfTime`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pytest_dcs.run.search import OutOfTime

    stop = threading.Event()
    records: list[Any] = []
    failed: list[BaseException] = []

    def batches() -> Iterator[pa.RecordBatch]:
        for path in paths:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=_BATCH, columns=names):
                if stop.is_set():
                    raise OutOfTime
                yield pa.RecordBatch.from_arrays([batch.column(n) for n in names], names=names)

    def run() -> None:
        try:
            records.extend(out.column(0)[0].as_py() for out in scanner(batches()))
        except BaseException as exc:  # handed to the caller
            failed.append(exc)

    thread = threading.Thread(target=run, name="dcs-scan", daemon=True)
    thread.start()
    thread.join(None if seconds_left is None else max(0.0, seconds_left()))
    if thread.is_alive():
        stop.set()
        raise OutOfTime
    if failed:
        raise failed[0]
    return records


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
