"""Running the bench: every policy over the same simulated wards (one per seed) or over the
readings a sink stored, pooled into a `Comparison`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from medrical.bench.compare import Staffing, compare
from medrical.bench.report import Comparison, PolicyInfo
from medrical.config import MedricalConfig
from medrical.monitor import assessment
from medrical.monitor.evaluation import ScenarioReport
from medrical.monitor.policy import AlertPolicy
from medrical.policies import Policy
from medrical.simulation import Cadence, Simulator


def _info(policies: Sequence[Policy]) -> tuple[PolicyInfo, ...]:
    return tuple(PolicyInfo(p.name, p.title or p.name, p.source) for p in policies)


def _comparison(
    source: str,
    seeds: tuple[int, ...],
    policies: Sequence[Policy],
    staffing: Staffing,
    runs: Sequence[Mapping[str, assessment.Assessment]],
) -> Comparison:
    reports: list[Mapping[str, Mapping[str, ScenarioReport]]] = [
        {name: result.reports for name, result in run.items()} for run in runs
    ]
    return Comparison(
        source=source,
        seeds=seeds,
        policies=_info(policies),
        staffing=staffing,
        rows=tuple(compare(reports, [p.name for p in policies])),
        readings=sum(next(iter(run.values())).readings for run in runs),
    )


@dataclass(frozen=True, slots=True)
class Ward:
    """What each seed's simulated ward is made of (the Simulator's arguments but the seed)."""

    patients: int
    scenario: str
    interval_s: float
    cadence: Cadence
    start_ms: int

    def simulator(self, seed: int) -> Simulator:
        return Simulator(
            self.patients,
            seed,
            self.scenario,
            interval_s=self.interval_s,
            cadence=self.cadence,
            start_ms=self.start_ms,
        )


def _one_seed(
    ward: Ward,
    seed: int,
    hours: float,
    policies: Sequence[Policy],
    ignored_scenarios: frozenset[str],
) -> dict[str, assessment.Assessment]:
    alert_policies = [AlertPolicy(scoring=p) for p in policies]
    return assessment.simulate_each(
        ward.simulator(seed), hours, alert_policies, ignored_scenarios=ignored_scenarios
    )


def simulated(
    ward: Ward,
    seeds: Sequence[int],
    hours: float,
    policies: Sequence[Policy],
    *,
    ignored_scenarios: frozenset[str] = assessment.DEFAULT_IGNORED,
    staffing: Staffing | None = None,
    jobs: int = 1,
) -> Comparison:
    """Each seed's simulated ward through every policy.

    With `jobs` > 1 the seeds run in that many processes at once: every seed's ward is
    independent, so the result is the same as one after the other.
    """
    if not seeds:
        raise ValueError("at least one seed")
    # Every ward is built (and checked) here first, so that a bad argument fails at once.
    ward.simulator(seeds[0])
    if jobs > 1 and len(seeds) > 1:
        with ProcessPoolExecutor(max_workers=min(jobs, len(seeds))) as pool:
            futures = [
                pool.submit(_one_seed, ward, seed, hours, policies, ignored_scenarios)
                for seed in seeds
            ]
            runs = [future.result() for future in futures]
    else:
        runs = [_one_seed(ward, seed, hours, policies, ignored_scenarios) for seed in seeds]
    source = (
        f"simulated: {ward.patients} patients, {hours:g} h, one reading per "
        f"{ward.interval_s:g} s, {len(runs)} seed(s)"
    )
    return _comparison(source, tuple(seeds), policies, staffing or Staffing(), runs)


def stored(
    config: MedricalConfig,
    topic: str,
    policies: Sequence[Policy],
    *,
    ignored_scenarios: frozenset[str] = assessment.DEFAULT_IGNORED,
    staffing: Staffing | None = None,
) -> Comparison:
    """The stored readings of `topic`, scored anew by every policy."""
    run = assessment.rescore_postgres(
        config,
        topic,
        [AlertPolicy(scoring=p) for p in policies],
        ignored_scenarios=ignored_scenarios,
    )
    source = next(iter(run.values())).source
    return _comparison(source, (), policies, staffing or Staffing(), [run])
