"""qSOFA, the quick Sequential Organ Failure Assessment of Sepsis-3, as a policy.

Singer M, Deutschman CS, Seymour CW, et al. The Third International Consensus Definitions for
Sepsis and Septic Shock (Sepsis-3). JAMA 2016;315(8):801-810; criteria derived by Seymour CW et
al., JAMA 2016;315(8):762-774. One point each for a respiratory rate of 22/min or more, altered
mentation (a Glasgow Coma Scale below 15: here any ACVPU level but Alert) and a systolic
pressure of 100 mmHg or less; 2 or more is positive.

Bands: positive (2-3) is high, the consensus' "greater risk of poor outcome"; 0-1 is low.
qSOFA names no intermediate band and no single-parameter trigger.
"""

from __future__ import annotations

from medrical.news2 import Consciousness, Parameter
from medrical.policies.model import Observation, Policy, Verdict, band_for

POSITIVE_FROM = 2
RESPIRATORY_RATE_FROM = 22
SYSTOLIC_BP_UP_TO = 100


def assess(observation: Observation) -> Verdict:
    v = observation.vitals
    reasons: list[str] = []
    present = 0
    if v.respiratory_rate is not None:
        present += 1
        if v.respiratory_rate >= RESPIRATORY_RATE_FROM:
            reasons.append(f"respiratory_rate {v.respiratory_rate} >= {RESPIRATORY_RATE_FROM}")
    if v.systolic_bp is not None:
        present += 1
        if v.systolic_bp <= SYSTOLIC_BP_UP_TO:
            reasons.append(f"systolic_bp {v.systolic_bp} <= {SYSTOLIC_BP_UP_TO}")
    if v.consciousness is not None:
        present += 1
        if v.consciousness is not Consciousness.ALERT:
            reasons.append(f"altered mentation ({v.consciousness.value})")
    total = len(reasons)
    return Verdict(
        score=total,
        risk=band_for(total, medium=POSITIVE_FROM, high=POSITIVE_FROM),
        reasons=tuple(reasons),
        complete=present == 3,
    )


QSOFA = Policy(
    name="qsofa",
    assess=assess,
    title="qSOFA",
    source="Singer M et al. The Third International Consensus Definitions for Sepsis and Septic "
    "Shock (Sepsis-3). JAMA 2016;315:801-810.",
    uses=frozenset(
        p.value
        for p in (Parameter.RESPIRATORY_RATE, Parameter.SYSTOLIC_BP, Parameter.CONSCIOUSNESS)
    ),
)
