"""NEWS2 as a policy: the project's own NEWS2 scoring (`medrical.news2`), read as bands.

Royal College of Physicians (2017), National Early Warning Score (NEWS) 2, Chart 1 (scoring)
and Chart 4 (clinical response): aggregate 0-4 low, 5-6 medium, 7+ high; a red score (any
parameter scoring 3) is its own trigger. The live monitor's default path scores NEWS2 through
lookup tables built from the same functions; this wrapper serves comparison and plug-in use.
"""

from __future__ import annotations

from medrical.news2 import Parameter, clinical_risk, score
from medrical.policies.model import Observation, Policy, Verdict


def assess(observation: Observation) -> Verdict:
    result = score(observation.vitals)
    vitals = observation.vitals
    reasons = tuple(
        f"{parameter.value} {_shown(getattr(vitals, parameter.value))}: {points}"
        for parameter, points in result.subscores.items()
        if points
    )
    return Verdict(
        score=result.score,
        # Chart 4's aggregate thresholds alone: the red score is reported as the trigger.
        risk=clinical_risk(result.score, red_flag=False),
        reasons=reasons,
        trigger=result.red_flag,
        complete=result.complete,
    )


def _shown(value: object) -> str:
    return str(getattr(value, "value", value))


NEWS2 = Policy(
    name="news2",
    assess=assess,
    title="NEWS2",
    source="Royal College of Physicians (2017). National Early Warning Score (NEWS) 2. "
    "Charts 1 and 4.",
    uses=frozenset(p.value for p in Parameter),
)
