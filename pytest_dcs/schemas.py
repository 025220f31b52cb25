"""How two frames' schemas differ, in words, and the loosest type two columns can be compared as."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql.types import DataType, StructType


def schema_differences(
    actual: StructType,
    expected: StructType,
    *,
    ignore_nullable: bool = True,
    ignore_column_order: bool = False,
) -> list[str]:
    """What differs between two schemas, one line each; empty when they match."""
    a_names, e_names = actual.fieldNames(), expected.fieldNames()
    problems: list[str] = []
    a_fields = {f.name: f for f in reversed(actual.fields)}
    e_fields = {f.name: f for f in reversed(expected.fields)}

    def described(fields: dict[str, Any], name: str) -> str:
        field = fields[name]
        return f"{name} {_type_text(field.dataType, field.nullable, not ignore_nullable)}"

    only_actual = list((Counter(a_names) - Counter(e_names)).elements())
    only_expected = list((Counter(e_names) - Counter(a_names)).elements())
    if only_actual:
        problems.append("only in actual: " + ", ".join(described(a_fields, n) for n in only_actual))
    if only_expected:
        problems.append(
            "only in expected: " + ", ".join(described(e_fields, n) for n in only_expected)
        )
    for name in dict.fromkeys(n for n in a_names if n in e_fields):
        a_field, e_field = a_fields[name], e_fields[name]
        a_type = _type_text(a_field.dataType, a_field.nullable, not ignore_nullable)
        e_type = _type_text(e_field.dataType, e_field.nullable, not ignore_nullable)
        if a_type != e_type:
            problems.append(f"column {name}: {a_type} in actual, {e_type} in expected")
    if not only_actual and not only_expected and a_names != e_names:
        duplicated = sorted(n for n, k in Counter(a_names).items() if k > 1)
        if not ignore_column_order:
            problems.append(
                f"column order: actual ({', '.join(a_names)}), expected ({', '.join(e_names)})"
            )
        elif duplicated:
            problems.append(
                "columns cannot be matched by name when names repeat: " + ", ".join(duplicated)
            )
    return problems


def _type_text(data_type: DataType, nullable: bool, show_nullable: bool) -> str:
    """A type as `simpleString`, with `not null` marks at every level when they matter."""
    from pyspark.sql.types import ArrayType, MapType, StructType

    mark = " not null" if show_nullable and not nullable else ""
    if isinstance(data_type, StructType):
        inner = ", ".join(
            f"{f.name}: {_type_text(f.dataType, f.nullable, show_nullable)}"
            for f in data_type.fields
        )
        return f"struct<{inner}>{mark}"
    if isinstance(data_type, ArrayType):
        element = _type_text(data_type.elementType, data_type.containsNull, show_nullable)
        return f"array<{element}>{mark}"
    if isinstance(data_type, MapType):
        key = _type_text(data_type.keyType, False, False)
        value = _type_text(data_type.valueType, data_type.valueContainsNull, show_nullable)
        return f"map<{key}, {value}>{mark}"
    return f"{data_type.simpleString()}{mark}"


def loosest(a: DataType, b: DataType) -> DataType:
    """The type of two types equal but for nullability, nullable wherever either one is.

    The canonical columns are built from it, so that nulls on either side get their flags.
    """
    from pyspark.sql.types import ArrayType, MapType, StructField, StructType

    if isinstance(a, StructType) and isinstance(b, StructType):
        return StructType(
            [
                StructField(f.name, loosest(f.dataType, g.dataType), f.nullable or g.nullable)
                for f, g in zip(a.fields, b.fields, strict=True)
            ]
        )
    if isinstance(a, ArrayType) and isinstance(b, ArrayType):
        element = loosest(a.elementType, b.elementType)
        return ArrayType(element, a.containsNull or b.containsNull)
    if isinstance(a, MapType) and isinstance(b, MapType):
        value = loosest(a.valueType, b.valueType)
        return MapType(a.keyType, value, a.valueContainsNull or b.valueContainsNull)
    return a
