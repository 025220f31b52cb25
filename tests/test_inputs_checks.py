"""What a run's inputs refuse or leave out, without a JVM: a dcs_mask column no source has,
rows this run captured (replayed from the next run on), and how many executors to wait for."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import types as T

from pytest_dcs.data.input_problems import MaskError, mask_problem
from pytest_dcs.data.inputs import Inputs
from pytest_dcs.data.masking import Masker
from pytest_dcs.data.samplestore import SampleStore
from pytest_dcs.data.sources import SourceSpec
from pytest_dcs.spark.warmup import expected_executors

SCHEMA = T.StructType([T.StructField("id", T.LongType()), T.StructField("email", T.StringType())])


def test_a_mask_column_of_some_source_is_fine() -> None:
    columns = {"events": ("id", "email"), "people": ("id", "city")}
    assert mask_problem({"email", "city"}, columns) is None


def test_a_mask_column_no_source_has_names_the_setting_the_column_and_the_columns() -> None:
    problem = mask_problem({"emial"}, {"events": ("id", "email"), "people": ("id", "city")})
    assert problem is not None
    assert problem.startswith(
        "dcs_mask names column 'emial', which no source has. events has id, email; people has "
        "id, city. Fix the column name in dcs_mask"
    )


def test_a_mask_column_in_the_wrong_case_is_named_with_the_real_one() -> None:
    problem = mask_problem({"Email"}, {"events": ("id", "email")})
    assert problem is not None
    assert "dcs_mask names column 'Email', which no source has (did you mean 'email'?)" in problem


def inputs(tmp_path: Path, mask: tuple[str, ...], sources: tuple[str, ...]) -> Inputs:
    specs = {name: SourceSpec(name, "dcs_sources", "json", f"data/{name}") for name in sources}
    return Inputs(specs, SampleStore(tmp_path / "samples"), 10, masker=Masker(mask))


def test_the_mask_is_judged_once_every_source_was_read(tmp_path: Path) -> None:
    both = inputs(tmp_path, ("city",), ("events", "people"))
    both.check_mask("events", SCHEMA)  # no city here, but people may have it
    with pytest.raises(MaskError, match="'city', which no source has"):
        both.check_mask("people", SCHEMA)
    # From then on every read says so, whichever source it reads.
    with pytest.raises(MaskError):
        both.check_mask("events", SCHEMA)


def test_one_source_without_the_mask_column_fails_its_first_read(tmp_path: Path) -> None:
    with pytest.raises(MaskError, match="events has id, email"):
        inputs(tmp_path, ("client_id",), ("events",)).check_mask("events", SCHEMA)
    inputs(tmp_path, ("email",), ("events",)).check_mask("events", SCHEMA)


def test_rows_captured_by_this_run_are_replayed_from_the_next_run_on(tmp_path: Path) -> None:
    store = SampleStore(tmp_path)
    earlier = Inputs({}, store, 10, run_id="run-1")
    earlier.capture("events", SCHEMA, [(1, "a@x")], mask=False, provenance={"test": "t"})
    this = Inputs({}, store, 10, run_id="run-2")
    this.capture("events", SCHEMA, [(2, "b@x")], mask=False, provenance={"test": "t"})
    assert this.captured("events", SCHEMA) == [(1, "a@x")]
    assert Inputs({}, store, 10, run_id="run-3").captured("events", SCHEMA) == [
        (1, "a@x"),
        (2, "b@x"),
    ]
    assert '"run": "run-2"' in store.captured_path("events").read_text()


@pytest.mark.parametrize(
    ("master", "conf", "expected"),
    [
        ("local-cluster[2,1,1024]", {}, 2),
        ("local-cluster[ 3 , 2, 512]", {}, 3),
        ("local[2]", {}, 0),
        ("spark://127.0.0.1:7077", {"spark.executor.instances": "4"}, 4),
        ("yarn", {"spark.executor.instances": "many"}, 0),
        ("k8s://https://host", {}, 0),
    ],
)
def test_executors_to_wait_for(master: str, conf: dict[str, str], expected: int) -> None:
    assert expected_executors(master, conf) == expected
