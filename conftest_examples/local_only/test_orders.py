import pyspark.sql.functions as F
import pytest


@pytest.mark.scale("orders", sample_key="client_id")
def test_refunds_are_small(scaled, rung):
    rung.expect_rows(scaled, F.col("amount") >= -3, name="refunds of at most 3")
