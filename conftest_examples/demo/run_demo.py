"""The demo: generate a telemetry-like source, climb the ladder over it, check every verdict.

Run from the repository root with `make demo`. The source is generated once (see `make_data`) and
reused while its recipe is unchanged. Exits 0 when every rung of every demo test ended the way
the story says it should (several are meant to fail), non-zero otherwise, listing what differs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "main_summary"
SAMPLES = HERE / "dcs_samples"
OUT = HERE.parents[1] / "demo-out"

Verdict = tuple[str, str | None]  # outcome, failure kind
LADDER = ("local", "distributed", "1pct", "10pct", "40pct")


def climbs(rungs: tuple[str, ...] = LADDER) -> dict[str, Verdict]:
    return {rung: ("passed", None) for rung in rungs}


def fails(at: str, kind: str, rungs: tuple[str, ...] = LADDER) -> dict[str, Verdict]:
    """Passed below `at`, failed there as `kind`, skipped above."""
    below = rungs[: rungs.index(at)]
    above = rungs[rungs.index(at) + 1 :]
    return {
        **climbs(below),
        at: ("failed", kind),
        **{rung: ("skipped", None) for rung in above},
    }


EXPECTED: dict[str, dict[str, Verdict]] = {
    "test_recent_e10s": climbs(),
    # The variance-covering sample holds the rare null: caught before any real data is read.
    "test_fragile_udf": fails("local", "data"),
    "test_helper_module_udf": fails("distributed", "framework"),
    "test_hours_per_client": climbs(),
    "test_first_experiment": fails("distributed", "parity"),
    "test_first_experiment_by_date": climbs(),
    "test_finished_sessions": fails("local", "control_flow"),
    "test_near_duplicate_sessions": fails(
        "20pct", "slowdown", ("local", "distributed", "5pct", "20pct")
    ),
    # A few clients of the joined source have a malformed build id, none in the tiny samples.
    "test_build_age": fails("10pct", "data"),
}
# The rows captured at a fraction rung make this test fail at `local` on the next run.
REPLAYED = "test_build_age"


def generate() -> None:
    """Write the source unless this recipe wrote it already (then drop the samples of the old
    data: they would be stale)."""
    from make_data import FILES, PINGS, up_to_date, write

    if up_to_date(DATA):
        return
    from pytest_dcs.spark.config import EngineConfig
    from pytest_dcs.spark.engines import Engines

    print(f"demo: generating {PINGS:,} pings in {FILES} parquet files (once)...", flush=True)
    began = time.perf_counter()
    engines = Engines(EngineConfig("local[2]", "local[2]"))
    try:
        write(engines.session("local"), DATA)
    finally:
        engines.shutdown()
    shutil.rmtree(SAMPLES, ignore_errors=True)
    print(f"demo: wrote {DATA} in {time.perf_counter() - began:.0f} s", flush=True)


def verdicts(report: dict) -> dict[str, dict[str, Verdict]]:
    found: dict[str, dict[str, Verdict]] = {}
    for test in report["tests"]:
        name = test["nodeid"].rsplit("::", 1)[-1]
        found[name] = {
            r["rung"]: (r["outcome"], (r["failure"] or {}).get("kind")) for r in test["rungs"]
        }
    return found


def differences(found: dict[str, dict[str, Verdict]]) -> list[str]:
    wrong = []
    for test, rungs in EXPECTED.items():
        for rung, want in rungs.items():
            got = found.get(test, {}).get(rung)
            if got != want:
                wrong.append(f"  {test} {rung}: expected {want}, got {got}")
        extra = sorted(set(found.get(test, {})) - set(rungs))
        wrong += [f"  {test} {rung}: not in the story" for rung in extra]
    wrong += [f"  {test}: not in the story" for test in sorted(set(found) - set(EXPECTED))]
    return wrong


def exponents(report: dict) -> list[str]:
    """The slowdown numbers, one line per fraction rung with an exponent."""
    lines = []
    for test in report["tests"]:
        for r in test["rungs"]:
            if r.get("exponent") is not None:
                name = test["nodeid"].rsplit("::", 1)[-1]
                lines.append(
                    f"  {name} {r['rung']}: exponent {r['exponent']:.2f} "
                    f"({r['rows']:,} rows in {r['seconds']:.2f} s, "
                    f"overhead {r['overhead_seconds']:.2f} s)"
                )
    return lines


def replay(report: dict) -> str | None:
    """Run `REPLAYED` at `local` once more: the rows its fraction rung captured (and the rows of
    the joined source they join) must fail it there the same way. None when they do."""
    climbed = next(t for t in report["tests"] if t["nodeid"].endswith(f"::{REPLAYED}"))
    rung = next(r for r in climbed["rungs"] if r["outcome"] == "failed")
    path = OUT / "replay.json"
    path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rN"]
    command += ["--dcs-max-rung=local", "-k", REPLAYED, f"--dcs-report={path}"]
    print(f"demo: replaying the rows {REPLAYED} captured: $", " ".join(command[2:]), flush=True)
    subprocess.run(command, cwd=HERE, check=False)
    if not path.exists():
        return "the replay run wrote no report"
    (again,) = json.loads(path.read_text())["tests"]
    local = again["rungs"][0]
    if local["outcome"] != "failed" or local["failure"]["kind"] != "data":
        return f"the captured rows did not fail {REPLAYED} at local: {local['outcome']}"
    # The same error; the value it quotes may be another captured row's.
    error = rung["failure"]["summary"].split("'")[0]
    if not local["failure"]["summary"].startswith(error):
        return f"{REPLAYED} failed at local otherwise: {local['failure']['summary']!r}"
    print(
        f"demo: {REPLAYED} fails at local on the rows captured at {rung['rung']}, as it did there"
    )
    return None


def main() -> int:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    sys.path.insert(0, str(HERE))
    generate()
    OUT.mkdir(exist_ok=True)
    report_path, plot_path = OUT / "report.json", OUT / "ladder.png"
    report_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rN"]
    # Rows an earlier demo captured would fail their tests at `local`: each demo starts afresh.
    command += ["--dcs-forget-captured"]
    command += [f"--dcs-report={report_path}", f"--dcs-plot={plot_path}"]
    print("demo: $", " ".join(command[2:]), flush=True)
    began = time.perf_counter()
    subprocess.run(command, cwd=HERE, check=False)
    seconds = time.perf_counter() - began
    if not report_path.exists():
        print("demo: FAILED - the run wrote no report")
        return 1
    report = json.loads(report_path.read_text())
    print(f"demo: the suite took {seconds:.0f} s; exponents of time in rows:")
    print("\n".join(exponents(report)))
    wrong = differences(verdicts(report))
    if wrong:
        print("demo: FAILED - verdicts differ from the story:\n" + "\n".join(wrong))
        return 1
    replay_problem = replay(report)
    if replay_problem:
        print(f"demo: FAILED - {replay_problem}")
        return 1
    print(f"demo: every verdict is the expected one; report {report_path}, plot {plot_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
