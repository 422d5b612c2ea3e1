"""Monitor inputs and carry-forward: events as decoded from the wire, and stale values expiring."""

from __future__ import annotations

import pytest

from medrical.monitor import EventError, MaxAges, PatientVitals, VitalsEvent
from medrical.news2 import Consciousness, Parameter, SpO2Scale, score

T0 = 1_700_000_000_000
MINUTE = 60_000


def _record(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "patient_id": "p-1",
        "event_time": T0,
        "heart_rate": 70,
        "systolic_bp": 120,
        "diastolic_bp": 80,
        "spo2": 97,
        "respiratory_rate": 16,
        "body_temperature": 37.0,
        "consciousness": "A",
        "on_oxygen": False,
        "scenario": "stable",
        "spo2_scale": None,
    }
    record.update(changes)
    return record


def test_event_from_a_decoded_record() -> None:
    event = VitalsEvent.from_mapping(_record(consciousness="v", spo2_scale=2, body_temperature=38))
    assert event.consciousness is Consciousness.VOICE
    assert event.spo2_scale is SpO2Scale.SCALE_2
    assert event.body_temperature == 38.0
    assert isinstance(event.body_temperature, float)
    assert event.scenario == "stable"


def test_event_optional_fields_may_be_absent() -> None:
    event = VitalsEvent.from_mapping({"patient_id": "p-1", "event_time": T0})
    assert event.heart_rate is None
    assert event.spo2_scale is None
    assert event.scenario is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"patient_id": None}, "patient_id"),
        ({"event_time": "yesterday"}, "event_time"),
        ({"heart_rate": 72.5}, "heart_rate"),
        ({"heart_rate": True}, "heart_rate"),
        ({"on_oxygen": "yes"}, "on_oxygen"),
        ({"body_temperature": "37"}, "body_temperature"),
        ({"spo2": 140}, "spo2"),
        ({"body_temperature": 99.1}, "body_temperature"),
    ],
)
def test_bad_events_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(EventError) as caught:
        VitalsEvent.from_mapping(_record(**changes))
    assert caught.value.field == field
    assert field in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "text"), [({"consciousness": "Z"}, "ACVPU"), ({"spo2_scale": 3}, "1 or 2")]
)
def test_bad_codes_are_event_errors(changes: dict[str, object], text: str) -> None:
    with pytest.raises(EventError, match=text):
        VitalsEvent.from_mapping(_record(**changes))


def test_empty_patient_id_is_rejected() -> None:
    with pytest.raises(EventError, match="patient_id"):
        VitalsEvent(patient_id="", event_time=T0)


def test_values_carry_forward_until_their_maximum_age_then_go_missing() -> None:
    vitals = PatientVitals.empty()
    vitals.record(VitalsEvent.from_mapping(_record(systolic_bp=95)))
    ages = MaxAges()
    assert ages.systolic_bp == 75 * 60

    at_limit = score(vitals.as_of(T0 + 75 * MINUTE, ages, SpO2Scale.SCALE_1))
    assert at_limit.subscores[Parameter.SYSTOLIC_BP] == 2
    # Pulse and SpO2 come with every monitor reading and expire after 5 minutes.
    assert {Parameter.HEART_RATE, Parameter.SPO2} == at_limit.missing

    past_limit = score(vitals.as_of(T0 + 75 * MINUTE + 1, ages, SpO2Scale.SCALE_1))
    assert Parameter.SYSTOLIC_BP in past_limit.missing
    assert Parameter.RESPIRATORY_RATE in past_limit.missing
    # Temperature rounds are hours apart.
    assert past_limit.subscores[Parameter.BODY_TEMPERATURE] == 0
    past_temperature = score(vitals.as_of(T0 + 390 * MINUTE + 1, ages, SpO2Scale.SCALE_1))
    assert past_temperature.missing == frozenset(Parameter)


def test_pulse_expires_after_five_minutes() -> None:
    vitals = PatientVitals.empty()
    vitals.record(VitalsEvent.from_mapping(_record()))
    assert vitals.as_of(T0 + 5 * MINUTE, MaxAges(), SpO2Scale.SCALE_1).heart_rate == 70
    assert vitals.as_of(T0 + 5 * MINUTE + 1, MaxAges(), SpO2Scale.SCALE_1).heart_rate is None


def test_a_newer_measurement_replaces_the_carried_one() -> None:
    vitals = PatientVitals.empty()
    vitals.record(VitalsEvent.from_mapping(_record(systolic_bp=95)))
    vitals.record(
        VitalsEvent.from_mapping(_record(event_time=T0 + MINUTE, systolic_bp=None, heart_rate=120))
    )
    vitals.record(VitalsEvent.from_mapping(_record(event_time=T0 + 2 * MINUTE, systolic_bp=125)))
    current = vitals.as_of(T0 + 2 * MINUTE, MaxAges(), SpO2Scale.SCALE_1)
    assert current.systolic_bp == 125
    assert current.heart_rate == 70


def test_maximum_ages_are_configurable_per_parameter() -> None:
    vitals = PatientVitals.empty()
    vitals.record(VitalsEvent.from_mapping(_record()))
    ages = MaxAges(heart_rate=10)
    current = vitals.as_of(T0 + 11_000, ages, SpO2Scale.SCALE_1)
    assert current.heart_rate is None
    assert current.spo2 == 97


def test_negative_maximum_age_is_rejected() -> None:
    with pytest.raises(ValueError, match="spo2"):
        MaxAges(spo2=-1)


def test_carried_vitals_round_trip_through_a_dict() -> None:
    vitals = PatientVitals.empty()
    vitals.record(VitalsEvent.from_mapping(_record(consciousness="P", on_oxygen=True)))
    restored = PatientVitals.from_dict(vitals.to_dict())
    assert restored == vitals
    assert restored.latest[Parameter.CONSCIOUSNESS] == (Consciousness.PAIN, T0)
