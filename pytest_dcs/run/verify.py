"""Checking candidate rows alone: a row is kept only once the body failed the same way on it.

The rows are laid out one per partition, so each task of the stage reading them reads one row.
The first failed task ends the job, so a re-run decides the rows whose tasks ran, and the others
go into the next one: ten failing rows cost about ten re-runs.

When the error is a Python UDF's, at most two re-runs decide them all (`by_recorded_calls`):
the first with the body's UDFs recording their failing calls instead of raising, so every task
runs and tells whether its row raised the error; the second, without recording, must fail the
same way in a task of one of those rows. The second is left out for rows whose failing calls an
earlier re-run of the whole input recorded already, when the first is clear about each of them.
Where either disagrees, the rows are checked as above.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from pytest_dcs.spark.jobs import TasksUnreadable, layout_stages

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row

    from pytest_dcs.run.search import Search


def verify(
    search: Search,
    rows: list[Row],
    *,
    stop_on_pass: bool = False,
    by_calls: bool = False,
    recorded_before: bool = False,
) -> list[Row]:
    """Which of `rows` fail the same way on their own: kept as found (unless `stop_on_pass`, a
    probe), and returned.

    The body runs on the rows laid out one per partition, and a row fails on its own when the
    task that read it alone failed the same way (in the stage that read the layout, not after a
    shuffle); a task that passed clears its row. The first failed task ends the job, so the rows
    whose tasks never ran go into the next re-run. Where tasks cannot be read (Spark Connect, a
    body that repartitions its input first), each row undecided is re-run alone. With
    `stop_on_pass`, a row that passes ends the checks. With `by_calls` (the error is a Python
    UDF's), the rows are first checked by `by_recorded_calls` (`recorded_before`:
    they hold the arguments of calls that raised the error in an earlier recording re-run)."""
    failing: list[Row] = []
    pending = list(rows)
    tasks_tell = search.sc is not None
    if by_calls and not stop_on_pass and search.sc is not None and pending:
        failing, pending, tasks_tell = by_recorded_calls(search, pending, recorded_before)
        for row in failing:
            search.keep(row)
    while pending and tasks_tell:
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


def by_recorded_calls(
    search: Search, rows: list[Row], recorded_before: bool = False
) -> tuple[list[Row], list[Row], bool]:
    """The rows of `rows` that fail the same way on their own, in at most two re-runs, those left
    undecided (to check one task at a time), and whether tasks can tell: False when the error
    was raised in a stage that did not read the layout (a join shuffled the rows first), where
    a task of the layout failing tells nothing either.

    1. The body runs on the rows laid out one per partition with its Python UDFs recording the
       calls that raise (`recording_udfs`), so no task ends the job. A row is a candidate when,
       in a stage that read the layout one row per task, the task of its partition recorded a
       call raising the error (own type and message shape). The rows whose tasks ran to their
       end in every stage that read the layout, raising nothing of the kind, are cleared. The
       re-run may fail otherwise afterwards (a body asserting on the nulls the recording UDFs
       returned). When it fails the same way (something not recorded raised the error), or a
       call raised it in a stage that did not read the layout (the body merged or shuffled its
       rows first), nothing is decided.
    2. The body runs on the candidates, one per partition, without recording. It must fail the
       same way in a task of a candidate, and no candidate's task may pass or fail otherwise;
       then the candidates are the rows. Otherwise (a UDF whose failure depends on state or
       chance) only the rows whose own task failed the same way are kept, and the others are
       left undecided.

    With `recorded_before` (a recording re-run of the whole input saw calls with these rows'
    arguments raise the error), step 2 is left out when step 1 is clear about every
    candidate: its task ran to its end in each stage that read the layout, and every call it
    recorded raised the error, none another one. The row alone then raised the error in a
    second re-run after the rung, and without recording that call raises it again: nothing
    else failed before it in that task. A row whose failure was chance or state of an earlier
    run is dropped at step 1, where it fails no more.
    """
    from pytest_dcs.run.clues import recording_udfs

    assert search.sc is not None
    layout, rdd_id = one_per_partition(search, rows)
    tag = search.tag()
    with recording_udfs(search.spark) as recorded:
        outcome = search.outcome(layout, tag) if recorded is not None else None
    # "other" still tells: a body often fails on the nulls the recording UDFs returned.
    if recorded is None or outcome not in ("passed", "other") or recorded.truncated:
        return [], rows, True
    stages = layout_stages(search.sc, tag, len(rows), rdd_id)
    raised = recorded.partitions(search.identity)
    if not stages or not set(raised) <= set(stages):
        return [], rows, not raised
    failed = set().union(*raised.values())
    # Rows whose task ran to its end in every stage that read the layout, raising nothing.
    cleared = set.intersection(*stages.values()) - failed
    undecided = [row for index, row in enumerate(rows) if index not in failed | cleared]
    if not failed:
        return [], undecided, True
    candidates = [rows[index] for index in sorted(failed)]
    if recorded_before:
        # Partitions of the layout where a call raised something else.
        others = {c.partition for c in recorded.calls if not c.raised(search.identity)}
        if failed <= set.intersection(*stages.values()) and not failed & others:
            return candidates, undecided, True
    layout, rdd_id = one_per_partition(search, candidates)
    tag = search.tag()
    if search.outcome(layout, tag) != "same":
        return [], candidates + undecided, True
    try:
        tasks = search.read_tasks(tag, len(candidates), rdd_id)
    except TasksUnreadable:
        return [], candidates + undecided, False
    if tasks.failed and not tasks.clean and not tasks.other:
        return candidates, undecided, True
    kept = [row for index, row in enumerate(candidates) if index in tasks.failed]
    rest = [row for index, row in enumerate(candidates) if index not in tasks.failed]
    return kept, rest + undecided, True


def one_per_partition(search: Search, rows: list[Row]) -> tuple[DataFrame, int]:
    """`rows` as a DataFrame of the input's schema with row `i` alone in partition `i`, and the
    id of the RDD that holds them (the stage reading it has one task per row).

    The rows are turned into Spark's values here and the JVM unpickles them, as
    `createDataFrame` does for a local list: no Python worker runs to lay them out. An RDD of
    Python rows would need one on each executor, which after a failed rung means starting
    new ones (1.2-1.5 s against 1.0-1.3 s for the check of ten rows of 121 columns after a
    failed job, measured side by side). Where that path is missing (another PySpark), the
    rows go through `createDataFrame` of an RDD."""
    assert search.sc is not None
    laid = None
    with contextlib.suppress(Exception):
        laid = _laid_out_in_jvm(search, rows)
    if laid is not None:
        return laid
    data = search.sc.parallelize(rows, len(rows))  # type: ignore[attr-defined]
    return search.spark.createDataFrame(data, search.df.schema), int(data.id())


def _laid_out_in_jvm(search: Search, rows: list[Row]) -> tuple[DataFrame, int]:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import _create_converter, _make_type_verifier

    spark, schema, sc = search.spark, search.df.schema, search.sc
    assert sc is not None
    verify_row = _make_type_verifier(schema)
    convert = _create_converter(schema)
    internal = []
    for row in rows:
        verify_row(row)
        internal.append(schema.toInternal(convert(row)))
    # One row per slice: each is pickled alone, and the JVM reads the pickles as they are.
    data = sc.parallelize(internal, len(internal))  # type: ignore[attr-defined]
    jvm: Any = spark._jvm  # type: ignore[attr-defined]
    objects = jvm.SerDeUtil.toJavaArray(jvm.SerDeUtil.pythonToJava(data._jrdd, True))
    frame = spark._jsparkSession.applySchemaToPythonRDD(objects.rdd(), schema.json())  # type: ignore[attr-defined]
    return DataFrame(frame, spark), int(data.id())
