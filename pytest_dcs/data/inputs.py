"""What a source looks like at each rung: the cached tiny sample (plus captured rows), or a
nested fraction of the real source."""

from __future__ import annotations

import contextlib
import datetime as dt
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_dcs.data import sampling
from pytest_dcs.data.input_problems import (
    MaskError,
    SampleKeyMissing,
    SampleWarning,
    SourceUnreadable,
    collapse_warning,
    key_missing_message,
    mask_problem,
)
from pytest_dcs.data.masking import Masker
from pytest_dcs.data.samplestore import Sample, SampleError, SampleStore
from pytest_dcs.data.sources import SourceSpec
from pytest_dcs.rungs import RungSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

# "Many partitions" for the distributed rung: more than executor cores, so order and partition
# dependence show, few enough that 200 rows stay cheap.
DISTRIBUTED_PARTITIONS = 8


def sample_name(source: str, key: Sequence[str] = ()) -> str:
    """The sample file's name: one sample per source, and one per source and sample key."""
    return f"{source}.by-{'+'.join(key)}" if key else source


def key_set_name(key: Sequence[str]) -> str:
    """The key set file's name: one per sample key, shared by every source sampled by it."""
    return f"by-{'+'.join(key)}.keys"


@dataclass
class Inputs:
    """Reads sources at rungs, taking and caching tiny samples as needed."""

    sources: Mapping[str, SourceSpec]
    store: SampleStore
    tiny_rows: int
    masker: Masker = field(default_factory=lambda: Masker(()))
    refresh: bool = False
    refreshed_since: float | None = None
    """With `refresh`: a sample written since this time (the run's start, under xdist) was
    refreshed by another process of this run, and is read rather than taken again."""
    run_id: str | None = None
    """This run (shared by its xdist workers): rows it captures are replayed from the next run
    on, so that every rung of this run reads the same input."""
    _samples: dict[str, Sample] = field(default_factory=dict)
    _counts: dict[tuple[str, float, tuple[str, ...]], int] = field(default_factory=dict)
    _lines: dict[str, sampling.FileLine | None] = field(default_factory=dict)
    _schemas: dict[str, StructType] = field(default_factory=dict)
    _wholes: dict[str, tuple[SparkSession, DataFrame]] = field(default_factory=dict)
    _columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _mask_problem: str | None = None
    _key_sets: dict[str, list[sampling.KeyEntry]] = field(default_factory=dict)
    progress: Callable[[str], contextlib.AbstractContextManager[object]] = field(
        default=lambda _label: contextlib.nullcontext()
    )
    """Makes the context a sample is taken in: says on the terminal when it takes long."""

    def spec(self, name: str) -> SourceSpec:
        try:
            return self.sources[name]
        except KeyError:
            known = ", ".join(sorted(self.sources)) or "none are configured"
            raise KeyError(f"unknown source {name!r} (known: {known})") from None

    def check_mask(self, name: str, schema: StructType) -> None:
        """Check `dcs_mask` against the sources' columns at the first read of each source.

        A masked column must be in some source, so the check can judge once every source has
        been read in this run; from then on a bad column fails every read (MaskError), before
        any row is written down unmasked.
        """
        if self.masker and name not in self._columns:
            self._columns[name] = tuple(schema.fieldNames())
            if set(self.sources) <= set(self._columns):
                self._mask_problem = mask_problem(self.masker.columns, self._columns)
        if self._mask_problem is not None:
            raise MaskError(self._mask_problem)

    # -- tiny samples ---------------------------------------------------------------------

    def sample(
        self,
        name: str,
        spark: SparkSession,
        rung: RungSpec,
        key: Sequence[str] = (),
        *,
        key_required: bool = False,
    ) -> Sample:
        """The tiny sample of `name`, taken from the real source once and then read from disk.

        A source without the `key` columns is sampled by rows, unless `key_required` (the
        marker's own source), when that raises SampleKeyMissing.
        """
        file = sample_name(name, key)
        cached = self._samples.get(file)
        if cached is not None:
            return cached
        source = self.spec(name)
        if self._to_take(file):
            columns = self._whole(source, spark, rung).columns if key else []
            if key and not set(key) <= set(columns):
                if key_required:
                    raise SampleKeyMissing(key_missing_message(name, key, columns))
                # Another source of the test without the key column: sample it by rows.
                return self.sample(name, spark, rung)
            # Another process of the run may be taking it too: the second waits, then reads.
            with self.store.lock(self.store.sample_path(file).name):
                if self._to_take(file):
                    self._take(source, file, spark, rung, key)
        sample = self.store.load(file)
        self.check_mask(name, sample.schema)
        if key_required and not set(key) <= set(sample.schema.fieldNames()):
            raise SampleKeyMissing(key_missing_message(name, key, sample.schema.fieldNames()))
        self._samples[file] = sample
        return sample

    def _to_take(self, file: str) -> bool:
        """Whether the sample must be taken: it is missing, or due a refresh not yet done."""
        written = self.store.modified_at(file)
        if written is None:
            return True
        return self.refresh and (self.refreshed_since is None or written < self.refreshed_since)

    def _whole(self, source: SourceSpec, spark: SparkSession, rung: RungSpec) -> DataFrame:
        """The whole source, read once per session: for json and csv a read infers the schema,
        a full pass, which every fraction rung of every test would otherwise repeat."""
        cached = self._wholes.get(source.name)
        if cached is not None and cached[0] is spark:
            return cached[1]
        try:
            whole = source.read(spark)
        except Exception as exc:
            raise SourceUnreadable(source, rung, exc) from exc
        self._wholes[source.name] = (spark, whole)
        return whole

    def _take(
        self,
        source: SourceSpec,
        file: str,
        spark: SparkSession,
        rung: RungSpec,
        key: Sequence[str],
    ) -> None:
        whole = self._whole(source, spark, rung)
        self.check_mask(source.name, whole.schema)
        by = f" by {'+'.join(key)}" if key else ""
        # Sources sampled by one key are drawn from one key set, chosen by the first.
        key_set_lock = (
            self.store.lock(self.store.sample_path(key_set_name(key)).name)
            if key
            else contextlib.nullcontext()
        )
        with self.progress(f"taking the tiny sample of {source.name}{by}"), key_set_lock:
            tiny, scanned = self._take_tiny(source, whole, spark, rung, key)
        rows = self.masker.rows(tiny.rows, whole.schema)
        self.store.save(
            file,
            whole.schema,
            rows,
            meta={
                "source": source.describe(),
                "taken_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "sample_key": list(key),
                "scanned": scanned,
                "passes": tiny.passes,
                "variance_rows": tiny.reasons,
                "variance_found": tiny.found,
                "variance_dropped": tiny.dropped,
                "masked_columns": sorted(self.masker.columns & set(whole.columns)),
                "seed": sampling.DEFAULT_SEED,
                **(
                    {"key_set": self.store.sample_path(key_set_name(key)).name}
                    | {"keys": tiny.taken_keys}
                    if key
                    else {}
                ),
            },
        )
        meta = self.store.meta_path(file)
        warning = collapse_warning(source.name, key, tiny, self.tiny_rows, meta)
        if warning is not None:
            warnings.warn(SampleWarning(warning), stacklevel=2)

    def _take_tiny(
        self,
        source: SourceSpec,
        whole: DataFrame,
        spark: SparkSession,
        rung: RungSpec,
        key: Sequence[str],
    ) -> tuple[sampling.TinySample, str]:
        """The tiny sample of `source` and what part of it was scanned. By `key`, it is drawn
        from the key set of `key`: the one kept on disk, or one chosen now from this source and
        kept (masked like the samples) for every later source."""
        file = key_set_name(key)
        keys = self._key_sets.get(file) if key else None
        if key and keys is None and not self._to_take(file):
            keys = self._load_key_set(file)
        try:
            scan, scanned = self._scan(source, whole, spark)
            tiny = sampling.take_tiny(scan, self.tiny_rows, key=key, keys=keys)
        except KeyError:
            raise
        except Exception as exc:
            raise SourceUnreadable(source, rung, exc) from exc
        if not key:
            return tiny, scanned
        if keys is None:
            schema = sampling.key_set_schema(whole.schema, key)
            rows = [(*e.key, e.key_hash, e.reason) for e in tiny.keys]
            self.store.save(
                file,
                schema,
                self.masker.rows(rows, schema),
                meta={
                    "sample_key": list(key),
                    "chosen_from": source.describe(),
                    "taken_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "variance_keys": sum(e.reason != "random" for e in tiny.keys),
                    "seed": sampling.DEFAULT_SEED,
                },
            )
        self._key_sets[file] = list(tiny.keys)
        return tiny, scanned

    def _load_key_set(self, file: str) -> list[sampling.KeyEntry]:
        stored = self.store.load(file)
        return [sampling.KeyEntry(tuple(row[:-2]), row[-2], row[-1]) for row in stored.rows]

    def _scan(
        self, source: SourceSpec, whole: DataFrame, spark: SparkSession
    ) -> tuple[DataFrame, str]:
        """The part of the source the sample is taken from: at most DEFAULT_SCAN_BYTES of files."""
        line = self._file_line(source, whole, spark)
        if line is None or line.total_bytes <= sampling.DEFAULT_SCAN_BYTES:
            return whole, "whole source"
        fraction = sampling.DEFAULT_SCAN_BYTES / line.total_bytes
        reader = self._file_reader(source, whole)
        part = sampling.files_fraction(spark, reader, line, fraction)
        return part, f"{fraction:.2%} of the bytes (the first files of the file line)"

    def schema_of(self, name: str) -> StructType | None:
        """The schema of a source whose sample this run has read, else None."""
        for file, sample in self._samples.items():
            if file == name or file.startswith(f"{name}.by-"):
                return sample.schema
        return self._schemas.get(name)

    def captured(self, name: str, schema: StructType) -> list[tuple[Any, ...]]:
        """The captured rows of `name` that earlier runs kept."""
        return self.store.load_captured(name, schema, skip_run=self.run_id)

    def capture(
        self,
        name: str,
        schema: StructType,
        rows: Sequence[Sequence[Any]],
        *,
        mask: bool,
        provenance: Mapping[str, Any],
    ) -> tuple[Path, int]:
        """Save offending rows of source `name` to replay them at the local rungs; `mask` real
        rows (rows of the sample are masked already)."""
        masked = self.masker.rows(rows, schema) if mask else [tuple(r) for r in rows]
        run = {"run": self.run_id} if self.run_id else {}
        return self.store.add_captured(name, schema, masked, {**provenance, **run})

    # -- reading at a rung ----------------------------------------------------------------

    def read(
        self,
        name: str,
        rung: RungSpec,
        spark: SparkSession,
        key: tuple[str, ...] = (),
        *,
        key_required: bool = False,
    ) -> tuple[DataFrame, int]:
        """Source `name` at `rung` and its row count. With `key_required` (the marker's own
        source), a `key` the source does not have raises SampleKeyMissing."""
        if rung.kind != "fraction":
            sample = self.sample(name, spark, rung, key, key_required=key_required)
            rows = list(sample.rows)
            seen = set(map(repr, rows))
            rows += [r for r in self.captured(name, sample.schema) if repr(r) not in seen]
            df = self._frame(spark, rows, sample.schema, sample_name(name, key))
            if rung.kind == "local":
                return df.coalesce(1), len(rows)
            return df.repartition(DISTRIBUTED_PARTITIONS), len(rows)
        assert rung.fraction is not None
        source = self.spec(name)
        whole = self._whole(source, spark, rung)
        self.check_mask(name, whole.schema)
        self._schemas[name] = whole.schema
        if key_required and not set(key) <= set(whole.columns):
            raise SampleKeyMissing(key_missing_message(name, key, whole.columns))
        self._check_stale(name, key, whole.schema)
        usable_key = tuple(k for k in key if k in whole.columns)
        line = None if usable_key else self._file_line(source, whole, spark)
        if line is not None:
            df = sampling.files_fraction(
                spark, self._file_reader(source, whole), line, rung.fraction
            )
        else:
            df = sampling.fraction_of(whole, rung.fraction, usable_key)
        count_key = (name, rung.fraction, usable_key)
        if count_key not in self._counts:
            try:
                self._counts[count_key] = df.count()
            except Exception as exc:
                raise SourceUnreadable(source, rung, exc) from exc
        return df, self._counts[count_key]

    def _frame(
        self, spark: SparkSession, rows: list[tuple[Any, ...]], schema: StructType, file: str
    ) -> DataFrame:
        """The sample's rows as a DataFrame; rows that do not fit the schema in the file's own
        header (a hand-edited type) name the file instead of failing deep in Spark."""
        try:
            return spark.createDataFrame(rows, schema)
        except (TypeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SampleError(
                f"The tiny sample {self.store.sample_path(file)} holds values that do not fit "
                f"the schema in its header ({first}): it was edited. Take it again with: "
                "pytest --dcs-refresh-samples (the file is left as it is)."
            ) from None

    def _check_stale(self, name: str, key: Sequence[str], schema: StructType) -> None:
        message = self._stale_message(name, key, schema)
        if message is not None:
            raise SampleError(message)

    def stale(
        self, name: str, spark: SparkSession, rung: RungSpec, key: Sequence[str] = ()
    ) -> str | None:
        """Why the kept tiny sample of `name` no longer matches the source, or None: when it
        does, when there is no kept sample, or when the source cannot be read from here (the
        local rungs do not need it)."""
        try:
            schema = self._whole(self.spec(name), spark, rung).schema
        except Exception:
            return None
        usable = tuple(k for k in key if k in schema.fieldNames())
        return self._stale_message(name, usable, schema)

    def _stale_message(self, name: str, key: Sequence[str], schema: StructType) -> str | None:
        file = sample_name(name, key)
        if not self.store.exists(file):
            return None
        sample = self._samples.get(file) or self.store.load(file)
        if sample.schema == schema:
            return None
        return (
            f"The tiny sample {self.store.sample_path(file)} is stale: it was taken with "
            f"schema {sample.schema.simpleString()}, the source now has "
            f"{schema.simpleString()}. Refresh it with: pytest --dcs-refresh-samples "
            "(the file is left as it is)."
        )

    def _file_line(
        self, source: SourceSpec, whole: DataFrame, spark: SparkSession
    ) -> sampling.FileLine | None:
        if not source.is_file or source.location is None:
            return None
        if source.name not in self._lines:
            self._lines[source.name] = sampling.file_line(spark, whole, source.location)
        return self._lines[source.name]

    @staticmethod
    def _file_reader(source: SourceSpec, whole: DataFrame) -> sampling.FileSource:
        assert source.format is not None and source.location is not None
        options = {"header": "true"} if source.format == "csv" else {}
        return sampling.FileSource(source.format, source.location, whole.schema, options)
