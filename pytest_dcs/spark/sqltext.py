"""Names and values written into SQL text, which the JVM parses in one Py4J call where building
the same expression from PySpark Columns costs a few calls per name and literal."""

from __future__ import annotations


def quoted(name: str) -> str:
    """A top-level column name for SQL text: dots, spaces and backquotes taken literally."""
    return "`" + name.replace("`", "``") + "`"


def string_literal(text: str) -> str:
    """A SQL string literal that reads back as `text` whatever the parser's escape setting
    (`spark.sql.parser.escapedStringLiterals`): text with a quote, a backslash or a character
    that does not print goes as its UTF-8 bytes in hex."""
    if text.isprintable() and "'" not in text and "\\" not in text:
        return f"'{text}'"
    return f"CAST(unhex('{text.encode('utf-8').hex()}') AS STRING)"
