"""Start-up time of the command line: `medrical --help` and `medrical news2 ...`, against a bare
`python -c pass` measured in the same run.

Each command runs RUNS times, interleaved so that a change in the machine's load touches all
three alike; the figures are medians of wall-clock time from spawn to exit. The goal is a
median under 0.25 s for both commands.

    .venv/bin/python benchmarks/bench_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOAL_S = 0.25
NEWS2 = [
    "news2",
    "--respiratory-rate", "18", "--spo2", "96", "--systolic-bp", "120",
    "--heart-rate", "80", "--consciousness", "A", "--body-temperature", "37",
]  # fmt: skip


def _timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    medrical = str(Path(sys.executable).with_name("medrical"))
    commands = {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "medrical --help": [medrical, "--help"],
        "medrical news2 ...": [medrical, *NEWS2],
    }
    for command in commands.values():  # warm the file cache and the bytecode
        _timed(command)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            times[name].append(_timed(command))
    baseline = statistics.median(times["python -c pass (baseline)"])
    print(f"start-up, median of {runs} runs each (interleaved)")
    for name, samples in times.items():
        median = statistics.median(samples)
        verdict = (
            ""
            if name.endswith("(baseline)")
            else ("  within the goal" if median < GOAL_S else f"  OVER the {GOAL_S} s goal")
        )
        print(
            f"  {name:<28} {median * 1000:7.1f} ms  ({median / baseline:5.1f} x baseline){verdict}"
        )


if __name__ == "__main__":
    main()
