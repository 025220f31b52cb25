"""Rungs of the ladder: their ids, their order and the cap on how high a run climbs.

Spark-free: plain functions over plain data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

RungKind = Literal["local", "distributed", "fraction"]
Engine = Literal["local", "cluster"]

DEFAULT_FRACTIONS: tuple[float, ...] = (0.01, 0.1, 0.4)


class RungError(ValueError):
    """A fraction, fraction list or rung name that cannot be used; the message says why."""


@dataclass(frozen=True, order=True)
class RungSpec:
    """One rung of a test's ladder. Ordering follows the climb: local < distributed < fractions."""

    level: int
    fraction: float | None
    name: str
    kind: RungKind

    @property
    def engine(self) -> Engine:
        """The engine this rung runs on: only `local` runs in-process."""
        return "local" if self.kind == "local" else "cluster"

    @property
    def sort_key(self) -> tuple[int, float]:
        """The climbing order as a comparable key, fractions of all tests interleaved."""
        return (self.level, self.fraction or 0.0)


LOCAL = RungSpec(level=0, fraction=None, name="local", kind="local")
DISTRIBUTED = RungSpec(level=1, fraction=None, name="distributed", kind="distributed")


def rung_id(fraction: float) -> str:
    """The id of a fraction rung: percent plus `pct` (0.01 -> `1pct`, 0.005 -> `0.5pct`)."""
    percent = f"{round(fraction * 100, 10):.10f}".rstrip("0").rstrip(".")
    return f"{percent}pct"


def fraction_rung(fraction: float) -> RungSpec:
    return RungSpec(level=2, fraction=fraction, name=rung_id(fraction), kind="fraction")


_FRACTION_ID = re.compile(r"\d+(?:\.\d+)?pct")


def parse_rung_id(text: str) -> RungSpec | None:
    """The rung whose id is exactly `text` (`local`, `distributed`, `1pct`), else None."""
    if text in (LOCAL.name, DISTRIBUTED.name):
        return LOCAL if text == LOCAL.name else DISTRIBUTED
    if not _FRACTION_ID.fullmatch(text):
        return None
    fraction = float(f"{text[:-3]}e-2")  # the nearest float to the written value, as a marker's
    if not 0 < fraction <= 1 or rung_id(fraction) != text:
        return None
    return fraction_rung(fraction)


def check_fractions(values: Iterable[object]) -> tuple[float, ...]:
    """Validate a fraction list: numbers in (0, 1], strictly increasing, distinct as rung ids."""
    out: list[float] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise RungError(f"fraction {value!r} is not a number")
        try:
            fraction = float(value)
        except ValueError:
            raise RungError(f"fraction {value!r} is not a number") from None
        if math.isnan(fraction) or not 0 < fraction <= 1:
            raise RungError(f"fraction {value!r} is outside (0, 1]; write 1% as 0.01")
        if out and fraction <= out[-1]:
            raise RungError(
                f"fractions must increase (each rung's input contains the one below): "
                f"{fraction:g} comes after {out[-1]:g}"
            )
        out.append(fraction)
    ids = [rung_id(f) for f in out]
    if len(set(ids)) != len(ids):
        raise RungError(f"fractions {out} give duplicate rung ids {ids}")
    return tuple(out)


def build_ladder(fractions: Sequence[float]) -> tuple[RungSpec, ...]:
    """All rungs of a test, bottom-up."""
    return (LOCAL, DISTRIBUTED, *(fraction_rung(f) for f in fractions))


def rung_below(rung: RungSpec, fractions: Sequence[float]) -> RungSpec | None:
    """The rung under `rung` in the ladder of `fractions`; None for `local`."""
    ladder = build_ladder(fractions)
    index = ladder.index(rung)
    return ladder[index - 1] if index else None


def parse_fraction_text(text: str) -> float:
    """Read one fraction written as `0.1`, `10pct` or `10%`."""
    raw = text.strip().lower()
    try:
        if raw.endswith("pct"):
            return float(raw[:-3]) / 100
        if raw.endswith("%"):
            return float(raw[:-1]) / 100
        return float(raw)
    except ValueError:
        raise RungError(f"{text!r} is not a fraction (write 0.1, 10pct or 10%)") from None


@dataclass(frozen=True)
class RungCap:
    """The highest rung a run may climb to (`--dcs-max-rung`)."""

    text: str
    level: int
    fraction: float | None

    def allows(self, rung: RungSpec) -> bool:
        if rung.level != self.level or rung.fraction is None:
            return rung.level <= self.level
        assert self.fraction is not None
        # Tolerate float noise so that `--dcs-max-rung=10pct` keeps a 0.1 rung.
        return rung.fraction <= self.fraction * (1 + 1e-9)


def parse_max_rung(text: str) -> RungCap:
    """Parse `local`, `distributed`, or a fraction (`0.1`, `10pct`, `10%`)."""
    raw = text.strip().lower()
    if raw == "local":
        return RungCap(text, 0, None)
    if raw == "distributed":
        return RungCap(text, 1, None)
    try:
        fraction = parse_fraction_text(raw)
    except RungError:
        raise RungError(
            f"{text!r} is not a rung: use local, distributed, or a fraction such as 0.1 or 10pct"
        ) from None
    if not 0 < fraction <= 1:
        raise RungError(f"{text!r} is outside (0, 1]: use a fraction such as 0.1 or 10pct")
    return RungCap(text, 2, fraction)
