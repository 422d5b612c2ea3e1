"""What the ward looks like now: each patient's latest vitals and NEWS2, the alert feed, and a
numbered log of changes that open pages follow.

Pure and thread-safe: the Kafka consumer thread feeds readings and alerts in, the web server's
threads read snapshots and the change log out. Scores come from the monitor's own engine
(`medrical.monitor.AlertEngine`, with its carry-forward of observation-round values), so the
dashboard and the monitor score a reading the same way. That engine's alerts serve as the
dashboard's own notices while no monitor alerts (topics `alerts_*`) have been seen.

Medrical's data is synthetic; nothing here is for clinical use.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from medrical.monitor import AlertEngine, AlertPolicy, EventError, VitalsEvent
from medrical.news2 import ClinicalRisk, Parameter

VITAL_FIELDS = (
    "heart_rate",
    "systolic_bp",
    "diastolic_bp",
    "respiratory_rate",
    "spo2",
    "body_temperature",
    "consciousness",
    "on_oxygen",
)
RISK_RANK = {risk.value: risk.rank for risk in ClinicalRisk}

# The tile's trend line: one point per bucket over the last few minutes, so a snapshot of a
# thousand patients stays small.
TREND_BUCKET_MS = 10_000
TREND_WINDOW_MS = 5 * 60_000

AlertSource = Literal["monitor", "dashboard"]
OwnAlerts = Literal["auto", "always", "never"]

EventKind = Literal["patient", "alert", "ack"]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Ack:
    """An acknowledgement: who acknowledged which alert, and when (ms since the epoch)."""

    alert_id: str
    acknowledged_by: str
    acknowledged_at: int

    def to_dict(self) -> dict[str, Any]:
        return {"acknowledged_by": self.acknowledged_by, "acknowledged_at": self.acknowledged_at}


@dataclass(slots=True)
class PatientTile:
    """One patient as the ward view shows them."""

    patient_id: str
    topic: str
    event_time: int
    received_at: int
    vitals: dict[str, Any] = field(default_factory=dict)
    measured_at: dict[str, int] = field(default_factory=dict)
    score: int | None = None
    risk: str = ClinicalRisk.LOW.value
    red_flag: bool = False
    complete: bool = False
    subscores: dict[str, int | None] = field(default_factory=dict)
    scenario: str | None = None
    spo2_scale: int = 1
    trend: deque[tuple[int, int | None, Any, Any]] = field(default_factory=deque)

    def to_dict(self, *, with_trend: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "patient_id": self.patient_id,
            "topic": self.topic,
            "event_time": self.event_time,
            "received_at": self.received_at,
            "vitals": dict(self.vitals),
            "measured_at": dict(self.measured_at),
            "score": self.score,
            "risk": self.risk,
            "risk_rank": RISK_RANK[self.risk],
            "red_flag": self.red_flag,
            "complete": self.complete,
            "subscores": dict(self.subscores),
            "scenario": self.scenario,
            "spo2_scale": self.spo2_scale,
        }
        if with_trend:
            data["trend"] = [list(point) for point in self.trend]
        return data

    def add_trend_point(self) -> None:
        bucket = self.event_time - self.event_time % TREND_BUCKET_MS
        point = (bucket, self.score, self.vitals.get("heart_rate"), self.vitals.get("spo2"))
        if self.trend and self.trend[-1][0] == bucket:
            self.trend[-1] = point
        elif not self.trend or self.trend[-1][0] < bucket:
            self.trend.append(point)
        while self.trend and self.trend[0][0] < bucket - TREND_WINDOW_MS:
            self.trend.popleft()


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One change, serialised once, however many pages follow the log."""

    seq: int
    kind: EventKind
    patient_id: str | None
    payload: str
    origin_ms: int | None = None
    """When what caused the change entered the pipeline (its Kafka record's timestamp), so
    that a push can tell how long the change took to reach the page."""


class EventLog:
    """A bounded, numbered log of changes. Pages resume from a number (SSE Last-Event-ID); one
    that fell further behind than the log reaches gets a fresh snapshot instead."""

    def __init__(self, capacity: int = 20_000) -> None:
        self._events: deque[LoggedEvent] = deque(maxlen=capacity)
        self._seq = 0

    @property
    def last_seq(self) -> int:
        return self._seq

    def append(
        self,
        kind: EventKind,
        patient_id: str | None,
        data: Mapping[str, Any],
        origin_ms: int | None = None,
    ) -> int:
        self._seq += 1
        payload = json.dumps({"type": kind, **data}, separators=(",", ":"))
        self._events.append(LoggedEvent(self._seq, kind, patient_id, payload, origin_ms))
        return self._seq

    def since(self, seq: int) -> list[LoggedEvent] | None:
        """Every event after `seq`, or None when some of them have already been dropped."""
        if seq > self._seq or seq < 0:
            return None
        if seq == self._seq:
            return []
        if not self._events or self._events[0].seq > seq + 1:
            return None
        # Events are numbered consecutively, so the position follows from the numbers.
        start = seq + 1 - self._events[0].seq
        return [self._events[i] for i in range(start, len(self._events))]


def normalise_alert(record: Mapping[str, Any], source: AlertSource) -> dict[str, Any] | None:
    """An alert as the dashboard shows it, read field by field from whatever the producer sent.

    Only alert_id and patient_id are required; anything else missing or of an unexpected type
    is shown as unknown rather than failing the feed. Times are ms since the epoch.
    """
    alert_id = record.get("alert_id")
    patient_id = record.get("patient_id")
    if not isinstance(alert_id, str) or not alert_id or len(alert_id) > 128:
        return None
    if not isinstance(patient_id, str) or not patient_id:
        return None
    score = record.get("score")
    return {
        "alert_id": alert_id,
        "patient_id": patient_id,
        "kind": _text(record.get("kind")),
        "risk": _text(record.get("risk")),
        "score": score if isinstance(score, int) and not isinstance(score, bool) else None,
        "event_time": _millis(record.get("event_time")),
        "raised_at": _millis(record.get("raised_at")),
        "message": _text(record.get("message")),
        "source": source,
    }


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value[:500]
    # An enum written as {"value": ...} or any other scalar: show its text form.
    return str(value)[:500]


def _millis(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    timestamp = getattr(value, "timestamp", None)
    if callable(timestamp):
        result = timestamp()
        if isinstance(result, int | float):
            return int(result * 1000)
    return None


class WardState:
    """Every patient seen since the dashboard started, the alert feed and the change log."""

    def __init__(
        self,
        *,
        policy: AlertPolicy | None = None,
        own_alerts: OwnAlerts = "auto",
        max_alerts: int = 1000,
        log_capacity: int = 20_000,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._engine = AlertEngine(policy)
        self._own_alerts: OwnAlerts = own_alerts
        self._max_alerts = max_alerts
        self._clock = clock
        self._lock = threading.Lock()
        self._patients: dict[str, PatientTile] = {}
        self._alerts: dict[str, dict[str, Any]] = {}
        self._acks: dict[str, Ack] = {}
        self.log = EventLog(log_capacity)
        # Tells this run's change numbers from a previous run's (see the SSE ids).
        self.instance = uuid.uuid4().hex[:12]
        self.monitor_alerts_seen = False
        self.monitor_alerts_received = 0
        self.readings_applied = 0
        self.readings_rejected = 0

    # --- feeding in ---------------------------------------------------------------------------

    def apply_reading(
        self, record: Mapping[str, Any], topic: str, origin_ms: int | None = None
    ) -> bool:
        """Take one decoded biometrics record; False when it was rejected (bad or out of order).

        `origin_ms` is its Kafka record's timestamp (default: now)."""
        try:
            event = VitalsEvent.from_mapping(record)
        except EventError:
            with self._lock:
                self.readings_rejected += 1
            return False
        received = self._clock()
        with self._lock:
            outcome = self._engine.process(event, raised_at=received)
            if outcome.reading is None:
                self.readings_rejected += 1
                return False
            tile = self._patients.get(event.patient_id)
            if tile is None:
                tile = PatientTile(event.patient_id, topic, event.event_time, received)
                self._patients[event.patient_id] = tile
            tile.topic = topic
            tile.event_time = event.event_time
            tile.received_at = received
            for name in VITAL_FIELDS:
                value = getattr(event, name)
                if value is not None:
                    if name == "consciousness":
                        value = value.value
                    elif name == "body_temperature":
                        # Avro floats are 32-bit; the reading has one decimal.
                        value = round(value, 1)
                    tile.vitals[name] = value
                    tile.measured_at[name] = event.event_time
            result = outcome.reading.score
            tile.score = result.score
            tile.risk = result.risk.value
            tile.red_flag = result.red_flag
            tile.complete = result.complete
            tile.subscores = {p.value: result.subscores.get(p) for p in Parameter}
            tile.scenario = event.scenario
            tile.spo2_scale = int(event.spo2_scale or 1)
            tile.add_trend_point()
            self.readings_applied += 1
            self.log.append(
                "patient",
                event.patient_id,
                {"patient": tile.to_dict(with_trend=False)},
                received if origin_ms is None else origin_ms,
            )
            if self._takes_own_alerts():
                for alert in outcome.alerts:
                    self._add_alert(normalise_alert(alert.to_dict(), "dashboard"))
        return True

    def apply_monitor_alert(self, record: Mapping[str, Any]) -> bool:
        """Take one alert of the monitor's; False when it lacks an id or a patient."""
        alert = normalise_alert(record, "monitor")
        with self._lock:
            self.monitor_alerts_seen = True
            if alert is None:
                return False
            self.monitor_alerts_received += 1
            self._add_alert(alert)
        return True

    def check_silence(self) -> None:
        """Raise the engine's silent notices (no reading for the policy's silence time)."""
        now = self._clock()
        with self._lock:
            alerts = self._engine.check_silence(now, raised_at=now)
            if self._takes_own_alerts():
                for alert in alerts:
                    self._add_alert(normalise_alert(alert.to_dict(), "dashboard"))

    def record_acks(self, acks: Iterable[Ack], *, announce: bool = False) -> None:
        """Remember acknowledgements (from the store); `announce` tells open pages too."""
        with self._lock:
            for ack in acks:
                self._acks[ack.alert_id] = ack
                if announce:
                    self.log.append(
                        "ack", None, {"alert_id": ack.alert_id, "acknowledged": ack.to_dict()}
                    )

    def _takes_own_alerts(self) -> bool:
        if self._own_alerts == "auto":
            return not self.monitor_alerts_seen
        return self._own_alerts == "always"

    def _add_alert(self, alert: dict[str, Any] | None) -> None:
        if alert is None or alert["alert_id"] in self._alerts:
            return
        self._alerts[alert["alert_id"]] = alert
        while len(self._alerts) > self._max_alerts:
            del self._alerts[next(iter(self._alerts))]
        self.log.append("alert", alert["patient_id"], {"alert": self._with_ack(alert)})

    def _with_ack(self, alert: Mapping[str, Any]) -> dict[str, Any]:
        ack = self._acks.get(alert["alert_id"])
        return {**alert, "acknowledged": None if ack is None else ack.to_dict()}

    # --- reading out --------------------------------------------------------------------------

    def alert_ids(self) -> list[str]:
        with self._lock:
            return list(self._alerts)

    def has_alert(self, alert_id: str) -> bool:
        with self._lock:
            return alert_id in self._alerts

    @property
    def patient_count(self) -> int:
        with self._lock:
            return len(self._patients)

    def patients(self, *, with_trend: bool = True) -> list[dict[str, Any]]:
        """Every patient, highest risk first, then highest score, then by id."""
        with self._lock:
            return self._sorted_patients(None, with_trend)

    def patient(self, patient_id: str) -> dict[str, Any] | None:
        with self._lock:
            tile = self._patients.get(patient_id)
            return None if tile is None else tile.to_dict(with_trend=True)

    def alerts(self, patient_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Alerts, newest first (by the time they were raised, else their event time)."""
        with self._lock:
            return self._sorted_alerts(patient_id, limit)

    def snapshot(self, patient_id: str | None = None, alert_limit: int = 200) -> dict[str, Any]:
        """Everything a page needs to start, and the log number to follow changes from."""
        with self._lock:
            return {
                "seq": self.log.last_seq,
                "server_time": self._clock(),
                "patients": self._sorted_patients(patient_id, True),
                "alerts": self._sorted_alerts(patient_id, alert_limit),
                "monitor_alerts_seen": self.monitor_alerts_seen,
            }

    def events_since(self, seq: int) -> list[LoggedEvent] | None:
        with self._lock:
            return self.log.since(seq)

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self.log.last_seq

    def _sorted_patients(self, patient_id: str | None, with_trend: bool) -> list[dict[str, Any]]:
        tiles = [
            tile
            for tile in self._patients.values()
            if patient_id is None or tile.patient_id == patient_id
        ]
        tiles.sort(key=lambda t: (-RISK_RANK[t.risk], -(t.score or 0), t.patient_id))
        return [tile.to_dict(with_trend=with_trend) for tile in tiles]

    def _sorted_alerts(self, patient_id: str | None, limit: int) -> list[dict[str, Any]]:
        chosen = [
            a for a in self._alerts.values() if patient_id is None or a["patient_id"] == patient_id
        ]
        chosen.sort(key=lambda a: a["raised_at"] or a["event_time"] or 0, reverse=True)
        return [self._with_ack(a) for a in chosen[: max(limit, 0)]]
