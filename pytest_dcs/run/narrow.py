"""Narrowing a keyed search space down to single rows that fail alone.

- **Failed tasks of partitioned re-runs** (`descend`): the space is cached and laid out in
  partitions. The failed job's task list then says which partitions failed (split further, down
  to single rows), which passed (dropped) and which never ran (kept for the next re-run). A
  re-run narrows many partitions at once instead of halving one.
- **Bisection** (`bisect`), the general fallback: where task results cannot be read (Spark
  Connect) or the failing stage's tasks are not the partitions (the body shuffles before it
  fails), key ranges are halved and each half is run on its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_dcs.run.search import collect_few
from pytest_dcs.run.searchspace import HIGH, KEY, LOW, KeyRange, partitions, without_key
from pytest_dcs.spark.jobs import TasksUnreadable

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from pytest_dcs.run.search import Search

# Partitions of a layout: more narrow faster, but every task of a re-run costs a few
# milliseconds, empty or not, and each re-run about a third of a second on 2 cores.
MAX_PARTITIONS = 64
# Spaces this small are laid out by key range (a sampling pass, then single rows when few).
RANGE_ROWS = 100_000


def descend(search: Search, space: DataFrame, rows: int | None) -> bool:
    """Lay `space` out in partitions, re-run the body on those not yet known, and descend into
    each partition whose task failed; True when every partition was decided."""
    from pyspark.sql import functions as F

    small = rows is not None and rows <= RANGE_ROWS
    parts = min(MAX_PARTITIONS, rows or MAX_PARTITIONS)
    shaped = space.repartitionByRange(parts, KEY) if small else space.repartition(parts, KEY)
    layout = search.cache(shaped)
    partition = F.spark_partition_id()
    sizes: dict[int, int] = dict(layout.groupBy(partition).count().collect())
    search.check_time()
    tasks = partitions(layout)
    pending = [p for p in range(tasks) if sizes.get(p)]
    while pending and len(search.found) < search.limit:
        tag = search.tag()
        if search.outcome(layout.where(partition.isin(pending)).drop(KEY), tag) != "same":
            return True
        read = search.read_tasks(tag, tasks)
        if not read.failed:
            raise TasksUnreadable("no task of the layout failed with the original error")
        failed, clean = read.failed, read.clean
        for index in sorted(failed):
            if sizes[index] == 1:
                search.keep(layout.where(partition == index).first())
            elif (
                not descend(search, layout.where(partition == index), sizes[index])
                or len(search.found) >= search.limit
            ):
                return False
        pending = [p for p in pending if p not in failed and p not in clean]
    return not pending


def bisect(search: Search, keyed: DataFrame) -> bool:
    """Halve `keyed`'s key range while a half fails alone; True when every range was decided."""
    stack = [KeyRange(LOW, HIGH)]
    while stack and len(search.found) < search.limit:
        span = stack.pop()
        part = keyed.where(span.column())
        head = collect_few(part, 2)
        search.check_time()
        if not head or {repr(tuple(without_key(r))) for r in head} <= set(search.found):
            continue
        if search.outcome(part.drop(KEY)) != "same":
            continue
        if len(head) == 1 or span.single:  # one row, or two with one key: found
            for keyed_row in head:
                search.keep(keyed_row)
            continue
        low, high = span.split(2)
        stack += [high, low]
    return not stack
