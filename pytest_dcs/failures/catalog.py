"""The table of known failures (`SIGNATURES`), in the order they are tried."""

from __future__ import annotations

from collections.abc import Mapping

from pytest_dcs.failures.signatures import (
    _CLASSIC_ON_CONNECT_REMEDY,
    _CONNECT_REMEDY,
    _MEMORY_REMEDY,
    _SHIP_REMEDY,
    ANY_WORKER_ERROR,
    Signature,
    _as_is,
    _assertion_summary,
    _classic_on_connect_summary,
    _closure_summary,
    _connect_summary,
    _driver_summary,
    _import_summary,
    _task_summary,
    _told,
    _with_root_cause,
)
from pytest_dcs.failures.trace import _SPARK_MODULES

#: The known failures, tried in this order; the first match wins. The order is the precedence:
#: 0. the test's own verdict: an AssertionError (pytest's rewritten asserts, PySpark's
#:    assertDataFrameEqual) is an assertion, whatever its message mentions.
#: 1. panics: the toolchain died or ran out of room. Whatever else the message says (a worker
#:    error, a cancelled job) is a consequence, so these come first; an OOM inside a
#:    Py4JJavaError or a PythonException is a panic.
#: 2. framework: the code cannot run on executors at all (imports, pickling, jars, Python
#:    version). Before `data`, since these also arrive as worker errors or AnalysisExceptions.
#: 3. timeout: Spark cancelled the rung's jobs (after "SparkContext was shut down", a panic).
#: 4. data: the code raised on this rung's rows (worker errors, ANSI SQL errors, unreadable
#:    files, schema). A missing path or table (framework) and a SQL syntax error (the test's
#:    own) sit among them because they, too, arrive as AnalysisExceptions.
#: 5. fallbacks (`generic`): unknown Spark failures, PySpark misuse, and any other driver-side
#:    exception, which is the test's own assertion or bug. For a generic match, `classify`
#:    also tries the exception's cause chain for a specific one.
SIGNATURES: tuple[Signature, ...] = (
    Signature(
        name="assertion",
        kind="assertion",
        remedy="",
        summary=_assertion_summary,
        exception_types=("AssertionError",),
    ),
    Signature(
        name="out_of_memory",
        kind="panic",
        remedy=f"a JVM or Python worker ran out of memory; {_MEMORY_REMEDY}",
        summary=_told("out of memory"),
        java_classes=(
            "java.lang.OutOfMemoryError",
            "org.apache.spark.memory.SparkOutOfMemoryError",
        ),
        error_classes=("UNABLE_TO_ACQUIRE_MEMORY",),
        patterns=(r"Java heap space", r"GC overhead limit exceeded"),
        exception_types=("MemoryError",),
        worker_errors=("MemoryError",),
    ),
    Signature(
        name="container_killed",
        kind="panic",
        remedy=(
            "an executor used more memory than its container allows (JVM heap plus off-heap plus "
            "Python workers); raise spark.executor.memoryOverhead (Python workers live there) or "
            "spark.executor.memory, or lighten the load: more, smaller partitions, less skew"
        ),
        summary=_told("executor killed"),
        patterns=(
            r"Container killed by YARN for exceeding (?:\w+ )?memory limits",
            r"exit(?:ed)? (?:with )?(?:exit )?(?:code|status):? ?137\b",
            r"\bOOMKilled\b",
        ),
    ),
    Signature(
        name="kryo_buffer_overflow",
        kind="panic",
        remedy=(
            "a record did not fit Kryo's buffer: raise spark.kryoserializer.buffer.max in "
            "dcs_spark_conf (e.g. `spark.kryoserializer.buffer.max = 512m`, at most 2047m), "
            "or avoid single huge records (collect less at once, split wide rows)"
        ),
        summary=_told("Kryo buffer overflow"),
        error_classes=("KRYO_BUFFER_OVERFLOW",),
        patterns=(r"Kryo serialization failed: Buffer overflow", r"KryoException: Buffer overflow"),
    ),
    Signature(
        name="jvm_gone",
        kind="panic",
        remedy=(
            "the Spark JVM died or stopped answering (often killed for memory); the next test "
            "gets a fresh session; lighten the load at this rung (fewer rows to the driver, more "
            "partitions, more spark.driver.memory) and look for the JVM's own error in its log"
        ),
        summary=_told("the Spark JVM is gone"),
        exception_types=("Py4JNetworkError",),
        patterns=(
            r"Answer from Java side is empty",
            r"An error occurred while trying to connect to the Java server",
            r"Error while sending or receiving",
            r"Error while receiving",
        ),
    ),
    Signature(
        name="jvm_socket_closed",
        kind="panic",
        remedy=(
            "the connection to the Spark JVM was refused or reset: the JVM is gone; the next "
            "test gets a fresh session; lighten the load at this rung"
        ),
        summary=_told("the Spark JVM is gone"),
        exception_types=("ConnectionRefusedError", "ConnectionResetError", "BrokenPipeError"),
        raised_in=("py4j",),
    ),
    Signature(
        name="context_stopped",
        kind="panic",
        remedy=(
            "the SparkContext was stopped under the test, by spark.stop() in test code or a "
            "fixture, or by a crash of the driver JVM; leave stopping to pytest-dcs, which owns "
            "the session; the next test gets a fresh one"
        ),
        summary=_told("the SparkContext was shut down"),
        patterns=(
            r"SparkContext was shut down",
            r"Cannot call methods on a stopped SparkContext",
            r"SparkContext has been shutdown",
        ),
    ),
    Signature(
        name="fetch_failed",
        kind="panic",
        remedy=(
            "shuffle output was lost: an executor died (often killed for memory) or the shuffle "
            "service is unreachable; lighten the load (more partitions, less skew), give "
            "executors more memory, or check the cluster's external shuffle service"
        ),
        summary=_with_root_cause("shuffle fetch failed"),
        java_classes=(
            "org.apache.spark.shuffle.FetchFailedException",
            "org.apache.spark.shuffle.MetadataFetchFailedException",
        ),
        patterns=(r"Missing an output location for shuffle", r"\bFetchFailed\b"),
    ),
    Signature(
        name="python_worker_crashed",
        kind="panic",
        remedy=(
            "a Python worker process died without a Python error: os._exit(), a segfault in a "
            "native library, or killed by the OS for memory; set "
            "spark.python.worker.faulthandler.enabled = true in dcs_spark_conf to see where; "
            "lighten the load if it is memory"
        ),
        summary=_told("Python worker crashed"),
        patterns=(
            r"Python worker exited unexpectedly \(crashed\)",
            r"Fatal Python error: Segmentation fault",
        ),
    ),
    Signature(
        name="executor_lost",
        kind="panic",
        remedy=(
            "an executor went away while running a task (killed, crashed, or lost to the "
            "cluster); look at its log; lighten the load if it ran out of memory"
        ),
        summary=_told("executor lost"),
        patterns=(r"ExecutorLostFailure",),
    ),
    Signature(
        name="python_version_mismatch",
        kind="framework",
        remedy=(
            "executors run another Python minor version than the driver; point "
            "spark.pyspark.python (or PYSPARK_PYTHON) at the same Python version on both sides"
        ),
        summary=_told("driver and executors run different Pythons"),
        error_classes=("PYTHON_VERSION_MISMATCH",),
        worker_patterns=(r"Python in worker has different version",),
    ),
    Signature(
        name="executor_import",
        kind="framework",
        remedy=(
            "the module imports on the driver but not on the executors (a function shipped to "
            f"them refers to it, or imports it); {_SHIP_REMEDY}"
        ),
        summary=_import_summary,
        worker_errors=("ModuleNotFoundError", "ImportError"),
    ),
    Signature(
        name="closure_references_spark",
        kind="framework",
        remedy=(
            "a UDF or RDD function refers to the SparkContext or SparkSession (directly, or "
            "through an object that holds one), which exist only on the driver; compute what it "
            "needs on the driver and pass plain values, or a broadcast variable"
        ),
        summary=lambda _found, _evidence: (
            "a function shipped to executors refers to the SparkContext or SparkSession"
        ),
        error_classes=("CONTEXT_ONLY_VALID_ON_DRIVER", "RDD_TRANSFORM_ONLY_VALID_ON_DRIVER"),
        patterns=(r"It appears that you are attempting to reference SparkContext",),
    ),
    Signature(
        name="unpicklable_closure",
        kind="framework",
        remedy=(
            "a UDF or RDD function captures an object that cannot be pickled (a lock, socket, "
            "client or open file); create it inside the function (per partition with "
            "mapPartitions), or pass read-only data as a broadcast variable"
        ),
        summary=_closure_summary,
        exception_types=("PicklingError", "PySparkPicklingError"),
        java_classes=("java.io.NotSerializableException",),
        patterns=(r"Could not serialize (?:object|broadcast)", r"Task not serializable"),
    ),
    Signature(
        name="connect_unsupported",
        kind="framework",
        remedy=_CONNECT_REMEDY,
        summary=_connect_summary,
        error_classes=("JVM_ATTRIBUTE_NOT_SUPPORTED", "NOT_IMPLEMENTED"),
        raised_in=("connect",),
    ),
    Signature(
        name="classic_object_on_connect",
        kind="framework",
        remedy=_CLASSIC_ON_CONNECT_REMEDY,
        summary=_classic_on_connect_summary,
        error_classes=("SESSION_OR_CONTEXT_NOT_EXISTS",),
    ),
    Signature(
        name="classic_column_on_connect",
        kind="framework",
        remedy=_CLASSIC_ON_CONNECT_REMEDY,
        summary=_classic_on_connect_summary,
        patterns=(r"'Column' object is not callable",),
        raised_in=("connect",),
    ),
    Signature(
        name="missing_jar",
        kind="framework",
        remedy=(
            "a data source or class is not on this engine's classpath: add its package with "
            "spark.jars.packages (e.g. org.apache.spark:spark-avro_2.13:<spark version>) or "
            "spark.jars in dcs_spark_conf, or install it on the cluster"
        ),
        summary=_told("missing on the classpath"),
        error_classes=("DATA_SOURCE_NOT_FOUND", "AVRO_DATA_SOURCE_NOT_ENABLED"),
        java_classes=("java.lang.ClassNotFoundException", "java.lang.NoClassDefFoundError"),
        patterns=(r"Failed to find (?:the )?data source",),
    ),
    Signature(
        name="job_cancelled",
        kind="timeout",
        remedy=(
            "Spark cancelled the rung's jobs, as the rung timeout does; raise `timeout=` on the "
            "scale marker or dcs_rung_timeout, or cap the ladder with --dcs-max-rung; a rung "
            "that slow is worth a look at its time exponent"
        ),
        summary=_told("Spark cancelled the job"),
        error_classes=("SPARK_JOB_CANCELLED", "OPERATION_CANCELED"),
        patterns=(r"cancelled part of cancelled job (?:group|tags?)", r"Job \d+ cancelled\b"),
    ),
    Signature(
        name="python_worker_error",
        kind="data",
        remedy=(
            "the function raised on some rows of this rung's data: handle the value (null, "
            "empty, out of range) the failing line did not expect; rung.check_rows(df, fn) "
            "finds the rows it raises on"
        ),
        summary=_as_is,
        worker_errors=(ANY_WORKER_ERROR,),
    ),
    Signature(
        name="sql_runtime_error",
        kind="data",
        remedy=(
            "a SQL expression failed on some values of this rung's data (ANSI mode): tolerate "
            "them with try_cast / try_divide / try_element_at, or filter them first; "
            "rung.expect_rows(df, condition) shows the offending rows"
        ),
        summary=_as_is,
        exception_types=(
            "ArithmeticException",
            "NumberFormatException",
            "DateTimeException",
            "ArrayIndexOutOfBoundsException",
            "SparkNoSuchElementException",
        ),
        error_classes=(
            "DIVIDE_BY_ZERO",
            "CAST_INVALID_INPUT",
            "CAST_OVERFLOW",
            "ARITHMETIC_OVERFLOW",
            "NUMERIC_VALUE_OUT_OF_RANGE",
            "INVALID_ARRAY_INDEX",
            "INVALID_ARRAY_INDEX_IN_ELEMENT_AT",
            "CANNOT_PARSE_TIMESTAMP",
            "DATETIME_FIELD_OUT_OF_BOUNDS",
            "MALFORMED_RECORD_IN_PARSING",
            "USER_RAISED_EXCEPTION",
        ),
    ),
    Signature(
        name="unreadable_input",
        kind="data",
        remedy=(
            "a file of this rung's input cannot be read (corrupt, truncated, or written with "
            "another schema); the message names it; rewrite or remove it, or set "
            "spark.sql.files.ignoreCorruptFiles = true if skipping such files is acceptable"
        ),
        summary=_as_is,
        error_classes=("FAILED_READ_FILE",),
    ),
    Signature(
        name="missing_input",
        kind="framework",
        remedy=(
            "this engine cannot see the input: a path that exists only on this machine, or a "
            "table in another catalog; use a path or table every executor can read"
        ),
        summary=_as_is,
        error_classes=("PATH_NOT_FOUND", "TABLE_OR_VIEW_NOT_FOUND"),
    ),
    Signature(
        name="sql_parse_error",
        kind="assertion",
        remedy="the SQL text does not parse; it fails the same way at every rung",
        summary=_as_is,
        exception_types=("ParseException",),
        error_classes=("PARSE_SYNTAX_ERROR",),
    ),
    Signature(
        name="analysis_error",
        kind="data",
        remedy=(
            "the data at this rung has another schema than the code expects (a column missing, "
            "renamed, or of another type); compare the tiny sample's schema with the source's: "
            'tiny("<source>").printSchema() against rung.source("<source>").printSchema()'
        ),
        summary=_as_is,
        exception_types=("AnalysisException",),
        error_classes=(
            "UNRESOLVED_COLUMN",
            "UNRESOLVED_FIELD",
            "UNRESOLVED_MAP_KEY",
            "DATATYPE_MISMATCH",
            "AMBIGUOUS_REFERENCE",
            "FIELD_NOT_FOUND",
            "INCOMPATIBLE_COLUMN_TYPE",
            "NUM_COLUMNS_MISMATCH",
        ),
    ),
    Signature(
        name="spark_task_failed",
        kind="data",
        remedy=(
            "a Spark task failed on some rows of this rung's data; the JVM trace in the JSON "
            "report (--dcs-report) names the expression"
        ),
        summary=_task_summary,
        patterns=(r"Job aborted due to stage failure",),
        modules=_SPARK_MODULES,
        generic=True,
    ),
    Signature(
        name="pyspark_usage",
        kind="assertion",
        remedy="PySpark rejected the call on the driver before any job ran; fix the call",
        summary=_as_is,
        modules=("pyspark.errors.exceptions.base",),
        generic=True,
    ),
    Signature(
        name="spark_error",
        kind="framework",
        remedy=(
            "Spark failed in a way pytest-dcs does not recognise; the full JVM trace is in the "
            "JSON report (--dcs-report)"
        ),
        summary=_as_is,
        modules=_SPARK_MODULES,
        generic=True,
    ),
    Signature(
        name="driver_error",
        kind="assertion",
        remedy="",
        summary=_driver_summary,
        generic=True,
    ),
)
SIGNATURES_BY_NAME: Mapping[str, Signature] = {s.name: s for s in SIGNATURES}
