"""Acknowledging an alert: check the input, store the first acknowledgement, tell open pages."""

from __future__ import annotations

import unicodedata

from medrical.dashboard.store import AckStore
from medrical.dashboard.ward import Ack, WardState
from medrical.errors import InputError


class UnknownAlertError(InputError):
    """The alert to acknowledge is neither on the ward nor in the monitor's tables."""


MAX_NAME_CHARS = 64
MAX_ALERT_ID_CHARS = 128
DEFAULT_ACKNOWLEDGER = "ward"


def clean_name(text: str | None) -> str:
    """Who acknowledged: trimmed, printable, at most MAX_NAME_CHARS; empty means the ward."""
    name = " ".join((text or "").split())
    if not name:
        return DEFAULT_ACKNOWLEDGER
    if len(name) > MAX_NAME_CHARS:
        raise InputError(f"the name is longer than {MAX_NAME_CHARS} characters.")
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise InputError("the name holds control characters.")
    return name


def acknowledge(
    store: AckStore, ward: WardState, alert_id: str, acknowledged_by: str | None
) -> tuple[Ack, bool]:
    """Store an acknowledgement (the first one wins) and announce it to open pages.

    Returns the stored acknowledgement and whether this call created it. Only an alert that
    exists may be acknowledged: one the ward holds, or an older one in the monitor's tables.
    """
    if not alert_id or len(alert_id) > MAX_ALERT_ID_CHARS:
        raise InputError(f"an alert id has 1 to {MAX_ALERT_ID_CHARS} characters.")
    if not ward.has_alert(alert_id) and not store.alert_exists(alert_id):
        raise UnknownAlertError("no such alert.")
    ack, created = store.acknowledge(alert_id, clean_name(acknowledged_by))
    ward.record_acks([ack], announce=created)
    return ack, created
