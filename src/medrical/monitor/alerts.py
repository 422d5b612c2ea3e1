"""Alerts: what the monitor raises, with ids that survive reprocessing."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from medrical.news2 import ClinicalRisk, News2Score, Parameter


class AlertKind(StrEnum):
    ESCALATION = "escalation"
    DE_ESCALATION = "de-escalation"
    RED_SCORE = "red-score"
    SILENT = "silent"


# Fixed for ever: changing it would change every alert id and break de-duplication downstream.
ALERT_ID_NAMESPACE = uuid.UUID("6f0b3c1e-5d2a-5b8e-9a47-3c1d2e4f5a60")
NEWS2 = "news2"
"""The name of the default policy (`medrical.policies`)."""


def alert_id(patient_id: str, kind: AlertKind, event_time: int, policy: str = NEWS2) -> str:
    """A UUIDv5 of patient, kind, triggering event time and (but for NEWS2) policy.

    Replaying the same readings from the same state raises the same alerts with the same ids,
    so a restarted monitor's repeats can be dropped by id (e.g. an upsert on alert_id). NEWS2's
    ids are those from before policies existed; another policy's differ from them, so that
    monitors of several policies can share one alerts topic and table.
    """
    name = f"{patient_id}\x1f{kind.value}\x1f{event_time}"
    if policy != NEWS2:
        name = f"{policy}\x1f{name}"
    return str(uuid.uuid5(ALERT_ID_NAMESPACE, name))


def subscores_by_name(result: News2Score) -> Mapping[str, int | None]:
    """Every parameter by event field name; None for one that was missing."""
    return MappingProxyType({p.value: result.subscores.get(p) for p in Parameter})


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert. Medrical's data is synthetic; these alerts are not for clinical use.

    `risk` is the band moved to for escalation and de-escalation (low, medium or high: bands of
    the aggregate score), and the triggering reading's clinical risk for red-score and silent
    alerts. `score` and `subscores` are the triggering reading's (for silent alerts the last
    reading before the silence); a None sub-score was missing. `event_time` is that reading's
    event time and `raised_at` the time the engine was told it is; both are ms since the epoch.
    `scenario` is the simulator's ground truth carried by the reading, if any. `policy` names
    the early-warning policy that raised it (`medrical.policies`); for another policy than
    NEWS2 `score` is that policy's score, rounded, and the NEWS2 sub-scores are None.
    """

    alert_id: str
    patient_id: str
    kind: AlertKind
    risk: ClinicalRisk
    score: int
    subscores: Mapping[str, int | None]
    event_time: int
    raised_at: int
    message: str
    scenario: str | None
    policy: str = NEWS2

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, with enums as their wire strings."""
        return {
            "alert_id": self.alert_id,
            "patient_id": self.patient_id,
            "kind": self.kind.value,
            "risk": self.risk.value,
            "score": self.score,
            "subscores": dict(self.subscores),
            "event_time": self.event_time,
            "raised_at": self.raised_at,
            "message": self.message,
            "scenario": self.scenario,
            "policy": self.policy,
        }
