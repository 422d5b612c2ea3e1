"""The reading: one set of (synthetic) vital signs of one patient at one event time.

Its field names are a public contract shared with the Avro schema, the sink table and the
monitor, so they must not be renamed.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Final

CONSCIOUSNESS_LEVELS: Final = ("A", "C", "V", "P", "U")
"""ACVPU: Alert, new Confusion, responds to Voice, responds to Pain, Unresponsive."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Reading:
    """Synthetic vital signs of one patient at one moment; ``None`` means "not measured"."""

    patient_id: str
    event_time: int
    """Milliseconds since the Unix epoch, UTC."""
    heart_rate: int | None
    """Beats per minute."""
    systolic_bp: int | None
    """mmHg."""
    diastolic_bp: int | None
    """mmHg."""
    body_temperature: float | None
    """Degrees Celsius, to 0.1."""
    spo2: int | None
    """Peripheral oxygen saturation, percent."""
    respiratory_rate: int | None
    """Breaths per minute."""
    consciousness: str | None
    """One of A, C, V, P, U."""
    on_oxygen: bool | None
    scenario: str | None
    """Ground truth: the scenario that produced the reading."""
    spo2_scale: int | None
    """Ground truth: the NEWS2 SpO2 scale (1 or 2) that applies to the patient."""
    onset_time: int | None = None
    """Ground truth: when this patient's deterioration began (or will begin), ms since the
    epoch; None when their scenario does not deteriorate or nobody knows."""

    def to_record(self) -> dict[str, Any]:
        """Return the reading as a dict ready for Avro (``event_time`` as int milliseconds)."""
        return {
            "patient_id": self.patient_id,
            "event_time": self.event_time,
            "heart_rate": self.heart_rate,
            "systolic_bp": self.systolic_bp,
            "diastolic_bp": self.diastolic_bp,
            "body_temperature": self.body_temperature,
            "spo2": self.spo2,
            "respiratory_rate": self.respiratory_rate,
            "consciousness": self.consciousness,
            "on_oxygen": self.on_oxygen,
            "scenario": self.scenario,
            "spo2_scale": self.spo2_scale,
            "onset_time": self.onset_time,
        }

    def to_json_dict(self) -> dict[str, Any]:
        """Return the reading as a JSON-ready dict (``event_time`` as ISO-8601 UTC with 'Z')."""
        record = self.to_record()
        record["event_time"] = format_event_time(self.event_time)
        if self.onset_time is not None:
            record["onset_time"] = format_event_time(self.onset_time)
        return record


FIELD_NAMES: Final[tuple[str, ...]] = tuple(field.name for field in fields(Reading))


def format_event_time(event_time_ms: int) -> str:
    """Format milliseconds since the epoch as ``2026-01-01T00:00:00.000Z`` (years 1-9999)."""
    moment = _EPOCH + timedelta(milliseconds=event_time_ms)
    # %Y does not pad years before 1000 to four digits on every platform.
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}.{event_time_ms % 1000:03d}Z"
