"""Synthetic DataFrames: Faker values from a schema, generated on the executors, same per seed.

A `SyntheticSpec` names a schema, a row count, a seed, a partition count and how much variance
to inject. `generate(spark, spec)` spreads the partition indexes over the cluster and each Python
worker builds its partition's rows with a Faker seeded from `(seed, partition index)`, so
millions of rows never pass through the driver and the same spec gives the same rows on any
engine. The rows depend on the installed Faker version, which is the same on driver and workers.
Faker picks uniformly from its word lists (`use_weighting=False`): weighted picks of names and
cities cost 5-10x more.

Values follow the column's type and, for strings and numbers, the words of its name
(`client_id`, `submissionDate`, `email_address`, ...):

- any id word (`id`, `ids`, `uuid`, `guid`): strings are UUID4s; integers are the row number
  (1, 2, ...), random within collections;
- strings by name: email, user agent, IPv4/IPv6, country code, country, city, first/last/user
  name, name, phone, url, street address, postcode, company; date words (`date`, `day`, `dt`,
  `ds`, `dob`, `birthday`) give dates in `date_format`, time words (`timestamp`, `ts`, `time`,
  `datetime`, a trailing `at`) give `YYYY-MM-DD HH:MM:SS`; any other string is a Faker word;
- integers: `age` 0-99, `year` 1970-2030, counts (`count`, `n`, `num`, `total`, `qty`, `size`,
  ...) 0-1000, others 0-10000, clipped to the type; doubles/floats: latitude, longitude, money
  (`price`, `amount`, `cost`, ...) with cents, ratios (`rate`, `share`, `pct`, ...) in 0-1,
  others 0-1000; decimals non-negative with up to 6 integer digits;
- dates and timestamps within 2015-01-01 .. 2025-12-31 (fixed, so the rows do not depend on
  today); timestamps are built in UTC;
- arrays and maps hold 0-3 elements, generated recursively; structs field by field.

`providers` overrides the choice for a top-level column of a simple type with any no-argument
Faker provider (`{"email": "free_email"}`). Values are turned into `str` for string columns and
into `float` for float columns; for other types the provider must return the type's Python
values, which is checked once on the driver.

Variance: every value draws once from `[0, 1)`; below `null_rate` it is `None` (nullable fields,
array elements and map values only), in the next `empty_rate` it is `""` (strings only), in the
next `extremes_rate` it is one of the type's extremes:

- integers: the type's minimum and maximum (e.g. -2147483648 and 2147483647 for `int`);
- doubles and floats: the most negative and most positive finite values and the smallest
  positive subnormal one. NaN and infinities are left out: they are not extremes of the range,
  and NaN != NaN makes equal rows compare unequal in Python;
- decimals: +-(10^p - 1) / 10^s; dates: 0001-01-01 and 9999-12-31;
- timestamps: 0001-01-02 00:00 and 9999-12-30 23:59:59.999999 UTC, a day inside Spark's range so
  they collect in any local time zone; timestamp_ntz: the full range.

A value that cannot take what it drew (null in a non-nullable field, "" in a number) keeps its
normal value, so each rate holds on its own whatever else the column allows.

Source lines: `dcs_sources` takes `name = synthetic:<target>`, where the target is either

- `key=value` pairs separated by `;`::

      events = synthetic:rows=100000;seed=7;null_rate=0.001;schema=client_id string, n bigint

  keys: schema (a DDL string; required), rows (default 1000), seed (default 0), partitions,
  null_rate, empty_rate, extremes_rate, date_format, locale, and providers as
  `column:provider` pairs separated by `,` (`providers=email:free_email,city:city`); or
- the path of a JSON file (ending in `.json`, relative to the rootdir) holding an object with the
  same keys, where `schema` may also be a JSON schema (`StructType.jsonValue()`) and `providers`
  an object.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import random
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from pyspark.sql import types as T

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DEFAULT_DATE_FORMAT = "%Y%m%d"
DEFAULT_LOCALE = "en_US"
DEFAULT_ROWS = 1000
ROWS_PER_PARTITION = 250_000
MAX_COLLECTION_SIZE = 3

DDL_EXAMPLE = "id bigint, email string, signup string, tags array<string>, n int not null"
SOURCE_EXAMPLE = "rows=100000;seed=7;null_rate=0.001;schema=client_id string, n bigint"

_RANGE_START = dt.date(2015, 1, 1)
_RANGE_DAYS = (dt.date(2025, 12, 31) - _RANGE_START).days + 1
_EPOCH = dt.datetime(1970, 1, 1)
_RANGE_START_SECONDS = int((dt.datetime(2015, 1, 1) - _EPOCH).total_seconds())
_RANGE_SECONDS = _RANGE_DAYS * 86_400
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class SyntheticError(ValueError):
    """A schema or synthetic spec that cannot be used; the message says what and how to fix it."""


# -- schemas --------------------------------------------------------------------------------

_SIMPLE_TYPES: dict[str, Callable[[], T.DataType]] = {
    "string": T.StringType,
    "int": T.IntegerType,
    "integer": T.IntegerType,
    "bigint": T.LongType,
    "long": T.LongType,
    "smallint": T.ShortType,
    "short": T.ShortType,
    "tinyint": T.ByteType,
    "byte": T.ByteType,
    "double": T.DoubleType,
    "float": T.FloatType,
    "real": T.FloatType,
    "boolean": T.BooleanType,
    "date": T.DateType,
    "timestamp": T.TimestampType,
    "timestamp_ltz": T.TimestampType,
    "timestamp_ntz": T.TimestampNTZType,
    "binary": T.BinaryType,
}
_GENERIC_TYPES = ("decimal", "array", "map", "struct")
_TOKEN = re.compile(r"\s*(?:(`(?:[^`]|``)*`)|([A-Za-z_][A-Za-z0-9_]*)|(\d+)|([<>(),:]))")


class _DDLParser:
    """Recursive descent over the DDL subset `name type [not null], ...` with nested generics.

    pyspark's own `_parse_datatype_string` asks the JVM, so it needs a running SparkContext.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []  # (kind, value, position)
        pos = 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                rest = text[pos:].lstrip()
                if rest:
                    self.fail(f"unexpected character {rest[0]!r}", len(text) - len(rest))
                break
            quoted, word, number, punct = match.groups()
            start = match.start(match.lastindex or 0)
            if quoted is not None:
                self.tokens.append(("name", quoted[1:-1].replace("``", "`"), start))
            elif word is not None:
                self.tokens.append(("word", word, start))
            elif number is not None:
                self.tokens.append(("number", number, start))
            else:
                self.tokens.append(("punct", punct, start))
            pos = match.end()
        self.index = 0

    def fail(self, problem: str, position: int | None = None) -> NoReturn:
        if position is None:
            position = (
                self.tokens[self.index][2] if self.index < len(self.tokens) else len(self.text)
            )
        raise SyntheticError(
            f"bad schema {self.text!r}: {problem} at position {position}; "
            f"write it like {DDL_EXAMPLE!r}"
        )

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def next(self, expected: str) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            self.fail(f"expected {expected} but the schema ends")
        self.index += 1
        return token

    def punct(self, char: str) -> None:
        kind, value, position = self.next(repr(char))
        if (kind, value) != ("punct", char):
            self.fail(f"expected {char!r} but found {value!r}", position)

    def at_punct(self, char: str) -> bool:
        token = self.peek()
        return token is not None and token[:2] == ("punct", char)

    def at_word(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "word" and token[1].lower() == word

    def schema(self) -> T.StructType:
        if self.at_word("struct") and len(self.tokens) > 1 and self.tokens[1][1] == "<":
            parsed = self.datatype()
            self.end()
            assert isinstance(parsed, T.StructType)
            return parsed
        fields = self.fields()
        self.end()
        return fields

    def end(self) -> None:
        token = self.peek()
        if token is not None:
            self.fail(f"unexpected {token[1]!r}", token[2])

    def fields(self) -> T.StructType:
        fields: list[T.StructField] = []
        seen: set[str] = set()
        while True:
            position = self.tokens[self.index][2] if self.peek() else len(self.text)
            fields.append(self.field())
            if fields[-1].name.lower() in seen:
                self.fail(f"column {fields[-1].name!r} appears twice", position)
            seen.add(fields[-1].name.lower())
            if not self.at_punct(","):
                return T.StructType(fields)
            self.index += 1

    def field(self) -> T.StructField:
        kind, name, position = self.next("a column name")
        if kind not in ("word", "name"):
            self.fail(f"expected a column name but found {name!r}", position)
        if self.at_punct(":"):
            self.index += 1
        if self.peek() is None or self.at_punct(","):
            self.fail(f"column {name!r} has no type")
        datatype = self.datatype()
        nullable = True
        if self.at_word("not"):
            self.index += 1
            if not self.at_word("null"):
                self.fail("expected 'null' after 'not'")
            self.index += 1
            nullable = False
        return T.StructField(name, datatype, nullable)

    def datatype(self) -> T.DataType:
        kind, word, position = self.next("a type")
        name = word.lower()
        if kind != "word" or (name not in _SIMPLE_TYPES and name not in _GENERIC_TYPES):
            known = ", ".join([*_SIMPLE_TYPES, "decimal(p,s)", "array<t>", "map<k,v>", "struct<>"])
            self.fail(f"unknown type {word!r} (known: {known})", position)
        if name in _SIMPLE_TYPES:
            return _SIMPLE_TYPES[name]()
        if name == "decimal":
            return self.decimal()
        self.punct("<")
        result: T.DataType
        if name == "array":
            result = T.ArrayType(self.datatype())
        elif name == "map":
            key = self.datatype()
            self.punct(",")
            result = T.MapType(key, self.datatype())
        else:
            result = T.StructType() if self.at_punct(">") else self.fields()
        self.punct(">")
        return result

    def decimal(self) -> T.DecimalType:
        if not self.at_punct("("):
            return T.DecimalType(10, 0)
        self.index += 1
        numbers = [self.number()]
        if self.at_punct(","):
            self.index += 1
            numbers.append(self.number())
        self.punct(")")
        precision, scale = numbers[0], numbers[1] if len(numbers) > 1 else 0
        if not 1 <= precision <= 38 or scale > precision:
            self.fail(f"decimal({precision},{scale}) needs 1 <= precision <= 38 and scale <= it")
        return T.DecimalType(precision, scale)

    def number(self) -> int:
        kind, value, position = self.next("a number")
        if kind != "number":
            self.fail(f"expected a number but found {value!r}", position)
        return int(value)


def parse_schema(schema: str | Mapping[str, Any] | T.StructType) -> T.StructType:
    """A StructType from a DDL string, a JSON schema (dict or text) or a StructType.

    DDL is the subset `name type [not null], ...` (a `name: type` colon is allowed, names may be
    back-quoted) with the types string, int/integer, bigint/long, smallint/short, tinyint/byte,
    double, float/real, boolean, date, timestamp, timestamp_ntz, binary, decimal(p,s), array<t>,
    map<k,v> and struct<name: t, ...>, nested freely; it is parsed without a JVM. JSON is what
    `StructType.jsonValue()` / `.json()` produce. A bad schema raises `SyntheticError`.
    """
    if isinstance(schema, T.StructType):
        return schema
    if isinstance(schema, Mapping):
        return _schema_from_json(schema)
    if not isinstance(schema, str):
        raise SyntheticError(
            f"a schema is a DDL string, a JSON schema or a StructType, not "
            f"{type(schema).__name__}; for example {DDL_EXAMPLE!r}"
        )
    text = schema.strip()
    if not text:
        raise SyntheticError(f"the schema is empty; write it like {DDL_EXAMPLE!r}")
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SyntheticError(
                f"bad JSON schema: {exc}; give what StructType.json() produces, or DDL like "
                f"{DDL_EXAMPLE!r}"
            ) from None
        return _schema_from_json(value)
    return _DDLParser(text).schema()


def _schema_from_json(value: Any) -> T.StructType:
    example = '{"type": "struct", "fields": [{"name": "id", "type": "long", "nullable": true, ...'
    if not isinstance(value, Mapping) or value.get("type") != "struct":
        raise SyntheticError(
            f"a JSON schema must be a struct (what StructType.jsonValue() produces), like {example}"
        )
    try:
        parsed = T.StructType.fromJson(dict(value))
    except Exception as exc:  # pyspark raises several types for a malformed document
        raise SyntheticError(
            f"bad JSON schema: {type(exc).__name__}: {exc}; "
            f"give what StructType.jsonValue() produces, like {example}"
        ) from None
    names = [name.lower() for name in parsed.names]
    for name in parsed.names:
        if names.count(name.lower()) > 1:
            raise SyntheticError(f"bad JSON schema: column {name!r} appears twice")
    return parsed


# -- the spec -------------------------------------------------------------------------------


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


# -- values ---------------------------------------------------------------------------------

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


def _partition_seed(seed: int, partition: int) -> int:
    # A stable digest: Python's hash() of a str differs between processes.
    digest = hashlib.blake2b(f"pytest-dcs/{seed}/{partition}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def partition_rows(spec: SyntheticSpec, partition: int) -> Iterator[tuple[Any, ...]]:
    """The rows of one partition, as tuples in schema order.

    This is what the Python workers run; it only needs this module and Faker, and it gives the
    same rows wherever it runs. Chaining it over `range(spec.partitions)` gives all rows, for
    example to build a small DataFrame on a client without the RDD API.
    """
    start, stop = spec.partition_bounds(partition)
    if start == stop:
        return
    from faker import Faker

    # Uniform picks from Faker's word lists: weighted ones cost 5-10x more per value.
    fake = Faker(spec.locale, use_weighting=False)
    fake.seed_instance(_partition_seed(spec.seed, partition))
    row = _Builder(spec, fake).row()
    for i in range(start, stop):
        yield row(i)


# Over Spark Connect the rows are made on the client and sent with the plan: fine for test
# data, not for a source the size of real data.
CONNECT_MAX_ROWS = 200_000


def generate(spark: SparkSession, spec: SyntheticSpec) -> DataFrame:
    """A DataFrame of `spec.rows` synthetic rows with exactly `spec.schema`.

    On a classic session the rows are built on executors, one task per partition of the spec;
    the driver only sends the spec. Spark Connect has no RDD API, so there the same rows are
    built on the client (at most CONNECT_MAX_ROWS) and sent as a local relation.
    """
    if type(spark).__module__.startswith("pyspark.sql.connect"):
        if spec.rows > CONNECT_MAX_ROWS:
            raise SyntheticError(
                f"{spec.rows:,} rows: over Spark Connect synthetic rows are made on the client "
                f"and sent to the server, which is meant for at most {CONNECT_MAX_ROWS:,}; "
                "ask for fewer rows, or generate them on a classic session and write them "
                "where the server can read them (a parquet or table source)"
            )
        rows = [row for p in range(spec.partitions) for row in partition_rows(spec, p)]
        return spark.createDataFrame(rows, spec.schema)
    indexes = spark.sparkContext.parallelize(range(spec.partitions), spec.partitions)
    generated = indexes.flatMap(functools.partial(partition_rows, spec))
    return spark.createDataFrame(generated, spec.schema, verifySchema=False)


# -- source lines ---------------------------------------------------------------------------

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
