"""Tiny samples on disk: value codec, sample files, corruption and schema checks.

Only `pyspark.sql.types` is used; no JVM is started.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import types as T

from pytest_dcs.data.codec import (
    FORMAT_VERSION,
    SampleError,
    UnsupportedType,
    check_schema,
    decode_row,
    decode_value,
    encode_row,
    encode_value,
)
from pytest_dcs.data.samplestore import SampleStore, atomic_write, dump_rows

UTC = dt.timezone.utc


def roundtrip(value: Any, dtype: T.DataType) -> Any:
    """Encode, go through strict JSON text (as the file does), decode."""
    text = json.dumps(encode_value(value, dtype), allow_nan=False, ensure_ascii=False)
    return decode_value(json.loads(text), dtype)


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make the process' local time zone UTC-4/-5 so naive timestamps are not UTC."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# -- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["", "plain", "héllo wörld", "日本語", "🚀 emoji", 'quote " and \\ back', "a\nb\tc", "\x00"],
)
def test_strings_roundtrip(value: str) -> None:
    assert encode_value(value, T.StringType()) == value
    assert roundtrip(value, T.StringType()) == value


@pytest.mark.parametrize(
    ("value", "dtype"),
    [
        (0, T.IntegerType()),
        (-(2**31), T.IntegerType()),
        (2**63 - 1, T.LongType()),
        (-(2**63), T.LongType()),
        (127, T.ByteType()),
        (-32768, T.ShortType()),
    ],
)
def test_integers_roundtrip_exactly(value: int, dtype: T.DataType) -> None:
    assert encode_value(value, dtype) == value
    assert roundtrip(value, dtype) == value


@pytest.mark.parametrize("value", [True, False])
def test_booleans_stay_booleans(value: bool) -> None:
    assert roundtrip(value, T.BooleanType()) is value


@pytest.mark.parametrize("dtype", [T.DoubleType(), T.FloatType()])
@pytest.mark.parametrize("value", [0.0, -0.0, 1.5, 0.1, -1e300, 5e-324, 3])
def test_finite_floats_roundtrip(value: float, dtype: T.DataType) -> None:
    back = roundtrip(value, dtype)
    assert back == value
    assert type(back) is float
    assert math.copysign(1, back) == math.copysign(1, value)


@pytest.mark.parametrize("dtype", [T.DoubleType(), T.FloatType()])
@pytest.mark.parametrize(
    ("value", "encoded"), [(math.inf, "Infinity"), (-math.inf, "-Infinity"), (math.nan, "NaN")]
)
def test_special_floats_are_strings(value: float, encoded: str, dtype: T.DataType) -> None:
    assert encode_value(value, dtype) == encoded
    back = roundtrip(value, dtype)
    if math.isnan(value):
        assert math.isnan(back)
    else:
        assert back == value


@pytest.mark.parametrize(
    ("value", "dtype", "encoded"),
    [
        (Decimal("1.10"), T.DecimalType(10, 2), "1.10"),
        (Decimal("-0.000000001"), T.DecimalType(10, 9), "-1E-9"),
        (
            Decimal("12345678901234567890.123456789012345678"),
            T.DecimalType(38, 18),
            "12345678901234567890.123456789012345678",
        ),
        (Decimal("0"), T.DecimalType(5, 0), "0"),
    ],
)
def test_decimals_roundtrip_exactly(value: Decimal, dtype: T.DataType, encoded: str) -> None:
    assert encode_value(value, dtype) == encoded
    back = roundtrip(value, dtype)
    assert isinstance(back, Decimal)
    assert str(back) == str(value)  # same digits and exponent, not just numerically equal


@pytest.mark.parametrize("value", [dt.date(1, 1, 1), dt.date(2024, 2, 29), dt.date(9999, 12, 31)])
def test_dates_roundtrip(value: dt.date) -> None:
    assert encode_value(value, T.DateType()) == value.isoformat()
    assert roundtrip(value, T.DateType()) == value


def test_naive_timestamp_is_local_time_written_as_utc(new_york: None) -> None:
    # collect() gives naive local times; in July New York is UTC-4.
    value = dt.datetime(2024, 7, 1, 12, 0, 0, 123456)
    encoded = encode_value(value, T.TimestampType())
    assert encoded == "2024-07-01T16:00:00.123456+00:00"
    back = roundtrip(value, T.TimestampType())
    assert back == value.astimezone(UTC)
    assert back.utcoffset() == dt.timedelta(0)


def test_naive_timestamp_in_winter(new_york: None) -> None:
    value = dt.datetime(2024, 1, 15, 23, 30)
    assert encode_value(value, T.TimestampType()) == "2024-01-16T04:30:00+00:00"


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2024, 7, 1, 18, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        dt.datetime(2024, 7, 1, 16, 0, tzinfo=UTC),
        dt.datetime(2024, 7, 1, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=-10))),
    ],
)
def test_aware_timestamps_keep_the_instant(value: dt.datetime) -> None:
    encoded = encode_value(value, T.TimestampType())
    assert encoded == "2024-07-01T16:00:00+00:00"
    back = roundtrip(value, T.TimestampType())
    assert back == value
    assert back.utcoffset() == dt.timedelta(0)


def test_timestamp_ntz_stays_naive() -> None:
    value = dt.datetime(2024, 7, 1, 12, 0, 0, 5)
    assert encode_value(value, T.TimestampNTZType()) == "2024-07-01T12:00:00.000005"
    back = roundtrip(value, T.TimestampNTZType())
    assert back == value
    assert back.tzinfo is None


def test_time_of_day_roundtrips() -> None:
    value = dt.time(23, 59, 58, 999999)
    assert encode_value(value, T.TimeType()) == "23:59:58.999999"
    assert roundtrip(value, T.TimeType()) == value


@pytest.mark.parametrize("value", [b"", b"\x00\xff\x10", bytearray(b"abc")])
def test_binary_roundtrips_as_base64(value: bytes) -> None:
    encoded = encode_value(value, T.BinaryType())
    assert isinstance(encoded, str)
    back = roundtrip(value, T.BinaryType())
    assert isinstance(back, bytearray)
    assert bytes(back) == bytes(value)


def test_binary_encoding_is_base64() -> None:
    assert encode_value(b"\x00\xff", T.BinaryType()) == "AP8="


@pytest.mark.parametrize(
    ("value", "micros"),
    [
        (dt.timedelta(days=1, seconds=3, microseconds=7), 86_403_000_007),
        (dt.timedelta(microseconds=-1), -1),
        (dt.timedelta(0), 0),
        (dt.timedelta(days=-400, hours=5), -400 * 86_400_000_000 + 5 * 3_600_000_000),
    ],
)
def test_day_time_intervals_are_microseconds(value: dt.timedelta, micros: int) -> None:
    dtype = T.DayTimeIntervalType()
    assert encode_value(value, dtype) == micros
    assert roundtrip(value, dtype) == value


def test_variant_roundtrips() -> None:
    value = T.VariantVal(b"\x0c\x01", b"\x01\x00\x00")
    back = roundtrip(value, T.VariantType())
    assert (bytes(back.value), bytes(back.metadata)) == (b"\x0c\x01", b"\x01\x00\x00")


def test_arrays_roundtrip_with_nulls() -> None:
    dtype = T.ArrayType(T.DoubleType())
    value = [1.0, None, math.inf, -2.5]
    assert encode_value(value, dtype) == [1.0, None, "Infinity", -2.5]
    assert roundtrip(value, dtype) == value


def test_nested_arrays_roundtrip() -> None:
    dtype = T.ArrayType(T.ArrayType(T.DecimalType(4, 2)))
    value = [[Decimal("1.00"), None], [], None]
    assert roundtrip(value, dtype) == value


@pytest.mark.parametrize(
    ("value", "dtype"),
    [
        ({1: "a", 2: None, -3: "c"}, T.MapType(T.IntegerType(), T.StringType())),
        ({dt.date(2024, 1, 1): 1.5}, T.MapType(T.DateType(), T.DoubleType())),
        ({Decimal("0.10"): True}, T.MapType(T.DecimalType(3, 2), T.BooleanType())),
        ({b"\x00k": [1, None]}, T.MapType(T.BinaryType(), T.ArrayType(T.LongType()))),
        ({(1, 2): "pair", (): "empty"}, T.MapType(T.ArrayType(T.IntegerType()), T.StringType())),
        ({"k": {"inner": 1}}, T.MapType(T.StringType(), T.MapType(T.StringType(), T.ShortType()))),
        ({}, T.MapType(T.StringType(), T.StringType())),
    ],
)
def test_maps_with_any_key_type_roundtrip(value: dict[Any, Any], dtype: T.MapType) -> None:
    encoded = encode_value(value, dtype)
    assert isinstance(encoded, list)
    assert len(encoded) == len(value)
    back = roundtrip(value, dtype)
    assert back == value
    assert [type(k) for k in back] == [type(k) for k in value]


def test_map_encoding_is_key_value_pairs() -> None:
    dtype = T.MapType(T.IntegerType(), T.StringType())
    assert encode_value({1: "a", 2: None}, dtype) == [[1, "a"], [2, None]]


def test_map_with_struct_keys_roundtrips() -> None:
    key_type = T.StructType(
        [T.StructField("a", T.IntegerType()), T.StructField("b", T.StringType())]
    )
    dtype = T.MapType(key_type, T.LongType())
    value = {T.Row(a=1, b="x"): 10, T.Row(a=2, b=None): 20}
    back = roundtrip(value, dtype)
    assert back == {(1, "x"): 10, (2, None): 20}


NESTED = T.StructType(
    [
        T.StructField("id", T.LongType()),
        T.StructField(
            "client",
            T.StructType(
                [
                    T.StructField("name", T.StringType()),
                    T.StructField("seen", T.TimestampNTZType()),
                    T.StructField(
                        "geo",
                        T.StructType(
                            [
                                T.StructField("lat", T.DoubleType()),
                                T.StructField("tags", T.ArrayType(T.StringType())),
                            ]
                        ),
                    ),
                ]
            ),
        ),
        T.StructField("scores", T.MapType(T.StringType(), T.DecimalType(5, 2))),
    ]
)


def test_nested_structs_roundtrip() -> None:
    row = (
        7,
        ("Zoë", dt.datetime(2024, 5, 6, 7, 8, 9), (math.nan, ["a", None])),
        {"x": Decimal("1.25")},
    )
    encoded = encode_row(row, NESTED)
    assert encoded["client"]["geo"] == {"lat": "NaN", "tags": ["a", None]}
    back = decode_row(json.loads(json.dumps(encoded, allow_nan=False)), NESTED)
    assert back[0] == 7
    assert back[1][:2] == ("Zoë", dt.datetime(2024, 5, 6, 7, 8, 9))
    assert math.isnan(back[1][2][0])
    assert back[1][2][1] == ["a", None]
    assert back[2] == {"x": Decimal("1.25")}


def test_rows_of_pyspark_row_objects_encode_by_position() -> None:
    schema = T.StructType([T.StructField("a", T.IntegerType()), T.StructField("b", T.StringType())])
    assert encode_row(T.Row(a=1, b="x"), schema) == {"a": 1, "b": "x"}


@pytest.mark.parametrize(
    "dtype",
    [
        T.StringType(),
        T.LongType(),
        T.BooleanType(),
        T.DoubleType(),
        T.DecimalType(10, 2),
        T.DateType(),
        T.TimestampType(),
        T.TimestampNTZType(),
        T.BinaryType(),
        T.DayTimeIntervalType(),
        T.VariantType(),
        T.NullType(),
        T.ArrayType(T.StringType()),
        T.MapType(T.StringType(), T.StringType()),
        NESTED,
    ],
)
def test_none_roundtrips_for_every_type(dtype: T.DataType) -> None:
    assert encode_value(None, dtype) is None
    assert decode_value(None, dtype) is None


def test_none_everywhere_in_a_row() -> None:
    row = (None, (None, None, (None, [None])), {"k": None})
    back = decode_row(json.loads(json.dumps(encode_row(row, NESTED))), NESTED)
    assert back == row


def test_missing_column_in_a_row_object_decodes_as_none() -> None:
    schema = T.StructType([T.StructField("a", T.IntegerType()), T.StructField("b", T.StringType())])
    assert decode_row({"a": 1}, schema) == (1, None)


def test_row_with_wrong_arity_is_refused() -> None:
    schema = T.StructType([T.StructField("a", T.IntegerType())])
    with pytest.raises(ValueError):
        encode_row((1, 2), schema)


@pytest.mark.parametrize(
    "dtype", [T.YearMonthIntervalType(), T.CalendarIntervalType()], ids=lambda d: d.typeName()
)
def test_unsupported_types_cannot_be_encoded(dtype: T.DataType) -> None:
    with pytest.raises(UnsupportedType, match="cannot be kept in a sample"):
        encode_value(object(), dtype)


# -- check_schema ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "where"),
    [
        (T.StructField("months", T.YearMonthIntervalType()), "'months'"),
        (T.StructField("cal", T.CalendarIntervalType()), "'cal'"),
        (T.StructField("xs", T.ArrayType(T.YearMonthIntervalType())), "'xs[]'"),
        (T.StructField("m", T.MapType(T.YearMonthIntervalType(), T.IntegerType())), "'m.key'"),
        (T.StructField("m", T.MapType(T.IntegerType(), T.YearMonthIntervalType())), "'m.value'"),
        (
            T.StructField("s", T.StructType([T.StructField("inner", T.YearMonthIntervalType())])),
            "'s.inner'",
        ),
    ],
)
def test_check_schema_names_the_unsupported_column(field: T.StructField, where: str) -> None:
    schema = T.StructType([T.StructField("ok", T.StringType()), field])
    with pytest.raises(UnsupportedType) as excinfo:
        check_schema(schema)
    message = str(excinfo.value)
    assert message.startswith(f"column {where} has type")
    assert "cast or drop it in the source" in message
    assert isinstance(excinfo.value, SampleError)


def test_check_schema_message_shows_the_type() -> None:
    schema = T.StructType([T.StructField("months", T.YearMonthIntervalType())])
    with pytest.raises(UnsupportedType, match=r"type interval year to month"):
        check_schema(schema)


def test_check_schema_accepts_supported_types() -> None:
    check_schema(NESTED)
    check_schema(T.StructType([T.StructField("d", T.DayTimeIntervalType())]))


# -- files ----------------------------------------------------------------------------------

SCHEMA = T.StructType(
    [
        T.StructField("id", T.LongType(), nullable=False),
        T.StructField("name", T.StringType()),
        T.StructField("price", T.DecimalType(10, 2)),
        T.StructField("at", T.TimestampType()),
        T.StructField("blob", T.BinaryType()),
        T.StructField("tags", T.MapType(T.IntegerType(), T.StringType())),
    ]
)
ROWS = [
    (1, "héllo", Decimal("9.99"), dt.datetime(2024, 7, 1, 16, 0, tzinfo=UTC), b"\x01", {1: "a"}),
    (2, None, None, None, None, None),
    (3, "日本", Decimal("-0.50"), dt.datetime(1970, 1, 1, tzinfo=UTC), b"", {}),
]


def test_dump_rows_writes_a_header_and_one_line_per_row() -> None:
    lines = dump_rows(SCHEMA, ROWS).splitlines()
    assert len(lines) == 1 + len(ROWS)
    header = json.loads(lines[0])
    assert header == {"dcs_sample": FORMAT_VERSION, "schema": SCHEMA.jsonValue()}
    assert json.loads(lines[1])["price"] == "9.99"
    assert "héllo" in lines[1]  # kept readable, not \u-escaped


def test_save_and_load_roundtrip(tmp_path: Path) -> None:
    store = SampleStore(tmp_path / "samples")
    path = store.save("events", SCHEMA, ROWS, {"source": "events = parquet:/data"})
    assert path == tmp_path / "samples" / "events.jsonl"
    assert store.exists("events")
    assert not store.exists("clients")
    sample = store.load("events", expected=SCHEMA)
    assert sample.schema == SCHEMA
    assert sample.rows == [tuple(r) for r in ROWS]
    assert sample.meta["source"] == "events = parquet:/data"
    assert sample.meta["rows"] == 3


def test_save_records_a_checksum_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = SampleStore(tmp_path)
    path = store.save("events", SCHEMA, ROWS, {})
    meta = json.loads(store.meta_path("events").read_text(encoding="utf-8"))
    assert meta["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".gitattributes",
        "events.jsonl",
        "events.meta.json",
    ]
    assert (tmp_path / ".gitattributes").read_text() == "*.jsonl text diff\n"


def test_save_refuses_unsupported_schema_and_writes_nothing(tmp_path: Path) -> None:
    store = SampleStore(tmp_path / "samples")
    schema = T.StructType([T.StructField("months", T.YearMonthIntervalType())])
    with pytest.raises(UnsupportedType, match="'months'"):
        store.save("events", schema, [], {})
    assert not (tmp_path / "samples").exists()


def test_load_without_meta_file(tmp_path: Path) -> None:
    store = SampleStore(tmp_path)
    store.save("events", SCHEMA, ROWS[:1], {})
    store.meta_path("events").unlink()
    assert store.load("events").meta == {}


def test_load_with_corrupt_meta_file_keeps_the_rows(tmp_path: Path) -> None:
    store = SampleStore(tmp_path)
    store.save("events", SCHEMA, ROWS[:1], {})
    store.meta_path("events").write_text("{not json")
    sample = store.load("events")
    assert sample.meta == {}
    assert len(sample.rows) == 1


def test_save_and_load_an_empty_sample(tmp_path: Path) -> None:
    store = SampleStore(tmp_path)
    store.save("events", SCHEMA, [], {})
    sample = store.load("events")
    assert sample.rows == []
    assert sample.schema == SCHEMA


# -- corrupt samples ------------------------------------------------------------------------


def saved(tmp_path: Path) -> tuple[SampleStore, Path]:
    store = SampleStore(tmp_path)
    return store, store.save("events", SCHEMA, ROWS, {})


def load_error(store: SampleStore, path: Path, data: bytes) -> str:
    """Write `data` as the sample, load it, return the SampleError message; bytes stay put."""
    path.write_bytes(data)
    with pytest.raises(SampleError) as excinfo:
        store.load("events")
    assert path.read_bytes() == data
    return str(excinfo.value)


def assert_names_file_and_fix(message: str, path: Path) -> None:
    assert str(path) in message
    assert "--dcs-refresh-samples" in message
    assert "(the file is left as it is)" in message


@pytest.mark.parametrize(
    "header",
    [
        b"not json at all",
        b'{"schema": {"type": "struct", "fields": []}}',
        b'{"dcs_sample": 99, "schema": {"type": "struct", "fields": []}}',
        b'{"dcs_sample": 1}',
        b'{"dcs_sample": 1, "schema": "struct<a:int>"}',
        b'{"dcs_sample": 1, "schema": {"type": "struct", "fields": [{"name": "a"}]}}',
    ],
)
def test_bad_header(tmp_path: Path, header: bytes) -> None:
    store, path = saved(tmp_path)
    rest = path.read_bytes().split(b"\n", 1)[1]
    message = load_error(store, path, header + b"\n" + rest)
    assert message.startswith(f"The tiny sample {path} is corrupt:")
    assert_names_file_and_fix(message, path)


@pytest.mark.parametrize("header", [b"[1, 2]", b"42", b"null"])
def test_header_that_is_not_an_object(tmp_path: Path, header: bytes) -> None:
    store, path = saved(tmp_path)
    rest = path.read_bytes().split(b"\n", 1)[1]
    assert_names_file_and_fix(load_error(store, path, header + b"\n" + rest), path)


def test_empty_file(tmp_path: Path) -> None:
    store, path = saved(tmp_path)
    message = load_error(store, path, b"")
    assert "corrupt" in message
    assert_names_file_and_fix(message, path)


@pytest.mark.parametrize(
    "bad_line",
    [b"{not json", b'{"id": 1, "at": "yesterday"}', b'["a", "list"]', b'{"blob": "abc"}'],
)
def test_bad_row_line(tmp_path: Path, bad_line: bytes) -> None:
    store, path = saved(tmp_path)
    lines = path.read_bytes().splitlines()
    lines[2] = bad_line
    message = load_error(store, path, b"\n".join(lines) + b"\n")
    assert message.startswith(f"The tiny sample {path} is corrupt at line 3:")
    assert_names_file_and_fix(message, path)


def test_truncated_file(tmp_path: Path) -> None:
    store, path = saved(tmp_path)
    data = path.read_bytes()
    message = load_error(store, path, data[: len(data) - 12])
    assert f"is corrupt at line {1 + len(ROWS)}:" in message
    assert_names_file_and_fix(message, path)


def test_file_truncated_inside_a_multibyte_character(tmp_path: Path) -> None:
    store, path = saved(tmp_path)
    data = path.read_bytes()
    cut = data.index("héllo".encode()) + 2  # between the two bytes of 'é'
    assert_names_file_and_fix(load_error(store, path, data[:cut]), path)


def test_corrupt_decimal_value(tmp_path: Path) -> None:
    store, path = saved(tmp_path)
    data = path.read_bytes().replace(b'"9.99"', b'"nine"')
    assert_names_file_and_fix(load_error(store, path, data), path)


def test_missing_file(tmp_path: Path) -> None:
    store = SampleStore(tmp_path)
    with pytest.raises(SampleError) as excinfo:
        store.load("events")
    message = str(excinfo.value)
    assert message.startswith(f"Cannot read the tiny sample {store.sample_path('events')}")
    assert "--dcs-refresh-samples" in message


def test_refresh_hint_is_configurable(tmp_path: Path) -> None:
    store = SampleStore(tmp_path, refresh_hint="--my-refresh")
    store.save("events", SCHEMA, ROWS, {})
    store.sample_path("events").write_text("garbage\n")
    with pytest.raises(SampleError, match="Refresh it with: pytest --my-refresh"):
        store.load("events")


def test_schema_mismatch_with_expected(tmp_path: Path) -> None:
    store, path = saved(tmp_path)
    before = path.read_bytes()
    changed = T.StructType([*SCHEMA.fields[:-1], T.StructField("tags", T.StringType())])
    with pytest.raises(SampleError) as excinfo:
        store.load("events", expected=changed)
    message = str(excinfo.value)
    assert "was taken with another schema than the source has now" in message
    assert f"sample: {SCHEMA.simpleString()}" in message
    assert f"source: {changed.simpleString()}" in message
    assert_names_file_and_fix(message, path)
    assert path.read_bytes() == before


def test_nullability_change_is_a_schema_mismatch(tmp_path: Path) -> None:
    store, _ = saved(tmp_path)
    relaxed = T.StructType([T.StructField("id", T.LongType(), True), *SCHEMA.fields[1:]])
    with pytest.raises(SampleError, match="another schema"):
        store.load("events", expected=relaxed)


# -- captured rows across a change of the source's schema --------------------------------------

OLD = T.StructType(
    [T.StructField("id", T.LongType(), False), T.StructField("exp", T.StringType(), True)]
)
GAINED = T.StructType([*OLD.fields, T.StructField("region", T.StringType(), True)])
LOST = T.StructType(OLD.fields[:1])


def captured(tmp_path: Path) -> tuple[SampleStore, Path]:
    store = SampleStore(tmp_path)
    path, added = store.add_captured("events", OLD, [(1, None), (2, "")], {"rung": "10pct"})
    assert added == 2
    return store, path


def test_captured_rows_read_under_a_gained_column_as_null(tmp_path: Path) -> None:
    store, path = captured(tmp_path)
    before = path.read_bytes()
    assert store.load_captured("events", GAINED) == [(1, None, None), (2, "", None)]
    assert path.read_bytes() == before


def test_captured_rows_drop_a_lost_column(tmp_path: Path) -> None:
    store, _ = captured(tmp_path)
    assert store.load_captured("events", LOST) == [(1,), (2,)]


def test_capturing_under_a_new_schema_keeps_the_old_rows_and_their_provenance(
    tmp_path: Path,
) -> None:
    store, path = captured(tmp_path)
    old_lines = path.read_text(encoding="utf-8").splitlines()[1:]
    _, added = store.add_captured("events", GAINED, [(3, "x", "eu"), (1, None, None)], {})
    assert added == 1  # (1, None, None) is the first captured row, read under the new schema
    lines = path.read_text(encoding="utf-8").splitlines()
    assert T.StructType.fromJson(json.loads(lines[0])["schema"]) == GAINED
    assert lines[1:3] == old_lines
    assert all(json.loads(line)["rung"] == "10pct" for line in lines[1:3])
    assert store.load_captured("events", GAINED) == [(1, None, None), (2, "", None), (3, "x", "eu")]


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        (
            T.StructType([OLD.fields[0], T.StructField("exp", T.LongType(), True)]),
            "column 'exp' changed type from string to bigint",
        ),
        (
            T.StructType([*OLD.fields, T.StructField("region", T.StringType(), False)]),
            "the source gained column 'region', which cannot be null",
        ),
    ],
)
def test_captured_rows_that_cannot_carry_over_name_why_and_stay_put(
    tmp_path: Path, schema: T.StructType, problem: str
) -> None:
    store, path = captured(tmp_path)
    before = path.read_bytes()
    with pytest.raises(SampleError) as excinfo:
        store.load_captured("events", schema)
    message = str(excinfo.value)
    assert problem in message
    assert str(path) in message and "--dcs-forget-captured" in message
    with pytest.raises(SampleError):
        store.add_captured("events", schema, [(9, 9)], {})
    assert path.read_bytes() == before


@pytest.mark.parametrize("text", ["line\u2028separator", "para\u2029graph", "next\x85line"])
def test_strings_with_unicode_line_breaks_survive_the_file(tmp_path: Path, text: str) -> None:
    store = SampleStore(tmp_path)
    schema = T.StructType([T.StructField("s", T.StringType())])
    store.save("events", schema, [(text,), ("after",)], {})
    assert store.load("events").rows == [(text,), ("after",)]


# -- atomic_write ---------------------------------------------------------------------------


def test_atomic_write_creates_parents_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "out.txt"
    atomic_write(path, "first\n")
    atomic_write(path, "second ✓\n")
    assert path.read_text(encoding="utf-8") == "second ✓\n"
    assert os.listdir(path.parent) == ["out.txt"]


def test_failed_atomic_write_keeps_the_old_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    atomic_write(path, "old\n")
    with pytest.raises(UnicodeEncodeError):
        atomic_write(path, "lone surrogate \ud800")
    assert path.read_text(encoding="utf-8") == "old\n"
    assert os.listdir(tmp_path) == ["out.txt"]
