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

The modules: `schema` (parsing schemas), `spec` (`SyntheticSpec` and its checks), `values`
(the Faker values of a column), `generate` (rows of a partition, the DataFrame), `source`
(`synthetic:` source lines).
"""

from pytest_dcs.data.synthetic.generate import CONNECT_MAX_ROWS, generate, partition_rows
from pytest_dcs.data.synthetic.schema import (
    DDL_EXAMPLE,
    DEFAULT_ROWS,
    SOURCE_EXAMPLE,
    SyntheticError,
    parse_schema,
)
from pytest_dcs.data.synthetic.source import SOURCE_KEYS, from_source_text
from pytest_dcs.data.synthetic.spec import SyntheticSpec

__all__ = [
    "CONNECT_MAX_ROWS",
    "DDL_EXAMPLE",
    "DEFAULT_ROWS",
    "SOURCE_EXAMPLE",
    "SOURCE_KEYS",
    "SyntheticError",
    "SyntheticSpec",
    "from_source_text",
    "generate",
    "parse_schema",
    "partition_rows",
]
