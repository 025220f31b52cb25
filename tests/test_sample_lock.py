"""Two processes (as two xdist workers) needing the same tiny sample at once get one intact sample.

Each process runs `Inputs.sample` for real; only taking the sample from the source is replaced by
a slow write of rows that name the process, so a sample taken twice, or mixed from two takes,
shows. No Spark is started.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

from pytest_dcs.data.samplestore import SampleStore

TAKER = """
import json
import os
import sys
import time
from pathlib import Path

from pyspark.sql import types as T

from pytest_dcs.data.inputs import Inputs
from pytest_dcs.rungs import LOCAL
from pytest_dcs.data.samplestore import SampleStore
from pytest_dcs.data.sources import SourceSpec

root, go, out, refresh, since = sys.argv[1:6]
SCHEMA = T.StructType([T.StructField("id", T.LongType()), T.StructField("by", T.StringType())])


class SlowInputs(Inputs):
    def _take(self, source, file, spark, rung, key):
        me = str(os.getpid())
        with open(Path(root) / "takes.log", "a") as log:
            log.write(me + "\\n")
        time.sleep(0.5)  # the other process asks in the meantime
        rows = [(i, me) for i in range(100)]
        self.store.save(file, SCHEMA, rows, {"by": me})


inputs = SlowInputs(
    sources={"events": SourceSpec("events", "test", "json", "/nowhere")},
    store=SampleStore(Path(root) / "samples"),
    tiny_rows=100,
    refresh=refresh == "1",
    refreshed_since=float(since) if since != "-" else None,
)
while not Path(go).exists():
    time.sleep(0.005)
sample = inputs.sample("events", spark=None, rung=LOCAL)
Path(out).write_text(json.dumps([list(r) for r in sample.rows]))
"""


def take_at_once(root: Path, *, refresh: bool = False, since: float | None = None) -> list[list]:
    """Start two processes that ask for the sample at the same moment; the rows each read."""
    script = root / "taker.py"
    script.write_text(TAKER)
    go = root / "go"
    go.unlink(missing_ok=True)
    outs = [root / f"out-{n}.json" for n in range(2)]
    flags = ["1" if refresh else "0", "-" if since is None else repr(since)]
    procs = [
        subprocess.Popen([sys.executable, str(script), str(root), str(go), str(out), *flags])
        for out in outs
    ]
    time.sleep(1.0)  # both imported and waiting
    go.touch()
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    return [json.loads(out.read_text()) for out in outs]


def takers(root: Path) -> list[str]:
    log = root / "takes.log"
    return log.read_text().split() if log.exists() else []


def assert_intact(root: Path) -> str:
    """The sample on disk is one take: rows of one process, and a meta that matches it."""
    store = SampleStore(root / "samples")
    text = store.sample_path("events").read_text()
    meta = json.loads(store.meta_path("events").read_text())
    assert meta["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    sample = store.load("events")
    assert {row[1] for row in sample.rows} == {meta["by"]}
    return meta["by"]


def test_the_second_process_waits_and_reads_the_first_ones_sample(tmp_path: Path) -> None:
    first, second = take_at_once(tmp_path)
    assert len(takers(tmp_path)) == 1
    assert first == second
    assert assert_intact(tmp_path) == takers(tmp_path)[0]
    names = {p.name for p in (tmp_path / "samples").iterdir()}
    assert names == {
        ".gitattributes",
        ".gitignore",
        ".events.jsonl.lock",
        "events.jsonl",
        "events.meta.json",
    }
    assert (tmp_path / "samples" / ".gitignore").read_text() == ".*.lock\n"


def test_a_refresh_under_xdist_is_taken_once_per_run(tmp_path: Path) -> None:
    take_at_once(tmp_path)
    started = time.time()
    time.sleep(0.05)
    first, second = take_at_once(tmp_path, refresh=True, since=started)
    assert len(takers(tmp_path)) == 2  # the first run's take and one refresh
    assert first == second
    assert assert_intact(tmp_path) == takers(tmp_path)[1]


def test_without_the_runs_start_each_process_refreshes_in_turn(tmp_path: Path) -> None:
    take_at_once(tmp_path)
    take_at_once(tmp_path, refresh=True)
    assert len(takers(tmp_path)) == 3
    assert assert_intact(tmp_path) == takers(tmp_path)[2]
