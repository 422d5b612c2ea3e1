"""Early-warning policies as plug-ins: NEWS2, MEWS, qSOFA, limit alarms, and yours.

A policy turns one patient's carried-forward vital signs (and, if it asks, their recent
history) into a score, a risk band and reasons; the alert engine applies the same confirmation
rules to every policy. Medrical's data is synthetic and these scores are not for clinical use.
"""

from medrical.policies.limits import LimitAlarms, builtin_limits, load_limits_file, parse_limits
from medrical.policies.loading import (
    BUILTIN,
    DEFAULT,
    ENTRY_POINT_GROUP,
    as_policy,
    load_policies,
    load_policy,
)
from medrical.policies.mews import MEWS
from medrical.policies.model import (
    BANDS,
    Assess,
    Observation,
    Policy,
    PolicyError,
    Snapshot,
    Verdict,
    band_for,
)
from medrical.policies.news2 import NEWS2
from medrical.policies.qsofa import QSOFA

__all__ = [
    "BANDS",
    "BUILTIN",
    "DEFAULT",
    "ENTRY_POINT_GROUP",
    "MEWS",
    "NEWS2",
    "QSOFA",
    "Assess",
    "LimitAlarms",
    "Observation",
    "Policy",
    "PolicyError",
    "Snapshot",
    "Verdict",
    "as_policy",
    "band_for",
    "builtin_limits",
    "load_limits_file",
    "load_policies",
    "load_policy",
    "parse_limits",
]
