"""Masking: columns in `dcs_mask` become deterministic Faker pseudonyms wherever rows leave Spark.

The same value always gets the same pseudonym (whatever column it is in), and different values get
different ones, so joins and group-bys on masked columns keep their meaning. The pseudonym's
style follows the column name (emails look like emails); a hash suffix keeps them distinct.
Nulls and empty strings are kept: they carry the variance a test is after, not a secret.

Real values also reach text: an exception that quotes a row, a worker's traceback. The `Masker`
remembers every value it masked, can look up in a DataFrame the values a text quotes
(`learn_from`), and replaces them all in text by their pseudonyms (`scrub`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import operator
import re
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from decimal import Decimal
from functools import lru_cache, reduce
from typing import TYPE_CHECKING, Any

from pyspark.sql import types as T

from pytest_dcs.spark.sqltext import quoted, string_literal

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

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
    """Masks the configured columns of rows of one schema, and text that quotes their values.

    Every real value it masks is remembered with its pseudonym, in the text forms a message
    would quote it in (`str`, and `repr` where that differs), so that `scrub` can replace it
    in exception messages, tracebacks and reports later in the run.
    """

    def __init__(self, columns: Collection[str]) -> None:
        self.columns = frozenset(columns)
        self._known: dict[str, str] = {}
        self._values: dict[tuple[str, type, Any], Any] = {}

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
                values[i] = self._mask(values[i], fields[i].name, fields[i].dataType)
            out.append(tuple(values))
        return out

    def record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A row given as a dict (column -> value): masked columns replaced by pseudonyms."""
        return {
            k: (self._mask(v, k, _guess_type(v)) if k in self.columns else v)
            for k, v in record.items()
        }

    def _mask(self, value: Any, column: str, dtype: T.DataType) -> Any:
        masked = pseudonym(value, column, dtype)
        for original, replacement in text_forms(value, masked):
            self._known.setdefault(original, replacement)
        with contextlib.suppress(TypeError):  # unhashable (arrays): their elements are text
            self._values.setdefault((column, type(value), value), masked)
        return masked

    def scrub(self, text: str, originals: Iterable[Mapping[str, Any]] = ()) -> str:
        """`text` with every masked value known so far, and those of the records `originals`
        (column -> real value), replaced by its pseudonym (see `scrub_text`)."""
        for record in originals:
            self.record(record)
        return scrub_text(text, self._known)

    def scrub_json(self, value: Any) -> Any:
        """`value` (JSON-like: dicts, lists, strings...) with `scrub` applied to every string,
        and a field named like a masked column that holds a real value masked before (a number,
        a date) given its pseudonym."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, Mapping):
            return {k: self._field(k, v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub_json(v) for v in value]
        return value

    def _field(self, name: Any, value: Any) -> Any:
        if name in self.columns and not isinstance(value, str):
            with contextlib.suppress(TypeError):
                masked = self._values.get((name, type(value), value))
                if masked is not None:
                    return masked
        return self.scrub_json(value)

    def learn_from(self, df: DataFrame, texts: Iterable[str]) -> int:
        """Find the values of `df`'s masked columns that `texts` quote, and remember them, so
        that `scrub` masks them too; how many distinct rows of such values there were.

        One Spark job: a filter of the masked columns (as strings) by the words and quoted
        strings of the texts (`candidate_tokens`), at most `SCAN_LIMIT` rows collected.
        """
        fields = [f for f in df.schema.fields if f.name in self.columns and _scannable(f.dataType)]
        tokens = candidate_tokens(texts)
        if not fields or not tokens:
            return 0
        condition = reduce(operator.or_, (_among(f.name, tokens) for f in fields))
        names = [f.name for f in fields]
        found = df.where(condition).select(*names).distinct().limit(SCAN_LIMIT).collect()
        self.rows(found, T.StructType(fields))
        return len(found)

    def look_up(self, frames: Iterable[DataFrame], texts: Sequence[str]) -> dict[str, Any]:
        """`learn_from` each of `frames` (the sources a failed rung read): what was found, how
        long it took, and the first error, as the report's `masking` field. A lookup that fails
        is no failure of the test: the values known already are masked all the same."""
        began = time.perf_counter()
        found, error = 0, None
        for df in frames:
            try:
                found += self.learn_from(df, texts)
            except Exception as exc:  # a dead session, a source gone: mask what is known
                lines = str(exc).strip().splitlines()
                error = error or f"{type(exc).__name__}: {lines[0] if lines else ''}"
        return {
            "values_found": found,
            "seconds": round(time.perf_counter() - began, 3),
            "error": error,
        }


# Shorter values are left in text: replacing every "7" or "ok" would garble a trace and hide
# next to nothing.
MIN_TEXT_CHARS = 3
# Tokens of a failure's text looked up in its input, and rows of matches kept, at most.
SCAN_TOKENS = 5000
SCAN_LIMIT = 1000
_MAX_TOKEN_CHARS = 200
# A value cut short at an ellipsis is replaced when this much of it is left: shorter stumps
# would match common words.
_MIN_CUT_CHARS = 6
_WORD_CHAR = re.compile(r"\w")
_JAVA_FRAME = re.compile(r"^\s*(?:at [\w$.<>/]+\(|\.\.\. \d+ more)")
_QUOTED = re.compile(r"'([^'\n]+)'|\"([^\"\n]+)\"")
_SEPARATORS = re.compile(r"[\s()\[\]{}<>,;=`|]+")
# Stripped from the ends of words; a quote inside a word stays (o'neil@x.com).
_EDGES = ".:!?'\""
# Up to this many neighbouring words form one token: values with spaces (names, addresses).
_NGRAM = 3


def text_forms(original: Any, masked: Any) -> list[tuple[str, str]]:
    """The ways text quotes `original`, each with the same form of its pseudonym `masked`.

    `str` (an f-string, Java's message) and `repr` (`{x!r}`, a traceback's locals) where it
    differs: for strings the part between the quotes, so escapes are matched too. Array
    elements count one by one. Nulls, empty and short values, booleans and values masked whole
    (maps, structs) have none.
    """
    if isinstance(original, list | tuple) and isinstance(masked, list | tuple):
        return [f for o, m in zip(original, masked, strict=False) for f in text_forms(o, m)]
    if original is None or masked is None or isinstance(original, bool | bytes | bytearray):
        return []
    forms = [(str(original), str(masked))]
    if isinstance(original, str):
        quoted = (repr(original)[1:-1], repr(str(masked))[1:-1])
    else:
        quoted = (repr(original), repr(masked))
    if quoted[0] != forms[0][0]:
        forms.append(quoted)
    return [(o, m) for o, m in forms if len(o) >= MIN_TEXT_CHARS and o != m]


def scrub_text(text: str, replacements: Mapping[str, str]) -> str:
    """`text` with each key of `replacements` that stands as a whole word replaced by its value.

    "Whole" means not glued to a letter, digit or underscore at an end where the value itself
    has one: `ann` is not replaced in `annual`, `a@x.com` not in `ba@x.com`. One pass, longest
    value first, so a value that is part of another one does not break the longer one up, and
    a pseudonym is never replaced again. A value cut short at an ellipsis (`...`) is replaced too.
    """
    present = sorted((v for v in replacements if v in text), key=len, reverse=True)
    if present:
        pattern = re.compile("|".join(_whole(v) for v in present))
        text = pattern.sub(lambda m: replacements[m.group(0)], text)
    return _unclip(text, replacements)


def _unclip(text: str, replacements: Mapping[str, str]) -> str:
    """`text` with the parts of values cut short at an ellipsis replaced by their pseudonyms:
    `bad email user5.sec...` (a summary's length limit), `'user5.se...example'` (pytest's
    `saferepr` keeps both ends). Cut parts shorter than `_MIN_CUT_CHARS` are left."""
    if "..." not in text:
        return text
    values = [v for v in replacements if len(v) > _MIN_CUT_CHARS]
    pieces = text.split("...")
    for i in range(len(pieces) - 1):
        # Only an ellipsis glued to a word cuts one (not "\t... 5 more" of a Java trace).
        before, after = pieces[i], pieces[i + 1]
        if before and not before[-1].isspace():
            cut, value = max(((_cut_end(before, v), v) for v in values), default=(0, ""))
            if cut:
                pieces[i] = before[:-cut] + replacements[value]
        if after and not after[0].isspace():
            cut, value = max(((_cut_start(after, v), v) for v in values), default=(0, ""))
            if cut:
                pieces[i + 1] = replacements[value] + after[cut:]
    return "...".join(pieces)


def _cut_end(text: str, value: str) -> int:
    """How many characters at the end of `text` are the start of `value`, cut (0: none)."""
    for size in range(len(value) - 1, _MIN_CUT_CHARS - 1, -1):
        start = len(text) - size
        if text.endswith(value[:size]) and not (
            start > 0 and _WORD_CHAR.match(value[0]) and _WORD_CHAR.match(text[start - 1])
        ):
            return size
    return 0


def _cut_start(text: str, value: str) -> int:
    """How many characters at the start of `text` are the end of `value`, cut (0: none)."""
    for size in range(len(value) - 1, _MIN_CUT_CHARS - 1, -1):
        if text.startswith(value[-size:]) and not (
            size < len(text) and _WORD_CHAR.match(value[-1]) and _WORD_CHAR.match(text[size])
        ):
            return size
    return 0


def _whole(value: str) -> str:
    before = r"(?<!\w)" if _WORD_CHAR.match(value[0]) else ""
    after = r"(?!\w)" if _WORD_CHAR.match(value[-1]) else ""
    return f"{before}{re.escape(value)}{after}"


def candidate_tokens(texts: Iterable[str], limit: int = SCAN_TOKENS) -> list[str]:
    """What in `texts` could be a quoted value: quoted strings, words stripped of punctuation,
    and runs of up to three words; Java stack frames are skipped. First seen first, at most
    `limit`, each of `MIN_TEXT_CHARS` to 200 characters."""
    found: dict[str, None] = {}

    def add(token: str) -> bool:
        if MIN_TEXT_CHARS <= len(token) <= _MAX_TOKEN_CHARS:
            found.setdefault(token)
        return len(found) >= limit

    for text in texts:
        for line in text.splitlines():
            if _JAVA_FRAME.match(line):
                continue
            for match in _QUOTED.finditer(line):
                if add(match.group(1) or match.group(2)):
                    return list(found)
            words = [w.strip(_EDGES) for w in _SEPARATORS.split(line)]
            words = [w for w in words if w]
            for size in range(1, _NGRAM + 1):
                for start in range(len(words) - size + 1):
                    if add(" ".join(words[start : start + size])):
                        return list(found)
    return list(found)


def _among(column: str, tokens: Sequence[str]) -> Column:
    """`column`, cast to a string, is one of `tokens`, as one SQL expression: `isin` makes a
    Py4J call per literal, which took 5-6 s for 4,600 tokens on a loaded machine (this: 0.01 s).
    The literals read back whatever the parser's settings (`string_literal`); Spark folds them
    into a hash set (`INSET`)."""
    from pyspark.sql import functions as F

    values = ", ".join(string_literal(t) for t in tokens)
    return F.expr(f"CAST({quoted(column)} AS STRING) IN ({values})")


def _scannable(dtype: T.DataType) -> bool:
    """Types whose values cast to the string a message quotes them as."""
    return isinstance(dtype, T.StringType | T.NumericType | T.DateType)


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
