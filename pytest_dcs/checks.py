"""What the `rung` checks read from Spark: plans, observed counts, key skew.

Everything here works on a classic session and over Spark Connect (plans are read through
`explain` strings, counts through DataFrame observations, skew through aggregations).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pyspark.sql import Column, DataFrame, Observation, Row

# Physical operators that pair every row of one side with every row of the other.
EVERY_ROW_JOINS = {
    "CartesianProduct": "a cartesian product",
    "BroadcastNestedLoopJoin": "a broadcast nested-loop join",
}

# Functions whose result depends on row order or partitioning, with what to do instead.
ORDER_DEPENDENT = {
    "first": "first()/last() take whichever row a partition meets first: order the rows in a "
    "window, or use min_by/max_by",
    "last": "first()/last() take whichever row a partition meets first: order the rows in a "
    "window, or use min_by/max_by",
    "first_value": "first_value()/last_value() without an ordered window depend on row order",
    "last_value": "first_value()/last_value() without an ordered window depend on row order",
    "any_value": "any_value() picks an arbitrary row: use min/max or min_by/max_by",
    "collect_list": "collect_list() keeps the order rows arrive in: sort the array "
    "(array_sort) or use collect_set",
    "monotonically_increasing_id": "monotonically_increasing_id() encodes the partition: "
    "derive ids from the data (a hash of the key, or row_number over an ordered window)",
    "spark_partition_id": "spark_partition_id() is the partition: do not put it in a result",
    "rand": "rand()/randn() without a seed differ per partitioning: give a seed, or do not "
    "put random values in a result",
    "randn": "rand()/randn() without a seed differ per partitioning",
    "uuid": "uuid() differs per run: derive ids from the data",
    "row_number": "row_number() over a window whose order has ties numbers tied rows "
    "arbitrarily: order by a unique key",
}
LIMIT_HINT = "limit() without orderBy() keeps whichever rows come first: order before limiting"
FLOAT_HINT = (
    "sums of floating-point values depend on the order they are added in (a non-associative "
    "reduce): round the result, sum decimals, or compare with a tolerance"
)
GENERIC_HINT = (
    "look for order-dependent aggregates (first, last, collect_list), non-associative reduces "
    "(floating-point sums, custom reduce functions) and partition-dependent ids "
    "(monotonically_increasing_id, spark_partition_id)"
)


def plan_text(df: DataFrame, mode: str = "simple") -> str:
    """The `explain` text of `df`'s plan ("" when it cannot be read)."""
    jdf = getattr(df, "_jdf", None)
    try:
        if jdf is not None:
            jvm: Any = df.sparkSession._jvm
            return str(jvm.PythonSQLUtils.explainString(jdf.queryExecution(), mode))
        # Spark Connect's DataFrame (a Column to the type checker: `df.name` reads a column).
        return str(cast(Any, df)._explain_string(mode=mode))
    except Exception:
        return ""


def every_row_joins(df: DataFrame) -> list[str]:
    """Plan warnings: joins in `df`'s physical plan that compare every row with every row."""
    text = plan_text(df, "simple")
    physical = text.split("== Physical Plan ==", 1)[-1]
    found = []
    for line in physical.splitlines():
        operator = line.strip().lstrip("+-:* ").split(" ", 1)[0]
        name = EVERY_ROW_JOINS.get(operator)
        if name is None:
            continue
        condition = line.strip().split(",", 2)[-1].strip() if "," in line else ""
        found.append(f"{name} ({operator}{', ' + condition if condition else ''})")
    return found


def order_hints(df: DataFrame) -> list[str]:
    """Hints about the functions in `df`'s analyzed plan that depend on order or partitioning."""
    text = plan_text(df, "extended")
    analyzed = text.split("== Analyzed Logical Plan ==", 1)[-1].split("== Optimized", 1)[0]
    hints: list[str] = []
    if "GlobalLimit" in analyzed and "Sort [" not in analyzed:
        hints.append(LIMIT_HINT)
    for name, hint in ORDER_DEPENDENT.items():
        if re.search(rf"(?<![\w.]){name}\(", analyzed) and hint not in hints:
            hints.append(hint)
    return hints


# -- observations ----------------------------------------------------------------------------

ROWS_METRIC = "__dcs_rows"


@dataclass
class Observed:
    """Row counts per named condition on one observed DataFrame."""

    names: tuple[str, ...]
    observation: Observation
    counts: dict[str, int] = field(default_factory=dict)
    rows: int | None = None

    def ready(self) -> bool:
        """Whether the observed DataFrame has been computed (never blocks)."""
        if self.rows is not None:
            return True
        jo = getattr(self.observation, "_jo", None)
        if jo is not None:  # classic: a JVM future completed by the first action
            done = bool(jo.future().isCompleted())
        else:  # Spark Connect: the client fills the result when the action returns
            done = bool(getattr(self.observation, "_result", None))
        if done:
            values: dict[str, Any] = self.observation.get
            self.rows = int(values.get(ROWS_METRIC) or 0)
            self.counts = {name: int(values.get(name) or 0) for name in self.names}
        return done


def observe(
    df: DataFrame, label: str, conditions: dict[str, Column | str]
) -> tuple[DataFrame, Observed]:
    """`df` with a count of rows and of rows meeting each condition, taken when it is computed."""
    from pyspark.sql import Column, Observation
    from pyspark.sql import functions as F

    metrics = [F.count(F.lit(1)).alias(ROWS_METRIC)]
    for name, condition in conditions.items():
        column = F.expr(condition) if isinstance(condition, str) else condition
        if not isinstance(column, Column):
            raise TypeError(
                f"condition {name}= is a {type(condition).__name__}; give a Column "
                "(F.col('x').isNull()) or a SQL expression string ('x IS NULL')"
            )
        metrics.append(F.sum(F.when(column, 1).otherwise(0)).alias(name))
    observation = Observation(label)
    return df.observe(observation, *metrics), Observed(tuple(conditions), observation)


# -- skew ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Skew:
    """Rows per key of a DataFrame: the heaviest keys, and how they compare with the median."""

    keys: tuple[str, ...]
    total_rows: int
    distinct_keys: int
    median: float
    top: list[tuple[tuple[Any, ...], int]]

    @property
    def ratio(self) -> float:
        if not self.top:
            return 0.0
        return self.top[0][1] / self.median if self.median else float("inf")

    def records(self) -> list[dict[str, Any]]:
        return [
            {
                **dict(zip(self.keys, key, strict=True)),
                "rows": rows,
                "share": f"{rows / self.total_rows:.1%}" if self.total_rows else "",
                "x median": round(rows / self.median, 1) if self.median else None,
            }
            for key, rows in self.top
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "keys": list(self.keys),
            "rows": self.total_rows,
            "distinct_keys": self.distinct_keys,
            "median_rows_per_key": self.median,
            "max_over_median": None if self.ratio == float("inf") else round(self.ratio, 2),
            "top": self.records(),
        }


def skew(df: DataFrame, keys: tuple[str, ...], top: int) -> Skew:
    """Two jobs over the per-key counts: their summary, and the `top` heaviest keys."""
    from pyspark.sql import functions as F

    counts = df.groupBy(*keys).agg(F.count(F.lit(1)).alias("__rows"))
    summary = counts.agg(
        F.count(F.lit(1)).alias("keys"),
        F.sum("__rows").alias("rows"),
        F.percentile_approx("__rows", 0.5).alias("median"),
    ).first()
    heaviest = counts.orderBy(F.desc("__rows")).limit(top).collect()
    assert summary is not None
    return Skew(
        keys=keys,
        total_rows=int(summary["rows"] or 0),
        distinct_keys=int(summary["keys"] or 0),
        median=float(summary["median"] or 0),
        top=[(tuple(row[k] for k in keys), int(row["__rows"])) for row in heaviest],
    )


def rows_among(df: DataFrame, rows: Sequence[Row]) -> list[Row]:
    """The rows of `df` equal to one of `rows` (nulls equal nulls; map columns, which Spark
    cannot compare, are left out of the comparison): one scan of `df`, `rows` broadcast."""
    from functools import reduce

    from pyspark.sql import functions as F

    from pytest_dcs.data.sampling import hash_columns

    if not rows:
        return []
    probe = df.sparkSession.createDataFrame(list(rows), df.schema)
    # The columns Spark can hash are the ones it can compare.
    names = hash_columns(df)
    if not names:
        return []
    renamed = probe.select([F.col(f"`{n}`").alias(f"__dcs_probe_{i}") for i, n in enumerate(names)])
    condition = reduce(
        lambda a, b: a & b,
        (df[f"`{n}`"].eqNullSafe(renamed[f"__dcs_probe_{i}"]) for i, n in enumerate(names)),
    )
    return df.join(F.broadcast(renamed), condition, "left_semi").limit(len(rows)).collect()
