"""Per-patient latest vital signs, carried forward for a bounded time.

Bedside monitors send pulse and SpO2 with every reading, while blood pressure, respiration
rate, consciousness and temperature come from observation rounds (the simulator's ward mode:
every 15-60 minutes, temperature every 2-6 hours). A reading that lacks one of them is scored
with its last measurement, but only while that measurement is younger than the parameter's
maximum age; after that the parameter is missing and the score is incomplete, because a
stale observation is a guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from medrical.monitor.events import VitalsEvent
from medrical.news2 import Consciousness, Parameter, SpO2Scale, Vitals
from medrical.news2.tables import PARAMETERS

_INDEX = {parameter: i for i, parameter in enumerate(PARAMETERS)}


@dataclass(frozen=True, slots=True)
class MaxAges:
    """How long (seconds of event time) each parameter's last measurement may stand in.

    Defaults: pulse and SpO2, continuous channels, 5 minutes (rides out probe-off dropouts
    without scoring a pulse nobody has seen for longer). Respiration rate, systolic pressure,
    consciousness (ACVPU) and air/oxygen 75 minutes: an hourly observation round plus a
    quarter of an hour's grace for a late one. Temperature 6.5 hours: rounds every 2-6 hours
    plus the same kind of grace. Shorten them when every reading carries every parameter.
    """

    respiratory_rate: float = 75 * 60
    spo2: float = 5 * 60
    on_oxygen: float = 75 * 60
    systolic_bp: float = 75 * 60
    heart_rate: float = 5 * 60
    consciousness: float = 75 * 60
    body_temperature: float = 6.5 * 3600

    def __post_init__(self) -> None:
        for parameter in Parameter:
            if self.seconds(parameter) < 0:
                raise ValueError(f"maximum age of {parameter.value} must not be negative")

    def seconds(self, parameter: Parameter) -> float:
        age: float = getattr(self, parameter.value)
        return age

    def milliseconds(self) -> tuple[float, ...]:
        """Every maximum age in ms, in chart order."""
        return tuple(self.seconds(parameter) * 1000 for parameter in PARAMETERS)


Measurement = tuple[int | float | bool | Consciousness, int]
"""A value and the event time (ms) it was measured at."""


@dataclass(slots=True)
class PatientVitals:
    """The latest measurement of each NEWS2 parameter for one patient, in chart order.

    `values[i]` was measured at `times[i]` (both None if never). Consciousness is kept as its
    ACVPU letter. Diastolic pressure is not kept: NEWS2 does not score it.
    """

    values: list[Any] = field(default_factory=lambda: [None] * len(PARAMETERS))
    times: list[int | None] = field(default_factory=lambda: [None] * len(PARAMETERS))

    @classmethod
    def empty(cls) -> PatientVitals:
        return cls()

    @property
    def latest(self) -> dict[Parameter, Measurement]:
        """The measurements as a mapping, for reading (consciousness as its enum)."""
        return {
            parameter: (Consciousness(value) if i == _INDEX[Parameter.CONSCIOUSNESS] else value, t)
            for i, (parameter, value, t) in enumerate(
                zip(PARAMETERS, self.values, self.times, strict=True)
            )
            if t is not None
        }

    def record(self, event: VitalsEvent) -> None:
        """Take every value the event carries; callers feed events in event-time order."""
        self.take(event.fields()[2:9], event.event_time)

    def take(self, measured: Sequence[Any], event_time: int) -> None:
        """Take every value that is not None from `measured` (chart order)."""
        values, times = self.values, self.times
        for i, value in enumerate(measured):
            if value is not None:
                values[i] = value
                times[i] = event_time

    def update(
        self, measured: Sequence[Any], event_time: int, max_ages_ms: Sequence[float]
    ) -> list[Any]:
        """`take(measured, event_time)`, then `current(event_time, ...)`, in one pass.

        A value measured now is current whatever its maximum age, which is never negative.
        """
        values, times = self.values, self.times
        current: list[Any] = [None] * len(values)
        for i, value in enumerate(measured):
            if value is not None:
                values[i] = current[i] = value
                times[i] = event_time
            else:
                measured_at = times[i]
                if measured_at is not None and event_time - measured_at <= max_ages_ms[i]:
                    current[i] = values[i]
        return current

    def current(self, event_time: int, max_ages_ms: Sequence[float]) -> list[Any]:
        """The values still valid at `event_time` in chart order; None where too old."""
        return [
            value if measured_at is not None and event_time - measured_at <= limit else None
            for value, measured_at, limit in zip(self.values, self.times, max_ages_ms, strict=True)
        ]

    def as_of(self, event_time: int, max_ages: MaxAges, spo2_scale: SpO2Scale) -> Vitals:
        """The observations valid at `event_time`: anything older than its maximum age is None."""
        fresh: dict[str, Any] = {
            parameter.value: value
            for parameter, value in zip(
                PARAMETERS, self.current(event_time, max_ages.milliseconds()), strict=True
            )
            if value is not None
        }
        if Parameter.CONSCIOUSNESS.value in fresh:
            fresh[Parameter.CONSCIOUSNESS.value] = Consciousness(fresh["consciousness"])
        return Vitals(spo2_scale=spo2_scale, **fresh)

    def to_dict(self) -> dict[str, Any]:
        return {
            parameter.value: [value, measured_at]
            for parameter, value, measured_at in zip(
                PARAMETERS, self.values, self.times, strict=True
            )
            if measured_at is not None
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PatientVitals:
        vitals = cls()
        for name, (value, measured_at) in data.items():
            i = _INDEX[Parameter(name)]
            if i == _INDEX[Parameter.CONSCIOUSNESS]:
                value = Consciousness(value).value
            vitals.values[i] = value
            vitals.times[i] = int(measured_at)
        return vitals
