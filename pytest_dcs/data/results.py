"""Outputs that `rung.result` keeps at the `local` rung for the `distributed` rung to compare.

They live in a folder of the run (shared by xdist workers), one pickle per result, written
atomically, so the rung that compares them may run in another process than the one that kept them.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# At the tiny rungs outputs are small; a bigger one is not kept (the parity check is skipped,
# with a note), so that a body exploding its tiny input cannot fill the driver's memory.
MAX_KEPT_ROWS = 50_000


@dataclass(frozen=True)
class KeptResult:
    """One output: its column names, Spark schema (simple string) and rows as tuples."""

    columns: tuple[str, ...]
    schema: str
    rows: list[tuple[Any, ...]] | None
    """None when the output had more than `MAX_KEPT_ROWS` rows."""
    types: tuple[str, ...] = ()
    """Each column's type as a simple string (`double`, `array<int>`)."""


class ResultStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, test: str, label: str) -> Path:
        digest = hashlib.sha1(f"{test}\0{label}".encode()).hexdigest()[:20]
        return self.folder / f"{digest}.pickle"

    def put(self, test: str, label: str, kept: KeptResult) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self._path(test, label)
        fd, temp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            pickle.dump(kept, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temp, target)

    def get(self, test: str, label: str) -> KeptResult | None:
        path = self._path(test, label)
        if not path.exists():
            return None
        with path.open("rb") as source:
            kept = pickle.load(source)
        return kept if isinstance(kept, KeptResult) else None
