"""What a source looks like at each rung: the cached tiny sample, or a nested fraction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_dcs import sampling
from pytest_dcs.rungs import RungSpec
from pytest_dcs.samplestore import Sample, SampleStore
from pytest_dcs.sources import SourceSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# "Many partitions" for the distributed rung: more than executor cores, so order and partition
# dependence show, few enough that 200 rows stay cheap.
DISTRIBUTED_PARTITIONS = 8


class SourceUnreadable(Exception):
    """The real source could not be read; carries the reader's error."""

    def __init__(self, source: SourceSpec, rung: RungSpec, error: BaseException) -> None:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        hint = (
            "cap the ladder below it with --dcs-max-rung=distributed"
            if rung.kind == "fraction"
            else "check the path, or commit the tiny sample so the local rungs need no source"
        )
        super().__init__(
            f"source {source.describe()} could not be read at rung {rung.name}: "
            f"{type(error).__name__}: {first}\nIf this machine cannot reach it, {hint}."
        )
        self.error = error


@dataclass
class Inputs:
    """Reads sources at rungs, taking and caching tiny samples as needed."""

    sources: Mapping[str, SourceSpec]
    store: SampleStore
    tiny_rows: int
    refresh: bool = False
    _samples: dict[str, Sample] = field(default_factory=dict)
    _counts: dict[tuple[str, float, tuple[str, ...]], int] = field(default_factory=dict)

    def spec(self, name: str) -> SourceSpec:
        try:
            return self.sources[name]
        except KeyError:
            known = ", ".join(sorted(self.sources)) or "none are configured"
            raise KeyError(f"unknown source {name!r} (known: {known})") from None

    def sample(self, name: str, spark: SparkSession, rung: RungSpec) -> Sample:
        """The tiny sample of `name`, taken from the real source once and then read from disk."""
        cached = self._samples.get(name)
        if cached is not None:
            return cached
        source = self.spec(name)
        if self.refresh or not self.store.exists(name):
            try:
                df = source.read(spark)
                rows = sampling.take_tiny(df, self.tiny_rows)
            except Exception as exc:
                raise SourceUnreadable(source, rung, exc) from exc
            self.store.save(
                name,
                df.schema,
                rows,
                meta={
                    "source": source.describe(),
                    "taken_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "method": "seeded hash order",
                    "seed": sampling.DEFAULT_SEED,
                },
            )
        sample = self.store.load(name)
        self._samples[name] = sample
        return sample

    def read(
        self, name: str, rung: RungSpec, spark: SparkSession, key: tuple[str, ...] = ()
    ) -> tuple[DataFrame, int]:
        """Source `name` at `rung` and its row count."""
        if rung.kind != "fraction":
            sample = self.sample(name, spark, rung)
            df = spark.createDataFrame(sample.rows, sample.schema)
            df = df.coalesce(1) if rung.kind == "local" else df.repartition(DISTRIBUTED_PARTITIONS)
            return df, len(sample.rows)
        assert rung.fraction is not None
        source = self.spec(name)
        try:
            whole = source.read(spark)
        except Exception as exc:
            raise SourceUnreadable(source, rung, exc) from exc
        usable_key = tuple(k for k in key if k in whole.columns) if key else ()
        df = sampling.fraction_of(whole, rung.fraction, usable_key)
        count_key = (name, rung.fraction, usable_key)
        if count_key not in self._counts:
            try:
                self._counts[count_key] = df.count()
            except Exception as exc:
                raise SourceUnreadable(source, rung, exc) from exc
        return df, self._counts[count_key]
