"""Real Spark servers for the plugin's tests: a standalone master and worker, a Connect server.

Each is the installed pyspark's own launcher (`bin/spark-class`, `bin/spark-submit`), bound to
127.0.0.1 on free ports, started in a process group of its own from a scratch folder. Its
environment carries a tag of its own (see `conftest.spark_jvms`), so the JVMs it starts, the
standalone worker's executors included, can be found; `stop` ends the group and asserts that none
is left.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyspark
from conftest import TAG_VAR, spark_jvms, wait_for_no_jvms

PYSPARK_HOME = Path(pyspark.__file__).parent
LOOPBACK = "127.0.0.1"
JVM_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
START_SECONDS = 120.0


def free_port() -> int:
    """A TCP port nothing listens on now, on the loopback address."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def server_env(tag: str) -> dict[str, str]:
    """What a server runs with: no test plumbing, no PYTHONPATH, the venv's Python for workers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop("PYTHONPATH", None)
    env.update(
        {
            TAG_VAR: tag,
            "SPARK_LOCAL_IP": LOOPBACK,
            "SPARK_HOME": str(PYSPARK_HOME),
            "PYSPARK_PYTHON": sys.executable,
            "SPARK_DAEMON_JAVA_OPTS": JVM_OPTS,
            # Launchers run in classic mode, as sbin/start-connect-server.sh runs them.
            "SPARK_CONNECT_MODE": "0",
        }
    )
    return env


@dataclass
class Server:
    """One server process (a JVM in its own process group) and its log."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0
    """How long it took to be ready."""

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for(self, pattern: str, timeout: float = START_SECONDS) -> None:
        """Wait until the log matches `pattern`; fail with the log's tail if the server exits."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.text()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(self.text().splitlines()[-30:])
                code = self.proc.poll()
                state = f"exited with {code}" if code is not None else "timed out"
                raise AssertionError(f"{self.name} {state} before /{pattern}/:\n{tail}")
            time.sleep(0.2)
        self.seconds = time.monotonic() - self.started

    def stop(self, timeout: float = 20.0) -> None:
        """End the server's process group: TERM, then KILL what is left after `timeout`."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=timeout)
                return
            except subprocess.TimeoutExpired:
                continue


def launch(name: str, command: list[str], folder: Path, tag: str) -> Server:
    """Start `command` in `folder` (its working directory and log) in a new process group."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=folder,
            env=server_env(tag),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(name, proc, log)


@dataclass
class Servers:
    """Servers started together under one tag; `stop` ends them and checks nothing is left."""

    folder: Path
    tag: str = field(default_factory=lambda: uuid.uuid4().hex)
    servers: list[Server] = field(default_factory=list)

    def launch(self, name: str, command: list[str]) -> Server:
        server = launch(name, command, self.folder, self.tag)
        self.servers.append(server)
        return server

    def jvms(self) -> list[int]:
        return spark_jvms(self.tag)

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        left = wait_for_no_jvms(self.tag)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert not left, f"server JVMs left running: {left}"
        for server in self.servers:
            assert server.proc.poll() is not None, f"{server.name} is still running"


@dataclass(frozen=True)
class Standalone:
    """A standalone master with one registered worker."""

    url: str
    master: Server
    worker: Server
    servers: Servers

    def executors(self) -> list[int]:
        """JVMs of the cluster other than the master and the worker: the apps' executors."""
        return [
            p for p in self.servers.jvms() if p not in (self.master.proc.pid, self.worker.proc.pid)
        ]

    def wait_for_no_executors(self, seconds: float = 20.0) -> list[int]:
        deadline = time.monotonic() + seconds
        while (left := self.executors()) and time.monotonic() < deadline:
            time.sleep(0.25)
        return left


@contextlib.contextmanager
def standalone_cluster(folder: Path, cores: int = 1, memory: str = "1g") -> Iterator[Standalone]:
    """A standalone master and a worker of `cores` cores, up until the worker has registered."""
    servers = Servers(folder)
    port, master_ui, worker_ui = free_port(), free_port(), free_port()
    url = f"spark://{LOOPBACK}:{port}"
    # The master's REST submission server would listen on a fixed port (6066).
    properties = folder / "spark.properties"
    folder.mkdir(parents=True, exist_ok=True)
    properties.write_text("spark.master.rest.enabled false\n")
    spark_class = str(PYSPARK_HOME / "bin" / "spark-class")
    common = ["--host", LOOPBACK, "--properties-file", str(properties)]
    master_args = ["--port", str(port), "--webui-port", str(master_ui)]
    worker_args = ["--cores", str(cores), "--memory", memory, "--webui-port", str(worker_ui)]
    worker_args += ["--work-dir", str(folder / "work"), url]
    try:
        master = servers.launch(
            "master", [spark_class, "org.apache.spark.deploy.master.Master", *common, *master_args]
        )
        # A worker that finds no master retries only after 5-15 s: start it once the master is up.
        master.wait_for(r"I have been elected leader")
        worker = servers.launch(
            "worker",
            [spark_class, "org.apache.spark.deploy.worker.Worker", *common, *worker_args],
        )
        worker.wait_for(r"Successfully registered with master")
        yield Standalone(url, master, worker, servers)
    finally:
        servers.stop()


@dataclass(frozen=True)
class Connect:
    """A Spark Connect server."""

    url: str
    server: Server
    servers: Servers


@contextlib.contextmanager
def connect_server(folder: Path, master: str = "local[2]") -> Iterator[Connect]:
    """A Spark Connect server on `master`, up until it listens."""
    servers = Servers(folder)
    port = free_port()
    confs = {
        "spark.connect.grpc.binding.address": LOOPBACK,
        "spark.connect.grpc.binding.port": str(port),
        "spark.driver.host": LOOPBACK,
        "spark.driver.bindAddress": LOOPBACK,
        "spark.ui.enabled": "false",
        # Cancelled tasks free their cores at once (the rung timeout relies on it).
        "spark.python.task.killTimeout": "0s",
    }
    command = [
        str(PYSPARK_HOME / "bin" / "spark-submit"),
        "--class",
        "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--name",
        "pytest-dcs-connect-server",
        "--master",
        master,
        "--driver-java-options",
        JVM_OPTS,
    ]
    for key, value in confs.items():
        command += ["--conf", f"{key}={value}"]
    command.append("spark-internal")
    try:
        server = servers.launch("connect", command)
        server.wait_for(r"Spark Connect server started at")
        yield Connect(f"sc://{LOOPBACK}:{port}", server, servers)
    finally:
        servers.stop()
