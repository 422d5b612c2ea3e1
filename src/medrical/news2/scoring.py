"""NEWS2 Chart 1, one function per parameter, and the aggregate over a set of observations.

Every band below is quoted from the RCP 2017 chart; the tests walk every edge of every band.
"""

from __future__ import annotations

from medrical.news2.model import (
    Consciousness,
    News2Score,
    Parameter,
    SpO2Scale,
    Vitals,
)


def score_respiratory_rate(breaths_per_min: int) -> int:
    """<=8: 3 | 9-11: 1 | 12-20: 0 | 21-24: 2 | >=25: 3."""
    if breaths_per_min <= 8:
        return 3
    if breaths_per_min <= 11:
        return 1
    if breaths_per_min <= 20:
        return 0
    if breaths_per_min <= 24:
        return 2
    return 3


def score_spo2(percent: int, *, scale: SpO2Scale, on_oxygen: bool | None) -> int | None:
    """SpO2 on the given scale.

    Scale 1: <=91: 3 | 92-93: 2 | 94-95: 1 | >=96: 0 (oxygen or not).
    Scale 2: <=83: 3 | 84-85: 2 | 86-87: 1 | 88-92: 0 | >=93 on air: 0 |
    93-94 on oxygen: 1 | 95-96 on oxygen: 2 | >=97 on oxygen: 3.

    On Scale 2 an SpO2 of 93 or more cannot be scored without knowing whether the patient is on
    oxygen, so the result is None when `on_oxygen` is None there; everywhere else it is ignored.
    """
    if scale is SpO2Scale.SCALE_1:
        if percent <= 91:
            return 3
        if percent <= 93:
            return 2
        if percent <= 95:
            return 1
        return 0
    if percent <= 83:
        return 3
    if percent <= 85:
        return 2
    if percent <= 87:
        return 1
    if percent <= 92:
        return 0
    if on_oxygen is None:
        return None
    if not on_oxygen:
        return 0
    # Above target while on oxygen means the oxygen is too much for a patient at risk of
    # hypercapnia, hence points for a *high* saturation.
    if percent <= 94:
        return 1
    if percent <= 96:
        return 2
    return 3


def score_on_oxygen(on_oxygen: bool) -> int:
    """Oxygen: 2 | air: 0."""
    return 2 if on_oxygen else 0


def score_systolic_bp(mmhg: int) -> int:
    """<=90: 3 | 91-100: 2 | 101-110: 1 | 111-219: 0 | >=220: 3."""
    if mmhg <= 90:
        return 3
    if mmhg <= 100:
        return 2
    if mmhg <= 110:
        return 1
    if mmhg <= 219:
        return 0
    return 3


def score_heart_rate(beats_per_min: int) -> int:
    """<=40: 3 | 41-50: 1 | 51-90: 0 | 91-110: 1 | 111-130: 2 | >=131: 3."""
    if beats_per_min <= 40:
        return 3
    if beats_per_min <= 50:
        return 1
    if beats_per_min <= 90:
        return 0
    if beats_per_min <= 110:
        return 1
    if beats_per_min <= 130:
        return 2
    return 3


def score_consciousness(level: Consciousness) -> int:
    """Alert: 0 | new Confusion, Voice, Pain, Unresponsive: 3."""
    return 0 if level is Consciousness.ALERT else 3


def score_body_temperature(celsius: float) -> int:
    """Half-open bands, as the chart's one-decimal readings imply.

    <=35.0: 3 | (35.0, 36.0]: 1 | (36.0, 38.0]: 0 | (38.0, 39.0]: 1 | >39.0: 2.

    The chart reads thermometers in 0.1 °C steps, so a finer value is first rounded to the
    step it would be shown as: 35.04 is read, shown and scored as 35.0.
    """
    celsius = round(celsius, 1)
    if celsius <= 35.0:
        return 3
    if celsius <= 36.0:
        return 1
    if celsius <= 38.0:
        return 0
    if celsius <= 39.0:
        return 1
    return 2


def score(vitals: Vitals) -> News2Score:
    """Score every parameter present in `vitals`; anything absent is reported as missing."""
    subscores: dict[Parameter, int] = {}
    missing: set[Parameter] = set()

    def put(parameter: Parameter, points: int | None) -> None:
        if points is None:
            missing.add(parameter)
        else:
            subscores[parameter] = points

    v = vitals
    put(
        Parameter.RESPIRATORY_RATE,
        None if v.respiratory_rate is None else score_respiratory_rate(v.respiratory_rate),
    )
    put(
        Parameter.SPO2,
        None if v.spo2 is None else score_spo2(v.spo2, scale=v.spo2_scale, on_oxygen=v.on_oxygen),
    )
    put(Parameter.ON_OXYGEN, None if v.on_oxygen is None else score_on_oxygen(v.on_oxygen))
    put(Parameter.SYSTOLIC_BP, None if v.systolic_bp is None else score_systolic_bp(v.systolic_bp))
    put(Parameter.HEART_RATE, None if v.heart_rate is None else score_heart_rate(v.heart_rate))
    put(
        Parameter.CONSCIOUSNESS,
        None if v.consciousness is None else score_consciousness(v.consciousness),
    )
    put(
        Parameter.BODY_TEMPERATURE,
        None if v.body_temperature is None else score_body_temperature(v.body_temperature),
    )
    return News2Score(subscores=subscores, missing=frozenset(missing))
