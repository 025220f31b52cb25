"""The demo suite: each test climbs the ladder over the generated main_summary source."""

import pyspark.sql.functions as F
import pytest
from jobs import telemetry


@pytest.mark.scale("main_summary", sample_key="client_id")
def test_recent_e10s(scaled, rung):
    """Clean: a null-safe DataFrame filter climbs every rung."""
    out = telemetry.recent_e10s(scaled, since="20170519")
    assert out.where(~F.col("active_experiment_id").startswith("e10s")).count() == 0


@pytest.mark.scale("main_summary")
def test_fragile_udf(scaled):
    """Data variance: a row function that raises on the rare null experiment id."""
    is_e10s = F.udf(lambda value: value.startswith("e10s"), "boolean")
    assert scaled.where(is_e10s("active_experiment_id")).count() >= 0


@pytest.mark.scale("main_summary")
def test_helper_module_udf(scaled):
    """Framework state: the helper module imports on the driver, not on the executors."""
    is_e10s = F.udf(
        lambda value: value is not None and telemetry.is_e10s_experiment(value), "boolean"
    )
    assert scaled.where(is_e10s("active_experiment_id")).count() >= 0


@pytest.mark.scale("main_summary")
def test_hours_per_client(scaled, rung):
    out = telemetry.hours_per_client(scaled)
    assert out.where(F.col("hours") < 0).count() == 0
