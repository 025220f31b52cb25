"""The demo's source: a telemetry-like `main_summary`, synthetic values shaped for the story.

Faker gives the values (`pytest_dcs.data.synthetic`): a pool of client ids (UUIDs) and one ping per
row with a session id (a UUID), a day, a country code and a subsession length. DataFrame ops then
shape them the way the talks' data was shaped:

- pings are spread over the clients unevenly (some clients are far busier than others), and
  3% of them carry the placeholder client id 'MISSING' (the talks' `get('clientId', 'MISSING')`);
- `active_experiment_id` is null for one ping in 500, else one of a few experiments, of which
  the e10s cohorts are a minority;
- `reason` (why the subsession ended) is mostly *not* "shutdown": daily splits and environment
  changes are common, as in real telemetry;
- the days fall in the six weeks before 2017-06-12, and the files are laid out by day, as a
  telemetry table lands.

Beside it, `clients`: one row per client with its profile (channel, OS, build, hardware: 16
columns), as a dimension table a job joins in. A few clients carry a malformed build id (a
letter O for a zero, as a hand-patched build once had): they are among the clients that the 10%
and 40% fractions keep, not the 1% one nor the tiny sample, so the failure they cause shows at
a fraction rung, caused by a row of the joined source.

`write(path)` writes it once as parquet files; `up_to_date(path)` says whether the files there
were written by this version of the recipe (the recipe is hashed into a file beside them).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import shutil
import sys
import time
from pathlib import Path

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, SparkSession

from pytest_dcs.data.sampling import unit_hash
from pytest_dcs.data.synthetic import SyntheticSpec, generate

PINGS = 300_000
CLIENTS = 20_000
FILES = 42  # about one file per day of the six weeks
MISSING_SHARE = 0.03
NULL_EXPERIMENT_EVERY = 500
FIRST_DAY = "2017-05-01"
DAYS = 42

CLIENT_SPEC = SyntheticSpec(schema="id bigint, client_id string", rows=CLIENTS, seed=1)
PING_SPEC = SyntheticSpec(
    schema="id bigint, session_id string, activity_date date, country string, "
    "subsession_length int",
    rows=PINGS,
    seed=2,
    partitions=4,
    providers={"country": "country_code", "subsession_length": "pyint"},
)
# (value, share): picked per ping by a hash, so a client meets several over six weeks.
EXPERIMENTS = (
    ("e10s-beta45-cohort1", 0.08),
    ("e10s-beta45-cohort2", 0.08),
    ("e10s-beta46-cohort1", 0.04),
    ("shield-tls13-compat", 0.30),
    ("pref-flip-search-ui", 0.30),
    ("addon-activity-stream", 0.20),
)
CHANNELS = (("release", 0.80), ("beta", 0.12), ("nightly", 0.05), ("esr", 0.03))
OSES = (("Windows_NT", 0.85), ("Darwin", 0.09), ("Linux", 0.06))
LOCALES = (
    ("en-US", 0.45),
    ("de", 0.15),
    ("fr", 0.10),
    ("ru", 0.10),
    ("es-ES", 0.10),
    ("pt-BR", 0.10),
)
SEARCH_ENGINES = (("google", 0.70), ("yandex", 0.10), ("bing", 0.10), ("ddg", 0.10))
# Clients whose key hash falls in this range have a malformed build id: the fraction rungs
# keep a client when its key hash is below the fraction, so these are in 10% and 40%, not 1%.
MALFORMED_BUILDS = (0.030, 0.0305)
FIRST_BUILD = 1_485_907_200  # 2017-02-01, in seconds: every build before the first ping
REASONS = (
    ("shutdown", 0.35),
    ("daily", 0.40),
    ("environment-change", 0.20),
    ("aborted-session", 0.05),
)


def _unit(column: str, salt: int) -> Column:
    """A value in [0, 1) from a hash of `column`: the same on every run and engine."""
    return F.pmod(F.xxhash64(column, F.lit(salt)), F.lit(1_000_000)) / 1_000_000


def _pick(u: Column, choices: tuple[tuple[str, float], ...]) -> Column:
    """The choice whose cumulative share first exceeds `u`."""
    picked, below = None, 0.0
    for value, share in choices:
        below += share
        picked = F.when(u < below, value) if picked is None else picked.when(u < below, value)
    assert picked is not None
    return picked.otherwise(choices[-1][0])


def main_summary(spark: SparkSession) -> DataFrame:
    """The pings, one row each, in the column order of the source."""
    clients = generate(spark, CLIENT_SPEC).withColumnRenamed("id", "client_number")
    pings = generate(spark, PING_SPEC)
    # Busy clients: u^1.25 puts more pings on low client numbers (the busiest has ~100).
    number = (F.pow(_unit("session_id", 1), 1.25) * CLIENTS).cast("bigint") + 1
    shaped = pings.select(
        "*",
        (_unit("session_id", 2) < MISSING_SHARE).alias("missing"),
        number.alias("client_number"),
    ).join(F.broadcast(clients), "client_number", "left")
    day = F.pmod(F.datediff("activity_date", F.lit("2015-01-01")), F.lit(DAYS))
    experiment = F.when(F.col("id") % NULL_EXPERIMENT_EVERY == 7, F.lit(None)).otherwise(
        _pick(_unit("session_id", 3), EXPERIMENTS)
    )
    return shaped.select(
        F.when(F.col("missing"), F.lit("MISSING")).otherwise(F.col("client_id")).alias("client_id"),
        "session_id",
        F.date_format(F.date_add(F.lit(FIRST_DAY), day.cast("int")), "yyyyMMdd").alias(
            "submission_date"
        ),
        "country",
        experiment.alias("active_experiment_id"),
        _pick(_unit("session_id", 4), REASONS).alias("reason"),
        F.col("subsession_length").cast("bigint").alias("subsession_length"),
    )


def clients(spark: SparkSession) -> DataFrame:
    """The clients' profiles: every client of `main_summary` (not 'MISSING'), one row each."""
    people = generate(spark, CLIENT_SPEC).select("client_id")

    def unit(salt: int) -> Column:
        return _unit("client_id", salt)

    built = F.timestamp_seconds(F.lit(FIRST_BUILD) + (unit(11) * 80 * 86_400).cast("long"))
    build_id = F.date_format(built, "yyyyMMddHHmmss")
    lo, hi = MALFORMED_BUILDS
    malformed = (unit_hash(["client_id"]) >= lo) & (unit_hash(["client_id"]) < hi)
    return people.select(
        "client_id",
        _pick(unit(12), CHANNELS).alias("channel"),
        _pick(unit(13), OSES).alias("os"),
        F.when(unit(14) < 0.5, "10.0").otherwise("6.1").alias("os_version"),
        _pick(unit(15), LOCALES).alias("locale"),
        _pick(unit(16), SEARCH_ENGINES).alias("default_search_engine"),
        (unit(17) < 0.4).alias("is_default_browser"),
        (unit(18) < 0.2).alias("sync_configured"),
        F.lit("Firefox").alias("app_name"),
        F.concat(F.lit("5"), (unit(19) * 4).cast("int").cast("string"), F.lit(".0")).alias(
            "app_version"
        ),
        # A letter O for the last digit: 20170415093047 -> 2017041509304O.
        F.when(malformed, F.overlay(build_id, F.lit("O"), 14, 1))
        .otherwise(build_id)
        .alias("app_build_id"),
        (F.pow(F.lit(2), (unit(20) * 5).cast("int") + 10)).cast("int").alias("memory_mb"),
        (F.lit(2) + (unit(21) * 7).cast("int")).alias("cpu_cores"),
        F.date_add(F.lit("2014-01-01"), (unit(22) * 1200).cast("int")).alias("profile_created"),
        F.when(unit(23) < 0.9, None).otherwise(F.lit("acer-g-003")).alias("distribution_id"),
        (unit(24) < 0.7).alias("e10s_enabled"),
    )


def recipe() -> str:
    """A digest of this module: data written by another version of it is written again."""
    return hashlib.sha256(inspect.getsource(sys.modules[__name__]).encode()).hexdigest()[:16]


def stamp(path: Path) -> Path:
    return path.with_name(path.name + ".recipe.json")


def up_to_date(path: Path) -> bool:
    try:
        return json.loads(stamp(path).read_text())["recipe"] == recipe()
    except (OSError, ValueError, KeyError):
        return False


def write(spark: SparkSession, path: Path) -> float:
    """Write the source to `path` and the clients beside it (`clients_path`), replacing what is
    there; return the seconds it took."""
    began = time.perf_counter()
    # Laying the files out by day reads the rows twice (to find the days' bounds): keep them.
    pings = main_summary(spark).localCheckpoint()
    _write(
        pings.repartitionByRange(FILES, "submission_date").sortWithinPartitions(
            "submission_date", "client_id"
        ),
        path,
    )
    _write(
        clients(spark).repartition(2, "client_id").sortWithinPartitions("client_id"),
        clients_path(path),
    )
    seconds = time.perf_counter() - began
    stamp(path).write_text(
        json.dumps({"recipe": recipe(), "rows": PINGS, "files": FILES, "seconds": round(seconds)})
        + "\n"
    )
    return seconds


def clients_path(path: Path) -> Path:
    """Where the clients are, beside the pings at `path`."""
    return path.with_name("clients")


def _write(df: DataFrame, path: Path) -> None:
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    df.write.parquet(str(partial))
    # Spark names files with a random id per write; the fraction rungs order files by a hash of
    # their names, so stable names keep every fraction the same rows on every machine.
    for file in partial.iterdir():
        if file.name.startswith("."):
            file.unlink()  # checksums of the old names
        elif file.suffix == ".parquet":
            file.rename(file.with_name(file.name[: len("part-00000")] + ".parquet"))
    shutil.rmtree(path, ignore_errors=True)
    partial.rename(path)
