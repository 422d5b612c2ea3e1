"""The verdict of `medrical test producer`, on records sent and records read back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from medrical.checks import _records, _verify, check_topic_name
from medrical.errors import CheckFailedError
from medrical.schemas import check_topic


def decoded(record: dict[str, Any]) -> dict[str, Any]:
    """As AvroDeserializer returns a record: timestamp-millis as datetime, float32 inexact."""
    value = dict(record)
    value["event_time"] = datetime.fromtimestamp(record["event_time"] / 1000, UTC)
    if value["body_temperature"] is not None:
        value["body_temperature"] += 1e-6
    return value


@pytest.fixture
def sent() -> list[dict[str, Any]]:
    return _records(200)


def test_everything_back_in_order_passes(sent: list[dict[str, Any]]) -> None:
    _verify(sent, [decoded(record) for record in sent])


def test_order_across_patients_does_not_matter(sent: list[dict[str, Any]]) -> None:
    # Partitions interleave freely; only each patient's own order counts.
    by_patient = sorted(sent, key=lambda record: record["patient_id"])
    _verify(sent, [decoded(record) for record in by_patient])


def test_a_missing_event_fails(sent: list[dict[str, Any]]) -> None:
    with pytest.raises(CheckFailedError, match="199 of 200 events came back"):
        _verify(sent, [decoded(record) for record in sent[1:]])


def test_a_patient_out_of_order_fails(sent: list[dict[str, Any]]) -> None:
    received = [decoded(record) for record in sent]
    first = received[0]["patient_id"]
    positions = [i for i, value in enumerate(received) if value["patient_id"] == first]
    a, b = positions[0], positions[1]
    received[a], received[b] = received[b], received[a]
    with pytest.raises(CheckFailedError, match="1 patient\\(s\\) came back out of order"):
        _verify(sent, received)


def test_a_changed_value_fails(sent: list[dict[str, Any]]) -> None:
    received = [decoded(record) for record in sent]
    received[5]["heart_rate"] = (received[5]["heart_rate"] or 0) + 1
    with pytest.raises(CheckFailedError, match="1 event\\(s\\) came back different"):
        _verify(sent, received)


def test_scratch_topics_are_new_and_mappable_by_the_sink() -> None:
    names = {check_topic_name() for _ in range(50)}
    assert len(names) == 50
    for name in names:
        assert check_topic(name) == name
