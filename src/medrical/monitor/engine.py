"""The alert policy engine: scores each reading and decides, per patient, what to raise.

Pure: no clock, no I/O. The caller passes every time in (event times from the readings, the
`raised_at` stamp, the `now` used to detect silence), so a replay of the same input from the
same state yields the same alerts.

Escalation and de-escalation move a patient between bands of the aggregate score (low 0-4,
medium 5-6, high 7+). The single-parameter trigger of Chart 4 (a red score) is its own alert
kind rather than a "low-medium" band, so that one reading never raises two alerts for the same
finding.

Only complete readings (every parameter present or validly carried forward) move the bands:
an incomplete score neither confirms nor interrupts a run. A red score counts even from an
incomplete reading, because the parameter that scored 3 was measured.

Readings must arrive in event-time order per patient (as a Kafka partition keyed by patient
delivers them). A reading no newer than the patient's last is a redelivery or a straggler and
is ignored, which also makes reprocessing after a restart harmless.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from medrical.monitor.alerts import Alert, AlertKind, alert_id, subscores_by_name
from medrical.monitor.carry_forward import PatientVitals
from medrical.monitor.events import VitalsEvent
from medrical.monitor.policy import AlertPolicy, Confirmation
from medrical.news2 import ClinicalRisk, News2Score, SpO2Scale, score

STATE_VERSION = 1

BANDS = (ClinicalRisk.LOW, ClinicalRisk.MEDIUM, ClinicalRisk.HIGH)
_BAND_FLOOR = {ClinicalRisk.LOW: 0, ClinicalRisk.MEDIUM: 5, ClinicalRisk.HIGH: 7}


def aggregate_band(aggregate: int) -> ClinicalRisk:
    """Chart 4's aggregate thresholds alone: low 0-4, medium 5-6, high 7+."""
    if aggregate >= _BAND_FLOOR[ClinicalRisk.HIGH]:
        return ClinicalRisk.HIGH
    if aggregate >= _BAND_FLOOR[ClinicalRisk.MEDIUM]:
        return ClinicalRisk.MEDIUM
    return ClinicalRisk.LOW


def _clearly_within(band: ClinicalRisk, aggregate: int, margin: int) -> bool:
    """Whether `aggregate` sits at least `margin` points below the band above `band`."""
    above = BANDS.index(band) + 1
    if above == len(BANDS):
        return True
    return aggregate <= _BAND_FLOOR[BANDS[above]] - 1 - margin


@dataclass(slots=True)
class Run:
    """Consecutive qualifying readings: when the first was, and how many so far."""

    started_at: int
    readings: int

    def confirmed(self, rule: Confirmation, now: int) -> bool:
        return rule.satisfied(self.readings, now - self.started_at)

    def to_list(self) -> list[int]:
        return [self.started_at, self.readings]


def _extend(run: Run | None, event_time: int) -> Run:
    if run is None:
        return Run(started_at=event_time, readings=1)
    run.readings += 1
    return run


def _run_from(data: Any) -> Run | None:
    return None if data is None else Run(started_at=int(data[0]), readings=int(data[1]))


@dataclass(frozen=True, slots=True)
class ScoredReading:
    """A reading as the engine scored it, after carry-forward."""

    patient_id: str
    event_time: int
    score: News2Score
    scenario: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one event produced: its score (None if the event was ignored) and any alerts."""

    reading: ScoredReading | None
    alerts: tuple[Alert, ...] = ()


@dataclass(slots=True)
class PatientState:
    """Everything the engine remembers about one patient; round-trips through to_dict()."""

    patient_id: str
    vitals: PatientVitals = field(default_factory=PatientVitals.empty)
    last_event_time: int | None = None
    last_spo2_scale: SpO2Scale = SpO2Scale.SCALE_1
    last_scenario: str | None = None
    band: ClinicalRisk = ClinicalRisk.LOW
    # Runs towards each band: `rising[b]` counts readings at band b or above, `falling[b]`
    # readings clearly (by the hysteresis margin) at band b or below.
    rising: dict[ClinicalRisk, Run] = field(default_factory=dict)
    falling: dict[ClinicalRisk, Run] = field(default_factory=dict)
    red_run: Run | None = None
    red_clear_run: Run | None = None
    red_episode: bool = False
    silent_alerted: bool = False

    def restart_runs(self) -> None:
        self.rising.clear()
        self.falling.clear()
        self.red_run = None
        self.red_clear_run = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot, independent of the policy, to move or rebuild the patient."""
        return {
            "version": STATE_VERSION,
            "patient_id": self.patient_id,
            "vitals": self.vitals.to_dict(),
            "last_event_time": self.last_event_time,
            "last_spo2_scale": int(self.last_spo2_scale),
            "last_scenario": self.last_scenario,
            "band": self.band.value,
            "rising": {band.value: run.to_list() for band, run in self.rising.items()},
            "falling": {band.value: run.to_list() for band, run in self.falling.items()},
            "red_run": None if self.red_run is None else self.red_run.to_list(),
            "red_clear_run": None if self.red_clear_run is None else self.red_clear_run.to_list(),
            "red_episode": self.red_episode,
            "silent_alerted": self.silent_alerted,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PatientState:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported patient state version {data.get('version')!r}")
        last_event_time = data["last_event_time"]
        return cls(
            patient_id=str(data["patient_id"]),
            vitals=PatientVitals.from_dict(data["vitals"]),
            last_event_time=None if last_event_time is None else int(last_event_time),
            last_spo2_scale=SpO2Scale(int(data["last_spo2_scale"])),
            last_scenario=data["last_scenario"],
            band=ClinicalRisk(data["band"]),
            rising={ClinicalRisk(b): Run(int(s), int(n)) for b, (s, n) in data["rising"].items()},
            falling={ClinicalRisk(b): Run(int(s), int(n)) for b, (s, n) in data["falling"].items()},
            red_run=_run_from(data["red_run"]),
            red_clear_run=_run_from(data["red_clear_run"]),
            red_episode=bool(data["red_episode"]),
            silent_alerted=bool(data["silent_alerted"]),
        )


class AlertEngine:
    """Per-patient scoring and alerting under one AlertPolicy."""

    def __init__(self, policy: AlertPolicy | None = None) -> None:
        self.policy = policy if policy is not None else AlertPolicy()
        self._patients: dict[str, PatientState] = {}

    def process(self, event: VitalsEvent, *, raised_at: int) -> Outcome:
        """Score `event` with carried-forward values and return the alerts it triggers."""
        state = self._patients.get(event.patient_id)
        if state is None:
            state = self._patients[event.patient_id] = PatientState(event.patient_id)
        if state.last_event_time is not None:
            if event.event_time <= state.last_event_time:
                return Outcome(reading=None)
            if event.event_time - state.last_event_time > self.policy.silence_seconds * 1000:
                state.restart_runs()

        spo2_scale = event.spo2_scale if event.spo2_scale is not None else SpO2Scale.SCALE_1
        state.vitals.record(event)
        state.last_event_time = event.event_time
        state.last_spo2_scale = spo2_scale
        state.last_scenario = event.scenario
        state.silent_alerted = False
        result = score(state.vitals.as_of(event.event_time, self.policy.max_ages, spo2_scale))
        reading = ScoredReading(event.patient_id, event.event_time, result, event.scenario)

        alerts: list[Alert] = []
        band_alert = self._follow_bands(state, reading, raised_at)
        if band_alert is not None:
            alerts.append(band_alert)
        red_alert = self._follow_red_score(state, reading, raised_at)
        if red_alert is not None:
            alerts.append(red_alert)
        return Outcome(reading=reading, alerts=tuple(alerts))

    def check_silence(self, now: int, *, raised_at: int) -> list[Alert]:
        """Alert once for each patient with no reading for longer than the silence time.

        `now` is whatever clock the caller trusts (an event-time watermark when replaying, the
        wall clock live), in ms since the epoch. The alert re-arms when a reading arrives.
        """
        alerts = []
        limit_ms = self.policy.silence_seconds * 1000
        for state in self._patients.values():
            last = state.last_event_time
            if last is None or state.silent_alerted or now - last <= limit_ms:
                continue
            state.silent_alerted = True
            result = score(state.vitals.as_of(last, self.policy.max_ages, state.last_spo2_scale))
            alerts.append(
                _alert(
                    ScoredReading(state.patient_id, last, result, state.last_scenario),
                    AlertKind.SILENT,
                    result.risk,
                    raised_at,
                    f"no vital signs for {(now - last) / 1000:.0f} s",
                )
            )
        return alerts

    def patients(self) -> Iterator[str]:
        return iter(list(self._patients))

    def export_patient(self, patient_id: str) -> dict[str, Any]:
        """The patient's state as a JSON-ready dict; KeyError if the engine never saw them."""
        return self._patients[patient_id].to_dict()

    def restore_patient(self, data: Mapping[str, Any]) -> None:
        """Adopt a patient's state exported elsewhere (e.g. after a partition moved here)."""
        state = PatientState.from_dict(data)
        self._patients[state.patient_id] = state

    def forget_patient(self, patient_id: str) -> None:
        """Drop a patient (e.g. their partition was revoked); unknown ids are ignored."""
        self._patients.pop(patient_id, None)

    def _follow_bands(
        self, state: PatientState, reading: ScoredReading, raised_at: int
    ) -> Alert | None:
        result = reading.score
        if not result.complete:
            return None
        now = reading.event_time
        reached = aggregate_band(result.score)
        margin = self.policy.de_escalation_margin
        for band in BANDS:
            if band > ClinicalRisk.LOW:
                if reached >= band:
                    state.rising[band] = _extend(state.rising.get(band), now)
                else:
                    state.rising.pop(band, None)
            if band < ClinicalRisk.HIGH:
                if _clearly_within(band, result.score, margin):
                    state.falling[band] = _extend(state.falling.get(band), now)
                else:
                    state.falling.pop(band, None)

        up = [
            band
            for band, run in state.rising.items()
            if band > state.band and run.confirmed(self.policy.escalation, now)
        ]
        if up:
            return self._move(state, reading, max(up), AlertKind.ESCALATION, raised_at)
        down = [
            band
            for band, run in state.falling.items()
            if band < state.band and run.confirmed(self.policy.de_escalation, now)
        ]
        if down:
            return self._move(state, reading, min(down), AlertKind.DE_ESCALATION, raised_at)
        return None

    def _move(
        self,
        state: PatientState,
        reading: ScoredReading,
        band: ClinicalRisk,
        kind: AlertKind,
        raised_at: int,
    ) -> Alert:
        runs = state.rising if kind is AlertKind.ESCALATION else state.falling
        run = runs[band]
        verb = "escalated" if kind is AlertKind.ESCALATION else "de-escalated"
        message = (
            f"NEWS2 {verb} from {state.band.value} to {band.value} "
            f"(score {reading.score.score}, sustained over {run.readings} readings and "
            f"{(reading.event_time - run.started_at) / 1000:.0f} s)"
        )
        state.band = band
        return _alert(reading, kind, band, raised_at, message)

    def _follow_red_score(
        self, state: PatientState, reading: ScoredReading, raised_at: int
    ) -> Alert | None:
        result = reading.score
        now = reading.event_time
        if result.red_flag:
            state.red_clear_run = None
            state.red_run = _extend(state.red_run, now)
            if state.red_episode or not state.red_run.confirmed(self.policy.red_score, now):
                return None
            state.red_episode = True
            red = ", ".join(p.value for p in result.red_parameters)
            return _alert(
                reading,
                AlertKind.RED_SCORE,
                result.risk,
                raised_at,
                f"red score (3 points) in {red}; score {result.score}, {result.risk.value} risk",
            )
        if result.complete:
            state.red_run = None
            state.red_clear_run = _extend(state.red_clear_run, now)
            if state.red_episode and state.red_clear_run.confirmed(
                self.policy.red_score_clear, now
            ):
                state.red_episode = False
        return None


def _alert(
    reading: ScoredReading, kind: AlertKind, risk: ClinicalRisk, raised_at: int, message: str
) -> Alert:
    result = reading.score
    if not result.complete:
        missing = ", ".join(sorted(p.value for p in result.missing))
        message += f"; incomplete, missing {missing}"
    return Alert(
        alert_id=alert_id(reading.patient_id, kind, reading.event_time),
        patient_id=reading.patient_id,
        kind=kind,
        risk=risk,
        score=result.score,
        subscores=subscores_by_name(result),
        event_time=reading.event_time,
        raised_at=raised_at,
        message=f"patient {reading.patient_id}: {message}",
        scenario=reading.scenario,
    )
