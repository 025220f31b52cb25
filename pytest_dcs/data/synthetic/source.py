"""`synthetic:` source lines (`key=value;...` or a JSON file) to a `SyntheticSpec`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_dcs.data.synthetic.schema import SOURCE_EXAMPLE, SyntheticError
from pytest_dcs.data.synthetic.spec import SyntheticSpec

if TYPE_CHECKING:
    pass


SOURCE_KEYS = (
    "schema",
    "rows",
    "seed",
    "partitions",
    "null_rate",
    "empty_rate",
    "extremes_rate",
    "date_format",
    "locale",
    "providers",
)
_INT_KEYS = ("rows", "seed", "partitions")
_RATE_KEYS = ("null_rate", "empty_rate", "extremes_rate")


def from_source_text(text: str, base: str | Path | None = None) -> SyntheticSpec:
    """The spec of a `synthetic:<target>` source line, given the target.

    The target is `key=value;key=value;...` or the path of a JSON file (ending in `.json`,
    relative to `base`, by default the working directory); see the module docstring for the keys.
    Bad text raises `SyntheticError` naming the bad key and the accepted ones.
    """
    target = text.strip()
    if target.lower().endswith(".json") and ";" not in target and "=" not in target:
        return _from_file(Path(base or ".") / target)
    try:
        return _spec(_parse_pairs(target))
    except SyntheticError as exc:
        raise SyntheticError(f"synthetic source {target!r}: {exc}") from None


def _parse_pairs(target: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for part in target.split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not key:
            raise SyntheticError(
                f"{part.strip()!r} is not key=value; write it like {SOURCE_EXAMPLE!r}, "
                "or give the path of a .json spec file"
            )
        _check_key(key, values)
        if key in _INT_KEYS:
            try:
                values[key] = int(value)
            except ValueError:
                raise SyntheticError(f"{key}={value!r} is not an integer") from None
        elif key in _RATE_KEYS:
            try:
                values[key] = float(value)
            except ValueError:
                raise SyntheticError(f"{key}={value!r} is not a number") from None
        elif key == "providers":
            values[key] = _parse_providers(value)
        else:
            values[key] = value
    return values


def _check_key(key: str, seen: Mapping[str, Any]) -> None:
    if key not in SOURCE_KEYS:
        raise SyntheticError(f"unknown key {key!r}; accepted keys: {', '.join(SOURCE_KEYS)}")
    if key in seen:
        raise SyntheticError(f"key {key!r} is given twice")


def _parse_providers(value: str) -> dict[str, str]:
    providers = {}
    for pair in value.split(","):
        column, sep, provider = pair.partition(":")
        if not sep or not column.strip() or not provider.strip():
            raise SyntheticError(
                f"providers={value!r}: {pair.strip()!r} is not column:provider; "
                "write it like providers=email:free_email,town:city"
            )
        providers[column.strip()] = provider.strip()
    return providers


def _from_file(path: Path) -> SyntheticSpec:
    where = f"synthetic spec file {str(path)!r}"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SyntheticError(f"{where} cannot be read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise SyntheticError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise SyntheticError(
            f"{where} must hold a JSON object with the keys {', '.join(SOURCE_KEYS)}"
        )
    try:
        for key in document:
            _check_key(key, {})
        return _spec(document)
    except SyntheticError as exc:
        raise SyntheticError(f"{where}: {exc}") from None


def _spec(values: Mapping[str, Any]) -> SyntheticSpec:
    if "schema" not in values:
        raise SyntheticError(f"the key 'schema' is missing; write it like {SOURCE_EXAMPLE!r}")
    return SyntheticSpec(**values)
