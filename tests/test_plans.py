"""Reading what a body's queries read from Spark's formatted physical plans (Spark-free: the
plans are kept as Spark 4 printed them for queries on a 16-column parquet source)."""

from __future__ import annotations

from pathlib import Path

from pytest_dcs.spark.plans import plan_columns

PLANS = Path(__file__).parent / "data" / "plans"


def _plan(name: str) -> str:
    return (PLANS / f"{name}.txt").read_text()


def test_the_scans_of_a_join_give_the_pruned_columns_of_both_sides() -> None:
    # a.join(b, "client_id").where("age_days > 3").select("channel", "country").count():
    # a count needs neither selected column, so Spark read the key and the filter's column.
    assert plan_columns(_plan("join")) == {"client_id", "age_days"}


def test_a_query_on_a_cached_frame_reads_what_it_takes_from_the_cache() -> None:
    # The scan under the cached relation read every column once; the query read one of them.
    assert plan_columns(_plan("cached_filter")) == {"channel"}


def test_a_count_of_a_cached_frame_reads_no_column() -> None:
    assert plan_columns(_plan("cache_count")) == set()


def test_a_plan_without_a_readable_scan_tells_nothing() -> None:
    assert plan_columns("== Physical Plan ==\nLocalTableScan <empty>, [a#1]\n") is None
    garbled = _plan("join").replace("Output [2]: [client_id#0, age_days#3]", "Output [2]: [?]")
    assert plan_columns(garbled) is None
