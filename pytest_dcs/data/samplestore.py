"""Tiny samples on disk: one JSON Lines file per source, exact to the schema, atomic to write.

`<sample_dir>/<source>.jsonl` holds a header line (format version and the Spark schema) and one
JSON object per row; `<source>.meta.json` records where and when the sample was taken. Values are
encoded by their Spark type, so a sample is diff-friendly and reads back to identical rows:
decimals as strings, timestamps as UTC ISO-8601, binary as base64, maps as [key, value] pairs,
NaN and infinities as strings.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import types as T

from pytest_dcs.data.codec import (
    FORGET_HINT,
    FORMAT_VERSION,
    SampleError,
    check_schema,
    decode_row,
    encode_row,
)

try:
    import fcntl
except ImportError:  # Windows: no flock; processes there do not wait for each other
    fcntl = None  # type: ignore[assignment]


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Sample:
    """A tiny sample read from disk."""

    schema: T.StructType
    rows: list[tuple[Any, ...]]
    meta: dict[str, Any]


def dump_rows(schema: T.StructType, rows: Iterable[Sequence[Any]]) -> str:
    """The JSON Lines text of a sample: header, then one object per row."""
    header = {"dcs_sample": FORMAT_VERSION, "schema": schema.jsonValue()}
    lines = [json.dumps(header, sort_keys=True)]
    lines.extend(json.dumps(encode_row(r, schema), ensure_ascii=False) for r in rows)
    return "\n".join(lines) + "\n"


def carry_over_problem(stored: T.StructType, schema: T.StructType) -> str | None:
    """Why rows kept under schema `stored` cannot be read as rows of `schema`, or None when they
    can: by column name, a column the source gained reads as null, one it lost is left out."""
    before = {f.name: f for f in stored.fields}
    for f in schema.fields:
        old = before.get(f.name)
        if old is None and not f.nullable:
            return f"the source gained column {f.name!r}, which cannot be null"
        if old is not None and old.dataType != f.dataType:
            return (
                f"column {f.name!r} changed type from {old.dataType.simpleString()} "
                f"to {f.dataType.simpleString()}"
            )
    return None


def _read_jsonl(
    path: Path,
    what: str,
    fix: str,
    row_of: Callable[[Any], Mapping[str, Any] | None],
    decode_as: Callable[[T.StructType], T.StructType] = lambda stored: stored,
) -> tuple[T.StructType, list[tuple[Any, ...]]]:
    """Schema and rows of a sample or capture file; anything unreadable raises SampleError.
    The rows are decoded as `decode_as(schema in the file)`; lines `row_of` maps to None are
    left out."""
    try:
        # Split on newlines only: JSON strings may hold U+2028 and friends unescaped.
        lines = path.read_text(encoding="utf-8").split("\n")
    except OSError as exc:
        raise SampleError(f"Cannot read the {what} {path}: {exc}. {fix}") from None
    except UnicodeDecodeError as exc:
        raise SampleError(f"The {what} {path} is corrupt: {exc}. {fix}") from None
    try:
        header = json.loads(lines[0]) if lines else {}
        if not isinstance(header, dict) or header.get("dcs_sample") != FORMAT_VERSION:
            raise ValueError("the first line is not a pytest-dcs sample header")
        schema = T.StructType.fromJson(header["schema"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SampleError(f"The {what} {path} is corrupt: {exc}. {fix}") from None
    rows = []
    target = decode_as(schema)
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            raw = row_of(json.loads(line))
            if raw is not None:
                rows.append(decode_row(raw, target))
        except (ValueError, KeyError, TypeError, AttributeError, ArithmeticError) as exc:
            where = f"The {what} {path} is corrupt at line {number}"
            raise SampleError(f"{where}: {exc}. {fix}") from None
    return schema, rows


def _integrity_problem(
    path: Path, meta_path: Path, rows: Sequence[Any], meta: Mapping[str, Any]
) -> str | None:
    """How a sample file differs from what its meta recorded when it was written, or None.

    A file cut at a line boundary still parses, and an edited header still reads: only the row
    count and the digest the meta kept tell. A sample without a meta (written by hand) is
    taken as it is.
    """
    count = meta.get("rows")
    if isinstance(count, int) and count != len(rows):
        return (
            f"The tiny sample {path} has {len(rows)} rows, its meta {meta_path.name} says {count}"
        )
    digest = meta.get("sha256")
    if isinstance(digest, str):
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != digest:
            return (
                f"The tiny sample {path} is not the file its meta {meta_path.name} describes "
                f"(sha256 {actual[:12]}..., the meta says {digest[:12]}...)"
            )
    return None


class SampleStore:
    """The folder of tiny samples (`dcs_sample_dir`)."""

    def __init__(self, root: Path, refresh_hint: str = "--dcs-refresh-samples") -> None:
        self.root = root
        self.refresh_hint = refresh_hint

    def sample_path(self, source: str) -> Path:
        return self.root / f"{source}.jsonl"

    def meta_path(self, source: str) -> Path:
        return self.root / f"{source}.meta.json"

    def exists(self, source: str) -> bool:
        return self.sample_path(source).exists()

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold the lock of file `name` (a lock file beside it) while it is taken or appended to.

        Processes of one run (xdist workers) that need the same file wait for each other, so a
        sample taken for the first time is taken once, and capture files lose no rows.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self._write_ignore_locks()
        with open(self.root / f".{name}.lock", "a", encoding="utf-8") as handle:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)
            yield  # closing the file releases the lock

    def modified_at(self, source: str) -> float | None:
        """When the sample file was last written (epoch seconds), None if there is none."""
        try:
            return self.sample_path(source).stat().st_mtime
        except FileNotFoundError:
            return None

    def save(
        self,
        source: str,
        schema: T.StructType,
        rows: Sequence[Sequence[Any]],
        meta: Mapping[str, Any],
    ) -> Path:
        """Write the sample and its record of origin, each atomically."""
        check_schema(schema)
        self._write_gitattributes()
        text = dump_rows(schema, rows)
        path = self.sample_path(source)
        atomic_write(path, text)
        record = {
            **meta,
            "rows": len(rows),
            "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        }
        atomic_write(self.meta_path(source), json.dumps(record, indent=2, sort_keys=True) + "\n")
        return path

    def load(self, source: str, expected: T.StructType | None = None) -> Sample:
        """Read a sample back; a corrupt or schema-stale file raises SampleError with the fix."""
        path = self.sample_path(source)
        fix = f"Refresh it with: pytest {self.refresh_hint} (the file is left as it is)."
        schema, rows = _read_jsonl(path, "tiny sample", fix, lambda entry: entry)
        if expected is not None and expected != schema:
            raise SampleError(
                f"The tiny sample {path} was taken with another schema than the source has now "
                f"(sample: {schema.simpleString()}; source: {expected.simpleString()}). {fix}"
            )
        meta: dict[str, Any] = {}
        meta_path = self.meta_path(source)
        if meta_path.exists():
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
            except ValueError:
                meta = {}
        problem = _integrity_problem(path, meta_path, rows, meta)
        if problem is not None:
            raise SampleError(f"{problem}: it was cut or edited since it was taken. {fix}")
        return Sample(schema=schema, rows=rows, meta=meta)

    # -- captured rows ----------------------------------------------------------------------

    def captured_path(self, source: str) -> Path:
        return self.root / f"{source}.captured.jsonl"

    def load_captured(
        self, source: str, schema: T.StructType, *, skip_run: str | None = None
    ) -> list[tuple[Any, ...]]:
        """Rows captured for `source`, as rows of `schema`, but those captured by run
        `skip_run`. Rows captured before the source's schema changed are carried over by column
        name when they can be; otherwise SampleError."""
        path = self.captured_path(source)
        if not path.exists():
            return []
        fix = f"Delete it, or clear every capture file with: pytest {FORGET_HINT}."

        def decode_as(stored: T.StructType) -> T.StructType:
            problem = carry_over_problem(stored, schema) if stored != schema else None
            if problem is not None:
                raise SampleError(
                    f"The capture file {path} holds rows of another schema than the source's "
                    f"(captured: {stored.simpleString()}; source: {schema.simpleString()}): "
                    f"{problem}. {fix}"
                )
            return schema

        def row_of(entry: Any) -> Mapping[str, Any] | None:
            return None if skip_run and entry.get("run") == skip_run else entry["row"]

        _, rows = _read_jsonl(path, "capture file", fix, row_of, decode_as)
        return rows

    def add_captured(
        self,
        source: str,
        schema: T.StructType,
        rows: Sequence[Sequence[Any]],
        provenance: Mapping[str, Any],
    ) -> tuple[Path, int]:
        """Append rows not captured before, each with where it came from; returns (path, added)."""
        check_schema(schema)
        path = self.captured_path(source)
        with self.lock(path.name):
            existing = self.load_captured(source, schema)
            header = {"dcs_sample": FORMAT_VERSION, "captured": True, "schema": schema.jsonValue()}
            text = json.dumps(header, sort_keys=True) + "\n"
            if path.exists():
                # The rows already there stay as written, with where they came from; the header
                # takes the current schema, under which they were just read.
                kept = path.read_text(encoding="utf-8").rstrip("\n").split("\n")[1:]
                text += "".join(f"{line}\n" for line in kept if line.strip())
            seen = {json.dumps(encode_row(r, schema), sort_keys=True) for r in existing}
            added = 0
            for row in rows:
                encoded = encode_row(row, schema)
                identity = json.dumps(encoded, sort_keys=True)
                if identity in seen:
                    continue
                seen.add(identity)
                text += json.dumps({"row": encoded, **provenance}, ensure_ascii=False) + "\n"
                added += 1
            if added:
                self._write_gitattributes()
                atomic_write(path, text)
            return path, added

    def forget_captured(self) -> list[Path]:
        """Delete every capture file; returns the paths removed."""
        removed = sorted(self.root.glob("*.captured.jsonl")) if self.root.exists() else []
        for path in removed:
            path.unlink()
        return removed

    def _write_gitattributes(self) -> None:
        # Samples are reviewed as text: keep git from treating long lines as binary.
        marker = self.root / ".gitattributes"
        if not marker.exists():
            atomic_write(marker, "*.jsonl text diff\n")

    def _write_ignore_locks(self) -> None:
        # Samples are committed; the lock files beside them are not.
        ignore = self.root / ".gitignore"
        if not ignore.exists():
            atomic_write(ignore, ".*.lock\n")
