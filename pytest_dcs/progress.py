"""One concise line for a rung (or a tiny sample being taken) still running after a few seconds:
which rung, how many rows, how long so far. It stands in for Spark's console progress bar, which
the engines turn off."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

# Rungs shorter than this say nothing beyond pytest's own line.
PROGRESS_AFTER_SECONDS = 5.0


class Progress:
    """Context manager around a test body: writes one line if the body outlasts `after`."""

    def __init__(
        self,
        label: str,
        rows: int | None,
        write: Callable[[str], None],
        after: float = PROGRESS_AFTER_SECONDS,
        detail: str | None = None,
    ) -> None:
        self.label = label
        self.rows = rows
        self.detail = detail
        self.after = after
        self._write = write
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.wrote: str | None = None

    def line(self, elapsed: float) -> str:
        if self.detail is not None:
            what = self.detail
        elif self.rows is not None:
            what = f"{self.rows:,} input rows"
        else:
            what = "input rows not counted"
        return f"[dcs] {self.label}: {what}, running for {elapsed:.0f} s ..."

    def __enter__(self) -> Progress:
        began = time.monotonic()

        def watch() -> None:
            if self._done.wait(self.after):
                return
            self.wrote = self.line(time.monotonic() - began)
            # The terminal may be gone or busy: progress is not worth a failure.
            with contextlib.suppress(Exception):
                self._write(self.wrote)

        self._thread = threading.Thread(target=watch, name="pytest-dcs-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
