"""The `rung` fixture's object: where the test stands on its ladder and what it may read."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pytest_dcs.rungs import RungKind, RungSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SourceReader = Callable[[str], "tuple[DataFrame, int | None]"]


class Rung:
    """The current rung of a scale test.

    ``name`` is the rung id (``local``, ``distributed``, ``1pct``...), ``kind`` one of
    ``"local"``, ``"distributed"``, ``"fraction"``, ``fraction`` the share of the real source
    (``None`` below the fraction rungs) and ``spark`` the session of the rung's engine.
    """

    def __init__(
        self,
        spec: RungSpec,
        spark: SparkSession,
        reader: SourceReader,
        default_source: str | None,
    ) -> None:
        self._spec = spec
        self._spark = spark
        self._reader = reader
        self._default_source = default_source
        self.rows: int | None = None
        """Input rows of the marker's source at this rung, once it has been read."""

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def kind(self) -> RungKind:
        return self._spec.kind

    @property
    def fraction(self) -> float | None:
        return self._spec.fraction

    @property
    def spark(self) -> SparkSession:
        return self._spark

    def source(self, name: str) -> DataFrame:
        """Source ``name`` at this rung: the tiny sample below the fraction rungs, else the same
        fraction of the real source, chosen consistently with the marker's ``sample_key``."""
        df, rows = self._reader(name)
        if name == self._default_source:
            self.rows = rows
        return df

    def __repr__(self) -> str:
        return f"<Rung {self.name}>"
