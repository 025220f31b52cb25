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


@pytest.mark.scale("main_summary", sample_key="client_id")
def test_first_experiment(scaled, rung):
    """Order dependence: `first` without an order differs between 1 partition and many."""
    rung.result(telemetry.first_experiment(scaled))


@pytest.mark.scale("main_summary", sample_key="client_id")
def test_first_experiment_by_date(scaled, rung):
    """The fix: the experiment of the earliest ping, whatever the partitioning."""
    out = rung.result(telemetry.first_experiment_by_date(scaled))
    assert out.count() == scaled.select("client_id").distinct().count()


@pytest.mark.scale("main_summary", sample_key="client_id")
def test_finished_sessions(scaled, rung):
    """Mental model: a subsession split by a day or an environment change is rare."""
    pings = rung.observe(scaled, split=~F.col("reason").isin(*telemetry.SESSION_ENDS))
    rung.expect_share("split", at_most=0.05)
    sessions = telemetry.finished_sessions(pings)
    assert sessions.where(F.col("sessions") < 0).count() == 0


@pytest.mark.scale("main_summary", sample_key="client_id")
def test_build_age(scaled, rung):
    """Variance in a joined source: a few clients' build ids are malformed, none of them in the
    tiny samples. The rows are found at a fraction rung and replayed at local from then on."""
    ages = telemetry.build_ages(scaled, rung.source("clients"))
    assert ages.where(F.col("build_age_days") < 0).count() == 0


@pytest.mark.scale("main_summary", fractions=(0.05, 0.2))
def test_near_duplicate_sessions(scaled, rung):
    """Every session against every other of its client: the 'MISSING' client makes it quadratic."""
    pairs = telemetry.near_duplicate_sessions(scaled)
    assert pairs.count() <= rung.rows
