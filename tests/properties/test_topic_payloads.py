"""Undecodable or foreign payloads on a `biometrics_*` topic: the monitor's decode path and the
dashboard's skip and count each one; nothing else escapes, and good readings still apply."""

from __future__ import annotations

import io
import json
import struct

from fastavro import parse_schema, schemaless_writer
from hypothesis import given
from hypothesis import strategies as st

from medrical import schemas
from medrical.dashboard.ward import WardState
from medrical.errors import InputError
from medrical.monitor.events import VitalsEvent
from medrical.schemas.wire import CachedAvroDecoder, WireFormatError

BIOMETRICS_ID, ALERT_ID, ARRAYS_ID, NOT_A_SCHEMA_ID = 1, 2, 3, 4
FOREIGN = json.dumps(
    {
        "type": "record",
        "name": "Foreign",
        "fields": [
            {"name": "patient_id", "type": "long"},
            {"name": "tags", "type": {"type": "array", "items": "string"}},
        ],
    }
)
SCHEMAS = {
    BIOMETRICS_ID: schemas.schema_text(schemas.BIOMETRICS_VALUE),
    ALERT_ID: schemas.schema_text("alert-value.avsc"),
    ARRAYS_ID: FOREIGN,
    NOT_A_SCHEMA_ID: '{"type": "nonsense"',
}


def fetch(schema_id: int) -> str:
    try:
        return SCHEMAS[schema_id]
    except KeyError:
        raise WireFormatError(f"unknown schema id {schema_id}") from None


def framed(schema_id: int, body: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", schema_id) + body


def encoded(record: dict[str, object]) -> bytes:
    out = io.BytesIO()
    schemaless_writer(out, parse_schema(json.loads(SCHEMAS[BIOMETRICS_ID])), record)
    return framed(BIOMETRICS_ID, out.getvalue())


optional_int = st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1))
# Records the value schema accepts, with values no device would send.
hostile_reading = st.fixed_dictionaries(
    {
        "patient_id": st.text(max_size=20),
        "event_time": st.integers(-(2**63), 2**63 - 1),
        "heart_rate": optional_int,
        "systolic_bp": optional_int,
        "diastolic_bp": optional_int,
        "body_temperature": st.one_of(st.none(), st.floats(width=32)),
        "spo2": optional_int,
        "respiratory_rate": optional_int,
        "consciousness": st.one_of(st.none(), st.text(max_size=3)),
        "on_oxygen": st.one_of(st.none(), st.booleans()),
        "scenario": st.one_of(st.none(), st.text(max_size=10)),
        "spo2_scale": optional_int,
    }
).map(encoded)

payload = st.one_of(
    st.binary(max_size=64),
    st.builds(framed, st.sampled_from([*SCHEMAS, 99, 2**32 - 1]), st.binary(max_size=64)),
    hostile_reading,
)
GOOD = encoded(
    {
        "patient_id": "P-1",
        "event_time": 1_767_225_600_000,
        "heart_rate": 72,
        "systolic_bp": 120,
        "diastolic_bp": 80,
        "body_temperature": 36.6,
        "spo2": 97,
        "respiratory_rate": 15,
        "consciousness": "A",
        "on_oxygen": False,
        "scenario": "stable",
        "spo2_scale": 1,
    }
)


@given(payloads=st.lists(payload, max_size=20))
def test_the_monitor_decode_path_skips_what_is_not_a_reading(payloads: list[bytes]) -> None:
    decoder = CachedAvroDecoder(fetch)
    invalid = 0
    for value in [*payloads, GOOD]:
        try:
            event = VitalsEvent.from_mapping(decoder.decode(value))
        except InputError:
            invalid += 1  # what the monitor counts and skips
            continue
        assert event.patient_id
    assert invalid <= len(payloads), "the good reading after the poison still decodes"


@given(payloads=st.lists(payload, max_size=20))
def test_the_dashboard_skips_and_counts_what_is_not_a_reading(payloads: list[bytes]) -> None:
    decoder = CachedAvroDecoder(fetch)
    ward = WardState()
    undecodable = 0
    for value in [*payloads, GOOD]:
        try:
            record = decoder.decode(value)
        except WireFormatError:
            undecodable += 1  # what the live feed counts and skips
            continue
        ward.apply_reading(record, "biometrics_ward")
    assert ward.patient("P-1") is not None, "the good reading after the poison still applies"
    assert undecodable + ward.readings_applied + ward.readings_rejected == len(payloads) + 1
