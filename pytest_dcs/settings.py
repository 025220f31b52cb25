"""Every `dcs_*` setting, registered and resolved in one place.

Precedence: marker > command line > ini (`-o name=value` counts as command line, as pytest does).
Every bad value is reported with where it came from and what to write instead; the marker's own
arguments are resolved in `marker`.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_dcs.rungs import DEFAULT_FRACTIONS, RungCap, RungError, check_fractions, parse_max_rung
from pytest_dcs.spark.ship import ShipError, check_shippable

DEFAULT_TINY_ROWS = 200
DEFAULT_CAPTURE = 10
DEFAULT_MAX_EXPONENT = 1.5
DEFAULT_LOCALIZE_FACTOR = 3.0
# Each re-run of a body costs a Spark job or more (0.1-0.5 s here), so a rung that failed in a
# second still gets time for a search.
MIN_LOCALIZE_SECONDS = 10.0
DEFAULT_LOCAL_MASTER = "local[2]"
DEFAULT_CLUSTER_MASTER = "local-cluster[2,1,1024]"

INI_OPTIONS: dict[str, tuple[str, str, Any]] = {
    # name: (pytest ini type, help, default)
    "dcs_sources": (
        "linelist",
        "data sources, one per line: name = format:path "
        "(parquet, json, csv, orc, table, synthetic)",
        [],
    ),
    "dcs_fractions": (
        "string",
        "fractions of the real source climbed after distributed (default: 0.01 0.1 0.4)",
        "",
    ),
    "dcs_tiny_rows": (
        "string",
        f"rows in a source's tiny sample (default {DEFAULT_TINY_ROWS})",
        "",
    ),
    "dcs_sample_dir": (
        "string",
        "where tiny samples are kept, relative to the rootdir (default dcs_samples)",
        "",
    ),
    "dcs_mask": ("args", "columns replaced by deterministic pseudonyms everywhere", []),
    "dcs_max_exponent": (
        "string",
        f"largest allowed growth exponent of time in rows (default {DEFAULT_MAX_EXPONENT})",
        "",
    ),
    "dcs_budget": ("string", "seconds allowed for a projected 100% run", ""),
    "dcs_rung_timeout": ("string", "seconds a rung may run before its jobs are cancelled", ""),
    "dcs_localize_budget": (
        "string",
        "time for finding offending rows: a multiple of the failing rung's time, at least "
        "10 s ('3x', the default), seconds ('30'), or 0 to not search",
        "",
    ),
    "dcs_spark_conf": ("linelist", "extra Spark configuration, one 'key = value' per line", []),
    "dcs_ship": (
        "linelist",
        "paths shipped to cluster executors, relative to the rootdir: modules, zips, package "
        "folders, source folders (zipped by their contents)",
        [],
    ),
}


def add_options(parser: pytest.Parser) -> None:
    """Register the command-line options and ini keys."""
    group = parser.getgroup("dcs", "pytest-dcs: PySpark tests at escalating scale")
    group.addoption(
        "--dcs-max-rung",
        metavar="RUNG",
        default=None,
        help="climb no higher than RUNG: local, distributed, or a fraction (0.1, 10pct)",
    )
    group.addoption(
        "--dcs-local",
        metavar="MASTER",
        default=None,
        help=f"master of the local engine (default {DEFAULT_LOCAL_MASTER})",
    )
    group.addoption(
        "--dcs-cluster",
        metavar="MASTER",
        default=None,
        help=f"master of the cluster engine (default {DEFAULT_CLUSTER_MASTER}); "
        "spark://host:port, yarn, k8s://... or sc://host:port",
    )
    group.addoption(
        "--dcs-refresh-samples",
        action="store_true",
        default=False,
        help="take the tiny samples anew from the real sources",
    )
    group.addoption(
        "--dcs-forget-captured",
        action="store_true",
        default=False,
        help="delete every captured-rows file before the run",
    )
    group.addoption(
        "--dcs-report", metavar="PATH", default=None, help="write the ladder as JSON to PATH"
    )
    group.addoption(
        "--dcs-plot",
        metavar="PATH",
        default=None,
        help="draw time against rows, per test, to PATH (PNG; needs pytest-dcs[plot])",
    )
    group.addoption(
        "--dcs-strict-plan",
        action="store_true",
        default=False,
        help="fail (as slowdown) results whose plan compares every row with every row, "
        "instead of warning",
    )
    for name, (kind, help_text, default) in INI_OPTIONS.items():
        parser.addini(name, help_text, type=kind, default=default)  # type: ignore[arg-type]


@dataclass(frozen=True)
class LocalizeBudget:
    """Time allowed for localizing offending rows: a multiple of the failing rung's time (at
    least `MIN_LOCALIZE_SECONDS`), or fixed seconds; zero turns the search off."""

    factor: float | None = DEFAULT_LOCALIZE_FACTOR
    seconds: float | None = None

    def for_rung(self, rung_seconds: float) -> float:
        if self.seconds is not None:
            return self.seconds
        if not self.factor:
            return 0.0
        return max(self.factor * rung_seconds, MIN_LOCALIZE_SECONDS)

    @classmethod
    def parse(cls, raw: str, origin: str) -> LocalizeBudget:
        text = raw.strip().lower()
        if not text:
            return cls()
        number, is_factor = (text[:-1], True) if text.endswith("x") else (text, False)
        try:
            value = float(number.removesuffix("s"))
        except ValueError:
            value = -1.0
        if not value >= 0:
            raise pytest.UsageError(
                f"Invalid {origin}: {raw!r} is not a multiple of the rung's time ('3x'), "
                "seconds ('30') or 0 (no search)."
            )
        return cls(factor=value, seconds=None) if is_factor else cls(factor=None, seconds=value)


@dataclass(frozen=True)
class Settings:
    """The run's settings, read once from ini and command line."""

    rootpath: Path
    fractions: tuple[float, ...]
    tiny_rows: int
    sample_dir: Path
    mask: tuple[str, ...]
    max_exponent: float
    budget: float | None
    rung_timeout: float | None
    localize_budget: LocalizeBudget
    spark_conf: Mapping[str, str]
    ship: tuple[Path, ...]
    max_rung: RungCap | None
    local_master: str
    cluster_master: str
    refresh_samples: bool
    forget_captured: bool
    report_path: Path | None
    plot_path: Path | None
    strict_plan: bool
    source_lines: tuple[str, ...]


def _ini_origin(config: pytest.Config, name: str) -> str:
    for override in config.getoption("override_ini", None) or []:
        if override.split("=", 1)[0].strip() == name:
            return f"{name} from the command line (-o)"
    where = config.inipath.name if config.inipath else "the ini options"
    return f"{name} in {where}"


def _positive_number(raw: str, origin: str, *, integer: bool = False) -> float:
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise pytest.UsageError(f"Invalid {origin}: {raw!r} is not {kind}.") from None
    if not value > 0:
        raise pytest.UsageError(f"Invalid {origin}: {raw!r} must be greater than 0.")
    return value


def _optional_number(config: pytest.Config, name: str) -> float | None:
    raw = str(config.getini(name)).strip()
    return _positive_number(raw, _ini_origin(config, name)) if raw else None


def parse_conf_lines(lines: Collection[str], origin: str) -> dict[str, str]:
    """Read `key = value` lines (Spark configuration)."""
    conf: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise pytest.UsageError(
                f"Invalid {origin}: {line!r} is not 'key = value' "
                "(for example: spark.sql.shuffle.partitions = 8)."
            )
        conf[key.strip()] = value.strip()
    return conf


def ship_paths(config: pytest.Config) -> tuple[Path, ...]:
    """The `dcs_ship` entries, resolved against the rootdir; each must exist and be shippable."""
    paths = []
    for entry in config.getini("dcs_ship"):
        if not entry.strip():
            continue
        path = (config.rootpath / entry.strip()).resolve()
        try:
            check_shippable(path)
        except ShipError as exc:
            raise pytest.UsageError(
                f"Invalid {_ini_origin(config, 'dcs_ship')}: {entry.strip()!r}: {exc}. Paths are "
                f"relative to the rootdir {config.rootpath}."
            ) from None
        paths.append(path)
    return tuple(paths)


def output_path(value: str, flag: str) -> Path:
    """The file an option names for writing at the end of the run, checked now: its folder is
    created if missing, and must be a writable folder, so a bad path fails before the run
    rather than after it."""
    path = Path(value).expanduser().resolve()
    where = f"--{flag}={value}"
    if path.is_dir():
        raise pytest.UsageError(f"Invalid {where}: {path} is a folder; name a file in it.")
    blocker = next((p for p in (path.parent, *path.parent.parents) if p.is_file()), None)
    if blocker is not None:
        raise pytest.UsageError(
            f"Invalid {where}: {blocker} is a file, so the folder {path.parent} cannot be "
            "created; name a file in a folder."
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(
            f"Invalid {where}: cannot create its folder {path.parent} "
            f"({exc.strerror or exc}); name a file in a folder that exists or can be created."
        ) from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise pytest.UsageError(
            f"Invalid {where}: its folder {path.parent} is not writable; name a file in a "
            "folder you can write to."
        )
    return path


def _plot_path(config: pytest.Config) -> Path | None:
    value = config.getoption("dcs_plot")
    if not value:
        return None
    path = Path(value).resolve()
    if path.suffix.lower() != ".png":
        raise pytest.UsageError(
            f"Invalid --dcs-plot={value}: the picture is a PNG; name a .png file."
        )
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise pytest.UsageError(
            f"--dcs-plot={value} needs matplotlib, which is not installed: "
            "pip install 'pytest-dcs[plot]' (or leave out --dcs-plot)."
        ) from None
    return output_path(value, "dcs-plot")


def load_settings(config: pytest.Config) -> Settings:
    """Resolve every setting of the run, failing with a usage error that names its origin."""
    rootpath = config.rootpath
    raw_fractions = str(config.getini("dcs_fractions")).strip()
    fractions = DEFAULT_FRACTIONS
    if raw_fractions:
        try:
            fractions = check_fractions(shlex.split(raw_fractions.replace(",", " ")))
        except RungError as exc:
            origin = _ini_origin(config, "dcs_fractions")
            raise pytest.UsageError(
                f"Invalid {origin}: {exc}. Example: dcs_fractions = 0.01 0.1 0.4"
            ) from None

    raw_rows = str(config.getini("dcs_tiny_rows")).strip()
    tiny_rows = DEFAULT_TINY_ROWS
    if raw_rows:
        tiny_rows = int(
            _positive_number(raw_rows, _ini_origin(config, "dcs_tiny_rows"), integer=True)
        )

    max_exponent = _optional_number(config, "dcs_max_exponent") or DEFAULT_MAX_EXPONENT

    max_rung = None
    raw_cap = config.getoption("dcs_max_rung")
    if raw_cap:
        try:
            max_rung = parse_max_rung(raw_cap)
        except RungError as exc:
            raise pytest.UsageError(f"Invalid --dcs-max-rung: {exc}.") from None

    spark_conf = parse_conf_lines(
        config.getini("dcs_spark_conf"), _ini_origin(config, "dcs_spark_conf")
    )
    sample_dir = str(config.getini("dcs_sample_dir")).strip() or "dcs_samples"
    report = config.getoption("dcs_report")

    return Settings(
        rootpath=rootpath,
        fractions=fractions,
        tiny_rows=tiny_rows,
        sample_dir=(rootpath / sample_dir).resolve(),
        mask=tuple(config.getini("dcs_mask")),
        max_exponent=max_exponent,
        budget=_optional_number(config, "dcs_budget"),
        rung_timeout=_optional_number(config, "dcs_rung_timeout"),
        localize_budget=LocalizeBudget.parse(
            str(config.getini("dcs_localize_budget")),
            _ini_origin(config, "dcs_localize_budget"),
        ),
        spark_conf=spark_conf,
        ship=ship_paths(config),
        max_rung=max_rung,
        local_master=config.getoption("dcs_local") or DEFAULT_LOCAL_MASTER,
        cluster_master=config.getoption("dcs_cluster") or DEFAULT_CLUSTER_MASTER,
        refresh_samples=bool(config.getoption("dcs_refresh_samples")),
        forget_captured=bool(config.getoption("dcs_forget_captured")),
        report_path=output_path(report, "dcs-report") if report else None,
        plot_path=_plot_path(config),
        strict_plan=bool(config.getoption("dcs_strict_plan")),
        source_lines=tuple(config.getini("dcs_sources")),
    )
