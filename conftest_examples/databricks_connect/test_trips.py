import pyspark.sql.functions as F
import pytest
from jobs.fares import per_mile


@pytest.mark.scale("trips", sample_key="pickup_zip")
def test_fare_per_mile(scaled, rung):
    rated = scaled.withColumn("per_mile", F.udf(per_mile, "double")("fare_amount", "trip_distance"))
    rung.expect_rows(
        rated, F.col("per_mile").isNull() | (F.col("per_mile") >= 0), name="no negative fares"
    )
