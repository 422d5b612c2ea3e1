"""The alert policy engine, fed hand-made reading sequences."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

import pytest

from medrical.monitor import (
    ALERT_ID_NAMESPACE,
    Alert,
    AlertEngine,
    AlertKind,
    AlertPolicy,
    Confirmation,
    PatientState,
    VitalsEvent,
    alert_id,
)
from medrical.news2 import ClinicalRisk, Consciousness, SpO2Scale

T0 = 1_700_000_000_000
SECOND = 1000
MINUTE = 60 * SECOND
RAISED_AT = T0 + 86_400_000

# Complete observation sets and their NEWS2 aggregate (RCP 2017 Chart 1).
NORMAL: dict[str, object] = {
    "respiratory_rate": 16,
    "spo2": 97,
    "on_oxygen": False,
    "systolic_bp": 120,
    "heart_rate": 70,
    "consciousness": Consciousness.ALERT,
    "body_temperature": 37.0,
}  # 0
SCORE_3 = {**NORMAL, "heart_rate": 115, "body_temperature": 38.5}  # 2 + 1
SCORE_4 = {**NORMAL, "respiratory_rate": 22, "heart_rate": 115}  # 2 + 2
SCORE_5 = {**SCORE_4, "body_temperature": 38.5}  # medium
SCORE_6 = {**SCORE_4, "body_temperature": 39.5}  # medium
SCORE_7 = {**SCORE_5, "spo2": 92}  # high
RED_VOICE = {**NORMAL, "consciousness": Consciousness.VOICE}  # 3, low-medium


def _event(
    seconds: float, vitals: dict[str, object], patient: str = "p-1", **extra: object
) -> VitalsEvent:
    fields = {**vitals, **extra}
    return VitalsEvent(
        patient_id=patient,
        event_time=T0 + int(seconds * SECOND),
        scenario=str(fields.pop("scenario", "stable")),
        **fields,  # type: ignore[arg-type]
    )


def _feed(engine: AlertEngine, events: list[VitalsEvent]) -> list[Alert]:
    alerts: list[Alert] = []
    for event in events:
        alerts.extend(engine.process(event, raised_at=RAISED_AT).alerts)
    return alerts


def _every(step_s: float, *vitals: dict[str, object], start_s: float = 0) -> list[VitalsEvent]:
    return [_event(start_s + i * step_s, v) for i, v in enumerate(vitals)]


def test_stable_patient_raises_nothing() -> None:
    assert _feed(AlertEngine(), _every(30, *[NORMAL] * 20)) == []


def test_one_off_spike_is_suppressed() -> None:
    events = _every(30, NORMAL, NORMAL, SCORE_7, NORMAL, NORMAL, NORMAL, NORMAL)
    assert _feed(AlertEngine(), events) == []


def test_one_off_red_score_is_suppressed() -> None:
    events = _every(30, NORMAL, {**NORMAL, "systolic_bp": 85}, NORMAL, NORMAL, NORMAL)
    assert _feed(AlertEngine(), events) == []


def test_sustained_escalation_alerts_once_when_confirmed() -> None:
    engine = AlertEngine()
    alerts = _feed(engine, _every(30, NORMAL, *[SCORE_7] * 10))
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.kind is AlertKind.ESCALATION
    assert alert.risk is ClinicalRisk.HIGH
    assert alert.score == 7
    # the third high reading, 60 s after the first: both default conditions met
    assert alert.event_time == T0 + 90 * SECOND
    assert alert.raised_at == RAISED_AT
    assert alert.scenario == "stable"
    assert alert.subscores == {
        "respiratory_rate": 2,
        "spo2": 2,
        "on_oxygen": 0,
        "systolic_bp": 0,
        "heart_rate": 2,
        "consciousness": 0,
        "body_temperature": 1,
    }
    assert "from low to high" in alert.message
    assert alert.message.startswith("patient p-1:")


def test_confirmation_needs_the_time_as_well_as_the_readings_by_default() -> None:
    fast = _every(5, NORMAL, *[SCORE_7] * 20)  # 3 readings span only 10 s
    alerts = _feed(AlertEngine(), fast)
    assert [a.event_time - T0 for a in alerts] == [65 * SECOND]  # first at 5 s, +60 s


def test_confirmation_by_either_readings_or_time() -> None:
    policy = AlertPolicy(escalation=Confirmation(readings=3, seconds=60, require="either"))
    alerts = _feed(AlertEngine(policy), _every(5, NORMAL, *[SCORE_7] * 20))
    assert [a.event_time - T0 for a in alerts] == [15 * SECOND]


def test_immediate_confirmation_when_configured() -> None:
    policy = AlertPolicy(escalation=Confirmation(readings=1, seconds=0))
    alerts = _feed(AlertEngine(policy), _every(30, NORMAL, SCORE_5))
    assert [(a.kind, a.risk) for a in alerts] == [(AlertKind.ESCALATION, ClinicalRisk.MEDIUM)]


def test_escalation_steps_up_through_medium_to_high() -> None:
    events = _every(30, *[SCORE_5] * 3, *[SCORE_7] * 3)
    alerts = _feed(AlertEngine(), events)
    assert [(a.kind, a.risk, a.event_time - T0) for a in alerts] == [
        (AlertKind.ESCALATION, ClinicalRisk.MEDIUM, 60 * SECOND),
        (AlertKind.ESCALATION, ClinicalRisk.HIGH, 150 * SECOND),
    ]


def test_a_run_that_stays_above_a_band_counts_towards_it() -> None:
    # medium then high readings all confirm medium; the high ones alone must confirm high
    events = _every(30, SCORE_5, SCORE_7, SCORE_7, SCORE_7)
    alerts = _feed(AlertEngine(), events)
    assert [(a.risk, a.event_time - T0) for a in alerts] == [
        (ClinicalRisk.MEDIUM, 60 * SECOND),
        (ClinicalRisk.HIGH, 90 * SECOND),
    ]


def test_hysteresis_keeps_high_while_the_score_hovers_at_the_threshold() -> None:
    engine = AlertEngine()
    assert len(_feed(engine, _every(30, *[SCORE_7] * 3))) == 1
    hovering = _every(30, *[SCORE_6, SCORE_7] * 20, start_s=90)
    assert _feed(engine, hovering) == []


def test_de_escalation_needs_the_margin_and_the_time() -> None:
    engine = AlertEngine()
    _feed(engine, _every(30, *[SCORE_7] * 3))
    # 6 is inside medium but not by the 1-point margin below high: no de-escalation
    assert _feed(engine, _every(60, *[SCORE_6] * 10, start_s=90)) == []
    # 5 is: five readings spanning 300 s
    alerts = _feed(engine, _every(75, *[SCORE_5] * 6, start_s=690))
    assert [(a.kind, a.risk, a.score, a.event_time - T0) for a in alerts] == [
        (AlertKind.DE_ESCALATION, ClinicalRisk.MEDIUM, 5, 990 * SECOND),
    ]
    # leaving medium needs 3 or less; 4 is not enough
    assert _feed(engine, _every(75, *[SCORE_4] * 10, start_s=1200)) == []
    alerts = _feed(engine, _every(75, *[SCORE_3] * 5, start_s=2000))
    assert [(a.kind, a.risk) for a in alerts] == [(AlertKind.DE_ESCALATION, ClinicalRisk.LOW)]
    assert "from medium to low" in alerts[0].message


def test_de_escalation_straight_to_low_when_recovered() -> None:
    engine = AlertEngine()
    _feed(engine, _every(30, *[SCORE_7] * 3))
    alerts = _feed(engine, _every(75, *[NORMAL] * 5, start_s=120))
    assert [(a.kind, a.risk) for a in alerts] == [(AlertKind.DE_ESCALATION, ClinicalRisk.LOW)]


def test_red_score_alerts_once_per_episode() -> None:
    engine = AlertEngine()
    alerts = _feed(engine, _every(30, NORMAL, *[RED_VOICE] * 10))
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.kind is AlertKind.RED_SCORE
    assert alert.risk is ClinicalRisk.LOW_MEDIUM
    assert alert.score == 3
    assert alert.subscores["consciousness"] == 3
    assert "consciousness" in alert.message
    assert alert.event_time == T0 + 90 * SECOND


def test_red_score_rearms_only_after_a_sustained_clear_spell() -> None:
    engine = AlertEngine()
    _feed(engine, _every(30, *[RED_VOICE] * 3))
    # a brief clear spell does not end the episode
    assert _feed(engine, _every(30, NORMAL, NORMAL, *[RED_VOICE] * 3, start_s=90)) == []
    # five clear readings over 300 s do; the next sustained red score alerts again
    _feed(engine, _every(75, *[NORMAL] * 5, start_s=300))
    alerts = _feed(engine, _every(30, *[RED_VOICE] * 3, start_s=700))
    assert [(a.kind, a.event_time - T0) for a in alerts] == [(AlertKind.RED_SCORE, 760 * SECOND)]


def test_red_score_and_escalation_are_separate_alerts() -> None:
    red_high = {**SCORE_5, "consciousness": Consciousness.PAIN}  # 8, red
    alerts = _feed(AlertEngine(), _every(30, *[red_high] * 3))
    assert sorted((a.kind, a.risk) for a in alerts) == [
        (AlertKind.ESCALATION, ClinicalRisk.HIGH),
        (AlertKind.RED_SCORE, ClinicalRisk.HIGH),
    ]
    assert len({a.alert_id for a in alerts}) == 2


def test_incomplete_scores_never_escalate() -> None:
    # 8 from what is present, with no single 3, but temperature never measured
    no_temperature = {**SCORE_7, "body_temperature": None, "systolic_bp": 100}
    alerts = _feed(AlertEngine(), _every(30, *[no_temperature] * 20))
    assert alerts == []


def test_incomplete_readings_neither_confirm_nor_break_a_run() -> None:
    engine = AlertEngine(AlertPolicy(max_ages=replace(AlertPolicy().max_ages, spo2=0)))
    gap = {**SCORE_7, "spo2": None}  # SpO2 not carried at all: incomplete
    alerts = _feed(engine, _every(30, SCORE_7, SCORE_7, gap, gap, SCORE_7))
    assert [(a.kind, a.event_time - T0) for a in alerts] == [(AlertKind.ESCALATION, 120 * SECOND)]


def test_red_score_from_a_present_parameter_counts_even_if_incomplete() -> None:
    no_bp = {**RED_VOICE, "systolic_bp": None}
    alerts = _feed(AlertEngine(), _every(30, *[no_bp] * 3))
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.kind is AlertKind.RED_SCORE
    assert alert.subscores["systolic_bp"] is None
    assert "incomplete, missing systolic_bp" in alert.message


def test_carry_forward_fills_gaps_then_expires() -> None:
    engine = AlertEngine()
    first = engine.process(_event(0, {**NORMAL, "systolic_bp": 95}), raised_at=RAISED_AT)
    assert first.reading is not None
    assert first.reading.score.score == 2
    later = engine.process(_event(74 * 60, {**NORMAL, "systolic_bp": None}), raised_at=RAISED_AT)
    assert later.reading is not None
    assert later.reading.score.complete
    assert later.reading.score.score == 2
    expired = engine.process(_event(76 * 60, {**NORMAL, "systolic_bp": None}), raised_at=RAISED_AT)
    assert expired.reading is not None
    assert not expired.reading.score.complete
    assert expired.reading.score.score == 0


def test_scale_2_applies_per_event() -> None:
    engine = AlertEngine()
    on_oxygen_high = {**NORMAL, "on_oxygen": True, "spo2": 97}
    scale_1 = engine.process(_event(0, on_oxygen_high), raised_at=RAISED_AT)
    scale_2 = engine.process(
        _event(30, on_oxygen_high, spo2_scale=SpO2Scale.SCALE_2), raised_at=RAISED_AT
    )
    assert scale_1.reading is not None
    assert scale_2.reading is not None
    assert scale_1.reading.score.score == 2
    assert scale_2.reading.score.score == 5


def test_stale_and_duplicate_events_are_ignored() -> None:
    engine = AlertEngine()
    assert engine.process(_event(60, NORMAL), raised_at=RAISED_AT).reading is not None
    assert engine.process(_event(60, SCORE_7), raised_at=RAISED_AT).reading is None
    assert engine.process(_event(30, SCORE_7), raised_at=RAISED_AT).reading is None
    state = PatientState.from_dict(engine.export_patient("p-1"))
    assert state.last_event_time == T0 + 60 * SECOND


def test_silence_alerts_once_against_the_clock_given() -> None:
    engine = AlertEngine()
    _feed(engine, _every(30, NORMAL, SCORE_4))
    last = T0 + 30 * SECOND
    assert engine.check_silence(last + 5 * MINUTE, raised_at=RAISED_AT) == []
    alerts = engine.check_silence(last + 5 * MINUTE + 1, raised_at=RAISED_AT)
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert.kind, alert.event_time, alert.score) == (AlertKind.SILENT, last, 4)
    assert alert.risk is ClinicalRisk.LOW
    assert "no vital signs for 300 s" in alert.message
    assert engine.check_silence(last + 60 * MINUTE, raised_at=RAISED_AT) == []
    # a new reading re-arms it
    _feed(engine, [_event(3600, NORMAL)])
    again = engine.check_silence(T0 + 3600 * SECOND + 6 * MINUTE, raised_at=RAISED_AT)
    assert [a.kind for a in again] == [AlertKind.SILENT]
    assert again[0].alert_id != alert.alert_id


def test_silence_is_per_patient() -> None:
    engine = AlertEngine()
    _feed(engine, [_event(0, NORMAL, patient="quiet"), _event(400, NORMAL, patient="busy")])
    alerts = engine.check_silence(T0 + 401 * SECOND, raised_at=RAISED_AT)
    assert [a.patient_id for a in alerts] == ["quiet"]


def test_a_long_gap_restarts_confirmation() -> None:
    events = [_event(0, SCORE_7), _event(30, SCORE_7), _event(30 + 6 * 60, SCORE_7)]
    assert _feed(AlertEngine(), events) == []


def test_patients_are_independent() -> None:
    events = [
        e
        for i in range(3)
        for e in (_event(30 * i, SCORE_7, patient="a"), _event(30 * i, NORMAL, patient="b"))
    ]
    alerts = _feed(AlertEngine(), events)
    assert [(a.patient_id, a.kind) for a in alerts] == [("a", AlertKind.ESCALATION)]


def _scenario_events() -> list[VitalsEvent]:
    plan = [NORMAL] * 3 + [SCORE_5] * 4 + [RED_VOICE] * 4 + [SCORE_7] * 4 + [NORMAL] * 12
    return [
        _event(30 * i, vitals, patient=patient, scenario="sepsis")
        for i, vitals in enumerate(plan)
        for patient in ("a", "b")
    ]


def test_replaying_the_same_events_gives_identical_alerts() -> None:
    first = _feed(AlertEngine(), _scenario_events())
    second = _feed(AlertEngine(), _scenario_events())
    assert len(first) >= 4
    assert first == second


def test_alert_ids_depend_on_patient_kind_and_event_time_only() -> None:
    event = _event(60, SCORE_7)  # the third of three readings 30 s apart
    expected = str(uuid.uuid5(ALERT_ID_NAMESPACE, f"p-1\x1fescalation\x1f{event.event_time}"))
    assert alert_id("p-1", AlertKind.ESCALATION, event.event_time) == expected

    early = _feed(AlertEngine(), _every(30, *[SCORE_7] * 3))
    engine = AlertEngine()
    late = [a for e in _every(30, *[SCORE_7] * 3) for a in engine.process(e, raised_at=0).alerts]
    assert [a.alert_id for a in early] == [a.alert_id for a in late] == [expected]
    assert early[0].raised_at != late[0].raised_at


def test_state_round_trips_and_a_moved_patient_continues_identically() -> None:
    events = _scenario_events()
    half = len(events) // 2
    original = AlertEngine()
    _feed(original, events[:half])

    moved = AlertEngine()
    for patient_id in original.patients():
        exported = original.export_patient(patient_id)
        wire = json.loads(json.dumps(exported))
        assert wire == exported
        assert PatientState.from_dict(wire).to_dict() == exported
        moved.restore_patient(wire)

    assert _feed(moved, events[half:]) == _feed(original, events[half:])


def test_restarting_from_saved_state_and_replaying_raises_no_duplicates() -> None:
    events = _scenario_events()
    engine = AlertEngine()
    _feed(engine, events)
    saved = {p: engine.export_patient(p) for p in engine.patients()}
    restarted = AlertEngine()
    for state in saved.values():
        restarted.restore_patient(state)
    assert _feed(restarted, events) == []


def test_forgetting_a_patient_drops_its_state() -> None:
    engine = AlertEngine()
    _feed(engine, [_event(0, NORMAL)])
    engine.forget_patient("p-1")
    engine.forget_patient("never-seen")
    assert list(engine.patients()) == []
    with pytest.raises(KeyError):
        engine.export_patient("p-1")


def test_unknown_state_version_is_refused() -> None:
    engine = AlertEngine()
    _feed(engine, [_event(0, NORMAL)])
    state = engine.export_patient("p-1")
    state["version"] = 99
    with pytest.raises(ValueError, match="version 99"):
        engine.restore_patient(state)


def test_alert_to_dict_is_json_ready() -> None:
    alert = _feed(AlertEngine(), _every(30, *[SCORE_7] * 3))[0]
    document = json.loads(json.dumps(alert.to_dict()))
    assert document["kind"] == "escalation"
    assert document["risk"] == "high"
    assert document["alert_id"] == alert.alert_id
    assert set(document) == {
        "alert_id",
        "patient_id",
        "kind",
        "risk",
        "score",
        "subscores",
        "event_time",
        "raised_at",
        "message",
        "scenario",
        "policy",
    }
    assert document["policy"] == "news2"


@pytest.mark.parametrize(
    ("build", "text"),
    [
        (lambda: Confirmation(readings=0), "at least one reading"),
        (lambda: Confirmation(seconds=-1), "must not be negative"),
        (lambda: AlertPolicy(de_escalation_margin=-1), "margin"),
        (lambda: AlertPolicy(silence_seconds=0), "silence"),
    ],
)
def test_policy_rejects_nonsense(build: object, text: str) -> None:
    assert callable(build)
    with pytest.raises(ValueError, match=text):
        build()
