"""Generation rate of the simulator for 10,000 patients on one core, against a baseline.

The baseline draws every vital independently at random and builds the same `Reading` objects,
so the ratio shows what the physiology (correlated processes, coupling, scenarios, invariants)
costs over the bare minimum of producing an event. Run:

    .venv/bin/python benchmarks/bench_simulation.py [--patients 10000] [--events 1000000]
"""

from __future__ import annotations

import argparse
import itertools
import random
import time
from collections.abc import Iterator

from medrical.simulation import Reading, Simulator

START_MS = 1_767_225_600_000


def independent_draws(patients: int, seed: int) -> Iterator[Reading]:
    """The trivial generator: no state, no coupling, every value a fresh uniform draw."""
    rng = random.Random(seed)
    randint = rng.randint
    identities = [f"P-{number:06d}" for number in range(1, patients + 1)]
    event_time = START_MS
    while True:
        for identity in identities:
            systolic = randint(100, 140)
            yield Reading(
                identity,
                event_time,
                randint(55, 100),
                systolic,
                randint(60, systolic - 20),
                randint(361, 375) / 10,
                randint(94, 100),
                randint(12, 20),
                "A",
                False,
                "stable",
                1,
            )
        event_time += 1000


def events_per_second(stream: Iterator[Reading], events: int) -> float:
    started = time.perf_counter()
    for _ in itertools.islice(stream, events):
        pass
    return events / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--scenario", default="mix")
    arguments = parser.parse_args()

    print(f"{arguments.patients} patients, {arguments.events} events, one core")
    baseline = events_per_second(independent_draws(arguments.patients, 1), arguments.events)
    print(f"baseline (independent random draws): {baseline:>10,.0f} events/s")
    for cadence in ("monitor", "ward"):
        build_started = time.perf_counter()
        simulator = Simulator(
            arguments.patients,
            1,
            arguments.scenario,
            start_ms=START_MS,
            cadence=cadence,
        )
        build_s = time.perf_counter() - build_started
        rate = events_per_second(simulator.readings(), arguments.events)
        print(
            f"simulator ({arguments.scenario}, {cadence:>7}): {rate:>10,.0f} events/s, "
            f"{rate / baseline:.2f}x baseline (patients drawn in {build_s:.2f} s)"
        )


if __name__ == "__main__":
    main()
