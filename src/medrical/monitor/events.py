"""The vital-sign event the monitor consumes: its checks, and the event as a typed record.

Field names and meanings follow the Avro event: times are milliseconds since the Unix epoch
(UTC); a vital sign that was not measured in this event is None. `reading_fields` checks a
decoded record and returns its fields as a plain tuple (the monitor's fast path, with no object
per reading); `VitalsEvent` is the same reading as a typed record, built from those fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from medrical.errors import InputError
from medrical.news2 import (
    PLAUSIBLE_RANGES,
    Consciousness,
    Parameter,
    SpO2Scale,
    check_plausible,
)


class EventError(InputError):
    """An event whose fields are missing, of the wrong type, or implausible."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


ReadingFields = tuple[
    str,
    int,
    int | None,
    int | None,
    bool | None,
    int | None,
    int | None,
    str | None,
    float | None,
    str | None,
    int | None,
    int | None,
]
"""patient_id, event_time, the seven NEWS2 parameters in chart order (respiratory rate, SpO2,
oxygen, systolic pressure, heart rate, ACVPU letter, temperature), scenario, SpO2 scale (1, 2
or None) and diastolic pressure."""

_CHECKED = (
    Parameter.HEART_RATE,
    Parameter.SYSTOLIC_BP,
    Parameter.SPO2,
    Parameter.RESPIRATORY_RATE,
    Parameter.BODY_TEMPERATURE,
)
_CONSCIOUSNESS = frozenset(level.value for level in Consciousness)
# The plausible ranges as plain numbers: out-of-range values go through check_plausible for
# its error (NaN fails both comparisons, so it does too).
_HR_LOW, _HR_HIGH = PLAUSIBLE_RANGES[Parameter.HEART_RATE]
_SBP_LOW, _SBP_HIGH = PLAUSIBLE_RANGES[Parameter.SYSTOLIC_BP]
_SPO2_LOW, _SPO2_HIGH = PLAUSIBLE_RANGES[Parameter.SPO2]
_RR_LOW, _RR_HIGH = PLAUSIBLE_RANGES[Parameter.RESPIRATORY_RATE]
_TEMP_LOW, _TEMP_HIGH = PLAUSIBLE_RANGES[Parameter.BODY_TEMPERATURE]


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
        for parameter in _CHECKED:
            _check(self.patient_id, self.event_time, parameter, getattr(self, parameter.value))

    @classmethod
    def from_mapping(cls, record: Mapping[str, object]) -> VitalsEvent:
        """Build an event from a decoded record (e.g. an Avro dict), checking every type."""
        (
            patient_id,
            event_time,
            respiratory_rate,
            spo2,
            on_oxygen,
            systolic_bp,
            heart_rate,
            consciousness,
            body_temperature,
            scenario,
            spo2_scale,
            diastolic_bp,
        ) = reading_fields(record)
        return cls(
            patient_id=patient_id,
            event_time=event_time,
            heart_rate=heart_rate,
            systolic_bp=systolic_bp,
            diastolic_bp=diastolic_bp,
            spo2=spo2,
            respiratory_rate=respiratory_rate,
            body_temperature=body_temperature,
            consciousness=None if consciousness is None else Consciousness(consciousness),
            on_oxygen=on_oxygen,
            scenario=scenario,
            spo2_scale=None if spo2_scale is None else SpO2Scale(spo2_scale),
        )

    def fields(self) -> ReadingFields:
        """The event as `reading_fields` returns a record."""
        return (
            self.patient_id,
            self.event_time,
            self.respiratory_rate,
            self.spo2,
            self.on_oxygen,
            self.systolic_bp,
            self.heart_rate,
            None if self.consciousness is None else self.consciousness.value,
            self.body_temperature,
            self.scenario,
            None if self.spo2_scale is None else int(self.spo2_scale),
            self.diastolic_bp,
        )


def reading_fields(record: Mapping[str, object]) -> ReadingFields:
    """Check a decoded record as VitalsEvent does and return its fields (see ReadingFields).

    Raises EventError naming the field for a missing or mistyped field or an implausible value.
    A bool is no int here: a True heart rate is a producer bug, not 1 beat per minute.
    """
    get = record.get
    patient_id = get("patient_id")
    if type(patient_id) is not str:
        raise _missing_or_mistyped("patient_id", str, patient_id)
    if not patient_id:
        raise EventError("event has an empty patient_id", field="patient_id")
    event_time = get("event_time")
    if type(event_time) is not int:
        event_time = _int_or_none(event_time, "event_time")
        if event_time is None:
            raise _missing_or_mistyped("event_time", int, None)
    # Type checks inline: this runs for every reading the monitor scores.
    respiratory_rate = get("respiratory_rate")
    if respiratory_rate is not None and type(respiratory_rate) is not int:
        respiratory_rate = _int_or_none(respiratory_rate, "respiratory_rate")
    spo2 = get("spo2")
    if spo2 is not None and type(spo2) is not int:
        spo2 = _int_or_none(spo2, "spo2")
    systolic_bp = get("systolic_bp")
    if systolic_bp is not None and type(systolic_bp) is not int:
        systolic_bp = _int_or_none(systolic_bp, "systolic_bp")
    heart_rate = get("heart_rate")
    if heart_rate is not None and type(heart_rate) is not int:
        heart_rate = _int_or_none(heart_rate, "heart_rate")
    diastolic_bp = get("diastolic_bp")
    if diastolic_bp is not None and type(diastolic_bp) is not int:
        diastolic_bp = _int_or_none(diastolic_bp, "diastolic_bp")
    temperature = get("body_temperature")
    if temperature is not None:
        if type(temperature) is int:
            temperature = float(temperature)
        elif type(temperature) is not float:
            raise EventError(
                "event field body_temperature should be a number, not "
                f"{type(temperature).__name__}",
                field="body_temperature",
            )
    on_oxygen = get("on_oxygen")
    if on_oxygen is not None and type(on_oxygen) is not bool:
        raise _missing_or_mistyped("on_oxygen", bool, on_oxygen)
    consciousness = get("consciousness")
    if consciousness is not None:
        if not isinstance(consciousness, str):
            raise _missing_or_mistyped("consciousness", str, consciousness)
        if consciousness not in _CONSCIOUSNESS:
            try:
                consciousness = Consciousness.parse(consciousness).value
            except InputError as exc:
                raise EventError(str(exc), field="consciousness") from exc
    scenario = get("scenario")
    if scenario is not None and not isinstance(scenario, str):
        raise _missing_or_mistyped("scenario", str, scenario)
    scale = _int_or_none(get("spo2_scale"), "spo2_scale")
    if scale is not None and scale not in (1, 2):
        raise EventError(f"SpO2 scale must be 1 or 2, not {scale!r}.", field="spo2_scale")
    if heart_rate is not None and not _HR_LOW <= heart_rate <= _HR_HIGH:
        _check(patient_id, event_time, Parameter.HEART_RATE, heart_rate)
    if systolic_bp is not None and not _SBP_LOW <= systolic_bp <= _SBP_HIGH:
        _check(patient_id, event_time, Parameter.SYSTOLIC_BP, systolic_bp)
    if spo2 is not None and not _SPO2_LOW <= spo2 <= _SPO2_HIGH:
        _check(patient_id, event_time, Parameter.SPO2, spo2)
    if respiratory_rate is not None and not _RR_LOW <= respiratory_rate <= _RR_HIGH:
        _check(patient_id, event_time, Parameter.RESPIRATORY_RATE, respiratory_rate)
    if temperature is not None and not _TEMP_LOW <= temperature <= _TEMP_HIGH:
        _check(patient_id, event_time, Parameter.BODY_TEMPERATURE, temperature)
    return (
        patient_id,
        event_time,
        respiratory_rate,
        spo2,
        on_oxygen,
        systolic_bp,
        heart_rate,
        consciousness,
        temperature,
        scenario,
        scale,
        diastolic_bp,
    )


def _int_or_none(value: object, name: str) -> int | None:
    if value is None or type(value) is int:
        return value
    if isinstance(value, int) and not isinstance(value, bool):  # an IntEnum, say
        return int(value)
    raise _missing_or_mistyped(name, int, value)


def _check(patient_id: str, event_time: int, parameter: Parameter, value: float | None) -> None:
    try:
        check_plausible(parameter, value)
    except InputError as exc:
        raise EventError(
            f"patient {patient_id} at {event_time}: {exc}", field=parameter.value
        ) from exc


def _missing_or_mistyped(name: str, kind: type, value: object) -> EventError:
    if value is None:
        return EventError(f"event lacks {name}", field=name)
    return EventError(
        f"event field {name} should be {kind.__name__}, not {type(value).__name__}", field=name
    )
