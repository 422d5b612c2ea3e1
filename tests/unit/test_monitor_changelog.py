"""The monitor's changelog records: compact patient state, checkpoints, and the check that a
restored state belongs to the committed offsets."""

from __future__ import annotations

import itertools
import json

import pytest

from medrical.monitor import AlertEngine
from medrical.monitor.alerts import Alert
from medrical.monitor.changelog import (
    ChangelogError,
    decode_checkpoint,
    decode_patient,
    encode_checkpoint,
    encode_patient,
)
from medrical.monitor.events import ReadingFields, reading_fields
from medrical.monitor.policy import AlertPolicy
from medrical.monitor.store import PartitionState, StateMismatch, _settle
from medrical.simulation import Simulator

START_MS = 1_767_225_600_000


def _fields(scenario: str, patients: int, count: int) -> list[ReadingFields]:
    simulator = Simulator(patients, 11, scenario, interval_s=60, start_ms=START_MS)
    return [reading_fields(r.to_record()) for r in itertools.islice(simulator.readings(), count)]


@pytest.mark.parametrize("scenario", ["sepsis", "mix", "copd"])
def test_a_restart_from_the_binary_changelog_continues_identically(scenario: str) -> None:
    readings = _fields(scenario, 6, 6 * 13 * 60)
    half = len(readings) // 3
    uninterrupted, first = AlertEngine(), AlertEngine()
    for fields in readings[:half]:
        uninterrupted.process_fields(fields, raised_at=0)
        first.process_fields(fields, raised_at=0)
    restarted = AlertEngine()
    for patient in first.patients():
        record = encode_patient(first.state(patient))
        restarted.adopt(decode_patient(patient.encode(), record))
    seen_a: list[Alert] = []
    seen_b: list[Alert] = []
    for fields in readings[half:]:
        seen_a.extend(uninterrupted.process_fields(fields, raised_at=0) or ())
        seen_b.extend(restarted.process_fields(fields, raised_at=0) or ())
    assert seen_a
    assert [a.alert_id for a in seen_a] == [a.alert_id for a in seen_b]
    for patient in uninterrupted.patients():
        assert restarted.export_patient(patient) == uninterrupted.export_patient(patient)


def test_the_binary_record_is_far_smaller_than_the_json_one() -> None:
    engine = AlertEngine()
    for fields in _fields("sepsis", 1, 300):
        engine.process_fields(fields, raised_at=0)
    patient = next(engine.patients())
    binary = encode_patient(engine.state(patient))
    legacy = json.dumps(engine.export_patient(patient)).encode()
    assert len(binary) * 3 < len(legacy)


def test_records_of_the_json_version_are_still_read() -> None:
    engine = AlertEngine()
    for fields in _fields("haemorrhage", 1, 200):
        engine.process_fields(fields, raised_at=0)
    patient = next(engine.patients())
    legacy = json.dumps(engine.export_patient(patient)).encode()
    adopted = AlertEngine()
    adopted.adopt(decode_patient(patient.encode(), legacy))
    assert adopted.export_patient(patient) == engine.export_patient(patient)


@pytest.mark.parametrize("payload", [b"", b"\x07" + bytes(200), b"\x02\x00", b"{not json"])
def test_unreadable_records_are_changelog_errors(payload: bytes) -> None:
    with pytest.raises(ChangelogError):
        decode_patient(b"P-1", payload)


@pytest.mark.parametrize("watermark", [None, START_MS])
def test_checkpoints_round_trip(watermark: int | None) -> None:
    assert decode_checkpoint(encode_checkpoint(12_345, watermark)) == (12_345, watermark)


def test_a_checkpoint_of_another_offset_is_a_state_mismatch() -> None:
    part = PartitionState.assigned("biometrics_a", 0, "g", AlertPolicy())
    with pytest.raises(StateMismatch, match="state is of offset 90, the committed offset is 100"):
        _settle(part, 100, (90, START_MS))


def test_a_matching_checkpoint_sets_offset_and_watermark() -> None:
    part = PartitionState.assigned("biometrics_a", 2, "g", AlertPolicy())
    _settle(part, 100, (100, START_MS))
    assert (part.next_offset, part.committed_offset, part.watermark) == (100, 100, START_MS)


def test_no_committed_offset_and_no_checkpoint_start_empty() -> None:
    part = PartitionState.assigned("biometrics_a", 1, "g", AlertPolicy())
    _settle(part, -1, None)
    assert (part.next_offset, part.committed_offset, part.watermark) == (None, None, None)
