"""Scoring throughput of the alert engine per early-warning policy, in-process, no server.

Every variant scores the same ready-made readings of a mixed ward (`reading_fields` tuples,
as the monitor's hot path gets them) on a fresh engine; rounds alternate between the variants
and each keeps its best round, so that a busy neighbour on the machine slows all alike.

- `news2`: the default engine, NEWS2 by lookup tables (`process_fields`);
- `baseline`: with `--baseline REV`, the engine module as it was at git revision REV, loaded
  beside today's: the same-run reference for "no slowdown on the default path";
- `mews`, `qsofa`, `limits`: plug-in policies, asked through their `assess()`.

Run: .venv/bin/python benchmarks/bench_policies.py [--events 200000] [--baseline main] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from medrical.monitor.engine import AlertEngine
from medrical.monitor.events import ReadingFields, reading_fields
from medrical.monitor.policy import AlertPolicy
from medrical.policies import load_policy
from medrical.simulation import Simulator

START_MS = 1_767_225_600_000
ROOT = Path(__file__).resolve().parents[1]


def baseline_engine(revision: str) -> Callable[[], Any]:
    """AlertEngine from src/medrical/monitor/engine.py at `revision`, as a separate module."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{revision}:src/medrical/monitor/engine.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    folder = Path(tempfile.mkdtemp(prefix="medrical-bench-"))
    path = folder / "baseline_engine.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("baseline_engine", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_engine"] = module
    spec.loader.exec_module(module)
    engine: Callable[[], Any] = module.AlertEngine
    return engine


def rate(make: Callable[[], Any], readings: list[ReadingFields]) -> float:
    engine = make()
    process = engine.process_fields
    started = time.perf_counter()
    for fields in readings:
        process(fields, raised_at=fields[1])
    return len(readings) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", help="git revision of the reference engine, e.g. main")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    simulator = Simulator(args.patients, 11, "mix", interval_s=1.0, start_ms=START_MS)
    readings = [
        reading_fields(r.to_record()) for r in itertools.islice(simulator.readings(), args.events)
    ]
    variants: dict[str, Callable[[], Any]] = {}
    if args.baseline:
        variants["baseline"] = baseline_engine(args.baseline)
    variants["news2"] = AlertEngine
    for name in ("mews", "qsofa", "limits"):
        policy = AlertPolicy(scoring=load_policy(name))
        variants[name] = lambda policy=policy: AlertEngine(policy)

    best = dict.fromkeys(variants, 0.0)
    for _ in range(args.rounds):
        for name, make in variants.items():
            best[name] = max(best[name], rate(make, readings))
    figures: dict[str, Any] = {
        "events": len(readings),
        "patients": args.patients,
        "rounds": args.rounds,
        "readings_per_s": {name: round(value) for name, value in best.items()},
        "ratio_to_news2": {name: round(value / best["news2"], 3) for name, value in best.items()},
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{len(readings)} readings of {args.patients} patients, best of {args.rounds} rounds")
    for name, value in best.items():
        print(f"{name:<9} {value:>10,.0f} readings/s  {value / best['news2']:.3f} x news2")


if __name__ == "__main__":
    main()
