"""Telemetry transforms in the style of the talks' main_summary examples."""

from __future__ import annotations

import pyspark.sql.functions as F
from pyspark.sql import DataFrame


def recent_e10s(main_summary: DataFrame, since: str) -> DataFrame:
    """Pings after `since` (yyyymmdd) from clients in an e10s experiment; null-safe."""
    return main_summary.where(F.col("submission_date") > since).where(
        F.coalesce(F.col("active_experiment_id").startswith("e10s"), F.lit(False))
    )


def is_e10s_experiment(experiment_id: str) -> bool:
    """The talks' fragile row function: raises on the rare ping without an experiment."""
    return experiment_id.startswith("e10s")


def hours_per_client(main_summary: DataFrame) -> DataFrame:
    return main_summary.groupBy("client_id").agg((F.sum("subsession_length") / 3600).alias("hours"))
