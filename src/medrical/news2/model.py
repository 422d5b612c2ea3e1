"""The vocabulary of NEWS2: parameters, scales, consciousness levels, risk bands, inputs, results.

Source: Royal College of Physicians (2017), "National Early Warning Score (NEWS) 2", Chart 1
(scoring) and Chart 4 (clinical response). Medrical's data is synthetic and its scores are not
for clinical use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum, StrEnum
from types import MappingProxyType

from medrical.errors import InputError


class Parameter(StrEnum):
    """The seven NEWS2 parameters, in chart order; values match the vital-sign event fields."""

    RESPIRATORY_RATE = "respiratory_rate"
    SPO2 = "spo2"
    ON_OXYGEN = "on_oxygen"
    SYSTOLIC_BP = "systolic_bp"
    HEART_RATE = "heart_rate"
    CONSCIOUSNESS = "consciousness"
    BODY_TEMPERATURE = "body_temperature"


class SpO2Scale(IntEnum):
    """Which SpO2 row of the chart applies.

    Scale 2 is a clinician's choice for confirmed hypercapnic respiratory failure with a target
    SpO2 of 88-92%; everyone else is scored on Scale 1.
    """

    SCALE_1 = 1
    SCALE_2 = 2

    @classmethod
    def parse(cls, value: int | str | None) -> SpO2Scale:
        """Read a scale as sent in events or typed on a command line; None means Scale 1."""
        if value is None:
            return cls.SCALE_1
        try:
            return cls(int(value))
        except ValueError:
            raise InputError(f"SpO2 scale must be 1 or 2, not {value!r}.") from None


class Consciousness(StrEnum):
    """ACVPU: Alert, or new Confusion, response to Voice, response to Pain, Unresponsive."""

    ALERT = "A"
    CONFUSION = "C"
    VOICE = "V"
    PAIN = "P"
    UNRESPONSIVE = "U"

    @classmethod
    def parse(cls, value: str) -> Consciousness:
        """Read one ACVPU letter, in either case."""
        try:
            return cls(value.strip().upper())
        except ValueError:
            raise InputError(
                f"Consciousness must be one of A, C, V, P, U (ACVPU), not {value!r}."
            ) from None


class ClinicalRisk(Enum):
    """Chart 4's clinical risk, ordered from lowest to highest."""

    LOW = "low"
    LOW_MEDIUM = "low-medium"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _RISK_ORDER.index(self)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, ClinicalRisk):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, ClinicalRisk):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, ClinicalRisk):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, ClinicalRisk):
            return NotImplemented
        return self.rank >= other.rank


_RISK_ORDER = (ClinicalRisk.LOW, ClinicalRisk.LOW_MEDIUM, ClinicalRisk.MEDIUM, ClinicalRisk.HIGH)


class VitalSignRangeError(InputError):
    """A vital sign lies outside what a living patient (or a sane unit) can show."""

    def __init__(self, parameter: Parameter, value: float, lower: float, upper: float) -> None:
        unit = _UNITS[parameter]
        message = (
            f"{parameter.value} {value:g} {unit} is implausible: "
            f"expected {lower:g} to {upper:g} {unit}."
        )
        hint = None
        if parameter is Parameter.BODY_TEMPERATURE and value > upper:
            hint = "Body temperature is in degrees Celsius, not Fahrenheit."
        super().__init__(message, hint=hint)
        self.parameter = parameter
        self.value = value
        self.lower = lower
        self.upper = upper


_UNITS: Mapping[Parameter, str] = MappingProxyType(
    {
        Parameter.RESPIRATORY_RATE: "/min",
        Parameter.SPO2: "%",
        Parameter.ON_OXYGEN: "",
        Parameter.SYSTOLIC_BP: "mmHg",
        Parameter.HEART_RATE: "/min",
        Parameter.CONSCIOUSNESS: "",
        Parameter.BODY_TEMPERATURE: "°C",
    }
)

# Wide on purpose: these reject typing slips and wrong units, not extreme physiology, which the
# chart itself scores.
PLAUSIBLE_RANGES: Mapping[Parameter, tuple[float, float]] = MappingProxyType(
    {
        Parameter.RESPIRATORY_RATE: (0, 100),
        Parameter.SPO2: (0, 100),
        Parameter.SYSTOLIC_BP: (0, 350),
        Parameter.HEART_RATE: (0, 350),
        Parameter.BODY_TEMPERATURE: (25.0, 45.0),
    }
)


def check_plausible(
    parameter: Parameter,
    value: float | None,
    ranges: Mapping[Parameter, tuple[float, float]] = PLAUSIBLE_RANGES,
) -> None:
    """Raise VitalSignRangeError if `value` lies outside its range in `ranges` (by default
    PLAUSIBLE_RANGES; NaN lies outside every range); None passes."""
    if value is None:
        return
    lower, upper = ranges[parameter]
    if not lower <= value <= upper:
        raise VitalSignRangeError(parameter, value, lower, upper)


@dataclass(frozen=True, slots=True)
class Vitals:
    """One set of observations. A parameter left as None was not measured.

    Raises VitalSignRangeError when a value is outside PLAUSIBLE_RANGES.
    """

    respiratory_rate: int | None = None
    spo2: int | None = None
    on_oxygen: bool | None = None
    systolic_bp: int | None = None
    heart_rate: int | None = None
    consciousness: Consciousness | None = None
    body_temperature: float | None = None
    spo2_scale: SpO2Scale = SpO2Scale.SCALE_1

    def __post_init__(self) -> None:
        check_plausible(Parameter.RESPIRATORY_RATE, self.respiratory_rate)
        check_plausible(Parameter.SPO2, self.spo2)
        check_plausible(Parameter.SYSTOLIC_BP, self.systolic_bp)
        check_plausible(Parameter.HEART_RATE, self.heart_rate)
        check_plausible(Parameter.BODY_TEMPERATURE, self.body_temperature)


@dataclass(frozen=True, slots=True)
class News2Score:
    """The result of scoring one set of observations.

    `subscores` holds every parameter that could be scored; `missing` names the rest. When
    anything is missing the score is incomplete: `score` and `risk` are then lower bounds (more
    observations can only add points), and callers should not act on them as if complete. A red
    score from a parameter that is present is real regardless.
    """

    subscores: Mapping[Parameter, int]
    missing: frozenset[Parameter] = field(default_factory=frozenset)
    score: int = field(init=False)
    red_flag: bool = field(init=False)
    risk: ClinicalRisk = field(init=False)

    def __post_init__(self) -> None:
        overlap = self.missing & set(self.subscores)
        if overlap:
            raise ValueError(f"parameters both scored and missing: {sorted(overlap)}")
        frozen = MappingProxyType({p: self.subscores[p] for p in Parameter if p in self.subscores})
        aggregate = sum(frozen.values())
        red_flag = any(points == 3 for points in frozen.values())
        object.__setattr__(self, "subscores", frozen)
        object.__setattr__(self, "score", aggregate)
        object.__setattr__(self, "red_flag", red_flag)
        object.__setattr__(self, "risk", clinical_risk(aggregate, red_flag=red_flag))

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def red_parameters(self) -> tuple[Parameter, ...]:
        return tuple(p for p, points in self.subscores.items() if points == 3)


def clinical_risk(aggregate: int, *, red_flag: bool) -> ClinicalRisk:
    """Chart 4: 7+ high, 5-6 medium, a red score below 5 low-medium, otherwise low."""
    if aggregate >= 7:
        return ClinicalRisk.HIGH
    if aggregate >= 5:
        return ClinicalRisk.MEDIUM
    if red_flag:
        return ClinicalRisk.LOW_MEDIUM
    return ClinicalRisk.LOW
