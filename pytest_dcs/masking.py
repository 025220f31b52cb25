"""Masking: columns in `dcs_mask` become deterministic Faker pseudonyms wherever rows leave Spark.

The same value always gets the same pseudonym (whatever column it is in), and different values get
different ones, so joins and group-bys on masked columns keep their meaning. The pseudonym's
style follows the column name (emails look like emails); a hash suffix keeps them distinct.
Nulls and empty strings are kept: they carry the variance a test is after, not a secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

from pyspark.sql import types as T

_STYLES = (
    ("email", "email"),
    ("mail", "email"),
    ("first_name", "first_name"),
    ("last_name", "last_name"),
    ("name", "name"),
    ("city", "city"),
    ("country", "country_code"),
    ("phone", "phone"),
    ("ip", "ipv4"),
    ("url", "url"),
    ("address", "street"),
)


@lru_cache(maxsize=1)
def _faker() -> Any:
    from faker import Faker

    return Faker("en_US")


def _digest(value: Any) -> bytes:
    return hashlib.sha256(f"dcs-mask:{type(value).__name__}:{value!r}".encode()).digest()


def _style(column: str) -> str:
    lowered = column.lower()
    for needle, style in _STYLES:
        if needle in lowered:
            return style
    return "word"


def pseudonym(value: Any, column: str, dtype: T.DataType) -> Any:
    """The pseudonym of `value` (a Python value of Spark type `dtype`) in column `column`."""
    if value is None or value == "":
        return value
    digest = _digest(value)
    number = int.from_bytes(digest[:8], "big")
    if isinstance(dtype, T.StringType):
        fake = _faker()
        fake.seed_instance(number)
        tag = digest.hex()[:8]
        style = _style(column)
        if style == "email":
            return f"{fake.user_name()}.{tag}@example.com"
        if style == "word":
            return f"{fake.word()}-{tag}"
        return f"{getattr(fake, style)()}-{tag}"
    if isinstance(dtype, T.BooleanType):
        return value
    if isinstance(dtype, (T.ByteType, T.ShortType, T.IntegerType, T.LongType)):
        bits = {T.ByteType: 7, T.ShortType: 15, T.IntegerType: 31, T.LongType: 63}[type(dtype)]
        return number % (1 << bits)
    if isinstance(dtype, (T.FloatType, T.DoubleType)):
        return float(number % 1_000_000) / 100
    if isinstance(dtype, T.DecimalType):
        return Decimal(number % (10 ** min(dtype.precision - dtype.scale, 12))).scaleb(0)
    if isinstance(dtype, T.DateType):
        return dt.date(1970, 1, 1) + dt.timedelta(days=number % 20000)
    if isinstance(dtype, (T.TimestampType, T.TimestampNTZType)):
        moment = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=number % 1_700_000_000)
        return (
            moment.replace(tzinfo=dt.timezone.utc) if isinstance(dtype, T.TimestampType) else moment
        )
    if isinstance(dtype, T.BinaryType):
        return bytearray(digest[: max(1, len(value))])
    if isinstance(dtype, T.ArrayType):
        return [pseudonym(v, column, dtype.elementType) for v in value]
    # Maps, structs and other types are masked whole: replaced by nothing recognisable.
    return None


class Masker:
    """Masks the configured columns of rows of one schema."""

    def __init__(self, columns: Collection[str]) -> None:
        self.columns = frozenset(columns)

    def __bool__(self) -> bool:
        return bool(self.columns)

    def rows(self, rows: Iterable[Sequence[Any]], schema: T.StructType) -> list[tuple[Any, ...]]:
        masked = [i for i, f in enumerate(schema.fields) if f.name in self.columns]
        if not masked:
            return [tuple(r) for r in rows]
        fields = schema.fields
        out = []
        for row in rows:
            values = list(row)
            for i in masked:
                values[i] = pseudonym(values[i], fields[i].name, fields[i].dataType)
            out.append(tuple(values))
        return out

    def record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A row given as a dict (column -> value): masked columns replaced by pseudonyms."""
        return {
            k: (pseudonym(v, k, _guess_type(v)) if k in self.columns else v)
            for k, v in record.items()
        }

    def scrub(self, text: str, originals: Iterable[Mapping[str, Any]]) -> str:
        """`text` with every masked original value of `originals` replaced by its pseudonym."""
        for record in originals:
            for column in self.columns & set(record):
                value = record[column]
                if value is None or value == "" or len(str(value)) < 3:
                    continue
                text = text.replace(str(value), str(pseudonym(value, column, _guess_type(value))))
        return text


def _guess_type(value: Any) -> T.DataType:
    if isinstance(value, bool):
        return T.BooleanType()
    if isinstance(value, int):
        return T.LongType()
    if isinstance(value, float):
        return T.DoubleType()
    if isinstance(value, dt.datetime):
        return T.TimestampType()
    if isinstance(value, dt.date):
        return T.DateType()
    return T.StringType()
