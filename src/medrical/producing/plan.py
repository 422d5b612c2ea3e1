"""How `produce --workers N` deals the ward out: each worker's shard, share of --count and
--rate (pure: no process is started here), and one summary from the workers' own."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from medrical.errors import InputError
from medrical.producing.run import Limits, Pacing, RunSummary
from medrical.simulation import WHOLE_WARD, Cadence, Shard, Simulator

MAX_WORKERS = 64
"""More processes than this only compete for the same cores and broker."""


@dataclass(frozen=True)
class WardSpec:
    """The simulated ward: the Simulator's arguments, with the seed and the start fixed, so
    that every worker and every machine simulates the same ward."""

    patients: int
    seed: int
    scenario: str
    start_ms: int
    scenario_file: Path | None = None
    interval_s: float = 1.0
    cadence: Cadence = "monitor"
    artifact_rate: float = 0.0
    shard: Shard = WHOLE_WARD

    def simulator(self, shard: Shard | None = None) -> Simulator:
        return Simulator(
            self.patients,
            self.seed,
            self.scenario,
            scenario_file=self.scenario_file,
            interval_s=self.interval_s,
            start_ms=self.start_ms,
            cadence=self.cadence,
            artifact_rate=self.artifact_rate,
            shard=self.shard if shard is None else shard,
        )


@dataclass(frozen=True)
class WorkerJob:
    number: int
    """1-based, as the user reads it in messages."""
    topic: str
    ward: WardSpec
    shard: Shard
    pacing: Pacing
    limits: Limits
    log_level: int = logging.INFO
    metrics_port: int | None = None
    """Where this worker serves its Prometheus metrics (0: any free port; None: off)."""


def shares(total: int, weights: Sequence[int]) -> list[int]:
    """`total` split in proportion to `weights`, in whole numbers that add up to `total`
    (largest remainders first, earlier parts first among equals)."""
    whole = sum(weights)
    parts = [total * weight // whole for weight in weights]
    rest = total - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for index in by_remainder[:rest]:
        parts[index] += 1
    return parts


def plan(
    topic: str,
    ward: WardSpec,
    workers: int,
    pacing: Pacing,
    limits: Limits,
    *,
    log_level: int = logging.INFO,
    metrics_port: int | None = None,
) -> list[WorkerJob]:
    """One job per worker: its shard of the ward, its share of --count and --rate, and where
    it serves its metrics: `metrics_port` + its number - 1, so that Prometheus scrapes each
    worker as a target of its own (0: each on any free port)."""
    held = len(ward.shard.numbers(ward.patients))
    if not 1 <= workers <= MAX_WORKERS:
        raise InputError(f"--workers must be between 1 and {MAX_WORKERS}, not {workers}.")
    if metrics_port and metrics_port + workers - 1 > 65535:
        raise InputError(
            f"--metrics-port {metrics_port} with --workers {workers} needs ports up to "
            f"{metrics_port + workers - 1}, past 65535.",
            hint="Each worker serves on --metrics-port + its number - 1: give a lower port.",
        )
    if workers > held:
        where = "this shard holds" if not ward.shard.whole else "the ward has"
        raise InputError(
            f"--workers {workers} is more than the {held} patient(s) {where}: "
            "every worker needs a patient.",
            hint=f"Give --workers {held} or fewer, or more --patients.",
        )
    if limits.count is not None and limits.count < workers:
        raise InputError(
            f"--count {limits.count} is less than --workers {workers}: "
            "every worker needs at least one event."
        )
    shards = ward.shard.split(workers)
    weights = [len(shard.numbers(ward.patients)) for shard in shards]
    counts = shares(limits.count, weights) if limits.count is not None else [None] * workers
    held_total = sum(weights)
    return [
        WorkerJob(
            number=number,
            topic=topic,
            ward=ward,
            shard=shard,
            pacing=replace(
                pacing, rate=None if pacing.rate is None else pacing.rate * weight / held_total
            ),
            limits=replace(limits, count=count),
            log_level=log_level,
            metrics_port=_worker_port(metrics_port, number),
        )
        for number, (shard, weight, count) in enumerate(
            zip(shards, weights, counts, strict=True), start=1
        )
    ]


def _worker_port(base: int | None, number: int) -> int | None:
    # 0 stays 0: each worker takes any free port.
    return base if not base else base + number - 1


def merge(summaries: Sequence[RunSummary], stopped_by: str | None = None) -> RunSummary:
    """One summary for the whole ward: counts added up, over the longest worker's time."""
    reasons = sorted({summary.stopped_by for summary in summaries})
    errors = [summary.first_error for summary in summaries if summary.first_error]
    return RunSummary(
        sent=sum(summary.sent for summary in summaries),
        delivered=sum(summary.delivered for summary in summaries),
        failed=sum(summary.failed for summary in summaries),
        skipped=sum(summary.skipped for summary in summaries),
        elapsed_s=max((summary.elapsed_s for summary in summaries), default=0.0),
        stopped_by=stopped_by or "; ".join(reasons) or "no worker ran",
        first_error=errors[0] if errors else None,
    )
