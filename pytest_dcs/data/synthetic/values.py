"""The values of one column: chosen by its type and the words of its name, seeded per row."""

from __future__ import annotations

import datetime as dt
import random
import re
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from pyspark.sql import types as T

from pytest_dcs.data.synthetic.schema import (
    _EPOCH,
    _RANGE_DAYS,
    _RANGE_SECONDS,
    _RANGE_START,
    _RANGE_START_SECONDS,
    _TIME_FORMAT,
    MAX_COLLECTION_SIZE,
)
from pytest_dcs.data.synthetic.spec import SyntheticSpec

_Gen = Callable[[int], Any]

_ID_WORDS = frozenset({"id", "ids", "uuid", "uuids", "guid"})
_DATE_WORDS = frozenset({"date", "day", "dt", "ds", "dob", "birthday"})
_TIME_WORDS = frozenset({"timestamp", "ts", "time", "datetime"})

# Ordered (alternatives, result) rules: an alternative matches when all its words are in the name.
_STRING_RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("email", "mail"), "email"),
    (("user agent", "useragent", "ua"), "user_agent"),
    (("ipv6",), "ipv6"),
    (("ip", "ipv4", "ipaddress"), "ipv4"),
    (("country code", "country iso", "countrycode"), "country_code"),
    (("country",), "country"),
    (("city",), "city"),
    (("first name", "firstname", "given name"), "first_name"),
    (("last name", "lastname", "surname", "family name"), "last_name"),
    (("user name", "username", "login"), "user_name"),
    (("name",), "name"),
    (("phone", "mobile", "telephone"), "phone_number"),
    (("url", "uri", "link", "website", "homepage"), "url"),
    (("address", "street"), "street_address"),
    (("zip", "zipcode", "postcode", "postal"), "postcode"),
    (("company", "employer"), "company"),
)
_INT_RULES: tuple[tuple[tuple[str, ...], tuple[int, int]], ...] = (
    (("age",), (0, 99)),
    (("year",), (1970, 2030)),
    (
        ("count", "cnt", "n", "num", "number", "total", "qty", "quantity", "size", "length"),
        (0, 1000),
    ),
)
_GENERIC_INT_RANGE = (0, 10_000)
_FLOAT_RULES: tuple[tuple[tuple[str, ...], tuple[float, float, int | None]], ...] = (
    (("lat", "latitude"), (-90.0, 90.0, None)),
    (("lon", "lng", "longitude"), (-180.0, 180.0, None)),
    (("price", "amount", "cost", "revenue", "salary", "balance"), (0.0, 1000.0, 2)),
    (("rate", "ratio", "share", "pct", "percent", "fraction", "probability"), (0.0, 1.0, None)),
)
_GENERIC_FLOAT_RANGE = (0.0, 1000.0, None)

_INT_BOUNDS: dict[type[T.DataType], tuple[int, int]] = {
    T.ByteType: (-(2**7), 2**7 - 1),
    T.ShortType: (-(2**15), 2**15 - 1),
    T.IntegerType: (-(2**31), 2**31 - 1),
    T.LongType: (-(2**63), 2**63 - 1),
}
_FLOAT32_MAX = 3.4028234663852886e38
_FLOAT32_TINY = 1.401298464324817e-45
_DOUBLE_TINY = 5e-324
_UTC = dt.timezone.utc


def _words(name: str) -> tuple[str, ...]:
    """The lower-case words of a column name (`submissionDate`, `IPAddress`, `client_id`).

    A word ending in digits also counts without them: `ipv4`, `ipv`; `email2`, `email`.
    """
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", name)
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", spaced)
    words = re.findall(r"[a-z0-9]+", spaced.lower())
    return (*words, *(w.rstrip("0123456789") for w in words if w[-1].isdigit() and w[0].isalpha()))


def _rule(words: tuple[str, ...], rules: Sequence[tuple[tuple[str, ...], Any]]) -> Any:
    for alternatives, result in rules:
        for alternative in alternatives:
            if all(word in words for word in alternative.split()):
                return result
    return None


def _extremes(datatype: T.DataType) -> tuple[Any, ...]:
    """The boundary values of a type injected at `extremes_rate`; () for types without any."""
    bounds = _INT_BOUNDS.get(type(datatype))
    if bounds is not None:
        return bounds
    if isinstance(datatype, T.DoubleType):
        return (-sys.float_info.max, sys.float_info.max, _DOUBLE_TINY)
    if isinstance(datatype, T.FloatType):
        return (-_FLOAT32_MAX, _FLOAT32_MAX, _FLOAT32_TINY)
    if isinstance(datatype, T.DecimalType):
        largest = Decimal(f"{10**datatype.precision - 1}e-{datatype.scale}")
        return (-largest, largest)
    if isinstance(datatype, T.DateType):
        return (dt.date(1, 1, 1), dt.date(9999, 12, 31))
    if isinstance(datatype, T.TimestampNTZType):
        return (dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59, 999_999))
    if isinstance(datatype, T.TimestampType):
        return (
            dt.datetime(1, 1, 2, tzinfo=_UTC),
            dt.datetime(9999, 12, 30, 23, 59, 59, 999_999, tzinfo=_UTC),
        )
    return ()


class _Builder:
    """Turns a schema into value generators bound to one partition's seeded Faker."""

    def __init__(self, spec: SyntheticSpec, fake: Any) -> None:
        self.spec = spec
        self.fake = fake
        self.rng: random.Random = fake.random

    def row(self) -> Callable[[int], tuple[Any, ...]]:
        gens = [
            self.field(f.name, f.dataType, f.nullable, self.spec.providers.get(f.name))
            for f in self.spec.schema.fields
        ]
        return lambda i: tuple([gen(i) for gen in gens])

    def field(
        self,
        name: str,
        datatype: T.DataType,
        nullable: bool,
        provider: str | None = None,
        nested: bool = False,
    ) -> _Gen:
        base = self.provider(provider, datatype) if provider else self.value(name, datatype, nested)
        return self.vary(base, datatype, nullable)

    def vary(self, base: _Gen, datatype: T.DataType, nullable: bool) -> _Gen:
        spec = self.spec
        extremes = _extremes(datatype)
        empty = isinstance(datatype, T.StringType)
        if not (
            (nullable and spec.null_rate)
            or (empty and spec.empty_rate)
            or (extremes and spec.extremes_rate)
        ):
            return base
        null_below = spec.null_rate
        empty_below = null_below + spec.empty_rate
        extreme_below = empty_below + spec.extremes_rate
        draw, choice = self.rng.random, self.rng.choice

        def varied(i: int) -> Any:
            u = draw()
            if u < null_below:
                return None if nullable else base(i)
            if u < empty_below:
                return "" if empty else base(i)
            if u < extreme_below and extremes:
                return choice(extremes)
            return base(i)

        return varied

    def provider(self, provider: str, datatype: T.DataType) -> _Gen:
        method = getattr(self.fake, provider)
        if isinstance(datatype, T.StringType):
            return lambda i: str(method())
        if isinstance(datatype, (T.FloatType, T.DoubleType)):
            return lambda i: float(method())
        return lambda i: method()

    def value(self, name: str, datatype: T.DataType, nested: bool) -> _Gen:
        rng = self.rng
        if isinstance(datatype, T.StringType):
            return self.string(name)
        if type(datatype) in _INT_BOUNDS:
            return self.integer(name, datatype, nested)
        if isinstance(datatype, (T.DoubleType, T.FloatType)):
            low, high, digits = _rule(_words(name), _FLOAT_RULES) or _GENERIC_FLOAT_RANGE
            uniform = rng.uniform
            if digits is None:
                return lambda i: uniform(low, high)
            return lambda i: round(uniform(low, high), digits)
        if isinstance(datatype, T.DecimalType):
            scale = datatype.scale
            limit = 10 ** min(datatype.precision, scale + 6)
            return lambda i: Decimal(f"{rng.randrange(limit)}e-{scale}")
        if isinstance(datatype, T.BooleanType):
            return lambda i: rng.random() < 0.5
        if isinstance(datatype, T.DateType):
            return lambda i: self.date()
        if isinstance(datatype, T.TimestampNTZType):
            return lambda i: self.naive_time()
        if isinstance(datatype, T.TimestampType):
            return lambda i: self.naive_time().replace(tzinfo=_UTC)
        if isinstance(datatype, T.BinaryType):
            return lambda i: rng.randbytes(rng.randint(0, 16))
        if isinstance(datatype, T.ArrayType):
            element = self.field(name, datatype.elementType, datatype.containsNull, nested=True)
            return lambda i: [element(i) for _ in range(rng.randint(0, MAX_COLLECTION_SIZE))]
        if isinstance(datatype, T.MapType):
            key = self.value("key", datatype.keyType, nested=True)
            value = self.field(name, datatype.valueType, datatype.valueContainsNull, nested=True)
            return lambda i: {key(i): value(i) for _ in range(rng.randint(0, MAX_COLLECTION_SIZE))}
        assert isinstance(datatype, T.StructType), datatype
        gens = [self.field(f.name, f.dataType, f.nullable, nested=nested) for f in datatype.fields]
        return lambda i: tuple([gen(i) for gen in gens])

    def string(self, name: str) -> _Gen:
        words = _words(name)
        if _ID_WORDS.intersection(words):
            return lambda i: self.fake.uuid4()
        provider = _rule(words, _STRING_RULES)
        if provider is not None:
            method = getattr(self.fake, provider)
            return lambda i: method()
        if _DATE_WORDS.intersection(words):
            date_format = self.spec.date_format
            return lambda i: self.date().strftime(date_format)
        if _TIME_WORDS.intersection(words) or words[-1:] == ("at",):
            return lambda i: self.naive_time().strftime(_TIME_FORMAT)
        return lambda i: self.fake.word()

    def integer(self, name: str, datatype: T.DataType, nested: bool) -> _Gen:
        type_low, type_high = _INT_BOUNDS[type(datatype)]
        words = _words(name)
        if _ID_WORDS.intersection(words) and not nested:
            # Row numbers: unique per row, and the same on every engine.
            return lambda i: i % type_high + 1
        if _ID_WORDS.intersection(words):
            low, high = 1, 1_000_000
        else:
            low, high = _rule(words, _INT_RULES) or _GENERIC_INT_RANGE
        low, high = max(type_low, min(low, type_high)), min(high, type_high)
        randint = self.rng.randint
        return lambda i: randint(low, high)

    def date(self) -> dt.date:
        return dt.date.fromordinal(_RANGE_START.toordinal() + self.rng.randrange(_RANGE_DAYS))

    def naive_time(self) -> dt.datetime:
        seconds = _RANGE_START_SECONDS + self.rng.randrange(_RANGE_SECONDS)
        return _EPOCH + dt.timedelta(seconds=seconds)
