"""The rows of a partition and the DataFrame of a spec, generated on the executors."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pytest_dcs.data.synthetic.schema import SyntheticError
from pytest_dcs.data.synthetic.spec import SyntheticSpec
from pytest_dcs.data.synthetic.values import _Builder

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def _partition_seed(seed: int, partition: int) -> int:
    # A stable digest: Python's hash() of a str differs between processes.
    digest = hashlib.blake2b(f"pytest-dcs/{seed}/{partition}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def partition_rows(spec: SyntheticSpec, partition: int) -> Iterator[tuple[Any, ...]]:
    """The rows of one partition, as tuples in schema order.

    This is what the Python workers run; it only needs this module and Faker, and it gives the
    same rows wherever it runs. Chaining it over `range(spec.partitions)` gives all rows, for
    example to build a small DataFrame on a client without the RDD API.
    """
    start, stop = spec.partition_bounds(partition)
    if start == stop:
        return
    from faker import Faker

    # Uniform picks from Faker's word lists: weighted ones cost 5-10x more per value.
    fake = Faker(spec.locale, use_weighting=False)
    fake.seed_instance(_partition_seed(spec.seed, partition))
    row = _Builder(spec, fake).row()
    for i in range(start, stop):
        yield row(i)


# Over Spark Connect the rows are made on the client and sent with the plan: fine for test
# data, not for a source the size of real data.
CONNECT_MAX_ROWS = 200_000


def generate(spark: SparkSession, spec: SyntheticSpec) -> DataFrame:
    """A DataFrame of `spec.rows` synthetic rows with exactly `spec.schema`.

    On a classic session the rows are built on executors, one task per partition of the spec;
    the driver only sends the spec. Spark Connect has no RDD API, so there the same rows are
    built on the client (at most CONNECT_MAX_ROWS) and sent as a local relation.
    """
    if type(spark).__module__.startswith("pyspark.sql.connect"):
        if spec.rows > CONNECT_MAX_ROWS:
            raise SyntheticError(
                f"{spec.rows:,} rows: over Spark Connect synthetic rows are made on the client "
                f"and sent to the server, which is meant for at most {CONNECT_MAX_ROWS:,}; "
                "ask for fewer rows, or generate them on a classic session and write them "
                "where the server can read them (a parquet or table source)"
            )
        rows = [row for p in range(spec.partitions) for row in partition_rows(spec, p)]
        return spark.createDataFrame(rows, spec.schema)
    indexes = spark.sparkContext.parallelize(range(spec.partitions), spec.partitions)
    generated = indexes.flatMap(functools.partial(partition_rows, spec))
    return spark.createDataFrame(generated, spec.schema, verifySchema=False)
