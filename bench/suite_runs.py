"""What one project run of the plugin's own suite costs, by the engines it starts.

The suite's real-Spark modules run small pytest projects in subprocesses (tests/conftest.py
`Project`); their cost is mostly engine start-up. One project (a JSON source of 4,000 rows, two
scale tests) is run here side by side, alternating, `--repeat` times each (median wall time, and
median CPU time of the run's processes, which is what two busy cores run short of):

  local              `--dcs-max-rung=local`: one JVM, one local[2] session
  distributed/local  `--dcs-max-rung=distributed --dcs-cluster=local[2]`: the cluster engine is
                     a second local[2] session in the same JVM
  distributed        `--dcs-max-rung=distributed`: the default local-cluster[2,1,1024], two
                     executor JVMs and their Python workers

Run from the repository root; other engineers' Spark jobs share the machine, so compare the
ratios of one run rather than seconds across runs (the load average is printed with them):

    .venv/bin/python bench/suite_runs.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = """
import pyspark.sql.functions as F
import pytest


@pytest.mark.scale("events")
def test_counts(scaled, rung):
    assert scaled.count() == rung.rows


@pytest.mark.scale("events")
def test_totals(scaled, rung):
    rung.result(scaled.groupBy("exp").agg(F.sum("value").alias("total")))
"""

VARIANTS = {
    "local": ["--dcs-max-rung=local"],
    "distributed/local": ["--dcs-max-rung=distributed", "--dcs-cluster=local[2]"],
    "distributed": ["--dcs-max-rung=distributed"],
}


def write_project(folder: Path) -> None:
    events = folder / "data" / "events"
    events.mkdir(parents=True)
    lines = [
        json.dumps({"id": i, "exp": f"e10s-{i % 7}", "value": i % 1000 / 10}) for i in range(4000)
    ]
    (events / "part-0.json").write_text("\n".join(lines) + "\n")
    (folder / "pytest.ini").write_text("[pytest]\ndcs_sources =\n    events = json:data/events\n")
    (folder / "test_jobs.py").write_text(TESTS)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(folder: Path, args: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run (CPU of every process it waited for, JVMs included)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop("PYTHONPATH", None)
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    cpu, began = _children_cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return seconds, _children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    cpus: dict[str, list[float]] = {name: [] for name in VARIANTS}
    loads = []
    with tempfile.TemporaryDirectory(prefix="dcs-bench-suite-") as folder:
        project = Path(folder)
        write_project(project)
        run_once(project, VARIANTS["local"])  # takes the sample, so every timed run reads it
        for _ in range(args.repeat):
            for name, extra in VARIANTS.items():
                loads.append(os.getloadavg()[0])
                seconds, cpu = run_once(project, extra)
                times[name].append(seconds)
                cpus[name].append(cpu)

    wall = {name: statistics.median(values) for name, values in times.items()}
    cpu = {name: statistics.median(values) for name, values in cpus.items()}
    print(f"load average (1 min) during the runs: {min(loads):.1f}-{max(loads):.1f}")
    print(f"{'':18s} {'wall':>7s} {'':>6s} {'cpu':>7s}")
    for name in VARIANTS:
        print(
            f"{name:18s} {wall[name]:6.1f}s {wall[name] / wall['local']:5.2f}x "
            f"{cpu[name]:6.1f}s {cpu[name] / cpu['local']:5.2f}x local"
        )
    print(
        "a local[2] cluster engine instead of local-cluster: "
        f"{wall['distributed/local'] / wall['distributed']:.2f}x the wall time, "
        f"{cpu['distributed/local'] / cpu['distributed']:.2f}x the CPU time"
    )


if __name__ == "__main__":
    main()
