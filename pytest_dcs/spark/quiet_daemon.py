"""The Python daemon of sessions on this machine: PySpark's own, quiet about idle workers.

Spark closes the socket of a Python worker left idle for a minute. The worker wakes to the
closed socket, fails to write its goodbye, and PySpark's daemon prints the BrokenPipeError's
traceback to the terminal: in the middle of a test run, a traceback about nothing (no task was
running, nothing is lost). This module runs PySpark's daemon with its workers ending quietly
there instead; everything else is PySpark's.

Spark starts it as `python -m pytest_dcs.spark.quiet_daemon <worker module>`
(`spark.python.daemon.module`), only where the executors run the driver's interpreter, which
has this package.
"""

from __future__ import annotations

from typing import Any

from pyspark import daemon

_worker = daemon.worker


def quiet_worker(*args: Any, **kwargs: Any) -> Any:
    """PySpark's worker loop for one connection (its arguments, whatever PySpark's version
    passes), ending with an error code, silently, when its socket was closed under it."""
    try:
        return _worker(*args, **kwargs)
    except (BrokenPipeError, ConnectionResetError):
        return 1  # the daemon's child then exits: the JVM already forgot this worker


if __name__ == "__main__":
    daemon.worker = quiet_worker  # type: ignore[assignment]
    daemon.manager()
