"""`@pytest.mark.scale(...)`: its usage text, and its arguments resolved over the settings into a
`ScaleSpec` (marker > command line > ini), each bad one named with where it came from.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_dcs.rungs import RungError, check_fractions
from pytest_dcs.settings import DEFAULT_CAPTURE, Settings

MARKER_USAGE = (
    "scale(source=None, *, fractions=None, sample_key=None, max_exponent=None, timeout=None, "
    "capture=True): run the test as a ladder of rungs - local (tiny sample, in-process), "
    "distributed (same sample on executors), then nested fractions of the real source."
)
MARKER_KWARGS = ("source", "fractions", "sample_key", "max_exponent", "timeout", "capture")


class MarkerError(ValueError):
    """A `scale` marker argument that cannot be used; the message says which and how to fix it."""


@dataclass(frozen=True)
class ScaleSpec:
    """A test's `scale` marker, resolved against the run's settings."""

    source: str | None
    fractions: tuple[float, ...]
    sample_key: tuple[str, ...]
    max_exponent: float
    timeout: float | None
    capture: int


def _marker_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise MarkerError(f"{name}={value!r} must be a number greater than 0")
    return float(value)


def scale_spec(
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    settings: Settings,
    known_sources: Collection[str],
) -> ScaleSpec:
    """Turn the marker's arguments into a ScaleSpec, or raise MarkerError saying what is wrong."""
    if len(args) > 1:
        raise MarkerError(
            f"takes one positional argument (the source name), got {len(args)}: {args!r}"
        )
    unknown = sorted(set(kwargs) - set(MARKER_KWARGS))
    if unknown:
        raise MarkerError(
            f"unknown argument {', '.join(unknown)}; the marker takes {', '.join(MARKER_KWARGS)}"
        )
    if args and "source" in kwargs:
        raise MarkerError("source is given both positionally and as source=")
    source = args[0] if args else kwargs.get("source")
    if source is not None:
        if not isinstance(source, str):
            raise MarkerError(f"source {source!r} must be a source name (a string)")
        if source not in known_sources:
            names = ", ".join(sorted(known_sources)) or "none are configured"
            raise MarkerError(
                f"unknown source {source!r} (known: {names}); add a line "
                f"'{source} = parquet:path/to/data' to dcs_sources in your ini file, or return it "
                "from a pytest_dcs_sources(config) hook in conftest.py"
            )

    fractions = settings.fractions
    if kwargs.get("fractions") is not None:
        raw = kwargs["fractions"]
        if isinstance(raw, (str, bytes)) or not hasattr(raw, "__iter__"):
            raise MarkerError(f"fractions={raw!r} must be a list such as [0.01, 0.1, 0.4]")
        try:
            fractions = check_fractions(raw)
        except RungError as exc:
            raise MarkerError(f"fractions={list(raw)!r}: {exc}") from None
        if not fractions:
            raise MarkerError("fractions=[] is empty; leave it out to use dcs_fractions")

    raw_key = kwargs.get("sample_key")
    if raw_key is None:
        sample_key: tuple[str, ...] = ()
    elif isinstance(raw_key, str) and raw_key:
        sample_key = (raw_key,)
    elif (
        isinstance(raw_key, (list, tuple))
        and raw_key
        and all(isinstance(k, str) and k for k in raw_key)
    ):
        sample_key = tuple(raw_key)
    else:
        raise MarkerError(f"sample_key={raw_key!r} must be a column name or a list of them")

    raw_exp = kwargs.get("max_exponent")
    max_exponent = (
        settings.max_exponent if raw_exp is None else _marker_number("max_exponent", raw_exp)
    )
    raw_timeout = kwargs.get("timeout")
    timeout = (
        settings.rung_timeout if raw_timeout is None else _marker_number("timeout", raw_timeout)
    )

    raw_capture = kwargs.get("capture", True)
    if raw_capture is True:
        capture = DEFAULT_CAPTURE
    elif raw_capture is False:
        capture = 0
    elif isinstance(raw_capture, int) and raw_capture >= 0:
        capture = raw_capture
    else:
        raise MarkerError(
            f"capture={raw_capture!r} must be True, False or the most rows to capture (>= 0)"
        )
    return ScaleSpec(source, fractions, sample_key, max_exponent, timeout, capture)
