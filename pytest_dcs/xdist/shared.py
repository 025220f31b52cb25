"""What xdist workers share through the run's folder: their rung records.

Workers append their rung records to the run's folder, and a worker reads those of a test
before its rung: a lower rung that failed elsewhere skips it, and one that passed elsewhere is
the base of its scaling check. Spark-free and xdist-free.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pytest_dcs.failures import Failure
from pytest_dcs.ladder import RungRecord, base_nodeid
from pytest_dcs.rungs import RungSpec, parse_rung_id


class RunRecords:
    """The rung records of the run as its other processes wrote them to the run's folder.

    Each process appends to a file of its own, one JSON line per record in a single write, so
    writers never interleave. Files only grow: each is read on from where the last read stopped,
    up to its last whole line. A line holds `RungRecord.shared`: what another rung needs.
    """

    def __init__(self, folder: Path, writer: str) -> None:
        self.folder = folder
        self.path = folder / f"rungs-{writer}.jsonl"
        self._read_up_to: dict[Path, int] = {}
        self._by_test: dict[str, list[RungRecord]] = {}

    def add(self, record: RungRecord) -> None:
        line = json.dumps(record.shared(), default=str) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)

    def of_test(self, test: str) -> list[RungRecord]:
        """The records of `test` written by the other processes so far."""
        for path in sorted(self.folder.glob("rungs-*.jsonl")):
            if path != self.path:
                self._read_on(path)
        return list(self._by_test.get(test, ()))

    def _read_on(self, path: Path) -> None:
        with path.open("rb") as handle:
            handle.seek(self._read_up_to.get(path, 0))
            text = handle.read()
        whole = text[: text.rfind(b"\n") + 1]
        self._read_up_to[path] = self._read_up_to.get(path, 0) + len(whole)
        for line in whole.decode("utf-8").splitlines():
            record = RungRecord.from_wire(json.loads(line))
            self._by_test.setdefault(record.test, []).append(record)


def rung_of_nodeid(nodeid: str) -> RungSpec | None:
    """The rung a node id ends with (`t.py::f[local]`, `t.py::f[a-1pct]`), else None.

    The rung is the last parameter, since the plugin parametrizes last. The controller only has
    node ids; a plain test whose last parameter id happens to be a rung id is read as that rung,
    which changes when it runs, not how.
    """
    if not nodeid.endswith("]") or "[" not in nodeid:
        return None
    params = nodeid[nodeid.rindex("[") + 1 : -1]
    return parse_rung_id(params.rsplit("-", 1)[-1])


def crash_record(nodeid: str, worker: str) -> RungRecord | None:
    """The rung record of an item whose worker died under it, or None for a plain test."""
    rung = rung_of_nodeid(nodeid)
    if rung is None:
        return None
    failure = Failure(
        "panic",
        f"worker {worker} crashed while running rung {rung.name}",
        advice="the worker process died (a segfault, os._exit, the OOM killer); "
        "run the test alone with -n 0 to see how",
    )
    return RungRecord(
        test=base_nodeid(nodeid, rung.name),
        rung=rung.name,
        outcome="failed",
        key=rung.sort_key,
        fraction=rung.fraction,
        failure=failure.to_json(),
    )
