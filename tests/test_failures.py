"""Failure kinds, summaries and stories from exceptions, without a JVM.

The texts in data/spark_errors/ were captured once from real PySpark 4.3 runs on local[2] and
local-cluster[2,1,1024]; the few a laptop cannot produce (YARN, Kubernetes, a Kryo overflow in
Spark 4, a second Python version) were written by hand in Spark's shape. Each file says which
("source") and how ("how"). A test rebuilds a stand-in exception with the captured class name,
module, error class and message, so `classify` sees what it saw in the real run.
"""

from __future__ import annotations

import builtins
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from pytest_dcs.failures import (
    KINDS,
    SIGNATURES,
    SIGNATURES_BY_NAME,
    DcsFailure,
    Failure,
    classify,
    render_story,
    rows_table,
    split_worker_trace,
    user_trace,
)

DATA = Path(__file__).parent / "data" / "spark_errors"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())


def raised_in(path: str, exc: BaseException) -> BaseException:
    """`exc` with a traceback whose innermost frame is in `path`, as if raised there."""
    with pytest.raises(type(exc)) as raised:
        exec(compile("raise exc", path, "exec"), {"exc": exc})
    return raised.value


def stand_in(doc: dict[str, Any]) -> BaseException:
    """An exception like the captured one: class name, module, error class, message, causes."""
    message = doc["message"]
    namespace: dict[str, Any] = {"__module__": doc["module"], "__str__": lambda self: message}
    if doc.get("has_condition"):
        condition = doc.get("error_class")
        namespace["getCondition"] = lambda self: condition
        namespace["getErrorClass"] = lambda self: condition
    builtin = getattr(builtins, doc["name"], None) if doc["module"] == "builtins" else None
    base = builtin if isinstance(builtin, type) and issubclass(builtin, Exception) else Exception
    exc: BaseException = type(doc["name"], (base,), namespace)(message)
    if doc.get("raised_in"):
        exc = raised_in(doc["raised_in"], exc)
    outer = exc
    for link in doc.get("context", []):
        inner = stand_in(link)
        outer.__context__ = inner
        outer = inner
    return exc


def spark_error(name: str) -> BaseException:
    return stand_in(load(name))


def failure_of(name: str) -> Failure:
    return classify(spark_error(name))


# -- every captured error: its kind and signature ------------------------------------------

EXPECTED: dict[str, tuple[str, str]] = {
    "udf_attribute_error": ("data", "python_worker_error"),
    "rdd_attribute_error": ("data", "python_worker_error"),
    "worker_schema_verification": ("data", "python_worker_error"),
    "executor_module_missing": ("framework", "executor_import"),
    "executor_module_missing_inline": ("framework", "executor_import"),
    "executor_import_error": ("framework", "executor_import"),
    "worker_module_missing_by_reference": ("framework", "executor_import"),
    "python_version_mismatch": ("framework", "python_version_mismatch"),
    "closure_lock": ("framework", "unpicklable_closure"),
    "closure_spark_context": ("framework", "closure_references_spark"),
    "closure_spark_session": ("framework", "closure_references_spark"),
    "data_source_not_found": ("framework", "missing_jar"),
    "path_not_found": ("framework", "missing_input"),
    "py4j_no_such_method": ("framework", "spark_error"),
    "java_heap_oom": ("panic", "out_of_memory"),
    "gc_overhead_limit": ("panic", "out_of_memory"),
    "executor_killed": ("panic", "container_killed"),
    "yarn_container_killed": ("panic", "container_killed"),
    "k8s_oom_killed": ("panic", "container_killed"),
    "kryo_buffer_overflow": ("panic", "kryo_buffer_overflow"),
    "jvm_killed_during_call": ("panic", "jvm_socket_closed"),
    "jvm_killed_next_call": ("panic", "jvm_socket_closed"),
    "context_shut_down": ("panic", "context_stopped"),
    "stopped_context": ("panic", "context_stopped"),
    "fetch_failed": ("panic", "fetch_failed"),
    "missing_shuffle_output": ("panic", "fetch_failed"),
    "worker_exit": ("panic", "python_worker_crashed"),
    "worker_segfault": ("panic", "python_worker_crashed"),
    "job_group_cancelled": ("timeout", "job_cancelled"),
    "job_tag_cancelled": ("timeout", "job_cancelled"),
    "analysis_unresolved_column": ("data", "analysis_error"),
    "analysis_datatype_mismatch": ("data", "analysis_error"),
    "cast_invalid_input": ("data", "sql_runtime_error"),
    "divide_by_zero": ("data", "sql_runtime_error"),
    "assert_true_failed": ("data", "sql_runtime_error"),
    "malformed_json_failfast": ("data", "sql_runtime_error"),
    "corrupt_parquet": ("data", "unreadable_input"),
    "java_task_failure": ("data", "spark_task_failed"),
    "sql_parse_error": ("assertion", "sql_parse_error"),
    "pyspark_not_column": ("assertion", "pyspark_usage"),
    "connect_udf_attribute_error": ("data", "python_worker_error"),
    "connect_module_missing": ("framework", "executor_import"),
    "connect_rdd": ("framework", "connect_unsupported"),
    "connect_spark_context": ("framework", "connect_unsupported"),
    "connect_classic_udf": ("framework", "classic_object_on_connect"),
    "connect_classic_column": ("framework", "classic_column_on_connect"),
    "connect_unresolved_column": ("data", "analysis_error"),
    "connect_divide_by_zero": ("data", "sql_runtime_error"),
    "connect_operation_interrupted": ("timeout", "job_cancelled"),
}
# Signatures exercised below on a link of a captured chain, an edited capture, or a plain
# Python exception, rather than on a whole file.
OTHER_TESTED_SIGNATURES = {"assertion", "driver_error", "executor_lost", "jvm_gone"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_captured_error_has_its_kind(name: str) -> None:
    failure = failure_of(name)
    assert (failure.kind, failure.signature) == EXPECTED[name]
    assert failure.summary and "\n" not in failure.summary
    assert len(failure.summary) <= 300
    assert failure.kind in KINDS


def test_every_data_file_is_expected() -> None:
    assert {p.stem for p in DATA.glob("*.json")} == set(EXPECTED)


def test_every_signature_has_a_test() -> None:
    covered = {signature for _, signature in EXPECTED.values()} | OTHER_TESTED_SIGNATURES
    assert covered == set(SIGNATURES_BY_NAME)


def test_data_files_say_where_they_came_from() -> None:
    for path in DATA.glob("*.json"):
        doc = json.loads(path.read_text())
        assert doc["source"] in {"captured", "hand-written"}, path.name
        assert doc["how"], path.name
        assert doc["message"].count("\n") < 70, path.name


def test_signature_names_are_unique_and_kinds_known() -> None:
    assert len(SIGNATURES_BY_NAME) == len(SIGNATURES)
    assert {s.kind for s in SIGNATURES} <= set(KINDS)
    assert [s.name for s in SIGNATURES if not s.has_recognisers][-1] == "driver_error"


# -- data: the user's code raised in a Python worker ---------------------------------------


def test_udf_error_names_the_worker_error_and_the_users_line() -> None:
    failure = failure_of("udf_attribute_error")
    assert failure.summary == "AttributeError: 'NoneType' object has no attribute 'startswith'"
    assert failure.where == "test_jobs.py:11 in <lambda>"
    assert failure.python_trace.startswith("Traceback (most recent call last):\n")
    assert failure.python_trace.endswith(failure.summary)
    assert "An exception was thrown" not in failure.python_trace
    assert "check_rows" in failure.advice


def test_rdd_error_skips_pyspark_frames_for_where() -> None:
    failure = failure_of("rdd_attribute_error")
    assert failure.where == "test_jobs.py:16 in channel_of"
    assert "pyspark/worker.py" in failure.python_trace
    shown = user_trace(failure.python_trace)
    assert "worker.py" not in shown
    assert "serializers.py" not in shown
    assert shown.splitlines() == [
        "Traceback (most recent call last):",
        '  File "/tmp/dcs_capture/proj/test_jobs.py", line 16, in channel_of',
        '    return row.active_experiment_id.startswith("e10s")',
        "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        "AttributeError: 'NoneType' object has no attribute 'startswith'",
    ]


def test_error_inside_pyspark_only_has_no_user_line() -> None:
    failure = failure_of("worker_schema_verification")
    assert failure.where is None
    assert failure.summary.startswith(
        "pyspark.errors.exceptions.base.PySparkTypeError: "
        "[FIELD_DATA_TYPE_UNACCEPTABLE_WITH_NAME] field a: IntegerType() can not accept"
    )


def test_toolchain_words_inside_the_users_error_do_not_count() -> None:
    doc = load("udf_attribute_error")
    doc["message"] = doc["message"].replace(
        "AttributeError: 'NoneType' object has no attribute 'startswith'",
        "RuntimeError: Connection refused; SparkContext was shut down; Java heap space",
    )
    failure = classify(stand_in(doc))
    assert (failure.kind, failure.signature) == ("data", "python_worker_error")
    assert failure.summary.startswith("RuntimeError: Connection refused")


# -- framework ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "module", "where"),
    [
        ("executor_module_missing", "jobs", None),
        ("executor_module_missing_inline", "jobs", "test_jobs.py:51 in import_missing_inline"),
        ("worker_module_missing_by_reference", "test_jobs", None),
    ],
)
def test_module_missing_on_executors_is_framework(
    name: str, module: str, where: str | None
) -> None:
    failure = failure_of(name)
    assert failure.kind == "framework"  # a ModuleNotFoundError in a worker, yet not `data`
    assert failure.summary == f"executors cannot import module {module!r}"
    assert failure.module == module
    assert failure.where == where
    assert "dcs_ship = path/to/module_or_package" in failure.advice
    assert "spark.submit.pyFiles" in failure.advice
    assert "install it on the cluster" in failure.advice
    assert failure.python_trace.endswith(f"ModuleNotFoundError: No module named '{module}'")


def test_old_module_on_executors_is_framework() -> None:
    failure = failure_of("executor_import_error")
    assert failure.summary == "executors cannot import 'normalize' from module 'jobs.helpers'"
    assert failure.module == "jobs.helpers"
    assert failure.where == "test_jobs.py:45 in normalize_inline"


def test_lock_in_a_closure_is_framework() -> None:
    failure = failure_of("closure_lock")
    assert failure.summary == (
        "a function shipped to executors holds an object that cannot be pickled: "
        "TypeError: cannot pickle '_thread.lock' object"
    )
    assert "inside the function" in failure.advice
    assert "broadcast" in failure.advice


@pytest.mark.parametrize("name", ["closure_spark_context", "closure_spark_session"])
def test_spark_in_a_closure_is_framework(name: str) -> None:
    failure = failure_of(name)
    assert failure.summary == (
        "a function shipped to executors refers to the SparkContext or SparkSession"
    )
    assert "only on the driver" in failure.advice
    assert "broadcast" in failure.advice


def test_python_version_mismatch_is_framework_not_data() -> None:
    failure = failure_of("python_version_mismatch")
    assert "[PYTHON_VERSION_MISMATCH]" in failure.summary
    assert "spark.pyspark.python" in failure.advice
    assert failure.python_trace.endswith(
        "Please check environment variables PYSPARK_PYTHON and PYSPARK_DRIVER_PYTHON are "
        "correctly set."
    )


def test_missing_data_source_is_framework_not_an_analysis_error() -> None:
    failure = failure_of("data_source_not_found")
    assert failure.summary.startswith(
        "missing on the classpath: [AVRO_DATA_SOURCE_NOT_ENABLED] Failed to find data source"
    )
    assert "Please deploy" not in failure.summary  # Spark's advice gives way to ours
    assert "spark.jars.packages" in failure.advice


def test_missing_path_is_framework() -> None:
    failure = failure_of("path_not_found")
    assert failure.summary == (
        "[PATH_NOT_FOUND] Path does not exist: file:/tmp/dcs_capture/no/such.parquet."
    )


# -- panics ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "summary"),
    [
        ("java_heap_oom", "out of memory: java.lang.OutOfMemoryError: Java heap space"),
        (
            "gc_overhead_limit",
            "out of memory: java.lang.OutOfMemoryError: GC overhead limit exceeded",
        ),
    ],
)
def test_out_of_memory_is_panic(name: str, summary: str) -> None:
    failure = failure_of(name)
    assert failure.summary == summary
    assert "lighten the load" in failure.advice
    assert "spark.driver.memory" in failure.advice


@pytest.mark.parametrize(
    ("name", "evidence"),
    [
        ("executor_killed", "Reason: Command exited with code 137"),
        ("yarn_container_killed", "Container killed by YARN for exceeding physical memory limits"),
        ("k8s_oom_killed", "exited with exit code 137(SIGKILL, possible container OOM)"),
    ],
)
def test_killed_container_is_panic_not_a_task_failure(name: str, evidence: str) -> None:
    failure = failure_of(name)
    assert failure.summary.startswith("executor killed: ")
    assert evidence in failure.summary
    assert "spark.executor.memoryOverhead" in failure.advice


def test_oom_killed_without_an_exit_code_is_panic() -> None:
    doc = load("k8s_oom_killed")
    doc["message"] = doc["message"].replace("137", "")
    failure = classify(stand_in(doc))
    assert failure.signature == "container_killed"
    assert failure.summary == "executor killed: termination reason: OOMKilled"


def test_lost_executor_is_panic() -> None:
    doc = load("executor_killed")
    doc["message"] = doc["message"].replace(
        "Command exited with code 137", "Remote RPC client disassociated."
    )
    failure = classify(stand_in(doc))
    assert (failure.kind, failure.signature) == ("panic", "executor_lost")
    assert failure.summary.startswith("executor lost: ExecutorLostFailure (executor 0 exited")


def test_kryo_overflow_is_panic() -> None:
    failure = failure_of("kryo_buffer_overflow")
    assert failure.summary == (
        "Kryo buffer overflow: [KRYO_BUFFER_OVERFLOW] Kryo serialization failed: "
        "Buffer overflow. Available: 0, required: 6000016."
    )
    assert "spark.kryoserializer.buffer.max" in failure.advice


def test_jvm_killed_is_panic() -> None:
    failure = failure_of("jvm_killed_during_call")
    assert (
        failure.summary
        == "the Spark JVM is gone: ConnectionRefusedError: [Errno 111] Connection refused"
    )
    assert "the next test gets a fresh session" in failure.advice
    assert "lighten the load" in failure.advice


def test_py4j_network_error_is_panic() -> None:
    answer_empty = stand_in(load("jvm_killed_during_call")["context"][-1])
    failure = classify(answer_empty)
    assert (failure.kind, failure.signature) == ("panic", "jvm_gone")
    assert (
        failure.summary == "the Spark JVM is gone: Py4JNetworkError: Answer from Java side is empty"
    )


def test_connection_refused_in_the_users_own_code_is_not_a_panic() -> None:
    doc = load("jvm_killed_next_call")
    doc["raised_in"] = "/home/me/project/jobs/fetch.py"
    failure = classify(stand_in(doc))
    assert (failure.kind, failure.signature) == ("assertion", "driver_error")
    assert failure.summary == "ConnectionRefusedError: [Errno 111] Connection refused"


@pytest.mark.parametrize(
    ("name", "summary"),
    [
        (
            "context_shut_down",
            "the SparkContext was shut down: Job 0 cancelled because SparkContext was shut down",
        ),
        (
            "stopped_context",
            "the SparkContext was shut down: Cannot call methods on a stopped SparkContext.",
        ),
    ],
)
def test_stopped_context_is_panic_not_timeout(name: str, summary: str) -> None:
    failure = failure_of(name)
    assert failure.summary == summary
    assert "spark.stop()" in failure.advice


def test_fetch_failure_is_panic_with_its_cause() -> None:
    failure = failure_of("fetch_failed")
    assert failure.summary.startswith(
        "shuffle fetch failed: org.apache.spark.shuffle.FetchFailedException "
        "(caused by java.nio.file.NoSuchFileException: /tmp/dcs_capture/local/"
    )
    assert "shuffle service" in failure.advice


def test_missing_shuffle_output_is_panic() -> None:
    failure = failure_of("missing_shuffle_output")
    assert failure.summary == (
        "shuffle fetch failed: org.apache.spark.shuffle.MetadataFetchFailedException: "
        "Missing an output location for shuffle 5 partition 17"
    )


@pytest.mark.parametrize("name", ["worker_exit", "worker_segfault"])
def test_crashed_python_worker_is_panic(name: str) -> None:
    failure = failure_of(name)
    assert failure.summary == "Python worker crashed: Python worker exited unexpectedly (crashed)."
    assert "faulthandler" in failure.advice
    assert failure.python_trace == ""


# -- timeout --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cancelled"),
    [
        ("job_group_cancelled", "Job 6 cancelled part of cancelled job group dcs-rung-timeout"),
        ("job_tag_cancelled", "Job 0 cancelled part of cancelled job tags dcs-rung-timeout"),
    ],
)
def test_cancelled_job_is_timeout(name: str, cancelled: str) -> None:
    failure = failure_of(name)
    assert failure.summary == f"Spark cancelled the job: [SPARK_JOB_CANCELLED] {cancelled}"
    assert "timeout=" in failure.advice
    assert "dcs_rung_timeout" in failure.advice


# -- data from SQL --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "summary"),
    [
        (
            "analysis_unresolved_column",
            "AnalysisException: [UNRESOLVED_COLUMN.WITH_SUGGESTION] A column, variable, or "
            "function parameter with name `active_experiment` cannot be resolved. Did you mean "
            "one of the following? [`active_experiment_id`, `client_id`].",
        ),
        (
            "analysis_datatype_mismatch",
            'AnalysisException: [DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] Cannot resolve "'
            'array_contains(active_experiment_id, e10s)" due to data type mismatch: The first '
            'parameter requires the "ARRAY" type, however "active_experiment_id" has the type '
            '"STRING".',
        ),
    ],
)
def test_analysis_error_is_data(name: str, summary: str) -> None:
    failure = failure_of(name)
    assert failure.summary == summary
    assert "another schema than the code expects" in failure.advice
    assert "tiny sample's schema" in failure.advice


def test_analysis_error_class_without_a_tag_in_the_message() -> None:
    doc = load("analysis_unresolved_column")
    doc["message"] = doc["message"].replace("[UNRESOLVED_COLUMN.WITH_SUGGESTION] ", "")
    doc["name"] = "SomeNewSparkException"
    failure = classify(stand_in(doc))
    assert failure.signature == "analysis_error"


@pytest.mark.parametrize(
    ("name", "summary"),
    [
        (
            "cast_invalid_input",
            "NumberFormatException: [CAST_INVALID_INPUT] The value 'e10s-b' of the type "
            '"STRING" cannot be cast to "INT" because it is malformed.',
        ),
        ("divide_by_zero", "ArithmeticException: [DIVIDE_BY_ZERO] Division by zero."),
        ("assert_true_failed", "[USER_RAISED_EXCEPTION] '(id < 2)' is not true!"),
    ],
)
def test_sql_error_on_values_is_data(name: str, summary: str) -> None:
    failure = failure_of(name)
    assert failure.summary == summary
    assert "try_cast" in failure.advice


def test_unreadable_file_is_data() -> None:
    failure = failure_of("corrupt_parquet")
    assert failure.summary == (
        "[FAILED_READ_FILE.NO_HINT] Encountered error while reading file "
        "file:///tmp/dcs_capture/corrupt/part-0.parquet."
    )
    assert "ignoreCorruptFiles" in failure.advice


def test_unknown_task_failure_is_data_with_its_root_cause() -> None:
    failure = failure_of("java_task_failure")
    assert failure.summary == (
        "a task failed: java.lang.reflect.InvocationTargetException "
        '(caused by java.lang.NumberFormatException: For input string: "e10s-a")'
    )


def test_unknown_spark_error_is_framework() -> None:
    failure = failure_of("py4j_no_such_method")
    assert (
        failure.summary == "Py4JError: py4j.Py4JException: Method noSuchMethod([]) does not exist"
    )
    assert "--dcs-report" in failure.advice


def test_pyspark_misuse_and_bad_sql_are_the_tests_own() -> None:
    assert failure_of("pyspark_not_column").summary == (
        "PySparkTypeError: [NOT_EXPECTED_TYPE] Argument `col` should be Column, got int."
    )
    assert failure_of("sql_parse_error").summary == (
        "ParseException: [PARSE_SYNTAX_ERROR] Syntax error at or near 'selec'. (line 1, pos 0)"
    )


# -- assertion and other driver-side errors -------------------------------------------------


def test_assertion_error_is_an_assertion() -> None:
    failure = classify(AssertionError("\n  expected 3 rows, got 2\nassert 2 == 3"))
    assert (failure.kind, failure.signature) == ("assertion", "assertion")
    assert failure.summary == "expected 3 rows, got 2"
    assert failure.advice == ""


def test_rewritten_assert_is_an_assertion() -> None:
    rows = [1, 2]
    try:
        assert len(rows) == 3
    except AssertionError as exc:
        failure = classify(exc)
    assert failure.kind == "assertion"
    assert failure.summary == "assert 2 == 3"


def test_assertion_mentioning_spark_trouble_is_still_an_assertion() -> None:
    failure = classify(AssertionError("expected a Java heap space error, got none"))
    assert (failure.kind, failure.signature) == ("assertion", "assertion")


def test_pyspark_dataframe_assertion_is_an_assertion() -> None:
    cls = type(
        "PySparkAssertionError",
        (AssertionError,),
        {"__module__": "pyspark.errors.exceptions.base"},
    )
    failure = classify(cls("[DIFFERENT_ROWS] Results do not match: ( 33.33333 % )"))
    assert failure.kind == "assertion"
    assert failure.summary == "[DIFFERENT_ROWS] Results do not match: ( 33.33333 % )"


def test_memory_error_on_the_driver_is_panic() -> None:
    failure = classify(MemoryError())
    assert (failure.kind, failure.signature) == ("panic", "out_of_memory")
    assert failure.summary == "out of memory: MemoryError"
    assert "toPandas()" in failure.advice


def test_assertion_message_is_kept_as_written() -> None:
    failure = classify(AssertionError("got 2 rows. Please check the join SQLSTATE: 1"))
    assert failure.summary == "got 2 rows. Please check the join SQLSTATE: 1"


def test_empty_assertion_error() -> None:
    assert classify(AssertionError()).summary == "assertion failed"


def test_other_driver_error_is_an_assertion() -> None:
    failure = classify(KeyError("client_id"))
    assert (failure.kind, failure.signature) == ("assertion", "driver_error")
    assert failure.summary == "KeyError: 'client_id'"
    assert failure.where is None
    assert failure.python_trace == ""


def test_wrapped_spark_error_is_classified_by_its_cause() -> None:
    try:
        raise RuntimeError("the summary job failed") from spark_error("java_heap_oom")
    except RuntimeError as exc:
        failure = classify(exc)
    assert (failure.kind, failure.signature) == ("panic", "out_of_memory")


def test_a_generic_cause_does_not_replace_the_errors_own_kind() -> None:
    try:
        raise ValueError("bad argument") from KeyError("x")
    except ValueError as exc:
        failure = classify(exc)
    assert failure.summary == "ValueError: bad argument"


def test_message_that_cannot_be_printed_falls_back_to_args() -> None:
    def broken(self: BaseException) -> str:
        raise ConnectionError("the JVM is gone")

    cls = type(
        "PythonException",
        (Exception,),
        {"__module__": "pyspark.errors.exceptions.captured", "__str__": broken},
    )
    failure = classify(cls("Answer from Java side is empty"))
    assert failure.signature == "jvm_gone"


def test_error_class_that_cannot_be_read_is_ignored() -> None:
    def condition(self: BaseException) -> str:
        raise ConnectionError("the JVM is gone")

    cls = type(
        "AnalysisException",
        (Exception,),
        {"__module__": "pyspark.errors.exceptions.captured", "getCondition": condition},
    )
    assert classify(cls("[UNRESOLVED_COLUMN] x")).signature == "analysis_error"


def test_deprecated_error_class_getter_is_read_without_warning() -> None:
    def error_class(self: BaseException) -> str:
        warnings.warn("Deprecated in 4.0.0, use getCondition instead.", FutureWarning, stacklevel=1)
        return "SPARK_JOB_CANCELLED"

    cls = type(
        "SparkException",
        (Exception,),
        {"__module__": "pyspark.errors.exceptions.captured", "getErrorClass": error_class},
    )
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        failure = classify(cls("stopped"))
    assert seen == []
    assert failure.kind == "timeout"


def test_dcs_failure_keeps_kind_rows_and_advice() -> None:
    rows = [{"id": 1, "exp": None}, {"id": 7, "exp": None}]
    failure = classify(
        DcsFailure("data", "2 rows broke 'is e10s'", offending_rows=rows, advice="filter nulls")
    )
    assert failure == Failure("data", "2 rows broke 'is e10s'", rows, advice="filter nulls")
    assert failure.offending_rows is not rows  # the report owns its copy


def test_dcs_failure_details_become_the_trace() -> None:
    failure = classify(DcsFailure("timeout", "ran past 30s", details="cancelled job group"))
    assert (failure.kind, failure.trace) == ("timeout", "cancelled job group")


def test_failure_to_json_has_the_report_fields() -> None:
    document = Failure("timeout", "ran past 30s", captured_to="dcs_samples/x.jsonl").to_json()
    assert document["kind"] == "timeout"
    assert document["summary"] == "ran past 30s"
    assert document["offending_rows"] == []
    assert document["captured_to"] == "dcs_samples/x.jsonl"
    assert {"where", "module", "python_trace", "signature"} <= set(document)


def test_classified_failure_round_trips_through_json() -> None:
    document = json.loads(json.dumps(failure_of("executor_module_missing").to_json()))
    assert document["module"] == "jobs"
    assert document["signature"] == "executor_import"


# -- the worker traceback inside a Java message ---------------------------------------------

# By hand, in the shape of a Py4JJavaError from PySpark 3 (PySpark 4.3 unwraps it to a
# PythonException): the worker traceback inside the Java message, repeated in `Caused by:`.
WRAPPED = """\
An error occurred while calling o57.collect.
: org.apache.spark.SparkException: Job aborted due to stage failure: Task 1 in stage 2.0 failed \
1 times, most recent failure: Lost task 1.0 in stage 2.0 (TID 5) (localhost executor driver): \
org.apache.spark.api.python.PythonException: Traceback (most recent call last):
  File "/srv/jobs/telemetry.py", line 40, in parse
    return json.loads(raw)["client"]
KeyError: 'client'

\tat org.apache.spark.api.python.BasePythonRunner$ReaderIterator.read(PythonRunner.scala:572)
\tat org.apache.spark.api.python.PythonRunner$$anon$3.read(PythonRunner.scala:784)
\t... 22 more

Driver stacktrace:
\tat org.apache.spark.scheduler.DAGScheduler.abortStage(DAGScheduler.scala:2898)
Caused by: org.apache.spark.api.python.PythonException: Traceback (most recent call last):
  File "/srv/jobs/telemetry.py", line 40, in parse
    return json.loads(raw)["client"]
KeyError: 'client'

\tat org.apache.spark.api.python.BasePythonRunner$ReaderIterator.read(PythonRunner.scala:572)
"""


def test_worker_trace_is_cut_out_of_the_java_trace() -> None:
    worker, java = split_worker_trace(WRAPPED)
    assert worker is not None
    assert worker.error == "KeyError: 'client'"
    assert worker.error_type == "KeyError"
    assert worker.text.splitlines()[0] == "Traceback (most recent call last):"
    assert worker.text.splitlines()[-1] == "KeyError: 'client'"
    assert [f.where() for f in worker.frames] == ["telemetry.py:40 in parse"]
    assert "telemetry.py" not in java
    assert "org.apache.spark.api.python.PythonException:" in java
    assert "Driver stacktrace:" in java


def test_wrapped_worker_error_classifies_as_data() -> None:
    cls = type("Py4JJavaError", (Exception,), {"__module__": "py4j.protocol"})
    failure = classify(cls(WRAPPED))
    assert (failure.kind, failure.signature) == ("data", "python_worker_error")
    assert failure.summary == "KeyError: 'client'"
    assert failure.where == "telemetry.py:40 in parse"


def test_chained_worker_error_reports_the_last_one() -> None:
    text = (
        "An exception was thrown from the Python worker:\n"
        "Traceback (most recent call last):\n"
        '  File "/srv/jobs/telemetry.py", line 40, in parse\n'
        '    return json.loads(raw)["client"]\n'
        "KeyError: 'client'\n"
        "\n"
        "During handling of the above exception, another exception occurred:\n"
        "\n"
        "Traceback (most recent call last):\n"
        '  File "/srv/jobs/telemetry.py", line 42, in parse\n'
        '    raise ValueError(f"no client in {raw!r}")\n'
        "ValueError: no client in '{}'"
    )
    worker, _ = split_worker_trace(text)
    assert worker is not None
    assert worker.error == "ValueError: no client in '{}'"
    assert "KeyError: 'client'" in worker.text
    assert worker.user_frame is not None
    assert worker.user_frame.where() == "telemetry.py:42 in parse"


# -- Spark Connect --------------------------------------------------------------------------


def test_connect_udf_error_trace_ends_before_the_sqlstate() -> None:
    failure = failure_of("connect_udf_attribute_error")
    assert failure.summary == "AttributeError: 'NoneType' object has no attribute 'upper'"
    assert failure.where == "capture.py:43 in <lambda>"
    assert failure.python_trace.endswith(
        "AttributeError: 'NoneType' object has no attribute 'upper'"
    )


def test_connect_module_missing_names_the_module() -> None:
    failure = failure_of("connect_module_missing")
    assert failure.summary == "executors cannot import module 'unshipped_cap'"
    assert failure.module == "unshipped_cap"


@pytest.mark.parametrize(
    ("name", "summary"),
    [
        (
            "connect_rdd",
            "not available over Spark Connect: [NOT_IMPLEMENTED] rdd is not implemented.",
        ),
        (
            "connect_spark_context",
            "not available over Spark Connect: [JVM_ATTRIBUTE_NOT_SUPPORTED] Attribute "
            "`sparkContext` is not supported in Spark Connect as it depends on the JVM.",
        ),
    ],
)
def test_what_connect_lacks_is_framework_with_the_alternative(name: str, summary: str) -> None:
    failure = failure_of(name)
    assert failure.summary == summary
    assert "use the DataFrame API" in failure.advice
    assert "--dcs-cluster=spark://" in failure.advice


def test_not_implemented_outside_connect_is_still_the_tests_own() -> None:
    doc = {**load("connect_rdd"), "raised_in": "/site-packages/pyspark/sql/classic/dataframe.py"}
    assert classify(stand_in(doc)).signature == "pyspark_usage"


@pytest.mark.parametrize("name", ["connect_classic_udf", "connect_classic_column"])
def test_a_classic_udf_or_column_over_connect_says_where_to_make_it(name: str) -> None:
    failure = failure_of(name)
    assert failure.summary.startswith("a classic PySpark object was used over Spark Connect: ")
    assert "make UDFs and Columns inside the function that uses them" in failure.advice


def test_a_column_called_by_mistake_is_not_blamed_on_connect() -> None:
    doc = {**load("connect_classic_column"), "raised_in": "/project/test_jobs.py"}
    assert classify(stand_in(doc)).signature == "driver_error"


def test_text_without_a_traceback() -> None:
    worker, java = split_worker_trace("org.apache.spark.SparkException: boom")
    assert worker is None
    assert java == "org.apache.spark.SparkException: boom"


# -- the story ------------------------------------------------------------------------------


def test_story_puts_kind_rung_and_summary_first() -> None:
    story = render_story(failure_of("udf_attribute_error"), rung="distributed")
    lines = story.splitlines()
    assert lines[0] == (
        "[dcs] data failure at rung distributed: "
        "AttributeError: 'NoneType' object has no attribute 'startswith'"
    )
    assert lines[1] == "where: test_jobs.py:11 in <lambda>"
    assert lines[-1].startswith("advice: the function raised on some rows")


def test_story_shows_only_the_users_frames() -> None:
    story = render_story(failure_of("rdd_attribute_error"), rung="local")
    assert "worker traceback (your code):" in story
    assert '  File "/tmp/dcs_capture/proj/test_jobs.py", line 16, in channel_of' in story
    assert "worker.py" not in story
    assert "  AttributeError: 'NoneType' object has no attribute 'startswith'" in story
    assert "full trace:" not in story


def test_story_leaves_out_a_traceback_without_user_frames() -> None:
    failure = failure_of("executor_module_missing")
    assert render_story(failure, rung="distributed").splitlines() == [
        "[dcs] framework failure at rung distributed: executors cannot import module 'jobs'",
        f"advice: {failure.advice}",
    ]
    assert "cloudpickle.loads" in render_story(failure, rung="distributed", verbose=True)


def test_verbose_story_adds_pyspark_frames_and_the_full_trace() -> None:
    failure = failure_of("rdd_attribute_error")
    story = render_story(failure, rung="local", verbose=True)
    assert "pyspark/worker.py" in story
    assert story.splitlines()[-len(failure.trace.splitlines()) - 1] == "full trace:"
    assert story.endswith("  " + failure.trace.splitlines()[-1])


def test_story_shows_the_rows_of_a_joined_source_after_the_offending_rows() -> None:
    failure = failure_of("udf_attribute_error")
    failure.offending_rows = [{"id": 7, "client_id": "c101"}]
    failure.localization = {
        "story": "localized 1 row(s) in 2.0 s",
        "linked": {
            "clients": {
                "rows": 1,
                "records": [{"client_id": "c101", "channel": "aurora"}],
                "captured_to": None,
            }
        },
    }
    lines = render_story(failure, rung="10pct").splitlines()
    start = lines.index("offending rows (1):")
    joined = lines.index("rows of 'clients' they join (1):")
    assert start < joined < lines.index("localized 1 row(s) in 2.0 s")
    assert "aurora" in lines[joined + 3]


def test_story_of_wide_rows_shows_the_columns_the_body_read() -> None:
    failure = failure_of("udf_attribute_error")
    wide = {"id": 7, "search_count": None, **{f"m{i:03d}": i for i in range(40)}}
    failure.offending_rows = [wide]
    failure.localization = {"story": "localized", "columns_read": ["search_count", "id"]}
    lines = render_story(failure, rung="10pct").splitlines()
    header = lines[lines.index("offending rows (1):") + 1]
    assert header.split() == ["id", "|", "search_count"]
    assert "  (the 2 of 42 columns the body read; every column is in the JSON report)" in lines
    # Narrow rows, or columns read unknown: every column.
    failure.localization = {"story": "localized"}
    lines = render_story(failure, rung="10pct").splitlines()
    assert "m039" in lines[lines.index("offending rows (1):") + 1]


def test_story_of_a_panic_is_headline_and_advice() -> None:
    failure = failure_of("java_heap_oom")
    story = render_story(failure, rung="10pct")
    assert story.splitlines() == [
        "[dcs] panic failure at rung 10pct: "
        "out of memory: java.lang.OutOfMemoryError: Java heap space",
        f"advice: {failure.advice}",
    ]


def test_story_shows_the_given_rows_table_before_the_advice() -> None:
    failure = Failure(
        "data",
        "2 rows broke 'is e10s'",
        [{"client_id": 2, "exp": None}, {"client_id": 9, "exp": ""}],
        captured_to="dcs_samples/events.captured.jsonl",
        advice="filter nulls",
    )
    story = render_story(failure, rung="1pct", rows_table="<table>")
    assert story.splitlines() == [
        "[dcs] data failure at rung 1pct: 2 rows broke 'is e10s'",
        "offending rows (2):",
        "  <table>",
        "captured to: dcs_samples/events.captured.jsonl",
        "advice: filter nulls",
    ]


def test_story_renders_the_failures_own_rows_when_no_table_is_given() -> None:
    failure = Failure("data", "1 row broke 'x'", [{"client_id": 2, "exp": None}])
    assert render_story(failure, rung="local").splitlines()[1:] == [
        "offending rows (1):",
        "  client_id | exp",
        "  ----------+-----",
        "          2 | null",
    ]


# -- rows_table -----------------------------------------------------------------------------


def test_rows_table_aligns_columns() -> None:
    rows = [
        {"client_id": 7, "channel": "release", "active": True},
        {"client_id": 12345, "channel": "nightly", "active": False},
    ]
    assert rows_table(rows).splitlines() == [
        "client_id | channel | active",
        "----------+---------+-------",
        "        7 | release | true",
        "    12345 | nightly | false",
    ]


def test_rows_table_writes_null_for_none() -> None:
    table = rows_table([{"id": 1, "exp": None}, {"id": None, "exp": "e10s"}])
    assert table.splitlines()[2:] == ["   1 | null", "null | e10s"]


def test_rows_table_cuts_long_values() -> None:
    table = rows_table([{"url": "https://example.org/" + "a" * 100}], width=20)
    assert table.splitlines()[2] == "https://example.o..."
    assert len(table.splitlines()[2]) == 20


def test_rows_table_shows_at_most_limit_rows() -> None:
    table = rows_table([{"id": n} for n in range(13)], limit=10)
    lines = table.splitlines()
    assert len(lines) == 2 + 10 + 1
    assert lines[-1] == "... 3 more rows"


def test_rows_table_keeps_every_column_and_escapes_newlines() -> None:
    table = rows_table([{"a": "x\ny"}, {"b": 1.5}])
    assert table.splitlines() == [
        "a    |   b",
        "-----+----",
        "x\\ny |",
        "     | 1.5",
    ]


def test_rows_table_of_no_rows() -> None:
    assert rows_table([]) == "(no rows)"
