"""Ground truth with onsets: when each simulated patient's deterioration begins, carried by
their readings (and the Avro event), read back by evaluation and by replay."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from medrical import schemas
from medrical.monitor.evaluation import LabelledReading, evaluate
from medrical.simulation import CsvReplay, Simulator, load_builtin_scenario, load_scenario_file
from medrical.simulation.onsets import onset_hours, onset_time
from medrical.simulation.reading import format_event_time

START_MS = 1_767_225_600_000
HOUR_MS = 3_600_000


@pytest.mark.parametrize(
    ("name", "hours"),
    [
        ("sepsis", 0.0),  # neutral at 0 h, the fever rises from there
        ("copd", 6.0),  # chronic but steady until the exacerbation from 6 h
        ("haemorrhage", 0.0),
        ("bradycardia", 0.0),
        ("hypertensive-crisis", 0.0),
        ("stable", None),
        ("recovery", None),  # admitted ill, only improves
    ],
)
def test_builtin_scenarios_know_their_onset(name: str, hours: float | None) -> None:
    assert onset_hours(load_builtin_scenario(name)) == hours


def scenario_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "late.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_a_steady_start_then_a_fever_has_its_onset_where_the_rise_begins(tmp_path: Path) -> None:
    body = (
        "[[keyframes]]\nat_h = 0\nfever_c = 0.5\n"
        "[[keyframes]]\nat_h = 3\nfever_c = 0.5\n"
        "[[keyframes]]\nat_h = 5\nfever_c = 2.0\n"
    )
    assert onset_hours(load_scenario_file(scenario_file(tmp_path, body))) == 3.0


def test_a_consciousness_step_is_an_onset_at_the_step(tmp_path: Path) -> None:
    body = '[[keyframes]]\nat_h = 0\n[[keyframes]]\nat_h = 2\nconsciousness = "V"\n'
    assert onset_hours(load_scenario_file(scenario_file(tmp_path, body))) == 2.0


def test_readings_carry_each_patients_onset_in_event_time() -> None:
    simulator = Simulator(40, 3, "mix", interval_s=60, start_ms=START_MS)
    onsets = simulator.onsets()
    by_patient = {profile.patient_id: profile for profile in simulator.patients}
    assert onsets, "a ward of 40 holds deteriorating patients"
    for reading in itertools.islice(simulator.readings(), 80):
        profile = by_patient[reading.patient_id]
        assert reading.onset_time == onsets.get(reading.patient_id)
        if profile.scenario in ("stable", "recovery"):
            assert reading.onset_time is None
        else:
            assert reading.onset_time is not None
        schemas.check_record(reading.to_record())


def test_the_onset_is_where_the_patients_insults_start_to_change() -> None:
    # One scenario, no entry offset: the copd exacerbation starts 6 h / pace after the start.
    simulator = Simulator(3, 5, "copd", interval_s=60, start_ms=START_MS)
    scenario = load_builtin_scenario("copd")
    for profile in simulator.patients:
        onset = onset_time(profile, scenario, START_MS)
        assert onset is not None
        assert onset == START_MS + round(6 / profile.pace * HOUR_MS)

        pace, offset = profile.pace, profile.scenario_offset_h

        def insults(at_ms: int, pace: float = pace, offset: float = offset) -> object:
            return scenario.insults_at((at_ms - START_MS) / HOUR_MS * pace + offset)

        assert insults(onset - 60_000) == insults(START_MS)
        assert insults(onset + 600_000) != insults(START_MS)


def test_json_and_csv_round_trip_the_onset(tmp_path: Path) -> None:
    simulator = Simulator(1, 2, "sepsis", interval_s=60, start_ms=START_MS)
    reading = next(simulator.readings())
    assert reading.onset_time == START_MS
    assert reading.to_json_dict()["onset_time"] == format_event_time(START_MS)
    csv_file = tmp_path / "vitals.csv"
    csv_file.write_text(
        "patient_id,event_time,heart_rate,scenario,onset_time\n"
        f"P-1,{START_MS},80,sepsis,{format_event_time(START_MS + HOUR_MS)}\n"
        f"P-2,{START_MS + 1000},80,stable,\n",
        encoding="utf-8",
    )
    rebased = list(CsvReplay(csv_file, start_ms=START_MS + 10 * HOUR_MS))
    assert rebased[0].onset_time == START_MS + 11 * HOUR_MS, "shifted with the readings"
    assert rebased[1].onset_time is None
    bad = tmp_path / "bad.csv"
    bad.write_text(f"patient_id,event_time,onset_time\nP-1,{START_MS},soon\n", encoding="utf-8")
    replay = CsvReplay(bad)
    assert list(replay) == []
    assert "onset_time 'soon' is neither" in str(replay.problems[0])


def test_evaluation_measures_from_the_carried_onset_and_clamps_it() -> None:
    def ward(onset: int | None) -> list[LabelledReading]:
        return [
            LabelledReading("P", START_MS + minute * 60_000, "copd", onset) for minute in range(600)
        ]

    class Alarm:
        patient_id = "P"

        def __init__(self, at_minute: int) -> None:
            from medrical.monitor import AlertKind
            from medrical.news2 import ClinicalRisk

            self.kind = AlertKind.ESCALATION
            self.risk = ClinicalRisk.MEDIUM
            self.event_time = START_MS + at_minute * 60_000

    alarms = [Alarm(30), Alarm(300)]
    # Onset at 4 h: the 30-minute alarm is false, the 5-hour one detects after one hour.
    report = evaluate(ward(START_MS + 240 * 60_000), alarms)["copd"]
    assert (report.deteriorating, report.detected, report.false_alerts) == (1, 1, 1)
    assert report.detection_delays_s == (3600.0,)
    assert report.stable_patient_hours == pytest.approx(4.0)
    # An onset before the first reading counts from that reading.
    early = evaluate(ward(START_MS - HOUR_MS), alarms)["copd"]
    assert early.detection_delays_s == (1800.0,)
    assert early.false_alerts == 0
    # One after the last reading leaves the patient stable throughout.
    late = evaluate(ward(START_MS + 24 * HOUR_MS), alarms)["copd"]
    assert (late.deteriorating, late.false_alerts) == (0, 2)
    # Without a carried onset the first non-stable label is the onset, as before.
    labelled = evaluate(ward(None), alarms)["copd"]
    assert labelled.detection_delays_s == (1800.0,)
