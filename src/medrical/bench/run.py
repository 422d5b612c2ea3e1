"""Running the bench: every policy over the same simulated wards (one per seed) or over the
readings a sink stored, pooled into a `Comparison`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from medrical.bench.compare import Staffing, compare
from medrical.bench.report import Comparison, PolicyInfo
from medrical.config import MedricalConfig
from medrical.monitor import assessment
from medrical.monitor.evaluation import ScenarioReport
from medrical.monitor.policy import AlertPolicy
from medrical.policies import Policy
from medrical.simulation import Simulator


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


def simulated(
    simulator_for: Callable[[int], Simulator],
    seeds: Sequence[int],
    hours: float,
    policies: Sequence[Policy],
    *,
    ignored_scenarios: frozenset[str] = assessment.DEFAULT_IGNORED,
    staffing: Staffing | None = None,
) -> Comparison:
    """Each seed's simulated ward through every policy; `simulator_for(seed)` builds the ward."""
    alert_policies = [AlertPolicy(scoring=p) for p in policies]
    runs = []
    first: Simulator | None = None
    for seed in seeds:
        simulator = simulator_for(seed)
        first = first or simulator
        runs.append(
            assessment.simulate_each(
                simulator, hours, alert_policies, ignored_scenarios=ignored_scenarios
            )
        )
    assert first is not None, "at least one seed"
    source = (
        f"simulated: {len(first.patients)} patients, {hours:g} h, one reading per "
        f"{first.interval_s:g} s, {len(runs)} seed(s)"
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
