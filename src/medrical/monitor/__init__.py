"""The monitor's pure core: carry-forward of vital signs, NEWS2 alerting, alert-quality metrics.

No Kafka and no database here; the shells that feed events in and store alerts wrap this core.
Medrical's data is synthetic and its alerts are not for clinical use.
"""

from medrical.monitor.alerts import ALERT_ID_NAMESPACE, Alert, AlertKind, alert_id
from medrical.monitor.carry_forward import MaxAges, PatientVitals
from medrical.monitor.engine import (
    AlertEngine,
    Outcome,
    PatientState,
    ScoredReading,
    aggregate_band,
)
from medrical.monitor.evaluation import (
    AlertRecord,
    LabelledReading,
    Onset,
    ScenarioReport,
    deterioration_onsets,
    evaluate,
)
from medrical.monitor.events import EventError, VitalsEvent
from medrical.monitor.policy import AlertPolicy, Confirmation

__all__ = [
    "ALERT_ID_NAMESPACE",
    "Alert",
    "AlertEngine",
    "AlertKind",
    "AlertPolicy",
    "AlertRecord",
    "Confirmation",
    "EventError",
    "LabelledReading",
    "MaxAges",
    "Onset",
    "Outcome",
    "PatientState",
    "PatientVitals",
    "ScenarioReport",
    "ScoredReading",
    "VitalsEvent",
    "aggregate_band",
    "alert_id",
    "deterioration_onsets",
    "evaluate",
]
