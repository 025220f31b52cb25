"""`SyntheticSpec`: what to generate, checked when it is made."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pyspark.sql import types as T

from pytest_dcs.data.synthetic.schema import (
    DDL_EXAMPLE,
    DEFAULT_DATE_FORMAT,
    DEFAULT_LOCALE,
    DEFAULT_ROWS,
    ROWS_PER_PARTITION,
    SyntheticError,
    parse_schema,
)


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate. The same spec gives the same rows on every engine.

    `schema` may be given as DDL or JSON too; it is a StructType once constructed. `partitions`
    is part of the spec, not of the cluster, so the data stays the same wherever it is
    generated; 0 (the default) becomes one partition per 250,000 rows, at least one. The rates
    are the shares of values replaced by None, "" and type extremes (see the module docstring);
    they add up to at most 1. `date_format` is the strftime format of date-like string columns,
    `locale` the Faker locale, and `providers` maps top-level column names to no-argument Faker
    providers.
    """

    schema: T.StructType
    rows: int = DEFAULT_ROWS
    seed: int = 0
    partitions: int = 0
    null_rate: float = 0.0
    empty_rate: float = 0.0
    extremes_rate: float = 0.0
    date_format: str = DEFAULT_DATE_FORMAT
    locale: str = DEFAULT_LOCALE
    providers: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        set_ = functools.partial(object.__setattr__, self)
        set_("schema", parse_schema(self.schema))
        if not self.schema.fields:
            raise SyntheticError(f"the schema has no columns; write it like {DDL_EXAMPLE!r}")
        _check_supported(self.schema.fields, "")
        for name in ("rows", "seed"):
            if not _is_int(getattr(self, name)):
                raise SyntheticError(f"{name} must be an integer, got {getattr(self, name)!r}")
        if self.rows < 0:
            raise SyntheticError(f"rows must be 0 or more, got {self.rows}")
        if not _is_int(self.partitions) or self.partitions < 0:
            raise SyntheticError(
                f"partitions must be an integer >= 1 (or 0 for one per {ROWS_PER_PARTITION:,} "
                f"rows), got {self.partitions!r}"
            )
        if self.partitions == 0:
            set_("partitions", max(1, -(-self.rows // ROWS_PER_PARTITION)))
        for name in ("null_rate", "empty_rate", "extremes_rate"):
            rate = getattr(self, name)
            if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate <= 1:
                raise SyntheticError(f"{name} must be a number in [0, 1], got {rate!r}")
            set_(name, float(rate))
        if self.null_rate + self.empty_rate + self.extremes_rate > 1:
            raise SyntheticError(
                f"null_rate + empty_rate + extremes_rate must be at most 1, got "
                f"{self.null_rate} + {self.empty_rate} + {self.extremes_rate}"
            )
        if not isinstance(self.date_format, str) or "%" not in self.date_format:
            raise SyntheticError(
                f"date_format must be a strftime format such as '%Y%m%d' or '%Y-%m-%d', "
                f"got {self.date_format!r}"
            )
        if not isinstance(self.providers, Mapping):
            raise SyntheticError(
                f"providers must map column names to Faker provider names, got {self.providers!r}"
            )
        set_("providers", dict(self.providers))
        _check_faker(self)

    def partition_bounds(self, partition: int) -> tuple[int, int]:
        """The global row numbers `[start, stop)` of one partition."""
        if not 0 <= partition < self.partitions:
            raise IndexError(f"partition {partition} is not in 0..{self.partitions - 1}")
        return (
            partition * self.rows // self.partitions,
            (partition + 1) * self.rows // self.partitions,
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# The simple types that can be generated, and the Python values a provider must return for them
# (strings take anything: the value is turned into str).
_VALUE_TYPES: dict[type[T.DataType], type | tuple[type, ...]] = {
    T.StringType: object,
    T.ByteType: int,
    T.ShortType: int,
    T.IntegerType: int,
    T.LongType: int,
    T.FloatType: (int, float),
    T.DoubleType: (int, float),
    T.DecimalType: Decimal,
    T.BooleanType: bool,
    T.DateType: dt.date,
    T.TimestampType: dt.datetime,
    T.TimestampNTZType: dt.datetime,
    T.BinaryType: (bytes, bytearray),
}
_SUPPORTED = tuple(_VALUE_TYPES)


def _check_supported(fields: Sequence[T.StructField], prefix: str) -> None:
    for f in fields:
        _check_type(f.dataType, prefix + f.name)


def _check_type(datatype: T.DataType, path: str) -> None:
    if isinstance(datatype, T.StructType):
        _check_supported(datatype.fields, path + ".")
    elif isinstance(datatype, T.ArrayType):
        _check_type(datatype.elementType, path + "[]")
    elif isinstance(datatype, T.MapType):
        if not isinstance(datatype.keyType, _SUPPORTED):
            raise SyntheticError(
                f"column {path!r}: map keys of type {datatype.keyType.simpleString()} cannot be "
                "generated; use a simple key type such as string or bigint"
            )
        _check_type(datatype.valueType, path + ".value")
    elif not isinstance(datatype, _SUPPORTED):
        raise SyntheticError(
            f"column {path!r}: type {datatype.simpleString()} cannot be generated; supported: "
            "string, tinyint, smallint, int, bigint, float, double, decimal, boolean, date, "
            "timestamp, timestamp_ntz, binary, and arrays, maps and structs of them"
        )


def _check_faker(spec: SyntheticSpec) -> None:
    """Fail on the driver, not in a Python worker, for a bad locale or provider."""
    from faker import Faker
    from faker.providers import BaseProvider

    try:
        fake = Faker(spec.locale, use_weighting=False)
    except AttributeError:
        raise SyntheticError(
            f"locale {spec.locale!r} is not a Faker locale; use one such as 'en_US' or 'de_DE'"
        ) from None
    fake.seed_instance(0)
    columns = {f.name: f.dataType for f in spec.schema.fields}
    for column, provider in spec.providers.items():
        if column not in columns:
            raise SyntheticError(
                f"providers names column {column!r}, which is not in the schema; "
                f"columns: {', '.join(columns)}"
            )
        method = getattr(fake, provider, None) if isinstance(provider, str) else None
        if not isinstance(getattr(method, "__self__", None), BaseProvider):
            raise SyntheticError(
                f"provider {provider!r} for column {column!r} is not a Faker provider; use the "
                "name of a Faker method such as 'email', 'city' or 'pyint'"
            )
        assert method is not None
        datatype = columns[column]
        expected = _VALUE_TYPES.get(type(datatype))
        if expected is None:
            raise SyntheticError(
                f"provider {provider!r} for column {column!r}: providers can only be set for "
                f"columns of simple types, not {datatype.simpleString()}"
            )
        try:
            value = method()
        except TypeError as exc:
            raise SyntheticError(
                f"provider {provider!r} for column {column!r} needs arguments ({exc}); use a "
                "provider that works without arguments"
            ) from None
        if not isinstance(value, expected):
            raise SyntheticError(
                f"provider {provider!r} gives {type(value).__name__} values, which column "
                f"{column!r} of type {datatype.simpleString()} cannot hold"
            )
