"""Engine configuration by master, and Spark Connect's start-up errors, without a JVM."""

from __future__ import annotations

import os
import socket
import sys
import time

import pytest

from pytest_dcs.spark.config import (
    CONNECT_MODE_VAR,
    QUIET_DAEMON,
    EngineConfig,
    EngineError,
    jvm_environment,
    master_hosts,
    redact,
    runs_on_this_machine,
)
from pytest_dcs.spark.connect import connect_unreachable
from pytest_dcs.spark.engines import Engines

TOKEN_URL = "sc://adb-1.2.azuredatabricks.net:443/;token=dapi0123;x-databricks-cluster-id=0101-ab"


def refused_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("master", "hosts"),
    [
        ("spark://127.0.0.1:7077", ("127.0.0.1",)),
        ("spark://m1:7077,m2:7077", ("m1", "m2")),
        ("sc://localhost:15002", ("localhost",)),
        (TOKEN_URL, ("adb-1.2.azuredatabricks.net",)),
        ("local[2]", ()),
        ("yarn", ()),
    ],
)
def test_master_hosts(master: str, hosts: tuple[str, ...]) -> None:
    assert master_hosts(master) == hosts


@pytest.mark.parametrize(
    ("master", "here"),
    [
        ("local[2]", True),
        ("local-cluster[2,1,1024]", True),
        ("spark://127.0.0.1:7077", True),
        ("spark://localhost:7077", True),
        ("sc://127.0.0.1:15002", True),
        ("spark://10.1.2.3:7077", False),
        ("spark://127.0.0.1:7077,10.1.2.3:7077", False),
        ("yarn", False),
        ("k8s://https://10.1.2.3:6443", False),
    ],
)
def test_runs_on_this_machine(master: str, here: bool) -> None:
    assert runs_on_this_machine(master) is here


def test_a_standalone_master_here_gets_the_loopback_driver_and_test_sized_executors() -> None:
    conf = EngineConfig("local[2]", "spark://127.0.0.1:7077").conf("cluster")
    assert conf["spark.master"] == "spark://127.0.0.1:7077"
    assert conf["spark.driver.host"] == conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert "-XX:TieredStopAtLevel=1" in conf["spark.executor.extraJavaOptions"]
    assert conf["spark.task.maxFailures"] == "1"
    assert conf["spark.python.task.killTimeout"] == "0s"
    assert "spark.executorEnv.PYTHONPATH" not in conf


def test_a_jvm_for_this_machine_is_launched_with_spark_local_ip_on_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Without it, local-cluster workers bind to the address the hostname resolves to.
    monkeypatch.delenv("SPARK_LOCAL_IP", raising=False)
    monkeypatch.setenv("PYTHONPATH", "/driver/only")
    with jvm_environment(EngineConfig("local[2]", "local-cluster[2,1,1024]").conf("cluster")):
        assert os.environ["SPARK_LOCAL_IP"] == "127.0.0.1"
        assert "PYTHONPATH" not in os.environ
    assert "SPARK_LOCAL_IP" not in os.environ
    assert os.environ["PYTHONPATH"] == "/driver/only"
    with jvm_environment(EngineConfig("local[2]", "spark://10.1.2.3:7077").conf("cluster")):
        assert "SPARK_LOCAL_IP" not in os.environ
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.2")
    with jvm_environment(EngineConfig("local[2]", "local[2]").conf("local")):
        assert os.environ["SPARK_LOCAL_IP"] == "127.0.0.2"


def test_python_workers_on_this_machine_run_the_quiet_daemon(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYSPARK_PYTHON", raising=False)
    config = EngineConfig("local[2]", "local-cluster[2,1,1024]")
    # This package is installed in the interpreter the workers run: both engines have it.
    assert config.conf("local")["spark.python.daemon.module"] == QUIET_DAEMON
    assert config.conf("cluster")["spark.python.daemon.module"] == QUIET_DAEMON
    # Workers of another interpreter may lack this package: PySpark's daemon, as it comes.
    monkeypatch.setenv("PYSPARK_PYTHON", "/usr/bin/false")
    assert "spark.python.daemon.module" not in config.conf("local")
    monkeypatch.delenv("PYSPARK_PYTHON")
    # Nor on a remote cluster's executors, nor where the user chose a daemon.
    remote = EngineConfig("local[2]", "spark://10.1.2.3:7077").conf("cluster")
    assert "spark.python.daemon.module" not in remote
    own = {"spark.python.daemon.module": "their_daemon"}
    chosen = EngineConfig("local[2]", "local[2]", own).conf("local")
    assert chosen["spark.python.daemon.module"] == "their_daemon"


def test_a_remote_master_gets_a_driver_host_its_executors_can_reach() -> None:
    conf = EngineConfig("local[2]", "spark://10.1.2.3:7077").conf("cluster")
    assert "spark.driver.host" not in conf
    assert "spark.driver.bindAddress" not in conf
    assert "spark.executor.extraJavaOptions" not in conf
    assert conf["spark.task.maxFailures"] == "1"


def test_a_connect_session_gets_runtime_sql_conf_and_the_users_only() -> None:
    config = EngineConfig("local[2]", "sc://127.0.0.1:15002", {"spark.sql.ansi.enabled": "false"})
    assert config.conf("cluster") == {
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "false",
    }
    assert config.conf("local")["spark.master"] == "local[2]"


def test_tokens_are_redacted() -> None:
    assert redact(f"could not reach {TOKEN_URL}") == (
        "could not reach sc://adb-1.2.azuredatabricks.net:443/;token=<redacted>;"
        "x-databricks-cluster-id=0101-ab"
    )


def test_a_refused_connect_url_is_told_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("grpc_proxy", "https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(var, raising=False)
    port = refused_port()
    url = f"sc://127.0.0.1:{port}/;token=secret"
    began = time.monotonic()
    with pytest.raises(EngineError) as raised:
        Engines(EngineConfig("local[2]", url)).session("cluster")
    assert time.monotonic() - began < 10
    message = str(raised.value)
    assert message.startswith(f"--dcs-cluster=sc://127.0.0.1:{port}/;token=<redacted>: ")
    assert f"no Spark Connect server answers at 127.0.0.1:{port}" in message
    assert "secret" not in message
    assert CONNECT_MODE_VAR not in os.environ


def test_behind_a_proxy_the_client_is_left_to_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:1")
    assert connect_unreachable(f"sc://127.0.0.1:{refused_port()}") is None


def test_a_missing_connect_client_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark.sql.connect.session", None)
    with pytest.raises(EngineError, match=r"pip install 'pytest-dcs\[connect\]'"):
        Engines(EngineConfig("local[2]", "sc://127.0.0.1:15002")).session("cluster")
