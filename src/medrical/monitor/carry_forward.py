"""Per-patient latest vital signs, carried forward for a bounded time.

Bedside monitors send pulse and SpO2 with every reading, while blood pressure, respiration
rate, consciousness and temperature come from observation rounds (the simulator's ward mode:
every 15-60 minutes, temperature every 2-6 hours). A reading that lacks one of them is scored
with its last measurement, but only while that measurement is younger than the parameter's
maximum age; after that the parameter is missing and the score is incomplete, because a
stale observation is a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from medrical.monitor.events import VitalsEvent
from medrical.news2 import Consciousness, Parameter, SpO2Scale, Vitals


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


Measurement = tuple[int | float | bool | Consciousness, int]
"""A value and the event time (ms) it was measured at."""


@dataclass(slots=True)
class PatientVitals:
    """The latest measurement of each NEWS2 parameter for one patient.

    Diastolic pressure is not kept: NEWS2 does not score it.
    """

    latest: dict[Parameter, Measurement]

    @classmethod
    def empty(cls) -> PatientVitals:
        return cls(latest={})

    def record(self, event: VitalsEvent) -> None:
        """Take every value the event carries; callers feed events in event-time order."""
        for parameter in Parameter:
            value = getattr(event, parameter.value)
            if value is not None:
                self.latest[parameter] = (value, event.event_time)

    def as_of(self, event_time: int, max_ages: MaxAges, spo2_scale: SpO2Scale) -> Vitals:
        """The observations valid at `event_time`: anything older than its maximum age is None."""
        fresh: dict[str, Any] = {}
        for parameter, (value, measured_at) in self.latest.items():
            if event_time - measured_at <= max_ages.seconds(parameter) * 1000:
                fresh[parameter.value] = value
        return Vitals(spo2_scale=spo2_scale, **fresh)

    def to_dict(self) -> dict[str, Any]:
        return {
            parameter.value: [
                value.value if isinstance(value, Consciousness) else value,
                measured_at,
            ]
            for parameter, (value, measured_at) in self.latest.items()
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PatientVitals:
        latest: dict[Parameter, Measurement] = {}
        for name, (value, measured_at) in data.items():
            parameter = Parameter(name)
            if parameter is Parameter.CONSCIOUSNESS:
                value = Consciousness(value)
            latest[parameter] = (value, int(measured_at))
        return cls(latest=latest)
