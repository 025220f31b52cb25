"""Nested fractions of a source for the fraction rungs, chosen by hash.

A file source is laid out as a line: its files in a seeded hash order, each taking as much of
the line as it has bytes. A row's *position* is where it falls on that line (its file's start
plus its unit hash times the file's share). A row is in fraction f when its position is below
f, so fractions are nested, and the 1% rung reads only the files that start below 1% of the
bytes. In a parquet file a row's unit hash is that of its index in the file, so the cut of the
one file a fraction takes in part reads no column and a body reading one column decodes one;
csv, json and orc files have no row index in Spark, so there it is the hash of the row's values.
With a sample key, a row is in fraction f when the unit hash of its key is below f, so whole
keys move together (this reads the whole source, as a key can be in any file).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from pytest_dcs.data.sampling.hashing import (
    DEFAULT_SEED,
    hash_columns,
    row_hash,
    unit_hash,
    unit_hash_of,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructType

# The tiny sample is taken from at most this many bytes of a file source (chosen as a fraction).
DEFAULT_SCAN_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class FileLine:
    """A file source's files in seeded hash order, each with its start and share of the bytes."""

    files: tuple[str, ...]
    starts: tuple[float, ...]
    shares: tuple[float, ...]
    total_bytes: int

    def prefix(self, fraction: float) -> tuple[list[str], str | None, float]:
        """Files that start below `fraction`, the boundary file (if cut) and its cut point."""
        chosen = [f for f, s in zip(self.files, self.starts, strict=True) if s < fraction]
        if not chosen:
            return [], None, 0.0
        last = len(chosen) - 1
        end = self.starts[last] + self.shares[last]
        if end <= fraction:
            return chosen, None, 0.0
        cut = (fraction - self.starts[last]) / self.shares[last] if self.shares[last] else 1.0
        return chosen, chosen[last], cut

    def bytes_below(self, fraction: float) -> float:
        """Bytes of the files a fraction reads (the boundary file counted whole)."""
        files, _, _ = self.prefix(fraction)
        share = sum(self.shares[self.files.index(f)] for f in files)
        return share * self.total_bytes


def _file_order(uri: str, root: str) -> str:
    # Order by the path below the source root, so a copy of the data elsewhere orders alike.
    relative = uri[len(root) :] if uri.startswith(root) else uri
    return hashlib.sha256(f"{DEFAULT_SEED}:{relative}".encode()).hexdigest()


def _sizes(spark: SparkSession, uris: Sequence[str]) -> list[int]:
    sizes: list[int] = []
    jvm_fs = None
    for uri in uris:
        parsed = urlparse(uri)
        if parsed.scheme in ("", "file"):
            sizes.append(os.path.getsize(unquote(parsed.path)))
            continue
        if jvm_fs is None:
            jvm: Any = spark._jvm  # type: ignore[attr-defined]
            hadoop_conf = spark._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
            jvm_fs = (jvm, hadoop_conf)
        jvm, hadoop_conf = jvm_fs
        path = jvm.org.apache.hadoop.fs.Path(uri)
        sizes.append(int(path.getFileSystem(hadoop_conf).getFileStatus(path).getLen()))
    return sizes


def file_line(spark: SparkSession, whole: DataFrame, root: str) -> FileLine | None:
    """Lay out a file source's files; None when Spark cannot list them."""
    try:
        uris = sorted(set(whole.inputFiles()))
    except Exception:
        return None
    if not uris:
        return None
    root_uri = root if "://" in root else f"file://{os.path.abspath(root)}"
    ordered = sorted(uris, key=lambda u: _file_order(u, root_uri))
    try:
        sizes = _sizes(spark, ordered)
    except Exception:
        sizes = [1] * len(ordered)  # no file system access (e.g. Spark Connect): count files
    total = sum(sizes) or len(sizes)
    shares = [(s or 0) / total for s in sizes] if sum(sizes) else [1 / len(sizes)] * len(sizes)
    starts, position = [], 0.0
    for share in shares:
        starts.append(position)
        position += share
    return FileLine(tuple(ordered), tuple(starts), tuple(shares), total)


@dataclass
class FileSource:
    """How to read a chosen set of a file source's files with the whole source's schema."""

    format: str
    root: str
    schema: StructType
    options: dict[str, str] = field(default_factory=dict)

    def read(self, spark: SparkSession, files: Sequence[str]) -> DataFrame:
        reader = spark.read.format(self.format).schema(self.schema)
        for key, value in self.options.items():
            reader = reader.option(key, value)
        if os.path.isdir(self.root) or "://" in self.root:
            reader = reader.option("basePath", self.root)
        return reader.load(list(files))

    def row_in_file(self, df: DataFrame) -> Column:
        """A row's unit hash in its file, to cut the boundary file: of its index where the format
        has one (parquet), as a hash of its values makes the scan decode every column."""
        if self.format == "parquet":
            # By metadataColumn, so a data column named `_metadata` does not hide it.
            return unit_hash_of(df.metadataColumn("_metadata").getField("row_index"))
        return row_hash(df)


def files_fraction(
    spark: SparkSession, source: FileSource, line: FileLine, fraction: float
) -> DataFrame:
    """The rows whose position on the file line is below `fraction`, reading only their files."""
    import pyspark.sql.functions as F

    files, boundary, cut = line.prefix(fraction)
    if not files:
        return spark.createDataFrame([], source.schema)
    df = source.read(spark, files)
    if boundary is None:
        return df
    keep = (F.input_file_name() != F.lit(boundary)) | (source.row_in_file(df) < F.lit(cut))
    return df.where(keep)


def fraction_of(df: DataFrame, fraction: float, key: Sequence[str] = ()) -> DataFrame:
    """The rows of `df` in fraction `fraction` by row (or key) hash: deterministic and nested."""
    if fraction >= 1:
        return df
    columns = hash_columns(df, key)
    if not columns:
        raise ValueError("the source has no column that can be hashed; give a sample_key")
    return df.where(unit_hash(columns) < fraction)
