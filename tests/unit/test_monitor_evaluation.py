"""Alert-quality numbers on a small hand-made ward."""

from __future__ import annotations

import pytest

from medrical.monitor import (
    Alert,
    AlertEngine,
    AlertKind,
    LabelledReading,
    Onset,
    VitalsEvent,
    deterioration_onsets,
    evaluate,
)
from medrical.monitor.alerts import alert_id
from medrical.news2 import ClinicalRisk, Consciousness

T0 = 1_700_000_000_000
MINUTE = 60_000


def _readings(patient: str, labels: list[tuple[int, int, str | None]]) -> list[LabelledReading]:
    """Readings every 10 minutes; each (from_min, to_min, label) span is inclusive."""
    return [
        LabelledReading(patient, T0 + minute * MINUTE, label)
        for start, end, label in labels
        for minute in range(start, end + 1, 10)
    ]


def _alert(patient: str, kind: AlertKind, risk: ClinicalRisk, minute: int) -> Alert:
    event_time = T0 + minute * MINUTE
    return Alert(
        alert_id=alert_id(patient, kind, event_time),
        patient_id=patient,
        kind=kind,
        risk=risk,
        score=0,
        subscores={},
        event_time=event_time,
        raised_at=event_time,
        message="",
        scenario=None,
    )


READINGS = [
    *_readings("s1", [(0, 120, "stable")]),
    *_readings("s2", [(0, 60, "stable")]),
    *_readings("d1", [(0, 20, "stable"), (30, 90, "sepsis")]),
    *_readings("d2", [(0, 60, "sepsis")]),
    *_readings("d3", [(0, 10, "stable"), (20, 60, "sepsis")]),
    *_readings("u1", [(0, 60, None)]),
]

ALERTS = [
    _alert("s1", AlertKind.ESCALATION, ClinicalRisk.MEDIUM, 60),  # false
    _alert("s1", AlertKind.DE_ESCALATION, ClinicalRisk.LOW, 90),  # not an alarm
    _alert("s2", AlertKind.SILENT, ClinicalRisk.LOW, 30),  # not an alarm
    _alert("d1", AlertKind.RED_SCORE, ClinicalRisk.LOW_MEDIUM, 10),  # false, before onset
    _alert("d1", AlertKind.RED_SCORE, ClinicalRisk.LOW_MEDIUM, 35),  # too low to detect
    _alert("d1", AlertKind.ESCALATION, ClinicalRisk.MEDIUM, 40),  # detects after 10 min
    _alert("d1", AlertKind.ESCALATION, ClinicalRisk.HIGH, 60),  # later, ignored
    _alert("d2", AlertKind.DE_ESCALATION, ClinicalRisk.MEDIUM, 2),  # not an alarm
    _alert("d2", AlertKind.RED_SCORE, ClinicalRisk.HIGH, 5),  # detects after 5 min
    _alert("u1", AlertKind.ESCALATION, ClinicalRisk.HIGH, 5),  # unlabelled: left out
]


def test_onsets_from_labels() -> None:
    onsets = deterioration_onsets(READINGS)
    assert onsets == {
        "d1": Onset("d1", "sepsis", T0 + 30 * MINUTE),
        "d2": Onset("d2", "sepsis", T0),
        "d3": Onset("d3", "sepsis", T0 + 20 * MINUTE),
    }


def test_report_per_scenario() -> None:
    reports = evaluate(READINGS, ALERTS)
    assert list(reports) == ["sepsis", "stable"]

    stable = reports["stable"]
    assert (stable.patients, stable.deteriorating, stable.detected, stable.missed) == (2, 0, 0, 0)
    assert stable.false_alerts == 1
    assert stable.stable_patient_hours == pytest.approx(3.0)  # 2 h + 1 h
    assert stable.false_alerts_per_patient_hour == pytest.approx(1 / 3)
    assert stable.median_delay_s is None

    sepsis = reports["sepsis"]
    assert (sepsis.patients, sepsis.deteriorating, sepsis.detected, sepsis.missed) == (3, 3, 2, 1)
    assert sorted(sepsis.detection_delays_s) == [300.0, 600.0]
    assert sepsis.median_delay_s == pytest.approx(450.0)
    assert sepsis.max_delay_s == pytest.approx(600.0)
    # d1 was watched stable for 30 min and d3 for 20 min before onset; d2 not at all
    assert sepsis.false_alerts == 1
    assert sepsis.stable_patient_hours == pytest.approx(50 / 60)
    assert sepsis.false_alerts_per_patient_hour == pytest.approx(1.2)


def test_explicit_onsets_override_labels() -> None:
    onsets = {"d1": Onset("d1", "sepsis", T0 + 45 * MINUTE)}
    reports = evaluate(READINGS, ALERTS, onsets=onsets)
    sepsis = reports["sepsis"]
    # d1's medium alert at 40 min is now before onset, and the high one at 60 min detects;
    # d2 and d3 keep the onsets their labels give
    assert (sepsis.patients, sepsis.detected, sepsis.missed) == (3, 2, 1)
    assert sorted(sepsis.detection_delays_s) == [300.0, 900.0]
    assert sepsis.false_alerts == 3
    assert sepsis.stable_patient_hours == pytest.approx(65 / 60)
    assert reports["stable"].patients == 2


def test_unlabelled_patients_are_left_out() -> None:
    reports = evaluate(_readings("u1", [(0, 60, None)]), ALERTS)
    assert reports == {}


def test_custom_stable_labels() -> None:
    readings = _readings("r1", [(0, 30, "baseline"), (40, 60, "haemorrhage")])
    reports = evaluate(readings, [], stable_scenarios=frozenset({"baseline"}))
    assert reports["haemorrhage"].missed == 1
    assert reports["haemorrhage"].false_alerts_per_patient_hour == pytest.approx(0.0)


def test_ignored_scenarios_are_left_out() -> None:
    readings = [*_readings("r1", [(0, 60, "recovery")]), *_readings("s1", [(0, 60, "stable")])]
    alerts = [_alert("r1", AlertKind.ESCALATION, ClinicalRisk.HIGH, 0)]
    reports = evaluate(readings, alerts, ignored_scenarios=frozenset({"recovery"}))
    assert list(reports) == ["stable"]
    assert reports["stable"].false_alerts == 0


def test_no_stable_time_gives_no_rate() -> None:
    reports = evaluate(_readings("d", [(0, 30, "sepsis")]), [])
    assert reports["sepsis"].false_alerts_per_patient_hour is None


def test_engine_alerts_feed_the_evaluation() -> None:
    engine = AlertEngine()
    normal: dict[str, object] = {
        "respiratory_rate": 16,
        "spo2": 97,
        "on_oxygen": False,
        "systolic_bp": 120,
        "heart_rate": 70,
        "consciousness": Consciousness.ALERT,
        "body_temperature": 37.0,
    }
    septic = {**normal, "respiratory_rate": 24, "heart_rate": 120, "body_temperature": 39.2}
    events = [
        VitalsEvent(
            patient_id="p",
            event_time=T0 + minute * MINUTE,
            scenario="stable" if minute < 10 else "sepsis",
            **(normal if minute < 10 else septic),  # type: ignore[arg-type]
        )
        for minute in range(20)
    ]
    alerts = [a for e in events for a in engine.process(e, raised_at=e.event_time).alerts]
    readings = [LabelledReading(e.patient_id, e.event_time, e.scenario) for e in events]
    report = evaluate(readings, alerts)["sepsis"]
    # score 6 from minute 10; three readings a minute apart confirm at minute 12
    assert report.detection_delays_s == (120.0,)
    assert report.false_alerts == 0
