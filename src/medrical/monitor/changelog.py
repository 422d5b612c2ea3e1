"""The records of the monitor's changelog topics: per patient, and a checkpoint per partition.

Pure: bytes in, bytes out. Each changelog partition (the input partition's number) holds

- per patient, key = the patient id in UTF-8, value = the patient's state in a compact binary
  layout (below), or a JSON document as older versions wrote it (still read);
- one checkpoint record, key `CHECKPOINT_KEY` (a lone 0xFF byte, which no UTF-8 text can be,
  so it never collides with a patient id), value = the input offset the partition's state
  reflects and the partition's watermark. It is written in every transaction that commits the
  partition's input offset, so a restore can prove that the state it read and the committed
  offset belong to the same transaction.

State layout, version 2 (little-endian, fixed size, then the scenario's UTF-8 bytes):
version, flags, presence mask, last event time, SpO2 scale, band; the seven carried values in
chart order (respiratory rate, SpO2, systolic pressure and heart rate as 16-bit ints, oxygen
as a bool, ACVPU as one ASCII letter, temperature as a double) and their seven measurement
times; then six runs (rising medium, rising high, falling low, falling medium, red, red clear)
as (start, readings). Absent values are zero with their presence bit clear.
"""

from __future__ import annotations

import json
import struct

from medrical.monitor.carry_forward import PatientVitals
from medrical.monitor.engine import HIGH, LOW, MEDIUM, PatientState, Run

CHECKPOINT_KEY = b"\xff"
STATE_VERSION = 2
_CHECKPOINT_VERSION = 1

_STATE = struct.Struct("<BBHqBB" + "hh?hhcd" + "q" * 7 + "qi" * 6)
_CHECKPOINT = struct.Struct("<Bqq")

_RED_EPISODE, _SILENT_ALERTED, _HAS_LAST = 1, 2, 4
_VITALS = 7
_RUNS = 6  # bits _VITALS .. _VITALS + 5 of the presence mask
_NO_TIME = -(2**63)


class ChangelogError(ValueError):
    """A changelog record this version cannot read."""


def encode_patient(state: PatientState) -> bytes:
    """The patient's state as a changelog value (version 2)."""
    vitals = state.vitals
    presence = 0
    values: list[object] = []
    for i, (value, measured_at) in enumerate(zip(vitals.values, vitals.times, strict=True)):
        if measured_at is None:
            values.append(_EMPTY[i])
        else:
            presence |= 1 << i
            values.append(str(value).encode("ascii") if i == 5 else value)
    times = [_NO_TIME if t is None else t for t in vitals.times]
    runs: list[int] = []
    for j, run in enumerate(_runs_of(state)):
        if run is None:
            runs += (0, 0)
        else:
            presence |= 1 << (_VITALS + j)
            runs += run
    flags = (
        (_RED_EPISODE if state.red_episode else 0)
        | (_SILENT_ALERTED if state.silent_alerted else 0)
        | (_HAS_LAST if state.last_event_time is not None else 0)
    )
    head = _STATE.pack(
        STATE_VERSION,
        flags,
        presence,
        state.last_event_time or 0,
        state.last_spo2_scale,
        state.band,
        *values,
        *times,
        *runs,
    )
    scenario = state.last_scenario
    return head if scenario is None else head + b"\x01" + scenario.encode()


def decode_patient(key: bytes, payload: bytes) -> PatientState:
    """A patient's state from a changelog record (version 2, or the older JSON)."""
    if payload[:1] == b"{":
        try:
            document = json.loads(payload)
            return PatientState.from_dict(document)
        except (ValueError, KeyError, TypeError) as exc:
            raise ChangelogError(f"unreadable patient state record: {exc}") from exc
    if not payload or payload[0] != STATE_VERSION or len(payload) < _STATE.size:
        raise ChangelogError(
            f"unsupported patient state record (version byte {payload[:1]!r}, {len(payload)} bytes)"
        )
    fields = _STATE.unpack_from(payload)
    _version, flags, presence, last, scale, band = fields[:6]
    raw_values, times, runs = fields[6:13], fields[13:20], fields[20:]
    vitals = PatientVitals()
    for i in range(_VITALS):
        if presence & (1 << i):
            value = raw_values[i]
            vitals.values[i] = value.decode("ascii") if i == 5 else value
            vitals.times[i] = times[i]
    decoded_runs: list[Run | None] = []
    for j in range(_RUNS):
        present = presence & (1 << (_VITALS + j))
        decoded_runs.append([runs[2 * j], runs[2 * j + 1]] if present else None)
    rest = payload[_STATE.size :]
    scenario = rest[1:].decode() if rest[:1] == b"\x01" else None
    rising_medium, rising_high, falling_low, falling_medium, red, red_clear = decoded_runs
    try:
        patient_id = key.decode()
    except UnicodeDecodeError as exc:
        raise ChangelogError("a patient state record's key is not UTF-8") from exc
    return PatientState(
        patient_id=patient_id,
        vitals=vitals,
        last_event_time=last if flags & _HAS_LAST else None,
        last_spo2_scale=scale,
        last_scenario=scenario,
        band=band,
        rising=[None, rising_medium, rising_high],
        falling=[falling_low, falling_medium, None],
        red_run=red,
        red_clear_run=red_clear,
        red_episode=bool(flags & _RED_EPISODE),
        silent_alerted=bool(flags & _SILENT_ALERTED),
    )


def encode_checkpoint(next_offset: int, watermark: int | None) -> bytes:
    """The checkpoint value: the input offset the state reflects, and the watermark."""
    return _CHECKPOINT.pack(
        _CHECKPOINT_VERSION, next_offset, _NO_TIME if watermark is None else watermark
    )


def decode_checkpoint(payload: bytes) -> tuple[int, int | None]:
    """(next input offset, watermark or None) from a checkpoint value."""
    if len(payload) != _CHECKPOINT.size or payload[0] != _CHECKPOINT_VERSION:
        raise ChangelogError(f"unsupported checkpoint record ({len(payload)} bytes)")
    _version, offset, watermark = _CHECKPOINT.unpack(payload)
    return offset, None if watermark == _NO_TIME else watermark


_EMPTY = (0, 0, False, 0, 0, b"A", 0.0)


def _runs_of(state: PatientState) -> tuple[Run | None, ...]:
    return (
        state.rising[MEDIUM],
        state.rising[HIGH],
        state.falling[LOW],
        state.falling[MEDIUM],
        state.red_run,
        state.red_clear_run,
    )
