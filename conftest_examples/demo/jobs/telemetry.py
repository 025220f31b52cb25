"""Telemetry transforms in the style of the talks' main_summary examples."""

from __future__ import annotations

import datetime as dt

import pyspark.sql.functions as F
from pyspark.sql import DataFrame

# Why a subsession ended; in the talks' `to_sessions`, a session is finished by these.
SESSION_ENDS = ("shutdown", "aborted-session")


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


def first_experiment(main_summary: DataFrame) -> DataFrame:
    """The first experiment of each client. Order-dependent: `first` takes whichever ping of the
    client a partition meets first, not the earliest one."""
    return main_summary.groupBy("client_id").agg(
        F.first("active_experiment_id").alias("first_experiment")
    )


def first_experiment_by_date(main_summary: DataFrame) -> DataFrame:
    """The first experiment of each client: the one of its earliest ping (ties broken by the
    session id), whatever the order the pings arrive in."""
    return main_summary.groupBy("client_id").agg(
        F.min_by("active_experiment_id", F.struct("submission_date", "session_id")).alias(
            "first_experiment"
        )
    )


def finished_sessions(main_summary: DataFrame) -> DataFrame:
    """Sessions per client, counting a ping as one whole session when it ends in a shutdown or
    a crash. Right only if subsessions are rarely split (daily, environment change)."""
    ends = F.col("reason").isin(*SESSION_ENDS)
    return main_summary.groupBy("client_id").agg(F.count_if(ends).alias("sessions"))


def near_duplicate_sessions(main_summary: DataFrame, max_edits: int = 2) -> DataFrame:
    """Pairs of sessions of the same client whose ids differ by at most `max_edits` characters:
    pings sent twice with a mangled id. Compares every session of a client with every other."""
    a = main_summary.select("client_id", F.col("session_id").alias("a"))
    b = main_summary.select("client_id", F.col("session_id").alias("b"))
    return (
        a.join(b, "client_id")
        .where(F.col("a") < F.col("b"))
        .where(F.levenshtein("a", "b") <= max_edits)
    )


def build_ages(main_summary: DataFrame, clients: DataFrame) -> DataFrame:
    """Days from each ping's build to the ping: the clients' build ids joined in."""

    # Defined here so that executors get it by value: they cannot import this module.
    # (No type hints: pyspark would try to read a pandas UDF's kind from them.)
    def build_day(build_id):
        return dt.datetime.strptime(build_id, "%Y%m%d%H%M%S").date()

    to_day = F.udf(build_day, "date")
    joined = main_summary.join(clients.select("client_id", "app_build_id"), "client_id")
    submitted = F.to_date("submission_date", "yyyyMMdd")
    return joined.select(
        "client_id", F.datediff(submitted, to_day("app_build_id")).alias("build_age_days")
    )
