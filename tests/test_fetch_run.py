"""Reading the rows a clue points at out of a wide parquet source, on real Spark.

One subprocess writes a 40-column parquet source (timestamps as Spark writes them by default,
INT96, in a session zone other than UTC; dates, decimals, floats, a struct, an array, nulls; three
files of many row groups), then reads the rows some conditions pick both ways: located and read
with pyarrow (`rows_where`), and collected by Spark's filter alone. The rows must be the same,
value for value, and the cases the located read cannot do exactly must fall back.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import LOCAL_SESSION, Project

SCRIPT = (
    LOCAL_SESSION
    + """
import glob
import json

import pyarrow.parquet as pq
import pyspark.sql.functions as F

from pytest_dcs.run import fetch
from pytest_dcs.run.search import collect_few

spark.conf.set("spark.sql.session.timeZone", "America/Los_Angeles")
root = os.path.abspath("data")
source = spark.range(3000).selectExpr(
    "id",
    "CAST(id % 3 AS INT) AS part",
    "timestamp_seconds(1700000000 + id * 3607) AS at",
    "date_add(DATE'2020-02-28', CAST(id % 400 AS INT)) AS day",
    "CAST(id / 7 AS DECIMAL(12, 2)) AS amount",
    "CAST(id / 3 AS FLOAT) AS ratio",
    "IF(id % 11 = 0, NULL, concat('c', id % 97)) AS client",
    "named_struct('a', CAST(id % 5 AS INT), 'b', concat('b', id)) AS nested",
    "array(concat('x', id), concat('y', id % 4)) AS tags",
    "concat('u-', id, '-', sha1(CAST(id AS STRING))) AS unique",
    *[f"concat('v{i}-', id % {13 + i}) AS s{i}" for i in range(30)],
)
(
    # Small dictionary pages: the unique strings overflow to plain pages, the rest stay coded.
    source.repartition(3).sortWithinPartitions("id").write
    .option("parquet.block.size", 16384)
    .option("parquet.dictionary.page.size", 2048)
    .parquet(os.path.join(root, "plain"))
)
source.write.partitionBy("part").parquet(os.path.join(root, "parted"))

df = spark.read.parquet(os.path.join(root, "plain"))
parted = spark.read.parquet(os.path.join(root, "parted"))
read = {"id", "at", "day", "amount", "ratio", "client", "nested"}


def same(frame, condition, n=50, one_per=None):
    located = fetch._located(frame, condition, n, read, one_per)
    got = fetch.rows_where(frame, condition, n, read=read, one_per=one_per)
    if one_per is None:
        expected = collect_few(frame.where(condition), n)
    else:
        expected = [r for r in frame.where(condition).collect()]
    return {
        "located": located is not None,
        "rows": len(got),
        "same": sorted(map(repr, got)) == sorted(map(repr, expected))
        if one_per is None
        else all(repr(r) in set(map(repr, expected)) for r in got),
        "fields": list(got[0].asDict()) if got else [],
    }


ids = [3, 700, 1499, 1500, 2001, 2999]
found = {
    "ids": same(df, F.col("id").isin(ids)),
    "nulls": same(df, F.col("client").isNull() & (F.col("id") < 200)),
    "timestamp": same(df, F.col("at") == F.timestamp_seconds(F.lit(1700000000 + 41 * 3607))),
    "one_per": same(df, F.col("id") < 400, one_per=F.col("part")),
    "none": same(df, F.col("id") < 0),
    "parted": same(parted, F.col("id").isin(ids)),
    "narrow": same(df.select("id", "at", "client"), F.col("id").isin(ids)),
}
found["one_per"]["parts"] = sorted(
    r.part for r in fetch.rows_where(df, F.col("id") < 400, 50, read=read, one_per=F.col("part"))
)
first = sorted(glob.glob(os.path.join(root, "plain", "*.parquet")))[0]
parquet = pq.ParquetFile(first)
groups = list(range(parquet.num_row_groups))
found["coded"] = fetch._dictionary_coded(parquet, parquet.schema_arrow, groups, df.columns)
found["groups"] = len(groups)
found["unknown_read"] = len(fetch.rows_where(df, F.col("id").isin(ids), 50, read=None))
spark.stop()
print("RESULT " + json.dumps(found))
"""
)


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    project = Project(tmp_path_factory.mktemp("fetch"))
    found: dict[str, Any] = project.run_script("fetch.py", SCRIPT)
    return found


def test_rows_located_and_read_from_their_files_are_the_rows_spark_reads(
    seen: dict[str, Any],
) -> None:
    # INT96 timestamps in a zone other than UTC, dates, decimals, floats, nulls and nested
    # values, from many row groups of three files: value for value as Spark's filter gives them.
    for case in ("ids", "nulls", "timestamp"):
        assert seen[case]["located"] is True, case
        assert seen[case]["same"] is True, case
    assert seen["ids"]["rows"] == 6
    assert seen["nulls"]["rows"] > 0
    assert seen["timestamp"]["rows"] == 1
    assert seen["ids"]["fields"][:3] == ["id", "part", "at"]  # the source's column order


def test_strings_coded_throughout_are_read_as_dictionaries(seen: dict[str, Any]) -> None:
    # Only string columns whose every chunk is dictionary-coded: not the unique strings, whose
    # dictionary overflowed to plain pages, nor numbers, dates, timestamps or nested values. The
    # rows read so (above) are the rows Spark's filter gives.
    assert seen["groups"] > 1
    assert "s0" in seen["coded"] and "s29" in seen["coded"] and "client" in seen["coded"]
    assert not {"unique", "id", "at", "day", "amount", "nested", "tags"} & set(seen["coded"])


def test_one_row_per_value_and_no_rows(seen: dict[str, Any]) -> None:
    assert seen["one_per"]["located"] is True
    assert seen["one_per"]["same"] is True
    assert seen["one_per"]["parts"] == [0, 1, 2]
    assert seen["none"] == {"located": True, "rows": 0, "same": True, "fields": []}


def test_what_cannot_be_read_exactly_is_filtered_by_spark(seen: dict[str, Any]) -> None:
    # A partition column lives in folder names, not in the files: Spark's filter reads it.
    assert seen["parted"]["located"] is False
    assert seen["parted"]["same"] is True and seen["parted"]["rows"] == 6
    # A narrow frame is filtered at once; its rows are the same either way.
    assert seen["narrow"]["same"] is True and seen["narrow"]["rows"] == 6
    assert seen["unknown_read"] == 6
