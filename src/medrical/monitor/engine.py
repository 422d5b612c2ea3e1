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

The hot path (`process_fields`) works on plain values: NEWS2 by lookup tables, bands as the
integers 0-2, runs as two-item lists, and no object per reading except the alerts themselves.
A reading's full score (`ScoredReading`) is built only when somebody asks for it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from medrical.monitor.alerts import Alert, AlertKind, alert_id, subscores_by_name
from medrical.monitor.carry_forward import PatientVitals
from medrical.monitor.events import ReadingFields, VitalsEvent
from medrical.monitor.policy import AlertPolicy, Confirmation
from medrical.news2 import (
    ClinicalRisk,
    Consciousness,
    News2Score,
    Parameter,
    SpO2Scale,
    Vitals,
    clinical_risk,
)
from medrical.news2.tables import PARAMETERS, as_score, score_values
from medrical.policies import NEWS2, Observation, Snapshot, Verdict

STATE_VERSION = 1

BANDS = (ClinicalRisk.LOW, ClinicalRisk.MEDIUM, ClinicalRisk.HIGH)
_BAND_FLOOR = (0, 5, 7)
LOW, MEDIUM, HIGH = range(3)
_BAND_NUMBER = {band: i for i, band in enumerate(BANDS)}

Run = list[int]
"""Consecutive qualifying readings: [event time of the first, how many so far]."""

_NO_SUBSCORES: Mapping[str, int | None] = MappingProxyType({p.value: None for p in Parameter})


def aggregate_band(aggregate: int) -> ClinicalRisk:
    """Chart 4's aggregate thresholds alone: low 0-4, medium 5-6, high 7+."""
    return BANDS[_band_of(aggregate)]


def _band_of(aggregate: int) -> int:
    if aggregate >= _BAND_FLOOR[HIGH]:
        return HIGH
    if aggregate >= _BAND_FLOOR[MEDIUM]:
        return MEDIUM
    return LOW


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
    """Everything the engine remembers about one patient; round-trips through to_dict().

    `rising[b]` counts readings at band b or above (b = 1, 2), `falling[b]` readings clearly
    (by the hysteresis margin) at band b or below (b = 0, 1); the other slots stay None.
    `subscores` are the last reading's, in chart order (not part of the saved state: a
    restored patient's next reading sets them).
    """

    patient_id: str
    vitals: PatientVitals = field(default_factory=PatientVitals)
    last_event_time: int | None = None
    last_spo2_scale: int = 1
    last_scenario: str | None = None
    band: int = LOW
    rising: list[Run | None] = field(default_factory=lambda: [None, None, None])
    falling: list[Run | None] = field(default_factory=lambda: [None, None, None])
    red_run: Run | None = None
    red_clear_run: Run | None = None
    red_episode: bool = False
    silent_alerted: bool = False
    subscores: list[int | None] | None = None

    def restart_runs(self) -> None:
        self.rising = [None, None, None]
        self.falling = [None, None, None]
        self.red_run = None
        self.red_clear_run = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot, independent of the policy, to move or rebuild the patient."""
        return {
            "version": STATE_VERSION,
            "patient_id": self.patient_id,
            "vitals": self.vitals.to_dict(),
            "last_event_time": self.last_event_time,
            "last_spo2_scale": self.last_spo2_scale,
            "last_scenario": self.last_scenario,
            "band": BANDS[self.band].value,
            "rising": {BANDS[b].value: list(r) for b, r in enumerate(self.rising) if r},
            "falling": {BANDS[b].value: list(r) for b, r in enumerate(self.falling) if r},
            "red_run": None if self.red_run is None else list(self.red_run),
            "red_clear_run": None if self.red_clear_run is None else list(self.red_clear_run),
            "red_episode": self.red_episode,
            "silent_alerted": self.silent_alerted,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PatientState:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported patient state version {data.get('version')!r}")
        last_event_time = data["last_event_time"]
        rising: list[Run | None] = [None, None, None]
        falling: list[Run | None] = [None, None, None]
        for runs, saved in ((rising, data["rising"]), (falling, data["falling"])):
            for band, (started, readings) in saved.items():
                runs[_BAND_NUMBER[ClinicalRisk(band)]] = [int(started), int(readings)]
        return cls(
            patient_id=str(data["patient_id"]),
            vitals=PatientVitals.from_dict(data["vitals"]),
            last_event_time=None if last_event_time is None else int(last_event_time),
            last_spo2_scale=int(SpO2Scale(int(data["last_spo2_scale"]))),
            last_scenario=data["last_scenario"],
            band=_BAND_NUMBER[ClinicalRisk(data["band"])],
            rising=rising,
            falling=falling,
            red_run=_run_from(data["red_run"]),
            red_clear_run=_run_from(data["red_clear_run"]),
            red_episode=bool(data["red_episode"]),
            silent_alerted=bool(data["silent_alerted"]),
        )


def _run_from(data: Any) -> Run | None:
    return None if data is None else [int(data[0]), int(data[1])]


class _Rule:
    """A Confirmation as plain numbers, checked without attribute lookups on the hot path."""

    __slots__ = ("both", "readings", "span_ms")

    def __init__(self, rule: Confirmation) -> None:
        self.readings = rule.readings
        self.span_ms = rule.seconds * 1000
        self.both = rule.require == "both"

    def confirmed(self, run: Run, now: int) -> bool:
        enough_readings = run[1] >= self.readings
        long_enough = now - run[0] >= self.span_ms
        if self.both:
            return enough_readings and long_enough
        return enough_readings or long_enough


class AlertEngine:
    """Per-patient scoring and alerting under one AlertPolicy."""

    def __init__(self, policy: AlertPolicy | None = None) -> None:
        self.policy = policy if policy is not None else AlertPolicy()
        self._patients: dict[str, PatientState] = {}
        self._max_ages_ms = self.policy.max_ages.milliseconds()
        self._silence_ms = self.policy.silence_seconds * 1000
        self._escalation = _Rule(self.policy.escalation)
        self._de_escalation = _Rule(self.policy.de_escalation)
        self._red_score = _Rule(self.policy.red_score)
        self._red_score_clear = _Rule(self.policy.red_score_clear)
        # The highest aggregate that still counts as clearly within band 0 and band 1.
        margin = self.policy.de_escalation_margin
        self._clear_ceiling = (
            _BAND_FLOOR[MEDIUM] - 1 - margin,
            _BAND_FLOOR[HIGH] - 1 - margin,
        )
        scoring = self.policy.scoring
        # NEWS2 keeps its table-driven path. Any other policy is asked through assess(), and
        # its band enters the same bookkeeping as the floor score of that band, with no
        # margin: the margin is in NEWS2 points, which mean nothing on another scale.
        self._assess = None if scoring is NEWS2 else scoring.assess
        self._policy_name = scoring.name
        self._policy_title = scoring.title or scoring.name
        self._history_ms = scoring.history_s * 1000
        self._history: dict[str, deque[Snapshot]] = {}
        self._verdict: Verdict | None = None
        if self._assess is not None:
            self._clear_ceiling = (_BAND_FLOOR[MEDIUM] - 1, _BAND_FLOOR[HIGH] - 1)

    def process(self, event: VitalsEvent, *, raised_at: int) -> Outcome:
        """Score `event` with carried-forward values and return the alerts it triggers."""
        alerts = self.process_fields(event.fields(), raised_at=raised_at)
        if alerts is None:
            return Outcome(reading=None)
        return Outcome(reading=self.scored(event.patient_id), alerts=alerts)

    def process_fields(self, reading: ReadingFields, *, raised_at: int) -> tuple[Alert, ...] | None:
        """The hot path: a checked reading (events.reading_fields) in, its alerts out.

        None means the reading was ignored (not newer than the patient's last).
        """
        patient_id = reading[0]
        now = reading[1]
        state = self._patients.get(patient_id)
        if state is None:
            state = self._patients[patient_id] = PatientState(patient_id)
        else:
            last = state.last_event_time
            if last is not None:
                if now <= last:
                    return None
                if now - last > self._silence_ms:
                    state.restart_runs()
        scale = reading[10] or 1
        current = state.vitals.update(reading[2:9], now, self._max_ages_ms)
        state.last_event_time = now
        state.last_spo2_scale = scale
        state.last_scenario = reading[9]
        state.silent_alerted = False
        if self._assess is not None:
            return self._follow_verdict(state, current, scale, now, raised_at)
        total, red, missing, subscores = score_values(current, scale)
        state.subscores = subscores
        complete = not missing
        band_alert = self._follow_bands(state, total, now, raised_at) if complete else None
        red_alert = self._follow_red_score(state, total, red, complete, now, raised_at)
        if band_alert is None:
            return () if red_alert is None else (red_alert,)
        return (band_alert,) if red_alert is None else (band_alert, red_alert)

    def scored(self, patient_id: str) -> ScoredReading:
        """The patient's last reading with its full score; KeyError if never seen."""
        state = self._patients[patient_id]
        last = state.last_event_time
        if last is None:
            raise KeyError(patient_id)
        subscores = state.subscores
        if subscores is None:
            # Another policy scores this engine's readings: NEWS2 only when asked for it.
            _total, _red, _missing, subscores = score_values(
                state.vitals.current(last, self._max_ages_ms), state.last_spo2_scale
            )
        return ScoredReading(patient_id, last, as_score(subscores), state.last_scenario)

    def check_silence(self, now: int, *, raised_at: int) -> list[Alert]:
        """Alert once for each patient with no reading for longer than the silence time.

        `now` is whatever clock the caller trusts (an event-time watermark when replaying, the
        wall clock live), in ms since the epoch. The alert re-arms when a reading arrives.
        """
        alerts = []
        limit_ms = self._silence_ms
        for state in self._patients.values():
            last = state.last_event_time
            if last is None or state.silent_alerted or now - last <= limit_ms:
                continue
            state.silent_alerted = True
            _total, _red, _missing, subscores = score_values(
                state.vitals.current(last, self._max_ages_ms), state.last_spo2_scale
            )
            result = as_score(subscores)
            alerts.append(
                _alert(
                    state.patient_id,
                    last,
                    subscores,
                    state.last_scenario,
                    AlertKind.SILENT,
                    result.risk,
                    raised_at,
                    f"no vital signs for {(now - last) / 1000:.0f} s",
                    self._policy_name,
                )
            )
        return alerts

    def patients(self) -> Iterator[str]:
        return iter(list(self._patients))

    def state(self, patient_id: str) -> PatientState:
        """The patient's live state (e.g. to save it); KeyError if the engine never saw them."""
        return self._patients[patient_id]

    def adopt(self, state: PatientState) -> None:
        """Take over a patient's saved state (e.g. after a partition moved here)."""
        self._patients[state.patient_id] = state

    def export_patient(self, patient_id: str) -> dict[str, Any]:
        """The patient's state as a JSON-ready dict; KeyError if the engine never saw them."""
        return self._patients[patient_id].to_dict()

    def restore_patient(self, data: Mapping[str, Any]) -> None:
        """Adopt a patient's state exported elsewhere (e.g. after a partition moved here)."""
        self.adopt(PatientState.from_dict(data))

    def forget_patient(self, patient_id: str) -> None:
        """Drop a patient (e.g. their partition was revoked); unknown ids are ignored."""
        self._patients.pop(patient_id, None)
        self._history.pop(patient_id, None)

    def _follow_verdict(
        self, state: PatientState, current: list[Any], scale: int, now: int, raised_at: int
    ) -> tuple[Alert, ...]:
        """Another policy's path: ask it for a verdict, then follow its band and trigger."""
        assert self._assess is not None
        consciousness = current[5]
        vitals = Vitals(
            respiratory_rate=current[0],
            spo2=current[1],
            on_oxygen=current[2],
            systolic_bp=current[3],
            heart_rate=current[4],
            consciousness=None if consciousness is None else Consciousness(consciousness),
            body_temperature=current[6],
            spo2_scale=SpO2Scale(scale),
        )
        history: tuple[Snapshot, ...] = ()
        if self._history_ms:
            kept = self._history.get(state.patient_id)
            if kept is None:
                kept = self._history[state.patient_id] = deque()
            while kept and now - kept[0].event_time > self._history_ms:
                kept.popleft()
            history = tuple(kept)
            kept.append(Snapshot(now, vitals))
        verdict = self._verdict = self._assess(Observation(state.patient_id, now, vitals, history))
        state.subscores = None
        total = _BAND_FLOOR[_BAND_NUMBER[verdict.risk]]
        complete = verdict.complete
        band_alert = self._follow_bands(state, total, now, raised_at) if complete else None
        red_alert = self._follow_red_score(state, total, verdict.trigger, complete, now, raised_at)
        if band_alert is None:
            return () if red_alert is None else (red_alert,)
        return (band_alert,) if red_alert is None else (band_alert, red_alert)

    def _verdict_alert(
        self, state: PatientState, kind: AlertKind, risk: ClinicalRisk, raised_at: int, message: str
    ) -> Alert:
        verdict = self._verdict
        assert verdict is not None
        assert state.last_event_time is not None
        if verdict.reasons:
            message += ": " + "; ".join(verdict.reasons)
        if not verdict.complete:
            message += "; incomplete"
        now = state.last_event_time
        return Alert(
            alert_id=alert_id(state.patient_id, kind, now, self._policy_name),
            patient_id=state.patient_id,
            kind=kind,
            risk=risk,
            score=round(verdict.score),
            subscores=_NO_SUBSCORES,
            event_time=now,
            raised_at=raised_at,
            message=f"patient {state.patient_id}: {message}",
            scenario=state.last_scenario,
            policy=self._policy_name,
        )

    def _follow_bands(
        self, state: PatientState, total: int, now: int, raised_at: int
    ) -> Alert | None:
        rising, falling = state.rising, state.falling
        reached = _band_of(total)
        for band in (MEDIUM, HIGH):
            if reached >= band:
                run = rising[band]
                if run is None:
                    rising[band] = [now, 1]
                else:
                    run[1] += 1
            else:
                rising[band] = None
        for band in (LOW, MEDIUM):
            if total <= self._clear_ceiling[band]:
                run = falling[band]
                if run is None:
                    falling[band] = [now, 1]
                else:
                    run[1] += 1
            else:
                falling[band] = None

        current = state.band
        for band in (HIGH, MEDIUM):
            run = rising[band]
            if band > current and run is not None and self._escalation.confirmed(run, now):
                return self._move(state, total, now, band, run, AlertKind.ESCALATION, raised_at)
        for band in (LOW, MEDIUM):
            run = falling[band]
            if band < current and run is not None and self._de_escalation.confirmed(run, now):
                return self._move(state, total, now, band, run, AlertKind.DE_ESCALATION, raised_at)
        return None

    def _move(
        self,
        state: PatientState,
        total: int,
        now: int,
        band: int,
        run: Run,
        kind: AlertKind,
        raised_at: int,
    ) -> Alert:
        verb = "escalated" if kind is AlertKind.ESCALATION else "de-escalated"
        if self._verdict is not None:
            message = (
                f"{self._policy_title} {verb} from {BANDS[state.band].value} to "
                f"{BANDS[band].value} (score {self._verdict.score:g}, sustained over {run[1]} "
                f"readings and {(now - run[0]) / 1000:.0f} s)"
            )
            state.band = band
            return self._verdict_alert(state, kind, BANDS[band], raised_at, message)
        message = (
            f"NEWS2 {verb} from {BANDS[state.band].value} to {BANDS[band].value} "
            f"(score {total}, sustained over {run[1]} readings and "
            f"{(now - run[0]) / 1000:.0f} s)"
        )
        state.band = band
        assert state.subscores is not None
        return _alert(
            state.patient_id,
            now,
            state.subscores,
            state.last_scenario,
            kind,
            BANDS[band],
            raised_at,
            message,
            self._policy_name,
        )

    def _follow_red_score(
        self, state: PatientState, total: int, red: bool, complete: bool, now: int, raised_at: int
    ) -> Alert | None:
        if red:
            state.red_clear_run = None
            run = state.red_run
            if run is None:
                run = state.red_run = [now, 1]
            else:
                run[1] += 1
            if state.red_episode or not self._red_score.confirmed(run, now):
                return None
            state.red_episode = True
            if self._verdict is not None:
                risk = max(self._verdict.risk, ClinicalRisk.LOW_MEDIUM)
                message = (
                    f"{self._policy_title} trigger; score {self._verdict.score:g}, "
                    f"{risk.value} risk"
                )
                return self._verdict_alert(state, AlertKind.RED_SCORE, risk, raised_at, message)
            assert state.subscores is not None
            names = ", ".join(
                parameter.value
                for parameter, points in zip(PARAMETERS, state.subscores, strict=True)
                if points == 3
            )
            risk = clinical_risk(total, red_flag=True)
            return _alert(
                state.patient_id,
                now,
                state.subscores,
                state.last_scenario,
                AlertKind.RED_SCORE,
                risk,
                raised_at,
                f"red score (3 points) in {names}; score {total}, {risk.value} risk",
                self._policy_name,
            )
        if complete:
            state.red_run = None
            run = state.red_clear_run
            if run is None:
                run = state.red_clear_run = [now, 1]
            else:
                run[1] += 1
            if state.red_episode and self._red_score_clear.confirmed(run, now):
                state.red_episode = False
        return None


def _alert(
    patient_id: str,
    event_time: int,
    subscores: Sequence[int | None],
    scenario: str | None,
    kind: AlertKind,
    risk: ClinicalRisk,
    raised_at: int,
    message: str,
    policy: str,
) -> Alert:
    result = as_score(subscores)
    if not result.complete:
        missing = ", ".join(sorted(p.value for p in result.missing))
        message += f"; incomplete, missing {missing}"
    return Alert(
        alert_id=alert_id(patient_id, kind, event_time, policy),
        patient_id=patient_id,
        kind=kind,
        risk=risk,
        score=result.score,
        subscores=subscores_by_name(result),
        event_time=event_time,
        raised_at=raised_at,
        message=f"patient {patient_id}: {message}",
        scenario=scenario,
        policy=policy,
    )
