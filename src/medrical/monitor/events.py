"""The vital-sign event the monitor consumes, as a typed record.

Field names and meanings follow the Avro event: times are milliseconds since the Unix epoch
(UTC); a vital sign that was not measured in this event is None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from medrical.errors import InputError
from medrical.news2 import Consciousness, Parameter, SpO2Scale, check_plausible

T = TypeVar("T")


class EventError(InputError):
    """An event whose fields are missing, of the wrong type, or implausible."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class VitalsEvent:
    """One reading of one patient. Raises EventError for implausible values."""

    patient_id: str
    event_time: int
    heart_rate: int | None = None
    systolic_bp: int | None = None
    diastolic_bp: int | None = None
    spo2: int | None = None
    respiratory_rate: int | None = None
    body_temperature: float | None = None
    consciousness: Consciousness | None = None
    on_oxygen: bool | None = None
    scenario: str | None = None
    spo2_scale: SpO2Scale | None = None

    def __post_init__(self) -> None:
        if not self.patient_id:
            raise EventError("event has an empty patient_id", field="patient_id")
        for parameter in (
            Parameter.HEART_RATE,
            Parameter.SYSTOLIC_BP,
            Parameter.SPO2,
            Parameter.RESPIRATORY_RATE,
            Parameter.BODY_TEMPERATURE,
        ):
            try:
                check_plausible(parameter, getattr(self, parameter.value))
            except InputError as exc:
                raise EventError(
                    f"patient {self.patient_id} at {self.event_time}: {exc}", field=parameter.value
                ) from exc

    @classmethod
    def from_mapping(cls, record: Mapping[str, object]) -> VitalsEvent:
        """Build an event from a decoded record (e.g. an Avro dict), checking every type."""
        consciousness = _optional(record, "consciousness", str)
        scale = _optional(record, "spo2_scale", int)
        try:
            return cls(
                patient_id=_required(record, "patient_id", str),
                event_time=_required(record, "event_time", int),
                heart_rate=_optional(record, "heart_rate", int),
                systolic_bp=_optional(record, "systolic_bp", int),
                diastolic_bp=_optional(record, "diastolic_bp", int),
                spo2=_optional(record, "spo2", int),
                respiratory_rate=_optional(record, "respiratory_rate", int),
                body_temperature=_optional_float(record, "body_temperature"),
                consciousness=None if consciousness is None else Consciousness.parse(consciousness),
                on_oxygen=_optional(record, "on_oxygen", bool),
                scenario=_optional(record, "scenario", str),
                spo2_scale=None if scale is None else SpO2Scale.parse(scale),
            )
        except EventError:
            raise
        except InputError as exc:
            raise EventError(str(exc)) from exc


def _required(record: Mapping[str, object], name: str, kind: type[T]) -> T:
    value = _optional(record, name, kind)
    if value is None:
        raise EventError(f"event lacks {name}", field=name)
    return value


def _optional(record: Mapping[str, object], name: str, kind: type[T]) -> T | None:
    value = record.get(name)
    if value is None:
        return None
    # bool is an int in Python; a True heart rate is a producer bug, not 1 beat per minute.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise EventError(
            f"event field {name} should be {kind.__name__}, not {type(value).__name__}",
            field=name,
        )
    return value


def _optional_float(record: Mapping[str, object], name: str) -> float | None:
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EventError(
            f"event field {name} should be a number, not {type(value).__name__}", field=name
        )
    return float(value)
