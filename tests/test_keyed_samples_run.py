"""Samples by a shared `sample_key`, a collapsing keyed sample, and sample files that were cut or
edited, on real Spark.

One project with two JSON sources keyed by `customer_id`: `orders` (40 orders per customer, with
nulls, empties and a low-cardinality status) and `customers` (one row each, also customers with
no orders). Three runs of one fresh pytest process each:
  1. `--dcs-max-rung=distributed` (on a local[2] cluster engine): the join test passes at
     `local` and `distributed`, the orders sample warns that it collapsed to a few keys, and a
     sample_key the source lacks fails;
  2. with the orders sample deleted (its key set kept): the same sample is taken again;
  3. with the orders sample cut by a line and a column type changed in the customers sample's
     header: each test fails naming its file and the refresh option, without a traceback.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Project, Run

from pytest_dcs.data.samplestore import SampleStore

CUSTOMERS = 600
ORDERING_CUSTOMERS = 300
ORDERS_EACH = 40

INI = """
[pytest]
dcs_sources =
    orders = json:data/orders
    customers = json:data/customers
"""

TESTS = """
import pyspark.sql.functions as F
import pytest


@pytest.mark.scale("orders", sample_key="customer_id")
def test_join(scaled, rung):
    customers = rung.source("customers")
    joined = scaled.join(customers, "customer_id", "left")
    rung.expect_rows(joined, F.col("name").isNotNull(), name="order has its customer")
    rung.result(joined.groupBy("customer_id").agg(F.count("*").alias("orders")))


@pytest.mark.scale("customers", sample_key="customer_id")
def test_customers(scaled):
    assert scaled.count() > 0


@pytest.mark.scale("orders", sample_key="cust")
def test_wrong_key(scaled):
    assert scaled.count() > 0
"""


def write_sources(root: Path) -> None:
    (root / "orders").mkdir(parents=True, exist_ok=True)
    (root / "customers").mkdir(parents=True, exist_ok=True)
    orders = []
    for number in range(ORDERING_CUSTOMERS * ORDERS_EACH):
        customer = number % ORDERING_CUSTOMERS
        orders.append(
            {
                "order_id": number,
                "customer_id": f"cust-{customer:04d}",
                "amount": None if number % 997 == 5 else (number * 7919) % 10_000 / 100,
                "note": "" if number % 613 == 7 else f"note {number % 211}",
                "status": ["new", "paid", "sent", "returned"][number % 4]
                if number % 1500
                else "lost",
            }
        )
    (root / "orders" / "part-0.json").write_text("\n".join(map(json.dumps, orders)) + "\n")
    customers = [
        {"customer_id": f"cust-{c:04d}", "name": f"Customer {c}", "tier": c % 3}
        for c in range(CUSTOMERS)
    ]
    (root / "customers" / "part-0.json").write_text("\n".join(map(json.dumps, customers)) + "\n")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, dict[str, Run]]]:
    project = Project(tmp_path_factory.mktemp("keyed-samples"))
    project.write("pytest.ini", INI)
    project.write("test_shop.py", TESTS)
    write_sources(project.path / "data")
    samples = project.path / "dcs_samples"
    # The samples and the join's rows are checked, not the executors: a second local[2]
    # session as the cluster engine starts no executor JVMs.
    done = {"taken": project.run("--dcs-max-rung=distributed", "--dcs-cluster=local[2]")}

    orders = samples / "orders.by-customer_id.jsonl"
    project.write("orders_first.jsonl", orders.read_text())
    orders.unlink()
    (samples / "orders.by-customer_id.meta.json").unlink()
    done["again"] = project.run("--dcs-max-rung=local", "-k", "test_join")

    lines = orders.read_text().splitlines()
    orders.write_text("\n".join(lines[:-1]) + "\n")
    customers = samples / "customers.by-customer_id.jsonl"
    header, *rows = customers.read_text().splitlines()
    assert '"name": "tier", "nullable": true, "type": "long"' in header
    header = header.replace(
        '"name": "tier", "nullable": true, "type": "long"',
        '"name": "tier", "nullable": true, "type": "string"',
    )
    customers.write_text("\n".join([header, *rows]) + "\n")
    done["edited"] = project.run("--dcs-max-rung=local", "-k", "test_join or test_customers")
    yield project, done
    project.kill_leftovers()


def _keys(path: Path) -> list[str]:
    return [json.loads(line)["customer_id"] for line in path.read_text().splitlines()[1:]]


def test_a_join_by_a_shared_key_passes_at_local_and_distributed(
    runs: tuple[Project, dict[str, Run]],
) -> None:
    _, done = runs
    rungs = done["taken"].rungs("test_join")
    assert rungs["local"]["outcome"] == "passed", rungs["local"]["failure"]
    assert rungs["distributed"]["outcome"] == "passed", rungs["distributed"]["failure"]
    assert rungs["local"]["rows"] == rungs["distributed"]["rows"] > 0


def test_every_keyed_sample_is_drawn_from_one_kept_key_set(
    runs: tuple[Project, dict[str, Run]],
) -> None:
    project, _ = runs
    samples = project.path / "dcs_samples"
    key_set = SampleStore(samples).load("by-customer_id.keys")
    chosen = [row[0] for row in key_set.rows]
    assert len(chosen) == len(set(chosen)) == 200  # dcs_tiny_rows keys
    reasons = [row[-1] for row in key_set.rows]
    # The keys of rows with a null, an empty, a category or an extreme come first.
    assert reasons[0].startswith("null amount"), reasons[:5]
    first_random = reasons.index("random")
    assert first_random >= 5 and set(reasons[first_random:]) == {"random"}
    orders = _keys(project.path / "orders_first.jsonl")  # run 3 cut the file in the folder
    customers = _keys(samples / "customers.by-customer_id.jsonl")
    assert set(orders) <= set(customers) <= set(chosen)
    # Whole keys: every order of a customer in the sample is in it.
    assert all(orders.count(c) == ORDERS_EACH for c in set(orders))
    # Customers have one row each: their sample holds every key of the set.
    assert sorted(customers) == sorted(chosen)
    meta = json.loads((samples / "customers.by-customer_id.meta.json").read_text())
    assert meta["key_set"] == "by-customer_id.keys.jsonl"
    key_meta = json.loads((samples / "by-customer_id.keys.meta.json").read_text())
    assert key_meta["chosen_from"].startswith("orders = json:")


def test_a_collapsed_keyed_sample_warns_and_keeps_variance_keys(
    runs: tuple[Project, dict[str, Run]],
) -> None:
    project, done = runs
    meta = json.loads(
        (project.path / "dcs_samples" / "orders.by-customer_id.meta.json").read_text()
    )
    assert meta["keys"] == 200 // ORDERS_EACH
    assert meta["rows"] == 200
    assert meta["variance_rows"].get("random", 0) == 0  # variance keys took the whole budget
    assert meta["variance_dropped"], meta
    kept = meta["variance_found"] - len(meta["variance_dropped"])
    done["taken"].result.stdout.fnmatch_lines(
        [
            "*SampleWarning: the tiny sample of 'orders' holds 200 rows of 5 keys "
            f"(by customer_id) with {kept} of the {meta['variance_found']} variance reasons*"
            f"dropped {len(meta['variance_dropped'])}: *raise dcs_tiny_rows (now 200)*"
        ]
    )


def test_a_sample_key_the_source_lacks_fails_with_the_fix(
    runs: tuple[Project, dict[str, Run]],
) -> None:
    _, done = runs
    run = done["taken"]
    local = run.rungs("test_wrong_key")["local"]
    assert local["outcome"] == "failed"
    assert (
        "sample_key 'cust' of @pytest.mark.scale is not a column of source 'orders' "
        "(its columns: amount, customer_id, note, order_id, status). Name a column"
    ) in local["failure"]["summary"]
    assert "Traceback" not in run.output


def test_a_sample_taken_again_from_the_kept_key_set_is_the_same(
    runs: tuple[Project, dict[str, Run]],
) -> None:
    project, done = runs
    assert done["again"].rungs("test_join")["local"]["outcome"] == "passed"
    first = (project.path / "orders_first.jsonl").read_text()
    # Run 3 cut the file afterwards: compare the rows run 2 wrote, kept in its meta's digest.
    meta = json.loads(
        (project.path / "dcs_samples" / "orders.by-customer_id.meta.json").read_text()
    )
    assert meta["sha256"] == hashlib.sha256(first.encode()).hexdigest()


def test_a_cut_or_edited_sample_file_names_the_file_and_the_fix(
    runs: tuple[Project, dict[str, Run]],
) -> None:
    _, done = runs
    run = done["edited"]
    join = run.rungs("test_join")["local"]
    assert join["outcome"] == "failed"
    summary = join["failure"]["summary"]
    assert "orders.by-customer_id.jsonl has 199 rows, its meta" in summary
    assert "says 200: it was cut or edited since it was taken" in summary
    assert "--dcs-refresh-samples" in summary
    customers = run.rungs("test_customers")["local"]
    assert customers["outcome"] == "failed"
    assert (
        "customers.by-customer_id.jsonl is not the file its meta"
        in (customers["failure"]["summary"])
    )
    assert "Traceback" not in run.output
