"""How good the alerts are, measured against the simulator's ground truth.

Inputs are plain records: labelled readings (the `scenario` each reading carries) and the alerts
raised for them. Assumptions, all in event time (ms since the epoch):

- A patient deteriorates at their *onset*: given explicitly, carried by their readings
  (`onset_time`, the simulator's ground truth), or else the event time of their first reading
  whose label is not one of `stable_scenarios` (None labels are ignored). The patient's
  scenario is that label; a patient with no such reading is stable, under the first label they
  carry. An onset before the patient's first reading (admitted mid-deterioration) counts from
  that reading; one after their last reading (the deterioration had not begun yet) leaves the
  patient stable for the whole record. Patients without any label (and no explicit onset) are
  left out, and so are those whose scenario is in `ignored_scenarios`: neither stable nor
  deteriorating (the simulator's `recovery`, say, starts ill and improves).
- A deterioration is *detected* by the first escalation or red-score alert of medium or high
  risk whose triggering reading is at or after the onset; the delay is measured between the two
  event times, so it is the policy's own delay, not the pipeline's. With no such alert before
  the patient's last reading it is *missed*.
- A *false alert* is an escalation or red-score alert (any risk) raised while the patient is
  stable: over the whole record of a stable patient, before the onset for one who deteriorates.
  Observed time runs from the patient's first reading to their onset or last reading.
  De-escalations and silences are not alarms about the patient and are never counted.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from medrical.errors import InputError
from medrical.monitor.alerts import AlertKind
from medrical.news2 import ClinicalRisk
from medrical.simulation.scenario import builtin_scenario_names

HOUR_MS = 3_600_000
STABLE_SCENARIOS = frozenset({"stable"})
_ALARM_KINDS = frozenset({AlertKind.ESCALATION, AlertKind.RED_SCORE})


@dataclass(frozen=True, slots=True)
class LabelledReading:
    patient_id: str
    event_time: int
    scenario: str | None
    onset_time: int | None = None


@dataclass(frozen=True, slots=True)
class Onset:
    """When a patient's deterioration began, and which scenario it was."""

    patient_id: str
    scenario: str
    onset_time: int


class AlertRecord(Protocol):
    """What evaluation needs of an alert; `medrical.monitor.Alert` fits."""

    @property
    def patient_id(self) -> str: ...
    @property
    def kind(self) -> AlertKind: ...
    @property
    def risk(self) -> ClinicalRisk: ...
    @property
    def event_time(self) -> int: ...


@dataclass(frozen=True, slots=True)
class ScenarioReport:
    """Alert quality for the patients of one scenario."""

    scenario: str
    patients: int
    deteriorating: int
    detected: int
    missed: int
    detection_delays_s: tuple[float, ...]
    false_alerts: int
    stable_patient_hours: float
    alarms: int = 0
    """Every escalation and red-score alert of these patients, stable or not (alert load)."""
    patient_hours: float = 0.0
    """Observed time of these patients, first reading to last."""

    @property
    def median_delay_s(self) -> float | None:
        return statistics.median(self.detection_delays_s) if self.detection_delays_s else None

    @property
    def max_delay_s(self) -> float | None:
        return max(self.detection_delays_s) if self.detection_delays_s else None

    @property
    def false_alerts_per_patient_hour(self) -> float | None:
        if self.stable_patient_hours == 0:
            return None
        return self.false_alerts / self.stable_patient_hours


def deterioration_onsets(
    readings: Iterable[LabelledReading], stable_scenarios: frozenset[str] = STABLE_SCENARIOS
) -> dict[str, Onset]:
    """Each deteriorating patient's onset, read off the labels (see the module docstring)."""
    onsets: dict[str, Onset] = {}
    carried: dict[str, Onset] = {}
    for reading in sorted(readings, key=lambda r: r.event_time):
        if reading.scenario is None:
            continue
        if reading.onset_time is not None:
            carried.setdefault(
                reading.patient_id, Onset(reading.patient_id, reading.scenario, reading.onset_time)
            )
        if reading.scenario in stable_scenarios:
            continue
        if reading.patient_id not in onsets:
            onsets[reading.patient_id] = Onset(
                reading.patient_id, reading.scenario, reading.event_time
            )
    # Ground truth carried by the readings wins over the first label's time.
    return {**onsets, **carried}


def evaluate(
    readings: Iterable[LabelledReading],
    alerts: Iterable[AlertRecord],
    *,
    onsets: Mapping[str, Onset] | None = None,
    stable_scenarios: frozenset[str] = STABLE_SCENARIOS,
    ignored_scenarios: frozenset[str] = frozenset(),
) -> dict[str, ScenarioReport]:
    """Alert quality per scenario, keyed and sorted by scenario name.

    Raises InputError when a scenario to ignore is neither built in nor in the readings: a
    misspelt name would otherwise leave the report as it was, silently."""
    ordered = sorted(readings, key=lambda r: r.event_time)
    unknown = ignored_scenarios - {r.scenario for r in ordered} - set(builtin_scenario_names())
    if unknown:
        raise InputError(
            f"no scenario named {', '.join(sorted(map(repr, unknown)))} to ignore.",
            hint=f"Built-in scenarios: {', '.join(builtin_scenario_names())}; or 'none'.",
        )
    # Explicit onsets win for their patients; everyone else's come from the labels.
    onsets = {**deterioration_onsets(ordered, stable_scenarios), **(onsets or {})}

    first_seen: dict[str, int] = {}
    last_seen: dict[str, int] = {}
    first_label: dict[str, str] = {}
    for reading in ordered:
        first_seen.setdefault(reading.patient_id, reading.event_time)
        last_seen[reading.patient_id] = reading.event_time
        if reading.scenario is not None:
            first_label.setdefault(reading.patient_id, reading.scenario)

    alarms: dict[str, list[AlertRecord]] = {}
    for alert in sorted(alerts, key=lambda a: a.event_time):
        if alert.kind in _ALARM_KINDS:
            alarms.setdefault(alert.patient_id, []).append(alert)

    tallies: dict[str, _Tally] = {}
    for patient_id, start in first_seen.items():
        onset = onsets.get(patient_id)
        if onset is not None:
            if onset.onset_time > last_seen[patient_id]:
                onset = None
            elif onset.onset_time < start:
                onset = Onset(patient_id, onset.scenario, start)
        scenario = onset.scenario if onset is not None else first_label.get(patient_id)
        if scenario is None and patient_id in onsets:
            scenario = onsets[patient_id].scenario
        if scenario is None or scenario in ignored_scenarios:
            continue
        tally = tallies.setdefault(scenario, _Tally())
        tally.patients += 1
        patient_alarms = alarms.get(patient_id, [])
        tally.alarms += len(patient_alarms)
        tally.observed_ms += last_seen[patient_id] - start
        stable_until = last_seen[patient_id] if onset is None else onset.onset_time
        tally.stable_ms += max(0, stable_until - start)
        tally.false_alerts += sum(
            1 for a in patient_alarms if onset is None or a.event_time < onset.onset_time
        )
        if onset is None:
            continue
        tally.deteriorating += 1
        detection = next(
            (
                a
                for a in patient_alarms
                if a.event_time >= onset.onset_time and a.risk >= ClinicalRisk.MEDIUM
            ),
            None,
        )
        if detection is None:
            tally.missed += 1
        else:
            tally.delays_s.append((detection.event_time - onset.onset_time) / 1000)

    return {
        scenario: ScenarioReport(
            scenario=scenario,
            patients=t.patients,
            deteriorating=t.deteriorating,
            detected=len(t.delays_s),
            missed=t.missed,
            detection_delays_s=tuple(t.delays_s),
            false_alerts=t.false_alerts,
            stable_patient_hours=t.stable_ms / HOUR_MS,
            alarms=t.alarms,
            patient_hours=t.observed_ms / HOUR_MS,
        )
        for scenario, t in sorted(tallies.items())
    }


@dataclass(slots=True)
class _Tally:
    patients: int = 0
    deteriorating: int = 0
    missed: int = 0
    false_alerts: int = 0
    stable_ms: int = 0
    alarms: int = 0
    observed_ms: int = 0
    delays_s: list[float] = field(default_factory=list)
