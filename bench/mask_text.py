"""What masking a failure's text costs, next to the failing body's own time.

In one local[2] session (the plugin's local-engine conf) over a parquet source of `--rows` rows
(default 2M: id, email, value) in 20 files, measured side by side, `--repeat` times each (median):

  body       a UDF that raises `ValueError(f"bad email {email}")` on one row, run until the job
             fails: what the failing rung itself costs
  lookup     `Masker.learn_from` on that failure's text (the driver's traceback and message):
             one filter of the masked column by the text's tokens (`candidate_tokens`)
  scrub      `Masker.scrub` of the failure's text with what the lookup learned (pure Python)

then the lookup with 300 and 1,500 made-up words added to the text (each token is a literal of
the filter; a lookup takes at most 5,000), and last the same lookup written with `Column.isin`,
which sends each literal over Py4J (`learn_from` writes one SQL `IN` of hex literals instead).
Run from the repository root; other engineers' Spark jobs share the machine, so compare the
ratios of one run rather than seconds across runs:

    .venv/bin/python bench/mask_text.py [--rows 2000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from pytest_dcs.data.masking import Masker, candidate_tokens
from pytest_dcs.spark.config import LOOPBACK, EngineConfig
from pytest_dcs.spark.engines import Engines


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from pyspark.sql import functions as F

    os.environ["SPARK_LOCAL_IP"] = LOOPBACK  # the JVM inherits it: it binds to loopback only
    engines = Engines(EngineConfig("local[2]", "local-cluster[2,1,1024]"))
    spark = engines.session("local")
    try:
        with tempfile.TemporaryDirectory(prefix="dcs-bench-mask-") as folder:
            path = str(Path(folder) / "people")
            spark.range(args.rows).selectExpr(
                "id", "concat('user', id, '.secret@corp.example') AS email", "id % 97 AS value"
            ).repartition(20).write.parquet(path)
            people = spark.read.parquet(path)
            bad = args.rows // 2 + 3

            def check(number: int, email: str) -> int:
                if number == bad:
                    raise ValueError(f"bad email {email}")
                return number

            checked = F.udf(check, "long")
            failing = people.select(checked("id", "email").alias("c")).where("c IS NOT NULL")
            text = ""

            def body() -> None:
                nonlocal text
                try:
                    failing.count()
                except Exception as exc:
                    # What pytest's report holds of it: the driver's traceback and the message.
                    text = "".join(traceback.format_exception(exc))

            body()  # the Python workers start; the text is the one to mask
            assert f"user{bad}.secret@corp.example" in text, text[:500]
            tokens = candidate_tokens([text])
            body_s = median_seconds(body, args.repeat)
            Masker(["email"]).learn_from(people, [text])  # its first plan compiles
            lookup_s = median_seconds(
                lambda: Masker(["email"]).learn_from(people, [text]), args.repeat
            )
            masker = Masker(["email"])
            found = masker.learn_from(people, [text])
            scrub_s = median_seconds(lambda: masker.scrub(text), args.repeat)
            assert f"user{bad}.secret@corp.example" not in masker.scrub(text)

            padded = {}
            for count in (300, 1500):
                words = " ".join(f"pad{i}word" for i in range(count))
                looked_up = candidate_tokens([text, words])
                padded[len(looked_up)] = median_seconds(
                    lambda w=words: Masker(["email"]).learn_from(people, [text, w]), args.repeat
                )

            def per_literal(tokens: list[str] = looked_up) -> None:
                # The same lookup with `Column.isin`, which sends each literal over Py4J.
                condition = F.col("email").cast("string").isin(tokens)
                people.where(condition).select("email").distinct().limit(1000).collect()

            isin_s = median_seconds(per_literal, args.repeat)
    finally:
        engines.shutdown()

    print(f"rows {args.rows:,}; failure text {len(text):,} chars, {len(tokens):,} tokens")
    print(f"values found by the lookup: {found}")
    print(f"{'step':<30}{'seconds':>10}{'x body':>10}")
    rows = [
        ("body (failing UDF job)", body_s),
        (f"lookup ({len(tokens):,} tokens)", lookup_s),
        ("scrub (Python)", scrub_s),
        *((f"lookup ({n:,} tokens)", s) for n, s in padded.items()),
        (f"isin ({len(looked_up):,} tokens)", isin_s),
    ]
    for name, seconds in rows:
        print(f"{name:<30}{seconds:>10.3f}{seconds / body_s:>10.2f}")


if __name__ == "__main__":
    main()
