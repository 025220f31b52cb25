"""DataFrame comparison on real Spark, and the Spark-free row diff it renders with."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterator
from typing import Any

import pyspark.sql.functions as F
import pytest
from pyspark.sql import DataFrame, Row, SparkSession

from pytest_dcs import (
    FramesDiffer,
    SchemasDiffer,
    assert_frames_equal,
    compare,
    diff_frames,
    diff_rows,
)
from pytest_dcs.rowdiff import Tolerance
from pytest_dcs.schemas import schema_differences
from pytest_dcs.spark.config import EngineConfig
from pytest_dcs.spark.engines import Engines

SCHEMA = "id long, name string, score double"


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    """A local session for this module (loopback, no UI), stopped with its JVM at the end."""
    engines = Engines(EngineConfig(local_master="local[2]", cluster_master="local[2]"))
    yield engines.session("local")
    engines.shutdown()


def frame(spark: SparkSession, rows: list[tuple[Any, ...]], schema: str = SCHEMA) -> DataFrame:
    return spark.createDataFrame(rows, schema)


def differ(actual: DataFrame, expected: DataFrame, **options: Any) -> FramesDiffer:
    with pytest.raises(FramesDiffer) as caught:
        assert_frames_equal(actual, expected, **options)
    return caught.value


# --- equal frames -------------------------------------------------------------------------


def test_equal_frames_in_other_order_and_partitioning_pass(spark: SparkSession) -> None:
    def make(parts: int) -> DataFrame:
        return spark.range(0, 5000, 1, parts).select(
            "id",
            F.concat(F.lit("n"), (F.col("id") % 37).cast("string")).alias("name"),
            (F.col("id") / 7).alias("score"),
        )

    assert_frames_equal(make(3), make(1).orderBy(F.desc("id")).repartition(5))
    diff = diff_frames(make(2), make(4))
    assert diff.equal
    assert (diff.actual_rows, diff.expected_rows) == (5000, 5000)


def test_equal_frames_are_settled_by_fingerprints(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_difference(*args: Any) -> None:
        raise AssertionError("equal frames reached the multiset difference")

    monkeypatch.setattr(compare, "_difference", no_difference)
    rows = [(i, "n", float(i), {"a": float(i), "b": None}) for i in range(1, 40)]
    schema = "id long, name string, score double, m map<string, double>"
    # Whole numbers sit mid-bucket: 1e-12 of noise cannot push them into the next one.
    noisy = [(i, n, x * (1 + 1e-12), {"b": None, "a": x}) for i, n, x, _ in reversed(rows)]
    assert_frames_equal(frame(spark, rows, schema), frame(spark, noisy, schema).repartition(3))


def test_empty_frames_are_equal_and_differ_from_a_row(spark: SparkSession) -> None:
    empty = frame(spark, [])
    assert_frames_equal(empty, frame(spark, []))
    error = differ(frame(spark, [(1, "a", 1.0)]), empty)
    assert error.diff is not None
    assert (error.diff.only_actual_count, error.diff.only_expected_count) == (1, 0)


# --- multisets, nulls, NaN ------------------------------------------------------------------


def test_duplicates_count(spark: SparkSession) -> None:
    x, y = (1, "x", 1.0), (2, "y", 2.0)
    error = differ(frame(spark, [x, x, y]), frame(spark, [x, y, y]))
    assert error.diff is not None
    assert error.diff.only_actual == ((1, "x", 1.0),)
    assert error.diff.only_expected == ((2, "y", 2.0),)
    assert str(error).startswith(
        "2 of 6 rows differ (3 actual, 3 expected): 1 only in actual, 1 only in expected"
    )

    error = differ(frame(spark, [x, x, x]), frame(spark, [x]))
    assert error.diff is not None
    assert error.diff.only_actual == (x, x)
    assert error.diff.only_actual_count == 2


def test_nulls_are_values_in_their_place(spark: SparkSession) -> None:
    schema = "a string, b string"
    rows = [("x", None), (None, None), ("", "y")]
    assert_frames_equal(frame(spark, rows, schema), frame(spark, rows[::-1], schema))
    # Spark's row hash skips nulls: these two rows would hash alike without the null flags.
    error = differ(frame(spark, [("x", None)], schema), frame(spark, [(None, "x")], schema))
    assert error.diff is not None
    assert error.diff.only_actual == (("x", None),)
    differ(frame(spark, [("", "y")], schema), frame(spark, [(None, "y")], schema))


def test_nan_equals_nan_and_signed_zeros_are_equal(spark: SparkSession) -> None:
    nan, inf = float("nan"), float("inf")
    rows = [(1, "a", nan), (2, "b", -0.0), (3, "c", inf), (4, "d", None)]
    same = [(1, "a", nan), (2, "b", 0.0), (3, "c", inf), (4, "d", None)]
    assert_frames_equal(frame(spark, rows), frame(spark, same))
    error = differ(frame(spark, [(1, "a", nan)]), frame(spark, [(1, "a", 1.0)]))
    assert "nan" in str(error)
    differ(frame(spark, [(3, "c", inf)]), frame(spark, [(3, "c", 1e308)]))
    differ(frame(spark, [(3, "c", inf)]), frame(spark, [(3, "c", -inf)]))


# --- floats -------------------------------------------------------------------------------


def test_floats_within_tolerance_pass(spark: SparkSession) -> None:
    rows = [(i, "n", i * 0.1) for i in range(50)]
    noisy = [(i, "n", x * (1 + 1e-12)) for i, _, x in rows]
    assert_frames_equal(frame(spark, rows), frame(spark, noisy))
    assert_frames_equal(frame(spark, [(1, "n", 0.0)]), frame(spark, [(1, "n", 1e-13)]))
    coarse = [(i, "n", x + 0.0004) for i, _, x in rows]
    assert_frames_equal(frame(spark, rows), frame(spark, coarse), rel_tol=1e-3, abs_tol=1e-3)


def test_close_floats_in_neighbouring_buckets_are_paired(spark: SparkSession) -> None:
    # 2e-10 apart (close at rel_tol 1e-9), but rounding puts them in different 1e-9 buckets.
    lower, upper = 1.00000000049, 1.00000000051
    assert Tolerance().round(lower) != Tolerance().round(upper)
    actual = frame(spark, [(1, "a", lower), (2, "b", upper), (2, "b", upper)])
    expected = frame(spark, [(1, "a", upper), (2, "b", lower), (2, "b", upper)])
    assert_frames_equal(actual, expected)
    assert_frames_equal(actual.select("score"), expected.select("score"))


def test_floats_outside_tolerance_are_marked(spark: SparkSession) -> None:
    actual = frame(spark, [(1, "a", 1.0), (2, "b", 2.0)])
    expected = frame(spark, [(1, "a", 1.001), (2, "b", 2.0)])
    error = differ(actual, expected)
    assert str(error) == textwrap.dedent(
        """\
        2 of 4 rows differ (2 actual, 2 expected): 1 only in actual, 1 only in expected
           | side     | id | name | score
         --+----------+----+------+------
         - | expected | 1  | 'a'  | 1.001
         + | actual   | 1  | 'a'  | 1.0
           |          |    |      | ^^^"""
    )
    differ(frame(spark, [(1, "n", 0.0)]), frame(spark, [(1, "n", 1e-6)]))
    differ(actual, expected, rel_tol=1e-4)
    assert_frames_equal(actual, expected, rel_tol=1e-3)


# --- nested types -------------------------------------------------------------------------


NESTED = "id int, tags map<string, double>, xs array<int>, p struct<a: string, b: string>"


def test_nested_values_compare_by_content(spark: SparkSession) -> None:
    one = frame(spark, [(1, {"a": 1.0, "b": None}, [1, None], (None, "x"))], NESTED)
    reordered = frame(spark, [(1, {"b": None, "a": 1.0 + 1e-13}, [1, None], (None, "x"))], NESTED)
    assert_frames_equal(one, reordered)

    error = differ(one, frame(spark, [(1, {"a": 1.0, "b": 2.0}, [1, None], (None, "x"))], NESTED))
    assert "{'a': 1.0, 'b': 2.0}" in str(error)
    # Nulls moved inside an array or a struct hash alike unless flagged.
    differ(one, frame(spark, [(1, {"a": 1.0, "b": None}, [None, 1], (None, "x"))], NESTED))
    differ(one, frame(spark, [(1, {"a": 1.0, "b": None}, [1, None], ("x", None))], NESTED))
    differ(one, frame(spark, [(1, {"a": 1.0, "b": None}, [1, None], None)], NESTED))


def test_array_boundaries_matter(spark: SparkSession) -> None:
    schema = "a array<int>, b array<int>"
    # Spark's hash of [1, 2], [3] equals that of [1], [2, 3]: array sizes are mixed in.
    error = differ(frame(spark, [([1, 2], [3])], schema), frame(spark, [([1], [2, 3])], schema))
    assert error.diff is not None
    assert error.diff.only_actual == (([1, 2], [3]),)
    differ(frame(spark, [([], [3])], schema), frame(spark, [(None, [3])], schema))


def test_maps_nested_in_arrays_and_structs(spark: SparkSession) -> None:
    schema = "m array<map<string, int>>, s struct<inner: map<int, array<double>>>"
    rows = [([{"a": 1, "b": 2}, {}], ({2: [0.5], 1: [1.5, None]},))]
    again = [([{"b": 2, "a": 1}, {}], ({1: [1.5, None], 2: [0.5]},))]
    assert_frames_equal(frame(spark, rows, schema), frame(spark, again, schema))
    other = [([{"b": 2, "a": 1}, {}], ({1: [1.5, None], 2: [0.75]},))]
    differ(frame(spark, rows, schema), frame(spark, other, schema))


# --- schemas ------------------------------------------------------------------------------


def test_schema_mismatch_lists_differences_before_reading_rows(spark: SparkSession) -> None:
    actual = spark.createDataFrame([(1, "a", 1.0)], "id long, name string, extra double")
    expected = spark.createDataFrame([(1, 2, 3)], "id int, name long, gone long")
    with pytest.raises(SchemasDiffer) as caught:
        assert_frames_equal(actual, expected)
    assert str(caught.value) == textwrap.dedent(
        """\
        schemas differ (no rows were compared):
          only in actual: extra double
          only in expected: gone bigint
          column id: bigint in actual, int in expected
          column name: string in actual, bigint in expected"""
    )
    assert isinstance(caught.value, AssertionError)


def test_column_order_and_nullability(spark: SparkSession) -> None:
    actual = spark.createDataFrame([(1, "a")], "id long, name string")
    swapped = actual.select("name", "id")
    with pytest.raises(SchemasDiffer, match=r"column order: actual \(id, name\), expected"):
        assert_frames_equal(actual, swapped)
    assert_frames_equal(actual, swapped, ignore_column_order=True)

    required = spark.range(1, 2).select(F.col("id"), F.lit("a").alias("name"))
    assert not required.schema["id"].nullable
    assert_frames_equal(actual, required)
    with pytest.raises(SchemasDiffer, match="column id: bigint in actual, bigint not null in exp"):
        assert_frames_equal(actual, required, ignore_nullable=False)


def test_nested_nullability_is_shown_where_it_differs() -> None:
    from pyspark.sql.types import ArrayType, LongType, StructField, StructType

    a = StructType([StructField("xs", ArrayType(LongType(), containsNull=True))])
    b = StructType([StructField("xs", ArrayType(LongType(), containsNull=False))])
    assert schema_differences(a, b) == []
    assert schema_differences(a, b, ignore_nullable=False) == [
        "column xs: array<bigint> in actual, array<bigint not null> in expected"
    ]


def test_nested_nullability_may_differ_between_sides(spark: SparkSession) -> None:
    strict = spark.range(1, 3).select(F.array("id", F.col("id") + 1).alias("xs"))
    assert not strict.schema["xs"].dataType.containsNull
    loose = frame(spark, [([2, 3],), ([1, 2],)], "xs array<long>")
    assert_frames_equal(strict, loose)
    error = differ(strict, frame(spark, [([2, 3],), ([1, None],)], "xs array<long>"))
    assert error.diff is not None
    assert error.diff.only_expected == (([1, None],),)


def test_repeated_column_names(spark: SparkSession) -> None:
    actual = spark.createDataFrame([(1, 2)], "a long, b long").toDF("x", "x")
    assert_frames_equal(actual, spark.createDataFrame([(1, 2)], "a long, b long").toDF("x", "x"))
    error = differ(actual, spark.createDataFrame([(2, 1)], "a long, b long").toDF("x", "x"))
    assert error.diff is not None
    assert error.diff.columns == ("x", "x")


# --- bounded work on the driver -----------------------------------------------------------


def test_many_differences_fetch_a_bounded_sample(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    actual = spark.range(0, 100_000, 1, 4).select("id", (F.col("id") * 2).alias("v"))
    expected = spark.range(0, 100_000, 1, 3).select("id", (F.col("id") * 2 + 1).alias("v"))
    fetched: list[int] = []
    collect = type(actual).collect

    def counting_collect(self: DataFrame) -> list[Row]:
        rows = collect(self)
        fetched.append(len(rows))
        return rows

    monkeypatch.setattr(type(actual), "collect", counting_collect)
    error = differ(actual, expected, max_diff_rows=5)
    monkeypatch.undo()

    assert fetched and max(fetched) <= 5, fetched
    assert error.diff is not None
    assert (error.diff.only_actual_count, error.diff.only_expected_count) == (100_000, 100_000)
    assert len(error.diff.only_actual) == len(error.diff.only_expected) == 5
    message = str(error)
    assert message.startswith("200,000 of 200,000 rows differ")
    data_lines = [line for line in message.splitlines() if line.startswith((" - ", " + "))]
    assert len(data_lines) <= 5
    assert message.endswith("199,996 more differing rows not shown")


# --- row order ----------------------------------------------------------------------------


def test_row_order_compared_when_asked(spark: SparkSession) -> None:
    rows = spark.range(0, 300, 1, 3).select("id", (F.col("id") % 7).alias("m"))
    assert_frames_equal(rows, rows.coalesce(1), ignore_row_order=False)
    assert_frames_equal(rows, rows.repartition(4).orderBy("id"), ignore_row_order=False)

    backwards = rows.orderBy(F.desc("id"))
    assert_frames_equal(rows, backwards)
    error = differ(rows, backwards, ignore_row_order=False, max_diff_rows=2)
    assert error.diff is not None
    assert error.diff.columns == ("#", "id", "m")
    assert error.diff.only_actual_count == 300
    assert error.diff.only_actual[0] == (0, 0, 0)
    assert error.diff.only_expected[0] == (0, 299, 299 % 7)

    swapped = rows.where("id < 3").orderBy(F.when(F.col("id") == 1, 5).otherwise(F.col("id")))
    error = differ(rows.where("id < 3"), swapped, ignore_row_order=False)
    assert error.diff is not None
    assert error.diff.only_actual == ((1, 1, 1), (2, 2, 2))


def test_row_order_with_close_floats(spark: SparkSession) -> None:
    actual = frame(spark, [(1, "a", 1.00000000049), (2, "b", 2.0)]).coalesce(1)
    expected = frame(spark, [(1, "a", 1.00000000051), (2, "b", 2.0)]).coalesce(1)
    assert_frames_equal(actual, expected, ignore_row_order=False)


def test_bad_arguments(spark: SparkSession) -> None:
    df = frame(spark, [])
    with pytest.raises(ValueError, match="max_diff_rows"):
        assert_frames_equal(df, df, max_diff_rows=-1)
    with pytest.raises(ValueError, match="rel_tol"):
        assert_frames_equal(df, df, rel_tol=-1)


# --- the Spark-free diff ------------------------------------------------------------------


COLUMNS = ["id", "name", "score"]


def test_diff_rows_multiset_ignores_order() -> None:
    rows = [(1, "a", 0.1 + 0.2), (2, None, float("nan")), (2, None, float("nan"))]
    diff = diff_rows(rows, list(reversed([(1, "a", 0.3), *rows[1:]])), COLUMNS)
    assert diff.equal
    assert diff.render() == "all 3 rows are equal"

    diff = diff_rows([(1, "a", 1.0), (1, "a", 1.0)], [(1, "a", 1.0)], COLUMNS)
    assert diff.only_expected == ((1, "a", 1.0),)
    assert diff.only_actual == ()
    assert (diff.expected_rows, diff.actual_rows, diff.differing) == (2, 1, 1)


def test_diff_rows_accepts_rows_and_mappings() -> None:
    expected = [Row(id=1, name="a", score=1.0)]
    actual = [{"score": 1.0, "name": "a", "id": 1}]
    assert diff_rows(expected, actual, COLUMNS).equal
    with pytest.raises(ValueError, match="has 2 values, expected 3"):
        diff_rows([(1, "a")], [], COLUMNS)
    with pytest.raises(ValueError, match="no column 'score'"):
        diff_rows([{"id": 1, "name": "a"}], [], COLUMNS)


def test_diff_rows_floats_at_any_depth() -> None:
    lower, upper = 1.00000000049, 1.00000000051
    diff = diff_rows(
        [(1, {"k": [lower]}, Row(x=upper))],
        [(1, {"k": [upper]}, Row(x=lower))],
        ["id", "m", "s"],
    )
    assert diff.equal
    assert not diff_rows([(1, "a", 1.0)], [(1, "a", 1.1)], COLUMNS).equal
    assert diff_rows([(1, "a", 1.0)], [(1, "a", 1.1)], COLUMNS, rel_tol=0.2).equal
    assert diff_rows([({"a": 1, "b": 2},)], [({"b": 2, "a": 1},)], ["m"]).equal
    assert not diff_rows([([1, None],)], [([None, 1],)], ["xs"]).equal


def test_render_pairs_alike_rows_and_marks_cells() -> None:
    expected = [(1, "ann", 1.5), (2, "bob", 2.0), (3, "cy", None)]
    actual = [(1, "ann", 1.75), (2, "bob ", 2.0), (4, "dee", 4.0)]
    diff = diff_rows(expected, actual, COLUMNS)
    assert diff.render("local", "distributed") == textwrap.dedent(
        """\
        6 of 6 rows differ (3 distributed, 3 local): 3 only in distributed, 3 only in local
           | side        | id | name   | score
         --+-------------+----+--------+------
         - | local       | 1  | 'ann'  | 1.5
         + | distributed | 1  | 'ann'  | 1.75
           |             |    |        | ^^^^
         - | local       | 2  | 'bob'  | 2.0
         + | distributed | 2  | 'bob ' | 2.0
           |             |    | ^^^^^^ |
         - | local       | 3  | 'cy'   | null
         + | distributed | 4  | 'dee'  | 4.0"""
    )


def test_render_limits_rows_and_keeps_pairs_whole() -> None:
    expected = [(i, "x", float(i)) for i in range(20)]
    actual = [(i, "x", i + 0.5) for i in range(20)]
    text = diff_rows(expected, actual, COLUMNS).render(limit=5)
    rows = [line for line in text.splitlines() if line.startswith((" - ", " + "))]
    assert len(rows) == 4  # two whole pairs; a fifth row would split the third
    assert text.endswith("... 36 more differing rows not shown")


def test_render_balances_unpaired_sides() -> None:
    expected = [(i, f"e{i}", None) for i in range(10)]
    actual = [(100 + i, f"a{i}", 1.0) for i in range(10)]
    text = diff_rows(expected, actual, COLUMNS).render(limit=4)
    assert sum(line.startswith(" - ") for line in text.splitlines()) == 2
    assert sum(line.startswith(" + ") for line in text.splitlines()) == 2


def test_tolerance_rule() -> None:
    tolerance = Tolerance(rel_tol=1e-6, abs_tol=1e-9)
    assert tolerance.close(1.0, 1.0000009)
    assert not tolerance.close(1.0, 1.000002)
    assert tolerance.close(0.0, 5e-10)
    assert tolerance.close(math.nan, math.nan)
    assert not tolerance.close(math.inf, 1e308)
    for x in (1.0, 123456.789, -3.3e-5, 7e200):
        rounded = tolerance.round(x)
        assert tolerance.close(rounded, x)
        assert tolerance.round(rounded) == rounded
    with pytest.raises(ValueError, match="rel_tol must be below 1"):
        Tolerance(rel_tol=1.0)
    with pytest.raises(ValueError, match="abs_tol must be a finite number"):
        Tolerance(abs_tol=math.inf)
