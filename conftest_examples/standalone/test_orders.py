"""A UDF from the project's own `jobs` package, shipped to the cluster's executors."""

import pyspark.sql.functions as F
import pytest
from jobs.pricing import with_tax


@pytest.mark.scale("orders", sample_key="client_id")
def test_taxed_totals(scaled, rung):
    taxed = scaled.withColumn("taxed", F.udf(with_tax, "long")("amount"))
    totals = taxed.groupBy("client_id").agg(F.sum("taxed").alias("total"))
    rung.expect_rows(totals, F.col("total").isNotNull(), name="every client has a total")
