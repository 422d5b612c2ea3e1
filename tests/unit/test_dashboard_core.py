"""The dashboard's pure core: ward state, change log, wire decoding, history, acks, access."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Sequence
from typing import Any

import pytest
from fastavro import schemaless_writer
from pydantic import SecretStr

from medrical import schemas
from medrical.dashboard import acks, history, security
from medrical.dashboard.feed import Reachability, decode_alert
from medrical.dashboard.store import HistoryRows
from medrical.dashboard.ward import (
    TREND_BUCKET_MS,
    Ack,
    EventLog,
    WardState,
    normalise_alert,
)
from medrical.errors import ConfigError, InputError
from medrical.news2 import Consciousness, Vitals, score
from medrical.schemas.wire import CachedAvroDecoder, WireFormatError

START = 1_767_225_600_000


def reading(patient_id: str = "P-000001", at: int = START, **vitals: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "patient_id": patient_id,
        "event_time": at,
        "heart_rate": 72,
        "systolic_bp": 120,
        "diastolic_bp": 80,
        "body_temperature": 36.8,
        "spo2": 97,
        "respiratory_rate": 14,
        "consciousness": "A",
        "on_oxygen": False,
        "scenario": "stable",
        "spo2_scale": 1,
    }
    record.update(vitals)
    return record


class FakeAckStore:
    """Acknowledgements in a dict, with the same first-one-wins rule as the table."""

    def __init__(self) -> None:
        self.rows: dict[str, Ack] = {}
        self.clock = START
        # Ids of alerts in the monitor's tables (older ones the ward does not hold).
        self.stored_alert_ids: set[str] = set()

    def ensure_schema(self) -> None:
        return None

    def acknowledge(self, alert_id: str, acknowledged_by: str) -> tuple[Ack, bool]:
        if alert_id in self.rows:
            return self.rows[alert_id], False
        self.clock += 1000
        self.rows[alert_id] = Ack(alert_id, acknowledged_by, self.clock)
        return self.rows[alert_id], True

    def acks(self, alert_ids: Sequence[str]) -> dict[str, Ack]:
        return {i: self.rows[i] for i in alert_ids if i in self.rows}

    def alert_exists(self, alert_id: str) -> bool:
        return alert_id in self.stored_alert_ids

    def readings(self, patient_id: str, since_ms: int, until_ms: int, bucket_s: int) -> HistoryRows:
        return HistoryRows([], bucket_s)

    def alerts(self, patient_id: str, since_ms: int, until_ms: int) -> list[dict[str, Any]]:
        return []


# --- ward state --------------------------------------------------------------------------------


def test_a_reading_becomes_a_tile_scored_like_news2() -> None:
    ward = WardState(clock=lambda: START + 500)
    record = reading(heart_rate=135, respiratory_rate=26, spo2=90)
    assert ward.apply_reading(record, "biometrics_ward")
    tile = ward.patient("P-000001")
    assert tile is not None
    expected = score(
        Vitals(
            respiratory_rate=26,
            spo2=90,
            on_oxygen=False,
            systolic_bp=120,
            heart_rate=135,
            consciousness=Consciousness.ALERT,
            body_temperature=36.8,
        )
    )
    assert tile["score"] == expected.score == 9
    assert tile["risk"] == "high"
    assert tile["risk_rank"] == 3
    assert tile["complete"] is True
    assert tile["vitals"]["heart_rate"] == 135
    assert tile["topic"] == "biometrics_ward"
    assert tile["received_at"] == START + 500
    assert tile["trend"] == [[START - START % TREND_BUCKET_MS, 9, 135, 90]]


def test_patients_come_highest_risk_first() -> None:
    ward = WardState()
    ward.apply_reading(reading("P-low"), "biometrics_a")
    ward.apply_reading(reading("P-high", heart_rate=140, respiratory_rate=26), "biometrics_a")
    ward.apply_reading(reading("P-red", consciousness="V"), "biometrics_a")
    ward.apply_reading(
        reading("P-medium", heart_rate=115, respiratory_rate=22, body_temperature=38.5),
        "biometrics_a",
    )
    order = [p["patient_id"] for p in ward.patients()]
    assert order == ["P-high", "P-medium", "P-red", "P-low"]


def test_observation_round_values_are_carried_forward() -> None:
    ward = WardState()
    ward.apply_reading(reading(), "biometrics_a")
    # A bedside-monitor reading: pulse and SpO2 only.
    sparse = {"patient_id": "P-000001", "event_time": START + 1000, "heart_rate": 80, "spo2": 96}
    assert ward.apply_reading(sparse, "biometrics_a")
    tile = ward.patient("P-000001")
    assert tile is not None
    assert tile["complete"] is True
    assert tile["vitals"]["systolic_bp"] == 120
    assert tile["measured_at"]["systolic_bp"] == START
    assert tile["measured_at"]["heart_rate"] == START + 1000


def test_stale_and_bad_readings_are_rejected_not_fatal() -> None:
    ward = WardState()
    assert ward.apply_reading(reading(at=START + 2000), "biometrics_a")
    assert not ward.apply_reading(reading(at=START + 1000), "biometrics_a")
    assert not ward.apply_reading(reading(heart_rate=900), "biometrics_a")
    assert not ward.apply_reading({"event_time": START}, "biometrics_a")
    assert ward.readings_applied == 1
    assert ward.readings_rejected == 3


def test_trend_keeps_one_point_per_bucket_for_five_minutes() -> None:
    ward = WardState()
    for second in range(0, 400):
        ward.apply_reading(reading(at=START + second * 1000), "biometrics_a")
    tile = ward.patient("P-000001")
    assert tile is not None
    times = [point[0] for point in tile["trend"]]
    assert times == sorted(set(times))
    assert all(t % TREND_BUCKET_MS == 0 for t in times)
    assert times[-1] - times[0] <= 5 * 60_000
    assert len(times) == 31


def deteriorating(ward: WardState, patient_id: str = "P-000001", seconds: int = 90) -> None:
    for second in range(seconds):
        ward.apply_reading(
            reading(patient_id, at=START + second * 1000, heart_rate=140, respiratory_rate=26),
            "biometrics_a",
        )


def test_own_notices_stand_in_until_monitor_alerts_arrive() -> None:
    ward = WardState()
    deteriorating(ward)
    own = ward.alerts()
    assert own, "a confirmed high score raises the dashboard's own notice"
    assert {a["source"] for a in own} == {"dashboard"}
    assert {a["kind"] for a in own} >= {"escalation"}

    assert ward.apply_monitor_alert({"alert_id": "m-1", "patient_id": "P-000002", "kind": "x"})
    deteriorating(ward, "P-000003")
    assert not [a for a in ward.alerts() if a["patient_id"] == "P-000003"]
    assert ward.snapshot()["monitor_alerts_seen"] is True


def test_own_notices_can_be_switched_off() -> None:
    ward = WardState(own_alerts="never")
    deteriorating(ward)
    assert ward.alerts() == []


def test_alerts_are_read_defensively_by_name() -> None:
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    alert = normalise_alert(
        {
            "alert_id": "a1",
            "patient_id": "P-1",
            "score": True,
            "risk": 3,
            "event_time": when,
            "raised_at": 1.5e12,
            "extra": "ignored",
        },
        "monitor",
    )
    assert alert == {
        "alert_id": "a1",
        "patient_id": "P-1",
        "kind": None,
        "risk": "3",
        "score": None,
        "event_time": START,
        "raised_at": 1_500_000_000_000,
        "message": None,
        "source": "monitor",
    }
    assert normalise_alert({"patient_id": "P-1"}, "monitor") is None
    assert normalise_alert({"alert_id": "a", "patient_id": 7}, "monitor") is None
    ward = WardState()
    assert not ward.apply_monitor_alert({"alert_id": 5})


def test_alerts_come_newest_first_with_their_acknowledgement() -> None:
    ward = WardState()
    for index in range(3):
        ward.apply_monitor_alert(
            {"alert_id": f"a{index}", "patient_id": "P-1", "raised_at": START + index}
        )
    ward.record_acks([Ack("a1", "nurse", START + 10)])
    listed = ward.alerts()
    assert [a["alert_id"] for a in listed] == ["a2", "a1", "a0"]
    assert listed[1]["acknowledged"] == {"acknowledged_by": "nurse", "acknowledged_at": START + 10}
    assert listed[0]["acknowledged"] is None


# --- change log --------------------------------------------------------------------------------


def test_the_log_resumes_from_a_number_or_asks_for_a_snapshot() -> None:
    log = EventLog(capacity=3)
    for index in range(5):
        log.append("patient", f"P-{index}", {"n": index})
    assert log.last_seq == 5
    assert [e.seq for e in log.since(2) or []] == [3, 4, 5]
    assert log.since(5) == []
    assert log.since(1) is None, "event 2 was dropped: the page needs a snapshot"
    assert log.since(6) is None, "a number from the future belongs to another run"
    assert json.loads((log.since(4) or [])[0].payload) == {"type": "patient", "n": 4}


def test_snapshot_number_matches_the_log() -> None:
    ward = WardState()
    ward.apply_reading(reading(), "biometrics_a")
    snap = ward.snapshot()
    assert snap["seq"] == ward.last_seq == 1
    assert ward.events_since(snap["seq"]) == []


# --- wire format -------------------------------------------------------------------------------


def framed(record: dict[str, Any], schema_id: int = 7) -> bytes:
    buffer = io.BytesIO()
    schemaless_writer(buffer, schemas.parsed_schema(schemas.BIOMETRICS_VALUE), record)
    return b"\x00" + schema_id.to_bytes(4, "big") + buffer.getvalue()


def test_avro_values_decode_with_one_registry_fetch_per_schema_id() -> None:
    asked: list[int] = []

    def fetch(schema_id: int) -> str:
        asked.append(schema_id)
        return schemas.schema_text(schemas.BIOMETRICS_VALUE)

    cache = CachedAvroDecoder(fetch)
    record = reading()
    for _ in range(3):
        decoded = cache.decode(framed(record))
        assert decoded == {**record, "body_temperature": pytest.approx(36.8), "onset_time": None}
    assert isinstance(decoded["event_time"], int), "timestamps stay ms, not datetimes"
    assert asked == [7]


def test_values_outside_the_wire_format_are_rejected() -> None:
    cache = CachedAvroDecoder(lambda _id: schemas.schema_text(schemas.BIOMETRICS_VALUE))
    with pytest.raises(WireFormatError):
        cache.decode(b'{"patient_id": "P-1"}')
    with pytest.raises(WireFormatError):
        cache.decode(b"\x00\x00\x00\x00\x07\xff")


def test_alert_values_may_be_json_or_avro() -> None:
    cache = CachedAvroDecoder(lambda _id: schemas.schema_text(schemas.BIOMETRICS_VALUE))
    assert decode_alert(b'{"alert_id": "a", "patient_id": "P"}', cache) == {
        "alert_id": "a",
        "patient_id": "P",
    }
    assert decode_alert(framed(reading()), cache)["patient_id"] == "P-000001"
    with pytest.raises(WireFormatError):
        decode_alert(b"[1, 2]", cache)
    with pytest.raises(WireFormatError):
        decode_alert(b"\xff\xfe", cache)


# --- history -----------------------------------------------------------------------------------


def test_short_windows_are_raw_and_long_ones_bucketed() -> None:
    assert history.bucket_seconds(0, 1_000_000) == 0
    assert history.bucket_seconds(0, 3_600_000) == 3
    assert history.bucket_seconds(0, 86_400_000) == 58
    assert history.bucket_seconds(0, 86_400_000, max_points=86_400) == 0
    with pytest.raises(InputError):
        history.check_window(10, 10)
    with pytest.raises(InputError):
        history.check_window(0, 8 * 86_400_000)


def test_history_scores_carry_round_values_forward() -> None:
    rows = [
        reading(at=START),
        {"patient_id": "P-000001", "event_time": START + 1000, "heart_rate": 135, "spo2": 97},
        {"patient_id": "P-000001", "event_time": START + 2000, "heart_rate": 999},
    ]
    points = history.score_rows(rows)
    assert [p["score"] for p in points] == [0, 3, None]
    assert points[1]["complete"] is True
    assert points[2]["heart_rate"] == 999, "an unreadable row is still shown, unscored"


# --- acknowledgements --------------------------------------------------------------------------


def test_the_first_acknowledgement_wins_and_is_announced_once() -> None:
    store = FakeAckStore()
    ward = WardState()
    ward.apply_monitor_alert({"alert_id": "a1", "patient_id": "P-1"})
    seq = ward.last_seq
    first, created = acks.acknowledge(store, ward, "a1", "  Nurse   Kim ")
    assert created
    assert first.acknowledged_by == "Nurse Kim"
    again, created_again = acks.acknowledge(store, ward, "a1", "someone else")
    assert not created_again
    assert again == first
    announced = ward.events_since(seq) or []
    assert [json.loads(e.payload)["type"] for e in announced] == ["ack"]
    assert ward.alerts()[0]["acknowledged"]["acknowledged_by"] == "Nurse Kim"


def test_acknowledgements_survive_a_restart_through_the_store() -> None:
    store = FakeAckStore()
    before = WardState()
    before.apply_monitor_alert({"alert_id": "a1", "patient_id": "P-1"})
    acks.acknowledge(store, before, "a1", None)
    after = WardState()
    after.apply_monitor_alert({"alert_id": "a1", "patient_id": "P-1"})
    after.record_acks(store.acks(after.alert_ids()).values())
    assert after.alerts()[0]["acknowledged"]["acknowledged_by"] == acks.DEFAULT_ACKNOWLEDGER


@pytest.mark.parametrize("name", ["x" * 65, "bad\x00name", "tab\u200bbed"])
def test_bad_acknowledger_names_are_refused(name: str) -> None:
    with pytest.raises(InputError):
        acks.clean_name(name)


def test_bad_alert_ids_are_refused() -> None:
    with pytest.raises(InputError):
        acks.acknowledge(FakeAckStore(), WardState(), "", "n")
    with pytest.raises(InputError):
        acks.acknowledge(FakeAckStore(), WardState(), "a" * 129, "n")


# --- access ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("::", False),
        ("192.168.1.5", False),
        ("example.org", False),
    ],
)
def test_loopback_is_recognised(host: str, loopback: bool) -> None:
    assert security.is_loopback(host) is loopback


def test_a_token_is_required_beyond_loopback() -> None:
    assert security.resolve_token("127.0.0.1", {}) is None
    with pytest.raises(ConfigError) as raised:
        security.resolve_token("192.0.2.10", {})
    assert security.TOKEN_ENV in str(raised.value)
    with pytest.raises(ConfigError):
        security.resolve_token("192.0.2.10", {security.TOKEN_ENV: "short"})
    token = security.resolve_token("192.0.2.10", {security.TOKEN_ENV: "t" * 24})
    assert token is not None
    assert "t" * 24 not in repr(token), "the token is masked when printed"
    # A token set for loopback is honoured too.
    assert security.resolve_token("127.0.0.1", {security.TOKEN_ENV: "u" * 20}) is not None


def test_tokens_and_sessions_compare_exactly() -> None:
    token = SecretStr("s" * 32)
    assert security.token_matches("s" * 32, token)
    assert not security.token_matches("s" * 31, token)
    session = security.session_value(token)
    assert session != token.get_secret_value()
    assert security.session_matches(session, token)
    other_last = "1" if session.endswith("0") else "0"  # a session that differs, always
    assert not security.session_matches(session[:-1] + other_last, token)


def test_the_feed_says_reconnecting_from_all_brokers_down_until_kafka_answers() -> None:
    now = [0.0]
    reach = Reachability(clock=lambda: now[0])
    assert reach.state == "live"
    reach.lost()
    now[0] = 5.0
    reach.lost()  # repeated reports while down change nothing
    assert reach.state == "reconnecting"
    reach.back()
    assert reach.state == "live"
