"""The source is made by a hook, so the example needs no data files."""


def pytest_dcs_sources(config):
    def orders(spark):
        return spark.range(20_000).selectExpr(
            "id", "concat('c', id % 200) AS client_id", "id % 97 - 3 AS amount"
        )

    return {"orders": orders}
