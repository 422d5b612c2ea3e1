"""NEWS2 (Royal College of Physicians, 2017): a pure scoring core with no I/O.

Medrical's data is synthetic; these scores are not for clinical use.
"""

from medrical.news2.model import (
    PLAUSIBLE_RANGES,
    ClinicalRisk,
    Consciousness,
    News2Score,
    Parameter,
    SpO2Scale,
    Vitals,
    VitalSignRangeError,
    check_plausible,
    clinical_risk,
)
from medrical.news2.scoring import (
    score,
    score_body_temperature,
    score_consciousness,
    score_heart_rate,
    score_on_oxygen,
    score_respiratory_rate,
    score_spo2,
    score_systolic_bp,
)

__all__ = [
    "PLAUSIBLE_RANGES",
    "ClinicalRisk",
    "Consciousness",
    "News2Score",
    "Parameter",
    "SpO2Scale",
    "VitalSignRangeError",
    "Vitals",
    "check_plausible",
    "clinical_risk",
    "score",
    "score_body_temperature",
    "score_consciousness",
    "score_heart_rate",
    "score_on_oxygen",
    "score_respiratory_rate",
    "score_spo2",
    "score_systolic_bp",
]
