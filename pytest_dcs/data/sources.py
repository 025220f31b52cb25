"""Data sources: declared in ini (`dcs_sources`) or returned by the `pytest_dcs_sources` hook."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

FILE_FORMATS = ("parquet", "json", "csv", "orc")
FORMATS = (*FILE_FORMATS, "table", "synthetic")


class SourceError(ValueError):
    """A source declaration that cannot be used; the message says which and how to fix it."""


@dataclass(frozen=True)
class SourceSpec:
    """Where a source's rows come from."""

    name: str
    origin: str
    format: str | None = None
    location: str | None = None
    loader: Callable[[SparkSession], DataFrame] | None = None
    base: str | None = None

    @property
    def is_file(self) -> bool:
        return self.format in FILE_FORMATS

    def describe(self) -> str:
        if self.loader is not None:
            return f"{self.name} (from {self.origin})"
        return f"{self.name} = {self.format}:{self.location}"

    def read(self, spark: SparkSession) -> DataFrame:
        """The whole source as a DataFrame."""
        if self.loader is not None:
            df = self.loader(spark)
            if not hasattr(df, "schema") or not hasattr(df, "columns"):
                raise SourceError(
                    f"source {self.name!r} from {self.origin} returned {type(df).__name__}, "
                    "not a DataFrame; return a callable(spark) -> DataFrame"
                )
            return df
        assert self.location is not None
        if self.format == "table":
            return spark.table(self.location)
        if self.format == "synthetic":
            from pytest_dcs.data.synthetic import from_source_text, generate

            return generate(spark, from_source_text(self.location, base=self.base))
        reader = spark.read
        if self.format == "csv":
            reader = reader.option("header", "true").option("inferSchema", "true")
        return reader.format(str(self.format)).load(self.location)


def parse_source_lines(lines: Iterable[str], rootpath: Path, origin: str) -> dict[str, SourceSpec]:
    """Read `name = format:path` lines; relative paths are taken from the rootdir."""
    sources: dict[str, SourceSpec] = {}
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name, sep, target = text.partition("=")
        name, target = name.strip(), target.strip()
        fmt, colon, location = target.partition(":")
        fmt, location = fmt.strip().lower(), location.strip()
        if not sep or not name or not colon or not location:
            raise SourceError(
                f"Invalid {origin}: {text!r} is not 'name = format:path' "
                "(for example: events = parquet:data/events)"
            )
        if not name.isidentifier():
            raise SourceError(f"Invalid {origin}: source name {name!r} must be a Python identifier")
        if fmt not in FORMATS:
            raise SourceError(
                f"Invalid {origin}: {text!r} has unknown format {fmt!r}; "
                f"use one of {', '.join(FORMATS)}"
            )
        if name in sources:
            raise SourceError(f"Invalid {origin}: source {name!r} is declared twice")
        if fmt == "synthetic":
            _check_synthetic(location, rootpath, f"{origin} line {text!r}")
        elif fmt != "table" and "://" not in location:
            location = str((rootpath / location).resolve())
        sources[name] = SourceSpec(
            name=name, origin=origin, format=fmt, location=location, base=str(rootpath)
        )
    return sources


def _check_synthetic(target: str, rootpath: Path, where: str) -> None:
    from pytest_dcs.data.synthetic import SyntheticError, from_source_text

    try:
        from_source_text(target, base=rootpath)
    except SyntheticError as exc:
        raise SourceError(f"Invalid {where}: {exc}") from None


def merge_hook_sources(
    declared: Mapping[str, SourceSpec], results: Iterable[Mapping[str, Any] | None]
) -> dict[str, SourceSpec]:
    """Add the sources returned by `pytest_dcs_sources` hooks to the declared ones."""
    merged = dict(declared)
    origin = "a pytest_dcs_sources hook"
    for result in results:
        if not result:
            continue
        if not isinstance(result, Mapping):
            raise SourceError(
                f"{origin} returned {type(result).__name__}; return a dict "
                "{name: callable(spark) -> DataFrame}"
            )
        for name, loader in result.items():
            if not isinstance(name, str) or not callable(loader):
                raise SourceError(
                    f"{origin} returned {name!r}: {loader!r}; each entry must map a source "
                    "name to a callable(spark) -> DataFrame"
                )
            if name in merged:
                raise SourceError(
                    f"source {name!r} is declared twice (in {merged[name].origin} and in "
                    f"{origin}); keep one"
                )
            merged[name] = SourceSpec(name=name, origin=origin, loader=loader)
    return merged
