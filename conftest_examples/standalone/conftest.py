"""A standalone-cluster ladder over a source made by a hook, so it needs no data files."""

import pytest


def pytest_configure(config):
    if not (config.getoption("dcs_cluster") or "").startswith("spark://"):
        raise pytest.UsageError(
            "this example runs its cluster rungs on a standalone cluster: "
            "pytest --dcs-cluster=spark://HOST:7077"
        )


def pytest_dcs_sources(config):
    def orders(spark):
        return spark.range(100_000).selectExpr(
            "id", "concat('c', id % 1000) AS client_id", "id % 97 - 3 AS amount"
        )

    return {"orders": orders}
