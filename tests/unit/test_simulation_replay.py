"""Replay of recorded vital signs from CSV files."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest

from medrical.errors import InputError
from medrical.simulation import FIELD_NAMES, CsvReplay, Reading, RowProblem, Simulator

START_MS = 1_767_225_600_000

GOOD_AND_BAD = """\
patient_id,event_time,heart_rate,systolic_bp,diastolic_bp,body_temperature,spo2,respiratory_rate,consciousness,on_oxygen,scenario,spo2_scale
P-000001,1767225600000,72,120,80,36.6,97,15,A,false,recorded,1
P-000001,1767225601000,abc,120,80,36.6,97,15,A,false,recorded,1
P-000002,2026-01-01T00:00:02.500Z,,,,,95,,,,,
,1767225603000,70,120,80,36.6,97,15,A,false,recorded,1
P-000001,1767225604000,72,80,120,36.6,97,15,A,false,recorded,1

P-000001,1767225605000,72,120,80,36.6,97,15,X,false,recorded,1
P-000001,yesterday,72,120,80,36.6,97,15,A,false,recorded,1
P-000003,1767225606000,71,121,79,37.04,96,16,c,yes,recorded,2
P-000001,1767225607000,72,120
P-000001,1767225608000,400,120,80,36.6,97,15,A,false,recorded,1
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vitals.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_rows_become_readings_and_bad_rows_are_reported_with_line_numbers(
    tmp_path: Path,
) -> None:
    replay = CsvReplay(write(tmp_path, GOOD_AND_BAD))
    readings = list(replay)
    assert [reading.patient_id for reading in readings] == ["P-000001", "P-000002", "P-000003"]
    assert readings[0] == Reading(
        "P-000001", START_MS, 72, 120, 80, 36.6, 97, 15, "A", False, "recorded", 1
    )
    assert readings[1].event_time == START_MS + 2500
    assert readings[1].spo2 == 95
    assert readings[1].heart_rate is None
    assert readings[1].consciousness is None
    assert readings[2].body_temperature == 37.0
    assert readings[2].consciousness == "C"
    assert readings[2].on_oxygen is True
    assert [problem.line for problem in replay.problems] == [3, 5, 6, 8, 9, 11, 12]
    assert replay.skipped == 7
    assert replay.rows_read == 10
    messages = [str(problem) for problem in replay.problems]
    assert messages[0] == "line 3: heart_rate 'abc' is not a number"
    assert "patient_id is empty" in messages[1]
    assert "diastolic_bp 120 is not below systolic_bp 80" in messages[2]
    assert "consciousness 'X'" in messages[3]
    assert "event_time 'yesterday'" in messages[4]
    assert "too few" in messages[5]
    assert "heart_rate 400 is outside 20..250" in messages[6]


def test_column_mapping_and_rebased_timestamps(tmp_path: Path) -> None:
    text = "id,time,pulse,sats\nA-1,1000,80,96\nA-1,3500,82,95\nA-2,4000,,\n"
    replay = CsvReplay(
        write(tmp_path, text),
        columns={"patient_id": "id", "event_time": "time", "heart_rate": "pulse", "spo2": "sats"},
        start_ms=START_MS,
    )
    readings = list(replay)
    assert [reading.event_time for reading in readings] == [
        START_MS,
        START_MS + 2500,
        START_MS + 3000,
    ]
    assert [reading.heart_rate for reading in readings] == [80, 82, None]
    assert readings[0].spo2 == 96
    assert readings[0].systolic_bp is None
    assert replay.problems == []


def test_rebasing_starts_from_the_first_good_row(tmp_path: Path) -> None:
    text = "patient_id,event_time\nP-1,oops\nP-1,5000\nP-1,6000\n"
    replay = CsvReplay(write(tmp_path, text), start_ms=0)
    assert [reading.event_time for reading in replay] == [0, 1000]
    assert replay.problems == [
        RowProblem(2, "event_time 'oops' is neither milliseconds since the epoch nor ISO-8601")
    ]


def test_simulated_readings_survive_a_round_trip_through_csv(tmp_path: Path) -> None:
    simulator = Simulator(5, 2, "mix", start_ms=START_MS, cadence="ward", artifact_rate=0.05)
    readings = list(itertools.islice(simulator.readings(), 500))
    path = tmp_path / "vitals.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, FIELD_NAMES)
        writer.writeheader()
        writer.writerows(reading.to_json_dict() for reading in readings)
    replay = CsvReplay(path)
    assert list(replay) == readings
    assert replay.skipped == 0


@pytest.mark.parametrize(
    ("text", "columns", "message"),
    [
        ("patient_id,heart_rate\nP-1,70\n", None, "no column for event_time"),
        ("time,heart_rate\n1,70\n", None, "no column for patient_id or event_time"),
        ("patient_id,event_time\n", {"heart_rate": "pulse"}, "no column 'pulse'"),
        ("patient_id,event_time\n", {"pulse": "pulse"}, "unknown fields: pulse"),
        ("", None, "is empty"),
    ],
)
def test_unusable_files_raise_input_errors_naming_the_file(
    tmp_path: Path, text: str, columns: dict[str, str] | None, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=message) as caught:
        list(CsvReplay(path, columns=columns))
    assert str(path) in str(caught.value)


def test_missing_replay_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        list(CsvReplay(tmp_path / "absent.csv"))
