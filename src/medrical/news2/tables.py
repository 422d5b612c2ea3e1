"""NEWS2 Chart 1 as lookup tables, for scoring a stream of readings fast.

The tables are built at import from the per-parameter functions in `scoring`, over every value
the plausibility ranges allow, so they agree with those functions by construction (and the
tests compare them over every value besides). Temperature is a float and keeps its exact
half-open bands through a bisection instead of a table.

`score_values` takes the seven parameters in chart order (Parameter's order) as plain values,
None where missing, and returns the aggregate, whether any parameter scored 3, the missing
parameters as a bit mask (bit i for the i-th parameter) and the sub-scores in chart order.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

from medrical.news2.model import (
    PLAUSIBLE_RANGES,
    Consciousness,
    News2Score,
    Parameter,
    SpO2Scale,
)
from medrical.news2.scoring import (
    score_heart_rate,
    score_respiratory_rate,
    score_spo2,
    score_systolic_bp,
)

PARAMETERS: tuple[Parameter, ...] = tuple(Parameter)
"""Chart order; index i of every per-parameter sequence here."""
RESPIRATORY_RATE, SPO2, ON_OXYGEN, SYSTOLIC_BP, HEART_RATE, CONSCIOUSNESS, BODY_TEMPERATURE = range(
    len(PARAMETERS)
)
ALL_MISSING = (1 << len(PARAMETERS)) - 1


def _table(parameter: Parameter, points: object) -> tuple[int, ...]:
    lower, upper = PLAUSIBLE_RANGES[parameter]
    assert callable(points)
    return tuple(points(value) for value in range(int(lower), int(upper) + 1))


_RESPIRATORY_RATE = _table(Parameter.RESPIRATORY_RATE, score_respiratory_rate)
_SYSTOLIC_BP = _table(Parameter.SYSTOLIC_BP, score_systolic_bp)
_HEART_RATE = _table(Parameter.HEART_RATE, score_heart_rate)
_SPO2_LOW, _SPO2_HIGH = (int(bound) for bound in PLAUSIBLE_RANGES[Parameter.SPO2])
# By scale, then by the carried oxygen flag (None when unknown): on Scale 2 a saturation of 93
# or more cannot be scored without knowing whether the patient is on oxygen.
_SPO2: dict[tuple[int, bool | None], tuple[int | None, ...]] = {
    (int(scale), on_oxygen): tuple(
        score_spo2(value, scale=scale, on_oxygen=on_oxygen)
        for value in range(_SPO2_LOW, _SPO2_HIGH + 1)
    )
    for scale in SpO2Scale
    for on_oxygen in (None, False, True)
}
# Upper edges of the half-open temperature bands, and the points of each band.
_TEMPERATURE_EDGES = (35.0, 36.0, 38.0, 39.0)
_TEMPERATURE_POINTS = (3, 1, 0, 1, 2)
_ALERT = Consciousness.ALERT.value


def temperature_points(celsius: float) -> int:
    """<=35.0: 3 | (35.0, 36.0]: 1 | (36.0, 38.0]: 0 | (38.0, 39.0]: 1 | >39.0: 2."""
    return _TEMPERATURE_POINTS[bisect_left(_TEMPERATURE_EDGES, celsius)]


def score_values(values: Sequence[Any], scale: int) -> tuple[int, bool, int, list[int | None]]:
    """Score plausible values in chart order (see the module docstring)."""
    respiratory_rate, spo2, on_oxygen, systolic_bp, heart_rate, consciousness, temperature = values
    subscores: list[int | None] = [None] * 7
    missing = 0
    if respiratory_rate is None:
        missing |= 1 << RESPIRATORY_RATE
    else:
        subscores[RESPIRATORY_RATE] = _RESPIRATORY_RATE[respiratory_rate]
    if spo2 is None:
        missing |= 1 << SPO2
    else:
        points = _SPO2[(scale, on_oxygen)][spo2 - _SPO2_LOW]
        if points is None:
            missing |= 1 << SPO2
        subscores[SPO2] = points
    if on_oxygen is None:
        missing |= 1 << ON_OXYGEN
    else:
        subscores[ON_OXYGEN] = 2 if on_oxygen else 0
    if systolic_bp is None:
        missing |= 1 << SYSTOLIC_BP
    else:
        subscores[SYSTOLIC_BP] = _SYSTOLIC_BP[systolic_bp]
    if heart_rate is None:
        missing |= 1 << HEART_RATE
    else:
        subscores[HEART_RATE] = _HEART_RATE[heart_rate]
    if consciousness is None:
        missing |= 1 << CONSCIOUSNESS
    else:
        subscores[CONSCIOUSNESS] = 0 if consciousness == _ALERT else 3
    if temperature is None:
        missing |= 1 << BODY_TEMPERATURE
    else:
        subscores[BODY_TEMPERATURE] = temperature_points(temperature)
    total = 0
    red = False
    for points in subscores:
        if points is not None:
            total += points
            if points == 3:
                red = True
    return total, red, missing, subscores


def as_score(subscores: Sequence[int | None]) -> News2Score:
    """The full result object for sub-scores in chart order (None: missing)."""
    return News2Score(
        subscores={p: s for p, s in zip(PARAMETERS, subscores, strict=True) if s is not None},
        missing=frozenset(p for p, s in zip(PARAMETERS, subscores, strict=True) if s is None),
    )
