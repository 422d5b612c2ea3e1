"""Policies side by side: per policy and scenario, pooled over seeds, with confidence intervals.

Each seed is one simulated ward; every policy sees the same readings of it. For a policy and a
scenario the counts of all seeds are pooled (patients, deteriorations, detections, false
alerts, patient-hours) and the detection delays are put together, so that small scenarios get
one interval over every seed instead of three very wide ones. The per-seed sensitivities are
kept as well, to show the spread between wards.

Measures (all in event time, see `medrical.monitor.evaluation`):

- sensitivity: detected deteriorations / deteriorations, with Wilson's 95 % interval;
- detection delay from the onset: median and 90th percentile over the detected ones;
- false alerts per stable patient-hour (escalation or red-score alerts while stable), with an
  exact-Poisson 95 % interval;
- alert load per nurse-shift: every escalation and red-score alert of the scenario's patients
  per patient-hour, times the patients one nurse looks after and the hours of a shift, with the
  same kind of interval.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from medrical.bench.stats import percentile, poisson_rate, wilson
from medrical.monitor.evaluation import ScenarioReport

WARD = "(ward)"
"""The row of every scenario together."""


@dataclass(frozen=True, slots=True)
class Staffing:
    """Who reads the alerts: one nurse per `patients_per_nurse` patients for `shift_hours`."""

    patients_per_nurse: float = 8.0
    shift_hours: float = 12.0

    def __post_init__(self) -> None:
        if not 0 < self.patients_per_nurse <= 100:
            raise ValueError("patients per nurse must lie in (0, 100]")
        if not 0 < self.shift_hours <= 24:
            raise ValueError("a shift lasts more than 0 and at most 24 hours")

    @property
    def patient_hours_per_shift(self) -> float:
        return self.patients_per_nurse * self.shift_hours


@dataclass(frozen=True, slots=True)
class Row:
    """One policy on one scenario (or the whole ward), pooled over `seeds` wards."""

    policy: str
    scenario: str
    seeds: int
    patients: int
    deteriorating: int
    detected: int
    delays_s: tuple[float, ...]
    false_alerts: int
    stable_hours: float
    alarms: int
    patient_hours: float
    sensitivity_by_seed: tuple[float | None, ...]

    @property
    def sensitivity(self) -> float | None:
        return self.detected / self.deteriorating if self.deteriorating else None

    @property
    def sensitivity_ci(self) -> tuple[float, float] | None:
        return wilson(self.detected, self.deteriorating)

    @property
    def median_delay_s(self) -> float | None:
        return percentile(self.delays_s, 0.5)

    @property
    def p90_delay_s(self) -> float | None:
        return percentile(self.delays_s, 0.9)

    @property
    def false_per_hour(self) -> float | None:
        return self.false_alerts / self.stable_hours if self.stable_hours else None

    @property
    def false_per_hour_ci(self) -> tuple[float, float] | None:
        return poisson_rate(self.false_alerts, self.stable_hours)

    def load(self, staffing: Staffing) -> float | None:
        """Alerts per nurse-shift."""
        if not self.patient_hours:
            return None
        return self.alarms / self.patient_hours * staffing.patient_hours_per_shift

    def load_ci(self, staffing: Staffing) -> tuple[float, float] | None:
        interval = poisson_rate(self.alarms, self.patient_hours)
        if interval is None:
            return None
        per_shift = staffing.patient_hours_per_shift
        return interval[0] * per_shift, interval[1] * per_shift


def pool(policy: str, scenario: str, reports: Sequence[ScenarioReport | None], seeds: int) -> Row:
    """Pool one policy's reports of one scenario over the seeds (None: absent in that ward)."""
    present = [r for r in reports if r is not None]
    return Row(
        policy=policy,
        scenario=scenario,
        seeds=seeds,
        patients=sum(r.patients for r in present),
        deteriorating=sum(r.deteriorating for r in present),
        detected=sum(r.detected for r in present),
        delays_s=tuple(sorted(d for r in present for d in r.detection_delays_s)),
        false_alerts=sum(r.false_alerts for r in present),
        stable_hours=sum(r.stable_patient_hours for r in present),
        alarms=sum(r.alarms for r in present),
        patient_hours=sum(r.patient_hours for r in present),
        sensitivity_by_seed=tuple(
            r.detected / r.deteriorating if r is not None and r.deteriorating else None
            for r in reports
        ),
    )


def compare(
    runs: Sequence[Mapping[str, Mapping[str, ScenarioReport]]], policies: Sequence[str]
) -> list[Row]:
    """Rows per policy (in the given order), then per scenario (sorted), then the ward.

    `runs` holds one mapping per seed: policy name -> scenario -> report.
    """
    rows: list[Row] = []
    seeds = len(runs)
    for policy in policies:
        scenarios = sorted({name for run in runs for name in run[policy]})
        for scenario in scenarios:
            rows.append(pool(policy, scenario, [run[policy].get(scenario) for run in runs], seeds))
        rows.append(pool(policy, WARD, [_whole_ward(run[policy].values()) for run in runs], seeds))
    return rows


def _whole_ward(reports: Iterable[ScenarioReport]) -> ScenarioReport:
    every = list(reports)
    return ScenarioReport(
        scenario=WARD,
        patients=sum(r.patients for r in every),
        deteriorating=sum(r.deteriorating for r in every),
        detected=sum(r.detected for r in every),
        missed=sum(r.missed for r in every),
        detection_delays_s=tuple(d for r in every for d in r.detection_delays_s),
        false_alerts=sum(r.false_alerts for r in every),
        stable_patient_hours=sum(r.stable_patient_hours for r in every),
        alarms=sum(r.alarms for r in every),
        patient_hours=sum(r.patient_hours for r in every),
    )
