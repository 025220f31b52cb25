"""The progress line of a long rung (no Spark)."""

from __future__ import annotations

import time

from pytest_dcs.progress import Progress


def test_a_long_body_gets_one_line_with_rung_rows_and_elapsed() -> None:
    lines: list[str] = []
    with Progress("test_join 40pct", 80_414, lines.append, after=0.05):
        time.sleep(0.3)
    assert lines == ["[dcs] test_join 40pct: 80,414 input rows, running for 0 s ..."]


def test_a_short_body_says_nothing() -> None:
    lines: list[str] = []
    with Progress("test_join local", 200, lines.append, after=5):
        pass
    assert lines == []


def test_a_broken_terminal_does_not_fail_the_body() -> None:
    def broken(_line: str) -> None:
        raise OSError("terminal gone")

    with Progress("t 1pct", None, broken, after=0.01) as progress:
        time.sleep(0.1)
    assert progress.wrote is not None and "input rows not counted" in progress.wrote


def test_a_long_sample_says_what_it_is_doing() -> None:
    lines: list[str] = []
    with Progress("taking the tiny sample of orders", None, lines.append, 0.05, "reading"):
        time.sleep(0.3)
    assert lines == ["[dcs] taking the tiny sample of orders: reading, running for 0 s ..."]
