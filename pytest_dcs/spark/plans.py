"""What a body's queries read: the columns of its sources that Spark's scans output.

A test body on a wide source reads a few of its columns; Spark prunes the rest before the scan
(`Output [2]: [client_id#1, search_count#4]`). The searches for offending rows look at the
values of those columns only: a null in one of the 120 columns the body never reads is no
suspect. The executed plans are read from the SQL status store, for the executions that ran the
jobs of one job tag (`scanned_columns`), and parsed from their formatted description
(`plan_columns`): the scans' output, less the scans under a cached relation (which read what
was cached, not what the body read of it).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from pytest_dcs.spark.jobs import jobs_with_tag, status_store

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Executions looked at, newest first: a body's queries ran just before.
RECENT_EXECUTIONS = 50

# A node of the plan's tree: `+- * Filter (5)`, `   ResultQueryStage (11), Statistics(...)`.
_TREE_NODE = re.compile(r"^(?P<indent>[ :|+\-*]*)(?P<name>[A-Za-z][^()\n]*?)\s*\((?P<id>\d+)\)")
# The details of a node: `(1) Scan parquet ` and its lines, up to the next.
_SECTION = re.compile(r"^\((?P<id>\d+)\) (?P<name>[^\n]*)$", re.MULTILINE)
_OUTPUT = re.compile(r"^Output \[\d+\]: \[(?P<columns>.*)\]$", re.MULTILINE)
_ATTRIBUTE = re.compile(r"^(?P<name>.+)#\d+L?$")


def plan_columns(description: str) -> set[str] | None:
    """The column names the scans of a formatted physical plan output; None when it has no
    scan whose output can be read."""
    tree, _, details = description.partition("\n\n\n")
    cached = _under_cached_relations(tree)
    found: set[str] = set()
    scans = 0
    sections = list(_SECTION.finditer(details))
    for index, section in enumerate(sections):
        if "Scan" not in section.group("name") or section.group("id") in cached:
            continue
        end = sections[index + 1].start() if index + 1 < len(sections) else len(details)
        output = _OUTPUT.search(details, section.end(), end)
        if output is None:
            if "Output: []" in details[section.end() : end]:
                scans += 1  # a count reads no column
                continue
            return None
        for attribute in output.group("columns").split(", "):
            match = _ATTRIBUTE.match(attribute.strip())
            if match is None:
                return None
            found.add(match.group("name"))
        scans += 1
    return found if scans else None


def _under_cached_relations(tree: str) -> set[str]:
    """Ids of the nodes below an InMemoryRelation in the plan's tree (the cached query)."""
    below: set[str] = set()
    stack: list[tuple[int, bool]] = []  # (indent, under a cached relation), root first
    for line in tree.splitlines():
        node = _TREE_NODE.match(line)
        if node is None:
            continue
        indent = len(node.group("indent"))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent_cached = bool(stack) and stack[-1][1]
        if parent_cached:
            below.add(node.group("id"))
        stack.append((indent, parent_cached or node.group("name").startswith("InMemoryRelation")))
    return below


def _ids(iterator: Any) -> set[int]:
    found = set()
    while iterator.hasNext():
        found.add(int(iterator.next()))
    return found


def scanned_columns(spark: SparkSession, tag: str) -> set[str] | None:
    """The columns the scans of the queries whose jobs carried `tag` read, over all of them;
    None when none of those queries is known (over Spark Connect, or no job ran) or a plan
    cannot be read."""
    sc = getattr(spark, "_sc", None)
    if sc is None:
        return None
    jobs = set(jobs_with_tag(sc, tag))
    if not jobs:
        return None
    status_store(sc)  # waits until the finished jobs' events have been processed
    store: Any = spark._jsparkSession.sharedState().statusStore()  # type: ignore[attr-defined]
    count = int(store.executionsCount())
    start = max(0, count - RECENT_EXECUTIONS)
    executions = store.executionsList(start, count - start).iterator()
    found: set[str] = set()
    seen = False
    while executions.hasNext():
        execution = executions.next()
        if not _ids(execution.jobs().keySet().iterator()) & jobs:
            continue
        columns = plan_columns(execution.physicalPlanDescription())
        if columns is None:
            return None
        found |= columns
        seen = True
    return found if seen else None


# Plan nodes that keep or drop rows of their child, computing no value.
_ROW_KEEPING = frozenset({"Filter", "Sample", "GlobalLimit", "LocalLimit", "Deduplicate"})


def local_parquet_files(
    df: DataFrame, *, every_row: bool = False, partitioned: bool = True
) -> list[str] | None:
    """The local paths of the parquet files `df` reads, where its optimized plan reads one
    parquet relation and computes no value: projections of plain columns, and filters, samples
    and limits of its rows (none of those with `every_row`: `df` is every row of the files).
    None otherwise, for files not on local disk, with `partitioned=False` for a relation read
    from partition directories (values no file holds), and over Spark Connect."""
    try:
        pending = [df._jdf.queryExecution().optimizedPlan()]
        relations = 0
        while pending:
            node = pending.pop()
            kind = node.nodeName()
            if kind == "LogicalRelation":
                relation = node.relation()
                if relation.getClass().getSimpleName() != "HadoopFsRelation":
                    return None
                if relation.fileFormat().getClass().getSimpleName() != "ParquetFileFormat":
                    return None
                if not partitioned and relation.partitionSchema().length() != 0:
                    return None
                relations += 1
            elif kind == "Project":
                projected = node.projectList()
                for at in range(projected.size()):
                    if projected.apply(at).getClass().getSimpleName() != "AttributeReference":
                        return None
            elif every_row or kind not in _ROW_KEEPING:
                return None
            children = node.children()
            pending.extend(children.apply(at) for at in range(children.size()))
        if relations != 1:
            return None
        uris = df.inputFiles()
    except Exception:  # Spark Connect (no JVM plan here), or a plan of another shape
        return None
    paths = []
    for uri in uris:
        parsed = urlparse(uri)
        path = unquote(parsed.path)
        if parsed.scheme not in ("file", "") or not os.path.isfile(path):
            return None
        paths.append(path)
    return paths or None
