"""Builds --dcs-cluster from the environment, so the token is on no command line or CI log."""

import os

import pytest

VARIABLES = ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CLUSTER_ID")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if config.getoption("dcs_cluster"):
        return
    missing = [name for name in VARIABLES if not os.environ.get(name)]
    if missing:
        raise pytest.UsageError(
            f"set {', '.join(missing)} (see README.md), or pass --dcs-cluster=sc://..."
        )
    host = os.environ["DATABRICKS_HOST"].removeprefix("https://").rstrip("/")
    config.option.dcs_cluster = (
        f"sc://{host}:443/;token={os.environ['DATABRICKS_TOKEN']}"
        f";x-databricks-cluster-id={os.environ['DATABRICKS_CLUSTER_ID']}"
    )
