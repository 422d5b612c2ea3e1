"""`medrical produce` as a user runs it, for everything that needs no server."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from medrical import schemas
from medrical.errors import ExitCode
from medrical.simulation import FIELD_NAMES
from tests.unit.cli_harness import closed_port, isolate_cli, run_cli


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from isolate_cli(tmp_path, monkeypatch)


run = run_cli


def epoch_ms(text: str) -> int:
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


DRY = ("produce", "--dry-run", "--start", "2026-01-01T08:00:00Z")


def test_dry_run_prints_schema_valid_json_lines_and_nothing_else() -> None:
    outcome = run(*DRY, "--count", "60", "--patients", "6", "--seed", "7")
    assert outcome.code == 0, outcome.stderr
    lines = outcome.stdout.splitlines()
    assert len(lines) == 60
    patients = set()
    for line in lines:
        event = json.loads(line)
        assert tuple(event) == FIELD_NAMES
        assert event["event_time"].endswith("Z")
        record = {**event, "event_time": epoch_ms(event["event_time"])}
        if event["onset_time"] is not None:
            record["onset_time"] = epoch_ms(event["onset_time"])
        schemas.check_record(record)  # raises when a line does not fit the Avro schema
        patients.add(event["patient_id"])
    assert patients == {f"P-{n:06d}" for n in range(1, 7)}
    assert json.loads(lines[0])["event_time"] == "2026-01-01T08:00:00.000Z"
    assert "60 events written" in outcome.stderr


def test_the_same_seed_gives_the_same_stream_byte_for_byte() -> None:
    first = run(*DRY, "--count", "200", "--patients", "12", "--seed", "42")
    second = run(*DRY, "--count", "200", "--patients", "12", "--seed", "42")
    other = run(*DRY, "--count", "200", "--patients", "12", "--seed", "43")
    assert first.code == second.code == other.code == 0
    assert first.stdout == second.stdout
    assert first.stdout != other.stdout


def test_scenario_interval_and_cadence_reach_the_simulator() -> None:
    outcome = run(
        *DRY, "--count", "8", "--patients", "2", "--seed", "1", "--scenario", "sepsis",
        "--interval", "60", "--cadence", "ward",
    )  # fmt: skip
    assert outcome.code == 0, outcome.stderr
    events = [json.loads(line) for line in outcome.stdout.splitlines()]
    assert {event["scenario"] for event in events} == {"sepsis"}
    same_patient = [epoch_ms(e["event_time"]) for e in events if e["patient_id"] == "P-000001"]
    assert {b - a for a, b in itertools.pairwise(same_patient)} == {60_000}
    # Ward rounds leave blood pressure unmeasured between rounds.
    assert any(event["systolic_bp"] is None for event in events)


def test_rate_caps_events_per_second() -> None:
    started = time.monotonic()
    outcome = run(*DRY, "--count", "6", "--rate", "20", "--seed", "1")
    elapsed = time.monotonic() - started
    assert outcome.code == 0, outcome.stderr
    assert len(outcome.stdout.splitlines()) == 6
    assert elapsed >= 5 / 20


def test_duration_stops_a_paced_run_on_time() -> None:
    started = time.monotonic()
    outcome = run(*DRY, "--speed", "1", "--patients", "2", "--seed", "1", "--duration", "1.2")
    elapsed = time.monotonic() - started
    assert outcome.code == 0, outcome.stderr
    # Real time, two patients a second: readings at 0, 0.5 and 1.0 s fall within 1.2 s.
    assert len(outcome.stdout.splitlines()) == 3
    assert 1.1 < elapsed < 3
    assert "--duration 1.2 s reached" in outcome.stderr


@pytest.mark.parametrize("topic", ["foo", "biometrics_Ward-A", "biometrics_", "orders_x"])
def test_a_topic_the_sink_cannot_map_is_refused_with_exit_2(topic: str) -> None:
    outcome = run("produce", "--dry-run", "--count", "1", "--topic", topic)
    assert outcome.code == ExitCode.USAGE
    assert outcome.stdout == ""
    assert "biometrics_<name>" in outcome.stderr


@pytest.mark.parametrize(
    "flags",
    [
        ("--speed", "fast"),
        ("--speed", "0"),
        ("--rate", "-1"),
        ("--count", "0"),
        ("--count", "many"),
        ("--duration", "0"),
        ("--cadence", "hourly"),
        ("--patients", "0"),
        ("--scenario", "no-such-scenario"),
        ("--start", "yesterday"),
        ("--artifact-rate", "2"),
        ("--column", "heart_rate=hr"),
        ("--rebase",),
        ("--unknown-flag",),
    ],
)
def test_bad_flags_exit_2_without_output(flags: tuple[str, ...]) -> None:
    outcome = run("produce", "--dry-run", "--count", "3", *flags)
    assert outcome.code == ExitCode.USAGE, outcome.stderr
    assert outcome.stdout == ""


def test_replay_skips_bad_rows_with_their_line_numbers(tmp_path: Path) -> None:
    recording = tmp_path / "ward.csv"
    recording.write_text(
        "pid,event_time,heart_rate,spo2,respiratory_rate\n"
        "A-1,2025-03-01T10:00:00Z,80,97,14\n"
        "A-1,2025-03-01T10:00:01Z,eighty,97,14\n"
        "A-2,2025-03-01T10:00:01Z,75,98,16\n"
        "A-2,not-a-time,75,98,16\n"
        "A-1,2025-03-01T10:00:02Z,82,96,15\n",
        encoding="utf-8",
    )
    outcome = run(
        "produce", "--dry-run", "--replay", str(recording), "--column", "patient_id=pid",
        "--rebase", "--start", "2026-01-01T00:00:00Z",
    )  # fmt: skip
    assert outcome.code == 0, outcome.stderr
    events = [json.loads(line) for line in outcome.stdout.splitlines()]
    assert [(e["patient_id"], e["event_time"], e["heart_rate"]) for e in events] == [
        ("A-1", "2026-01-01T00:00:00.000Z", 80),
        ("A-2", "2026-01-01T00:00:01.000Z", 75),
        ("A-1", "2026-01-01T00:00:02.000Z", 82),
    ]
    skipped = [line for line in outcome.stderr.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 2
    assert skipped[0].startswith("skipped line 3: heart_rate 'eighty'")
    assert skipped[1].startswith("skipped line 5: event_time 'not-a-time'")
    assert "3 events written" in outcome.stderr
    assert "2 bad row(s) skipped" in outcome.stderr


def test_replay_refuses_simulator_flags(tmp_path: Path) -> None:
    recording = tmp_path / "r.csv"
    recording.write_text("patient_id,event_time\nP-1,0\n", encoding="utf-8")
    outcome = run("produce", "--dry-run", "--replay", str(recording), "--patients", "3")
    assert outcome.code == ExitCode.USAGE
    assert "--patients" in outcome.stderr


def test_a_missing_replay_file_is_a_usage_error(tmp_path: Path) -> None:
    outcome = run("produce", "--dry-run", "--replay", str(tmp_path / "absent.csv"))
    assert outcome.code == ExitCode.USAGE
    assert "does not exist" in outcome.stderr


def test_an_unreachable_broker_exits_69_quickly() -> None:
    env = {"MEDRICAL_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}"}
    started = time.monotonic()
    outcome = run("produce", "--count", "10", "--topic", "biometrics_unit", env=env)
    elapsed = time.monotonic() - started
    assert outcome.code == ExitCode.UNAVAILABLE
    assert "Kafka" in outcome.stderr
    assert outcome.stdout == ""
    assert elapsed < 10
