"""The JSON API's documented shapes (they make the OpenAPI description at /docs)."""

from __future__ import annotations

from pydantic import BaseModel, Field

VitalValue = int | float | str | bool | None


class Patient(BaseModel):
    """A patient's latest state. Synthetic data; scores are not for clinical use."""

    patient_id: str = Field(description="Synthetic patient identifier.")
    topic: str = Field(description="The Kafka topic the latest reading came from.")
    event_time: int = Field(description="Event time of the latest reading, ms since the epoch.")
    received_at: int = Field(description="When the dashboard received it, ms since the epoch.")
    vitals: dict[str, VitalValue] = Field(
        description="Latest measured value of each vital sign: heart_rate (/min), systolic_bp "
        "and diastolic_bp (mmHg), respiratory_rate (/min), spo2 (%), body_temperature (°C), "
        "consciousness (ACVPU letter), on_oxygen."
    )
    measured_at: dict[str, int] = Field(description="Event time each value was measured at.")
    score: int | None = Field(description="NEWS2 aggregate of the latest reading.")
    risk: str = Field(description="Clinical risk: low, low-medium, medium or high.")
    risk_rank: int = Field(description="0 (low) to 3 (high), for sorting.")
    red_flag: bool = Field(description="A single parameter scored 3.")
    complete: bool = Field(description="Every parameter was present (else score is a floor).")
    subscores: dict[str, int | None]
    scenario: str | None = Field(description="The simulator's scenario (ground truth).")
    spo2_scale: int
    trend: list[list[int | float | None]] | None = Field(
        default=None,
        description="Recent points [bucket_start_ms, score, heart_rate, spo2], oldest first.",
    )


class Acknowledgement(BaseModel):
    acknowledged_by: str
    acknowledged_at: int = Field(description="ms since the epoch.")


class Alert(BaseModel):
    """An alert from the monitor (source 'monitor') or the dashboard's own notice ('dashboard')."""

    alert_id: str
    patient_id: str
    kind: str | None = None
    risk: str | None = None
    score: int | None = None
    event_time: int | None = None
    raised_at: int | None = None
    message: str | None = None
    source: str
    acknowledged: Acknowledgement | None = None


class Snapshot(BaseModel):
    seq: int = Field(description="The change number the live stream continues from.")
    server_time: int
    patients: list[Patient]
    alerts: list[Alert]
    monitor_alerts_seen: bool
    silent_after_s: float


class ReadingPoint(BaseModel):
    event_time: int
    heart_rate: int | None = None
    systolic_bp: int | None = None
    diastolic_bp: int | None = None
    respiratory_rate: int | None = None
    spo2: int | None = None
    body_temperature: float | None = None
    consciousness: str | None = None
    on_oxygen: bool | None = None
    spo2_scale: int | None = None
    score: int | None = None
    risk: str | None = None
    complete: bool = False


class History(BaseModel):
    patient_id: str
    since: int
    until: int
    bucket_s: int = Field(description="0: raw readings; else each point averages this many s.")
    truncated: bool
    points: list[ReadingPoint]
    alerts: list[Alert]


class AckRequest(BaseModel):
    acknowledged_by: str | None = Field(default=None, max_length=200)


class AckResult(BaseModel):
    alert_id: str
    acknowledged: Acknowledgement
    created: bool = Field(description="False when the alert had already been acknowledged.")


class LoginRequest(BaseModel):
    token: str = Field(max_length=1000)


class Health(BaseModel):
    patients: int
    readings_applied: int
    readings_rejected: int
    feed_alive: bool
    monitor_alerts_seen: bool
