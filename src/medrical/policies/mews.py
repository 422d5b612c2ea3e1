"""MEWS, the Modified Early Warning Score of Subbe et al. (2001), as a policy.

Subbe CP, Kruger M, Rutherford P, Gemmel L. Validation of a modified Early Warning Score in
medical admissions. QJM 2001;94(10):521-526, Table 1:

| points | 3 | 2 | 1 | 0 | 1 | 2 | 3 |
|---|---|---|---|---|---|---|---|
| systolic BP (mmHg) | <=70 | 71-80 | 81-100 | 101-199 | | >=200 | |
| heart rate (/min) | | <=40 | 41-50 | 51-100 | 101-110 | 111-129 | >=130 |
| respiratory rate (/min) | | <9 | | 9-14 | 15-20 | 21-29 | >=30 |
| temperature (deg C) | | <35 | | 35-38.4 | | >=38.5 | |
| AVPU | | | | Alert | Voice | Pain | Unresponsive |

The chart's integer bands leave no gaps for the whole numbers monitors report; a temperature
is scored with the chart's one-decimal edges (below 35.0: 2, from 38.5: 2). The chart predates
ACVPU: new confusion (C) is scored like a response to voice, as NEWS2 ranks it with V.

Bands: Subbe et al. found a score of 5 or more linked to death and to admission to intensive
or high-dependency care, hence high from 5; medium at 4, where Gardner-Thorpe et al. (2006,
Ann R Coll Surg Engl 88:571-575) have the ward doctor called. No single-parameter trigger.
"""

from __future__ import annotations

from medrical.news2 import Consciousness, Parameter
from medrical.policies.model import Observation, Policy, Verdict, band_for

MEDIUM_FROM = 4
HIGH_FROM = 5


def score_systolic_bp(mmhg: int) -> int:
    """<=70: 3 | 71-80: 2 | 81-100: 1 | 101-199: 0 | >=200: 2."""
    if mmhg <= 70:
        return 3
    if mmhg <= 80:
        return 2
    if mmhg <= 100:
        return 1
    if mmhg <= 199:
        return 0
    return 2


def score_heart_rate(beats_per_min: int) -> int:
    """<=40: 2 | 41-50: 1 | 51-100: 0 | 101-110: 1 | 111-129: 2 | >=130: 3."""
    if beats_per_min <= 40:
        return 2
    if beats_per_min <= 50:
        return 1
    if beats_per_min <= 100:
        return 0
    if beats_per_min <= 110:
        return 1
    if beats_per_min <= 129:
        return 2
    return 3


def score_respiratory_rate(breaths_per_min: int) -> int:
    """<9: 2 | 9-14: 0 | 15-20: 1 | 21-29: 2 | >=30: 3."""
    if breaths_per_min < 9:
        return 2
    if breaths_per_min <= 14:
        return 0
    if breaths_per_min <= 20:
        return 1
    if breaths_per_min <= 29:
        return 2
    return 3


def score_body_temperature(celsius: float) -> int:
    """<35.0: 2 | 35.0-38.4: 0 | >=38.5: 2."""
    if celsius < 35.0 or celsius >= 38.5:
        return 2
    return 0


_AVPU = {
    Consciousness.ALERT: 0,
    Consciousness.CONFUSION: 1,
    Consciousness.VOICE: 1,
    Consciousness.PAIN: 2,
    Consciousness.UNRESPONSIVE: 3,
}


def score_consciousness(level: Consciousness) -> int:
    """Alert: 0 | (new Confusion or) Voice: 1 | Pain: 2 | Unresponsive: 3."""
    return _AVPU[level]


def assess(observation: Observation) -> Verdict:
    v = observation.vitals
    points: dict[str, tuple[object, int]] = {}
    if v.systolic_bp is not None:
        points["systolic_bp"] = (v.systolic_bp, score_systolic_bp(v.systolic_bp))
    if v.heart_rate is not None:
        points["heart_rate"] = (v.heart_rate, score_heart_rate(v.heart_rate))
    if v.respiratory_rate is not None:
        rate = v.respiratory_rate
        points["respiratory_rate"] = (rate, score_respiratory_rate(rate))
    if v.body_temperature is not None:
        points["body_temperature"] = (
            v.body_temperature,
            score_body_temperature(v.body_temperature),
        )
    if v.consciousness is not None:
        points["consciousness"] = (v.consciousness.value, score_consciousness(v.consciousness))
    total = sum(p for _, p in points.values())
    return Verdict(
        score=total,
        risk=band_for(total, medium=MEDIUM_FROM, high=HIGH_FROM),
        reasons=tuple(f"{name} {value}: {p}" for name, (value, p) in points.items() if p),
        complete=len(points) == len(USES),
    )


USES = frozenset(
    p.value
    for p in (
        Parameter.SYSTOLIC_BP,
        Parameter.HEART_RATE,
        Parameter.RESPIRATORY_RATE,
        Parameter.BODY_TEMPERATURE,
        Parameter.CONSCIOUSNESS,
    )
)

MEWS = Policy(
    name="mews",
    assess=assess,
    title="MEWS",
    source="Subbe CP et al. Validation of a modified Early Warning Score in medical admissions. "
    "QJM 2001;94:521-526.",
    uses=USES,
)
