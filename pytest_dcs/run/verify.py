"""Checking candidate rows alone: a row is kept only once the body failed the same way on it.

The rows are laid out one per partition, so each task of the stage reading them reads one row.
The first failed task ends the job, so a re-run decides the rows whose tasks ran, and the others
go into the next one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_dcs.spark.jobs import TasksUnreadable

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row

    from pytest_dcs.run.search import Search


def verify(search: Search, rows: list[Row], *, stop_on_pass: bool = False) -> list[Row]:
    """Which of `rows` fail the same way on their own: kept as found (unless `stop_on_pass`, a
    probe), and returned.

    The body runs on the rows laid out one per partition, and a row fails on its own when the
    task that read it alone failed the same way (in the stage that read the layout, not after a
    shuffle); a task that passed clears its row. The first failed task ends the job, so the rows
    whose tasks never ran go into the next re-run. Where tasks cannot be read (Spark Connect, a
    body that repartitions its input first), each row undecided is re-run alone. With
    `stop_on_pass`, a row that passes ends the checks."""
    failing: list[Row] = []
    pending = list(rows)
    while pending and search.sc is not None:
        layout, rdd_id = one_per_partition(search, pending)
        tag = search.tag()
        outcome = search.outcome(layout, tag)
        if outcome == "passed":
            return failing
        try:
            tasks = search.read_tasks(tag, len(pending), rdd_id)
        except TasksUnreadable:
            break
        if not tasks.failed and not tasks.other:
            break  # no task of the layout failed: the body failed elsewhere
        for index in sorted(tasks.failed):
            failing.append(pending[index])
            if not stop_on_pass:
                search.keep(pending[index])
        decided = tasks.failed | tasks.clean | tasks.other
        if stop_on_pass and (tasks.clean or tasks.other):
            return failing
        pending = [row for index, row in enumerate(pending) if index not in decided]
    for row in pending:  # one by one: the budget may end the checks, not undo them
        if search.outcome(search.spark.createDataFrame([row], search.df.schema)) != "same":
            if stop_on_pass:
                return failing
            continue
        failing.append(row)
        if not stop_on_pass:
            search.keep(row)
    return failing


def one_per_partition(search: Search, rows: list[Row]) -> tuple[DataFrame, int]:
    """`rows` as a DataFrame of the input's schema with row `i` alone in partition `i`, and the
    id of the RDD that holds them (the stage reading it has one task per row)."""
    assert search.sc is not None
    data = search.sc.parallelize(rows, len(rows))  # type: ignore[attr-defined]
    return search.spark.createDataFrame(data, search.df.schema), int(data.id())
