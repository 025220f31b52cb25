"""Schemas of synthetic DataFrames: DDL text, JSON or a StructType, parsed to a StructType."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from pyspark.sql import types as T

if TYPE_CHECKING:
    pass


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
