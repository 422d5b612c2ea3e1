"""Hourly trajectory of a scenario across a cohort, as a Markdown table for docs/scenarios.md.

Every hour, the table shows the median of each vital over the cohort's readings at that hour,
the commonest consciousness level, the share on oxygen, and the median NEWS2 with the share at
high clinical risk (7 or more), scored by `medrical.news2`. Run:

    .venv/bin/python benchmarks/scenario_trajectory.py --scenario sepsis
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from collections import Counter
from collections.abc import Sequence

from medrical.news2 import ClinicalRisk, Consciousness, SpO2Scale, Vitals, score
from medrical.simulation import Reading, Simulator

START_MS = 1_767_254_400_000  # 2026-01-01T08:00:00Z: admitted at the start of a day shift


def news2(reading: Reading) -> tuple[int, bool]:
    result = score(
        Vitals(
            respiratory_rate=reading.respiratory_rate,
            spo2=reading.spo2,
            on_oxygen=reading.on_oxygen,
            systolic_bp=reading.systolic_bp,
            heart_rate=reading.heart_rate,
            consciousness=Consciousness.parse(reading.consciousness or "A"),
            body_temperature=reading.body_temperature,
            spo2_scale=SpO2Scale.parse(reading.spo2_scale),
        )
    )
    return result.score, result.risk is ClinicalRisk.HIGH


def median(readings: Sequence[Reading], field: str) -> str:
    found = [getattr(reading, field) for reading in readings]
    value = statistics.median(value for value in found if value is not None)
    return f"{value:.1f}" if field == "body_temperature" else f"{value:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="sepsis")
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--hours", type=int, default=None, help="default: the scenario's length")
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()

    interval_s = 60
    simulator = Simulator(
        arguments.patients, arguments.seed, arguments.scenario, interval_s=interval_s,
        start_ms=START_MS,
    )  # fmt: skip
    hours = arguments.hours or round(max(scenario.duration_h for scenario in simulator.scenarios))
    rounds_per_hour = 3600 // interval_s
    stream = simulator.readings()
    print(
        f"Scenario `{arguments.scenario}`, {arguments.patients} synthetic patients, seed "
        f"{arguments.seed}, admitted 08:00; medians at each hour.\n"
    )
    print("| Hour | HR | SBP/DBP | RR | Temp | SpO2 | On O2 | ACVPU | NEWS2 | High risk |")
    print("|---:|---:|---:|---:|---:|---:|---:|:-:|---:|---:|")
    for hour in range(hours + 1):
        cohort = list(itertools.islice(stream, arguments.patients))
        scores = [news2(reading) for reading in cohort]
        consciousness = Counter(reading.consciousness for reading in cohort).most_common(1)[0][0]
        on_oxygen = sum(bool(reading.on_oxygen) for reading in cohort) / len(cohort)
        high = sum(is_high for _, is_high in scores) / len(cohort)
        print(
            f"| {hour} | {median(cohort, 'heart_rate')} | {median(cohort, 'systolic_bp')}/"
            f"{median(cohort, 'diastolic_bp')} | {median(cohort, 'respiratory_rate')} | "
            f"{median(cohort, 'body_temperature')} | {median(cohort, 'spo2')} | "
            f"{on_oxygen:.0%} | {consciousness} | "
            f"{statistics.median(points for points, _ in scores):.0f} | {high:.0%} |"
        )
        # Skip to the next hour's round of readings.
        for _ in itertools.islice(stream, (rounds_per_hour - 1) * arguments.patients):
            pass


if __name__ == "__main__":
    main()
