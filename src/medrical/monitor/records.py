"""Pure mappings between the monitor's core and Kafka: topic names, alert records, state records.

- Readings of `biometrics_<name>` raise alerts on `alerts_<name>`, which the alerts sink stores
  in a table of the same name.
- Each consumer group keeps the per-patient engine state of `biometrics_<name>` in a compacted
  changelog topic, `medrical_monitor_state.<group>.<name>`, with the input's partition count:
  a patient's state lives on the partition number their readings arrive on, so it follows
  them when the partition moves to another monitor. Key: the patient id (UTF-8); value: the
  state dict of `AlertEngine.export_patient` as JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

from medrical.errors import InputError
from medrical.monitor.alerts import Alert
from medrical.news2 import Parameter

ALERT_VALUE = "alert-value.avsc"
ALERT_KEY = "alert-key.avsc"

INPUT_PREFIX = "biometrics_"
ALERTS_PREFIX = "alerts_"
CHANGELOG_PREFIX = "medrical_monitor_state."

# Kafka topic names allow letters, digits, '.', '_' and '-', up to 249 characters; a group
# name becomes part of one, so it keeps to those characters with room for the input's name.
GROUP_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def check_group(group: str) -> str:
    if not GROUP_PATTERN.fullmatch(group):
        raise InputError(
            f"consumer group {group!r} cannot name a state topic: use 1-100 letters, digits, "
            "'.', '_' or '-'.",
            hint="For example: --group ward-monitor",
        )
    return group


def _name_of(topic: str) -> str:
    if not topic.startswith(INPUT_PREFIX) or len(topic) == len(INPUT_PREFIX):
        raise InputError(f"topic {topic!r} is not a biometrics_<name> topic")
    return topic[len(INPUT_PREFIX) :]


def alerts_topic_for(topic: str) -> str:
    """`biometrics_<name>` -> `alerts_<name>`."""
    return ALERTS_PREFIX + _name_of(topic)


def changelog_topic_for(group: str, topic: str) -> str:
    """The compacted state topic of `group` for input `topic`."""
    return f"{CHANGELOG_PREFIX}{check_group(group)}.{_name_of(topic)}"


def subscore_field(parameter: Parameter) -> str:
    return f"{parameter.value}_score"


def alert_record(alert: Alert) -> dict[str, Any]:
    """The alert as a record of alert-value.avsc: flat, one nullable int per sub-score."""
    record: dict[str, Any] = {
        "alert_id": alert.alert_id,
        "patient_id": alert.patient_id,
        "kind": alert.kind.value,
        "risk": alert.risk.value,
        "score": alert.score,
    }
    for parameter in Parameter:
        record[subscore_field(parameter)] = alert.subscores.get(parameter.value)
    record["event_time"] = alert.event_time
    record["raised_at"] = alert.raised_at
    record["message"] = alert.message
    record["scenario"] = alert.scenario
    record["policy"] = alert.policy
    return record


def encode_state(state: dict[str, Any]) -> bytes:
    return json.dumps(state, separators=(",", ":"), sort_keys=True).encode()


def decode_state(payload: bytes) -> dict[str, Any]:
    state = json.loads(payload)
    if not isinstance(state, dict):
        raise ValueError("a patient state record must hold a JSON object")
    return state
