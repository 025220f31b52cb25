"""Sample values to JSON and back by their Spark type, exactly: decimals as strings, timestamps as
UTC ISO-8601, binary as base64, maps as [key, value] pairs, NaN and infinities as strings.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from pyspark.sql import types as T

FORMAT_VERSION = 1
FORGET_HINT = "--dcs-forget-captured"
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class SampleError(Exception):
    """A sample file that cannot be used; the message names the file and the fix."""


class UnsupportedType(SampleError):
    """A column whose Spark type cannot be brought to Python and back."""


def encode_value(value: Any, dtype: T.DataType) -> Any:
    """A JSON-ready form of `value`, a Python value of Spark type `dtype` (as `collect` gives)."""
    if value is None:
        return None
    if isinstance(dtype, T.UserDefinedType):
        return encode_value(dtype.serialize(value), dtype.sqlType())
    if isinstance(dtype, (T.FloatType, T.DoubleType)):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return float(value)
    if isinstance(dtype, T.DecimalType):
        return str(value)
    if isinstance(dtype, T.TimestampNTZType):
        return value.isoformat()
    if isinstance(dtype, T.TimestampType):
        # A naive value from collect() is local time; pin it to UTC so the file travels.
        return value.astimezone(dt.timezone.utc).isoformat()
    if isinstance(dtype, (T.DateType, T.TimeType)):
        return value.isoformat()
    if isinstance(dtype, T.BinaryType):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(dtype, T.DayTimeIntervalType):
        return value // dt.timedelta(microseconds=1)
    if isinstance(dtype, T.VariantType):
        return {
            "value": base64.b64encode(bytes(value.value)).decode("ascii"),
            "metadata": base64.b64encode(bytes(value.metadata)).decode("ascii"),
        }
    if isinstance(dtype, T.ArrayType):
        return [encode_value(v, dtype.elementType) for v in value]
    if isinstance(dtype, T.MapType):
        return [
            [encode_value(k, dtype.keyType), encode_value(v, dtype.valueType)]
            for k, v in value.items()
        ]
    if isinstance(dtype, T.StructType):
        return encode_row(value, dtype)
    if isinstance(dtype, (T.StringType, T.BooleanType, T.IntegralType, T.NullType)):
        return value
    raise UnsupportedType(f"type {dtype.simpleString()} cannot be kept in a sample")


def decode_value(raw: Any, dtype: T.DataType) -> Any:
    """The Python value `createDataFrame` takes for `raw`, as written by `encode_value`."""
    if raw is None:
        return None
    if isinstance(dtype, T.UserDefinedType):
        return dtype.deserialize(decode_value(raw, dtype.sqlType()))
    if isinstance(dtype, (T.FloatType, T.DoubleType)):
        return _SPECIAL_FLOATS[raw] if isinstance(raw, str) else float(raw)
    if isinstance(dtype, T.DecimalType):
        return Decimal(raw)
    if isinstance(dtype, (T.TimestampType, T.TimestampNTZType)):
        return dt.datetime.fromisoformat(raw)
    if isinstance(dtype, T.DateType):
        return dt.date.fromisoformat(raw)
    if isinstance(dtype, T.TimeType):
        return dt.time.fromisoformat(raw)
    if isinstance(dtype, T.BinaryType):
        return bytearray(base64.b64decode(raw))
    if isinstance(dtype, T.DayTimeIntervalType):
        return dt.timedelta(microseconds=raw)
    if isinstance(dtype, T.VariantType):
        return T.VariantVal(base64.b64decode(raw["value"]), base64.b64decode(raw["metadata"]))
    if isinstance(dtype, T.ArrayType):
        return [decode_value(v, dtype.elementType) for v in raw]
    if isinstance(dtype, T.MapType):
        return {
            _hashable(decode_value(k, dtype.keyType)): decode_value(v, dtype.valueType)
            for k, v in raw
        }
    if isinstance(dtype, T.StructType):
        return decode_row(raw, dtype)
    return raw


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, bytearray):
        return bytes(value)
    return value


def encode_row(row: Sequence[Any], schema: T.StructType) -> dict[str, Any]:
    """A row (tuple-like, in schema order) as a JSON object keyed by column name."""
    return {f.name: encode_value(v, f.dataType) for f, v in zip(schema.fields, row, strict=True)}


def decode_row(raw: Mapping[str, Any], schema: T.StructType) -> tuple[Any, ...]:
    """A row object back to a tuple in schema order."""
    return tuple(decode_value(raw.get(f.name), f.dataType) for f in schema.fields)


def check_schema(schema: T.StructType) -> None:
    """Raise UnsupportedType naming the first column a sample cannot hold."""
    for field in schema.fields:
        _check_type(field.dataType, field.name)


def _check_type(dtype: T.DataType, where: str) -> None:
    blocked = (T.YearMonthIntervalType, T.CalendarIntervalType)
    if isinstance(dtype, blocked) or type(dtype).__name__ in ("GeographyType", "GeometryType"):
        raise UnsupportedType(
            f"column {where!r} has type {dtype.simpleString()}, which PySpark cannot bring to "
            "Python; cast or drop it in the source (a pytest_dcs_sources loader can do that)"
        )
    if isinstance(dtype, T.ArrayType):
        _check_type(dtype.elementType, f"{where}[]")
    elif isinstance(dtype, T.MapType):
        _check_type(dtype.keyType, f"{where}.key")
        _check_type(dtype.valueType, f"{where}.value")
    elif isinstance(dtype, T.StructType):
        for field in dtype.fields:
            _check_type(field.dataType, f"{where}.{field.name}")
