"""Where the survey of a wide source spends its time: each kind of aggregate, timed alone.

Reads the source `bench/sample_wide.py` builds (run that first) and times, interleaved over the
repeats, one job of each shape over every row, next to one full scan:

  full scan     count, bit_xor and sum of `xxhash64` of all columns (as in sample_wide.py)
  row hash      min of the row hash the survey carries
  min/max       plain min and max of every column that is not low-cardinality (pass 1's work)
  struct ends   `min(struct(c, hash))` and `max(struct(c, -hash))` of the same columns
  nulls         `min(when(c is null, hash))` for every column
  values        `min(when(c = v, hash))` for every value of the low-cardinality columns
  pass 2        the survey's pass 2 by row: nulls, empties, values and ends in one job
  no ends       pass 2 without the ends: nulls, empties and values
  merged        no ends plus plain min/max of the same columns as min/max, in one job: what one
                pass finding the ends and the other rows at once would cost
  text ends     plain min and max of the string columns that are not low-cardinality

It prints each median as a ratio to the full scan. The machine may be shared: the load average
is printed with each run. Run from the repository root:

    .venv/bin/python bench/survey_passes.py [--rows 200000] [--repeat 2] [--dir DIR]
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_dcs.data.sampling.hashing import ROW_HASH, column, with_hashes

sys.path.insert(0, str(Path(__file__).parent))
from sample_fractions import force_read, gateway_jvm_pid, start_session, stop_and_check
from sample_wide import LOOPBACK, source_dir

if TYPE_CHECKING:
    from pyspark.sql import Column

# The package re-exports the function `survey` under the module's name.
survey = importlib.import_module("pytest_dcs.data.sampling.survey")


def main(argv: Sequence[str] | None = None) -> int:
    import pyspark.sql.functions as F
    from pyspark.sql import types as T

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the source")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each shape")
    default = Path(tempfile.gettempdir()) / "pytest-dcs-bench"
    parser.add_argument("--dir", type=Path, default=default, help="where the source is kept")
    args = parser.parse_args(argv)
    root = source_dir(args.dir, args.rows)
    if not root.exists():
        parser.error(f"{root} does not exist: run bench/sample_wide.py --rows {args.rows} first")
    os.environ["SPARK_LOCAL_IP"] = LOOPBACK
    spark = start_session()
    pid = gateway_jvm_pid()
    ok = False
    try:
        df = spark.read.parquet(str(root))
        base = with_hashes(df, [])
        h = F.col(ROW_HASH)
        fields = df.schema.fields
        orderable = [f for f in fields if survey.orderable(f.dataType)]
        spotted = survey._spot_values(base, orderable, 20)
        plain = [f for f in orderable if f.name not in spotted]
        ends_row = base.agg(
            *[
                survey._text(f.dataType, agg(column(f.name)))
                for f in plain
                for agg in (F.min, F.max)
            ]
        ).collect()[0]

        def first(condition: Column) -> Column:
            return F.min(F.when(condition, h))

        nulls = [first(column(f.name).isNull()) for f in fields]
        empties = [
            first(column(f.name) == "") for f in fields if isinstance(f.dataType, T.StringType)
        ]
        values = [
            first(column(name) == survey._literal(df.schema[name].dataType, v))
            for name, vs in spotted.items()
            for v in vs
        ]
        ends = [
            first(column(f.name) == survey._literal(f.dataType, ends_row[2 * i + j]))
            for i, f in enumerate(plain)
            for j in (0, 1)
        ]
        minmax = [agg(column(f.name)) for f in plain for agg in (F.min, F.max)]
        text = [f for f in plain if isinstance(f.dataType, T.StringType)]
        text_ends = [agg(column(f.name)) for f in text for agg in (F.min, F.max)]
        structs = [
            e
            for f in plain
            for e in (F.min(F.struct(column(f.name), h)), F.max(F.struct(column(f.name), -h)))
        ]
        shapes: dict[str, Callable[[], object]] = {
            "full scan": lambda: force_read(df),
            "row hash": lambda: base.agg(F.min(h)).collect(),
            "min/max": lambda: base.agg(*minmax).collect(),
            "struct ends": lambda: base.agg(*structs).collect(),
            "nulls": lambda: base.agg(*nulls).collect(),
            "values": lambda: base.agg(*values).collect(),
            "pass 2": lambda: base.agg(*nulls, *empties, *values, *ends).collect(),
            "no ends": lambda: base.agg(*nulls, *empties, *values).collect(),
            "merged": lambda: base.agg(*nulls, *empties, *values, *minmax).collect(),
            "text ends": lambda: base.agg(*text_ends).collect(),
        }
        sizes = {"min/max": len(minmax), "struct ends": len(structs), "nulls": len(nulls)}
        sizes.update({"values": len(values), "pass 2": len(nulls + empties + values + ends)})
        sizes.update({"no ends": len(nulls + empties + values), "text ends": len(text_ends)})
        sizes["merged"] = len(nulls + empties + values + minmax)
        names = list(shapes)
        times: dict[str, list[float]] = {name: [] for name in names}
        with survey.generated_code(spark):
            for r in range(args.repeat):
                turn = r % len(names)
                for name in names[turn:] + names[:turn]:
                    began = time.perf_counter()
                    shapes[name]()
                    spent = time.perf_counter() - began
                    times[name].append(spent)
                    load = os.getloadavg()[0]
                    print(f"  run {r + 1} {name}: {spent:.1f} s (load {load:.1f})", flush=True)
        scan = statistics.median(times["full scan"])
        print()
        print(f"{'shape':<12} {'aggregates':>10} {'median s':>9} {'x full scan':>12}")
        for name in names:
            median = statistics.median(times[name])
            count = sizes.get(name, "")
            print(f"{name:<12} {count:>10} {median:>9.1f} {median / scan:>11.2f}x")
        ok = True
    finally:
        gone = stop_and_check(spark, pid)
    return 0 if ok and gone else 1


if __name__ == "__main__":
    sys.exit(main())
