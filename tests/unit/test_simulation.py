"""The simulator: statistical properties, coupling, invariants, scenarios, cadence, seeds."""

from __future__ import annotations

import dataclasses
import itertools
import json
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import pytest

from medrical.errors import InputError
from medrical.simulation import (
    CONSCIOUSNESS_LEVELS,
    FIELD_NAMES,
    SURVIVABLE_BOUNDS,
    Reading,
    Simulator,
    builtin_scenario_names,
    seconds_until_due,
)
from medrical.simulation.physiology import pao2_from_saturation, saturation_from_pao2

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOUR_S = 3600
EXPECTED_SCENARIOS = {
    "stable",
    "sepsis",
    "haemorrhage",
    "copd",
    "hypertensive-crisis",
    "bradycardia",
    "recovery",
}


def run(
    scenario: str | Path,
    *,
    patients: int,
    hours: float,
    interval_s: float,
    seed: int = 7,
    cadence: str = "monitor",
    artifact_rate: float = 0.0,
) -> list[Reading]:
    simulator = Simulator(
        patients,
        seed,
        scenario,
        interval_s=interval_s,
        start_ms=START_MS,
        cadence="ward" if cadence == "ward" else "monitor",
        artifact_rate=artifact_rate,
    )
    rounds = int(hours * HOUR_S / interval_s) + 1
    return list(itertools.islice(simulator.readings(), rounds * patients))


def by_patient(readings: Sequence[Reading]) -> dict[str, list[Reading]]:
    series: dict[str, list[Reading]] = defaultdict(list)
    for reading in readings:
        series[reading.patient_id].append(reading)
    return series


def values(readings: Sequence[Reading], field: str) -> list[float]:
    found = (getattr(reading, field) for reading in readings)
    return [value for value in found if value is not None]


def window_mean(readings: Sequence[Reading], field: str, hour: float) -> float:
    """Mean of ``field`` over the readings of one patient within half an hour of ``hour``."""
    near = [r for r in readings if abs(r.event_time - START_MS - hour * 3.6e6) <= 1.8e6]
    return statistics.fmean(values(near, field))


def at_hour(readings: Sequence[Reading], hour: float) -> Reading:
    """The reading of one patient closest to ``hour`` after the start."""
    return min(readings, key=lambda reading: abs(reading.event_time - START_MS - hour * 3.6e6))


def lag1_autocorrelation(series: Sequence[float]) -> float:
    mean = statistics.fmean(series)
    deviations = [value - mean for value in series]
    numerator = sum(a * b for a, b in itertools.pairwise(deviations))
    return numerator / sum(d * d for d in deviations)


def news2(reading: Reading) -> int:
    """NEWS2 aggregate after the RCP 2017 chart; every parameter must be present."""
    assert reading.respiratory_rate is not None
    assert reading.spo2 is not None
    assert reading.systolic_bp is not None
    assert reading.heart_rate is not None
    assert reading.body_temperature is not None
    rr, spo2, sbp = reading.respiratory_rate, reading.spo2, reading.systolic_bp
    hr, temp = reading.heart_rate, reading.body_temperature
    score = 3 if rr <= 8 else 1 if rr <= 11 else 0 if rr <= 20 else 2 if rr <= 24 else 3
    if reading.spo2_scale == 2 and reading.on_oxygen:
        score += 3 if spo2 <= 83 else 2 if spo2 <= 85 else 1 if spo2 <= 87 else 0
        score += 0 if spo2 <= 92 else 1 if spo2 <= 94 else 2 if spo2 <= 96 else 3
    elif reading.spo2_scale == 2:
        score += 3 if spo2 <= 83 else 2 if spo2 <= 85 else 1 if spo2 <= 87 else 0
    else:
        score += 3 if spo2 <= 91 else 2 if spo2 <= 93 else 1 if spo2 <= 95 else 0
    score += 2 if reading.on_oxygen else 0
    score += 3 if sbp <= 90 else 2 if sbp <= 100 else 1 if sbp <= 110 else 0 if sbp <= 219 else 3
    score += 3 if hr <= 40 else 1 if hr <= 50 else 0 if hr <= 90 else 1 if hr <= 110 else 2
    score += 1 if hr >= 131 else 0
    score += 0 if reading.consciousness == "A" else 3
    score += 3 if temp <= 35.0 else 1 if temp <= 36.0 else 0 if temp <= 38.0 else 1
    score += 1 if temp > 39.0 else 0
    return score


def scenario_file(tmp_path: Path, name: str, keyframe: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\n[[keyframes]]\nat_h = 0\n{keyframe}\n', encoding="utf-8")
    return path


def assert_invariants(reading: Reading) -> None:
    for field, (low, high) in SURVIVABLE_BOUNDS.items():
        value = getattr(reading, field)
        if value is not None:
            assert low <= value <= high, (field, reading)
    for field in ("heart_rate", "systolic_bp", "diastolic_bp", "spo2", "respiratory_rate"):
        value = getattr(reading, field)
        assert value is None or type(value) is int, (field, reading)
    if reading.body_temperature is not None:
        assert round(reading.body_temperature, 1) == reading.body_temperature
    if reading.systolic_bp is not None and reading.diastolic_bp is not None:
        assert reading.diastolic_bp < reading.systolic_bp, reading
    assert reading.spo2 is None or reading.spo2 <= 100
    assert reading.consciousness is None or reading.consciousness in CONSCIOUSNESS_LEVELS
    assert reading.spo2_scale in (1, 2)
    assert reading.scenario


# --- the reading -------------------------------------------------------------------------------


def test_reading_serialises_for_avro_and_json() -> None:
    reading = next(Simulator(1, 1, start_ms=START_MS).readings())
    record = reading.to_record()
    assert tuple(record) == FIELD_NAMES
    assert record["event_time"] == START_MS
    as_json = reading.to_json_dict()
    assert as_json["event_time"] == "2026-01-01T00:00:00.000Z"
    assert {key: value for key, value in as_json.items() if key != "event_time"} == {
        key: value for key, value in record.items() if key != "event_time"
    }
    json.dumps(as_json)
    with pytest.raises(dataclasses.FrozenInstanceError):
        reading.heart_rate = 80  # type: ignore[misc]


def test_reading_field_names_are_the_public_contract() -> None:
    assert FIELD_NAMES == (
        "patient_id",
        "event_time",
        "heart_rate",
        "systolic_bp",
        "diastolic_bp",
        "body_temperature",
        "spo2",
        "respiratory_rate",
        "consciousness",
        "on_oxygen",
        "scenario",
        "spo2_scale",
        "onset_time",
    )


def test_json_event_time_keeps_milliseconds() -> None:
    reading = next(Simulator(1, 1, start_ms=START_MS + 61_234).readings())
    assert reading.to_json_dict()["event_time"] == "2026-01-01T00:01:01.234Z"


# --- identity, time, determinism --------------------------------------------------------------


def test_patients_have_persistent_synthetic_identities() -> None:
    simulator = Simulator(3, 5, start_ms=START_MS)
    assert [profile.patient_id for profile in simulator.patients] == [
        "P-000001",
        "P-000002",
        "P-000003",
    ]
    readings = list(itertools.islice(simulator.readings(), 9))
    assert [reading.patient_id for reading in readings] == ["P-000001", "P-000002", "P-000003"] * 3


def test_event_time_clock_is_round_robin_staggered_and_ordered() -> None:
    readings = run("stable", patients=4, hours=0.01, interval_s=2.0)
    assert readings[0].event_time == START_MS
    times = [reading.event_time for reading in readings]
    assert times == sorted(times)
    assert [reading.event_time - START_MS for reading in readings[:4]] == [0, 500, 1000, 1500]
    for series in by_patient(readings).values():
        gaps = {b.event_time - a.event_time for a, b in itertools.pairwise(series)}
        assert gaps == {2000}


def test_default_start_is_now() -> None:
    import time

    before = int(time.time() * 1000)
    reading = next(Simulator(1, 1).readings())
    assert before <= reading.event_time <= int(time.time() * 1000)


@pytest.mark.parametrize("scenario", ["stable", "mix", "sepsis"])
def test_same_seed_gives_the_same_stream_byte_for_byte(scenario: str) -> None:
    def stream(seed: int) -> str:
        simulator = Simulator(
            50, seed, scenario, start_ms=START_MS, cadence="ward", artifact_rate=0.01
        )
        readings = itertools.islice(simulator.readings(), 5000)
        return json.dumps([reading.to_json_dict() for reading in readings])

    assert stream(11) == stream(11)
    assert stream(11) != stream(12)


def test_readings_restart_the_stream() -> None:
    simulator = Simulator(5, 3, "sepsis", start_ms=START_MS)
    first = list(itertools.islice(simulator.readings(), 200))
    assert first == list(itertools.islice(simulator.readings(), 200))


# --- statistical character of the vitals ------------------------------------------------------


def test_consecutive_readings_are_strongly_correlated() -> None:
    patients = by_patient(run("stable", patients=6, hours=2.0, interval_s=1.0)).values()
    thresholds = {"heart_rate": 0.8, "systolic_bp": 0.65, "respiratory_rate": 0.6, "spo2": 0.5}
    for field, threshold in thresholds.items():
        correlations = [lag1_autocorrelation(values(series, field)) for series in patients]
        assert statistics.median(correlations) > threshold, field
        assert min(correlations) > threshold - 0.2, field
    # Temperature drifts over hours: a minute apart, readings still agree closely, although
    # the 0.1 deg C resolution hides much of the drift.
    patients = by_patient(run("stable", patients=6, hours=12, interval_s=60)).values()
    correlations = [lag1_autocorrelation(values(series, "body_temperature")) for series in patients]
    assert statistics.median(correlations) > 0.65
    assert min(correlations) > 0.5


def test_independent_draws_would_not_pass_for_correlated() -> None:
    """The autocorrelation measure itself tells a random walk from white noise."""
    import random

    rng = random.Random(1)
    white = [rng.gauss(0, 1) for _ in range(5000)]
    assert abs(lag1_autocorrelation(white)) < 0.1


def test_vitals_vary_within_a_patient() -> None:
    readings = run("stable", patients=3, hours=1.0, interval_s=5.0)
    for series in by_patient(readings).values():
        assert statistics.pstdev(values(series, "heart_rate")) > 1.0
        assert statistics.pstdev(values(series, "systolic_bp")) > 1.5


def test_heart_rate_follows_a_mild_circadian_rhythm() -> None:
    readings = run("stable", patients=40, hours=24.0, interval_s=600.0)
    night = [r.heart_rate for r in readings if 2 <= (r.event_time - START_MS) / 3.6e6 <= 6]
    afternoon = [r.heart_rate for r in readings if 14 <= (r.event_time - START_MS) / 3.6e6 <= 18]
    difference = statistics.fmean(v for v in afternoon if v) - statistics.fmean(
        v for v in night if v
    )
    assert 3 < difference < 15


# --- coupling between vitals ------------------------------------------------------------------


def mean_by_patient(readings: Sequence[Reading], field: str) -> dict[str, float]:
    return {
        patient: statistics.fmean(values(series[len(series) // 3 :], field))
        for patient, series in by_patient(readings).items()
    }


def compare(tmp_path: Path, insult: str, field: str) -> list[float]:
    """Per patient: mean of ``field`` with the insult minus without (same patients)."""
    calm = scenario_file(tmp_path, "calm", "")
    ill = scenario_file(tmp_path, "ill", insult)
    before = mean_by_patient(run(calm, patients=20, hours=2, interval_s=30), field)
    after = mean_by_patient(run(ill, patients=20, hours=2, interval_s=30), field)
    return [after[patient] - before[patient] for patient in before]


def test_fever_raises_heart_rate_about_ten_per_degree(tmp_path: Path) -> None:
    temperature = compare(tmp_path, "fever_c = 2.0", "body_temperature")
    heart_rate = compare(tmp_path, "fever_c = 2.0", "heart_rate")
    assert all(1.6 < rise < 2.4 for rise in temperature)
    assert all(12 < rise < 28 for rise in heart_rate)
    assert 17 < statistics.fmean(heart_rate) < 23


def test_blood_loss_raises_heart_rate_and_respiration_and_narrows_pressures(
    tmp_path: Path,
) -> None:
    bleed = "blood_loss_pct = 35"
    assert all(rise > 20 for rise in compare(tmp_path, bleed, "heart_rate"))
    assert all(rise > 4 for rise in compare(tmp_path, bleed, "respiratory_rate"))
    assert all(fall < -10 for fall in compare(tmp_path, bleed, "systolic_bp"))
    systolic = compare(tmp_path, bleed, "systolic_bp")
    diastolic = compare(tmp_path, bleed, "diastolic_bp")
    pulse_pressure = [s - d for s, d in zip(systolic, diastolic, strict=True)]
    assert all(narrowing < -5 for narrowing in pulse_pressure)


def test_respiratory_failure_lowers_spo2_and_raises_respiration(tmp_path: Path) -> None:
    assert all(fall < -2.5 for fall in compare(tmp_path, "respiratory_failure = 0.4", "spo2"))
    rises = compare(tmp_path, "respiratory_failure = 0.4", "respiratory_rate")
    assert all(rise > 3 for rise in rises)


def test_supplemental_oxygen_raises_spo2(tmp_path: Path) -> None:
    hypoxic = scenario_file(tmp_path, "hypoxic", "respiratory_failure = 0.4")
    treated = scenario_file(tmp_path, "treated", "respiratory_failure = 0.4\nfio2 = 0.35")
    without = mean_by_patient(run(hypoxic, patients=20, hours=1, interval_s=30), "spo2")
    with_oxygen_readings = run(treated, patients=20, hours=1, interval_s=30)
    assert all(reading.on_oxygen for reading in with_oxygen_readings)
    with_oxygen = mean_by_patient(with_oxygen_readings, "spo2")
    assert all(with_oxygen[patient] - without[patient] > 3 for patient in without)


# --- invariants -------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", sorted(EXPECTED_SCENARIOS | {"mix"}))
def test_invariants_hold_over_a_long_run(scenario: str) -> None:
    for reading in run(
        scenario, patients=30, hours=50, interval_s=120, cadence="ward", artifact_rate=0.02
    ):
        assert_invariants(reading)


@pytest.mark.parametrize(
    "extreme",
    [
        "fever_c = 5.0\nblood_loss_pct = 60\nvasodilation = 1.0\nrespiratory_failure = 1.0\n"
        'heart_rate_delta = 120\nrespiratory_rate_delta = 40\nconsciousness = "U"',
        "fever_c = -5.0\nheart_rate_scale = 0.3\nheart_rate_delta = -80\nsystolic_delta = -100\n"
        "diastolic_delta = 90\nrespiratory_rate_delta = -10",
        "systolic_delta = 140\ndiastolic_delta = 90\nheart_rate_scale = 3.0\nfio2 = 1.0",
    ],
    ids=["everything-up", "everything-down", "pressures-up"],
)
def test_invariants_hold_for_the_most_extreme_scenarios(tmp_path: Path, extreme: str) -> None:
    path = scenario_file(tmp_path, "extreme", extreme)
    for reading in run(path, patients=30, hours=2, interval_s=20, artifact_rate=0.05):
        assert_invariants(reading)


# --- scenarios --------------------------------------------------------------------------------


def test_the_built_in_scenarios_are_there() -> None:
    assert set(builtin_scenario_names()) == EXPECTED_SCENARIOS


def test_stable_patients_stay_within_normal_ranges() -> None:
    readings = run("stable", patients=100, hours=24, interval_s=300)
    normal = {
        "heart_rate": (50, 110),
        "systolic_bp": (100, 180),
        "diastolic_bp": (45, 110),
        "body_temperature": (35.8, 37.8),
        "spo2": (93, 100),
        "respiratory_rate": (10, 21),
    }
    for field, (low, high) in normal.items():
        inside = sum(low <= value <= high for value in values(readings, field))
        assert inside >= 0.99 * len(readings), field
    assert {reading.consciousness for reading in readings} == {"A"}
    assert not any(reading.on_oxygen for reading in readings)
    assert sum(news2(reading) <= 2 for reading in readings) >= 0.95 * len(readings)


def test_sepsis_deteriorates_from_low_to_high_risk_within_its_timeline() -> None:
    patients = by_patient(run("sepsis", patients=30, hours=12.5, interval_s=300))
    starts = [series[0] for series in patients.values()]
    assert statistics.median(news2(reading) for reading in starts) <= 1
    assert all(news2(reading) <= 4 for reading in starts)
    assert all(reading.consciousness == "A" for reading in starts)
    for series in patients.values():
        end = series[-1]
        assert news2(end) >= 7
        assert end.consciousness in ("C", "V")
        assert window_mean(series, "body_temperature", 12) > 38.0
        assert window_mean(series, "heart_rate", 12) > 100
        assert window_mean(series, "respiratory_rate", 12) >= 22
        assert window_mean(series, "systolic_bp", 12) < window_mean(series, "systolic_bp", 0) - 10
    temperature_by_hour = [
        statistics.median(
            window_mean(series, "body_temperature", hour) for series in patients.values()
        )
        for hour in range(0, 13, 2)
    ]
    assert temperature_by_hour == sorted(temperature_by_hour)


def test_haemorrhage_tachycardia_hypotension_then_recovery() -> None:
    patients = by_patient(run("haemorrhage", patients=30, hours=12.5, interval_s=300))
    for series in patients.values():

        def mean(field: str, hour: float, series: list[Reading] = series) -> float:
            return window_mean(series, field, hour)

        assert mean("heart_rate", 4.5) > mean("heart_rate", 0) + 20
        assert mean("respiratory_rate", 4.5) > mean("respiratory_rate", 0) + 4
        assert mean("systolic_bp", 4.5) < mean("systolic_bp", 0) - 5
        pulse_pressure_start = mean("systolic_bp", 0) - mean("diastolic_bp", 0)
        pulse_pressure_worst = mean("systolic_bp", 4.5) - mean("diastolic_bp", 4.5)
        assert pulse_pressure_worst < 0.9 * pulse_pressure_start
        assert mean("heart_rate", 12) < mean("heart_rate", 4.5) - 10
        assert series[-1].consciousness == "A"


def test_hypertensive_crisis_exceeds_180_over_120_then_comes_down() -> None:
    patients = by_patient(run("hypertensive-crisis", patients=30, hours=12.5, interval_s=300))
    for series in patients.values():
        peak_systolic = window_mean(series, "systolic_bp", 3.5)
        peak_diastolic = window_mean(series, "diastolic_bp", 3.5)
        assert peak_systolic >= 180 or peak_diastolic >= 120
        assert window_mean(series, "systolic_bp", 12) < peak_systolic - 15


def test_copd_patients_on_oxygen_sit_at_88_to_92() -> None:
    simulator = Simulator(30, 7, "copd", interval_s=120, start_ms=START_MS)
    assert {profile.spo2_scale for profile in simulator.patients} == {2}
    assert {profile.chronic_condition for profile in simulator.patients} == {"copd"}
    readings = list(itertools.islice(simulator.readings(), 30 * 24 * 30))
    assert all(reading.spo2_scale == 2 for reading in readings)
    assert sum(bool(reading.on_oxygen) for reading in readings) >= 0.95 * len(readings)
    in_target = sum(88 <= value <= 92 for value in values(readings, "spo2"))
    assert in_target >= 0.85 * len(readings)


def test_bradycardia_slows_the_heart_below_50() -> None:
    patients = by_patient(run("bradycardia", patients=30, hours=8, interval_s=300))
    late = [at_hour(series, 6).heart_rate for series in patients.values()]
    assert all(rate is not None and rate <= 55 for rate in late)
    assert sum(rate is not None and rate <= 50 for rate in late) >= 0.8 * len(late)


def test_recovery_goes_from_medium_risk_on_oxygen_to_low_risk_on_air() -> None:
    patients = by_patient(run("recovery", patients=30, hours=52, interval_s=600))
    starts = [at_hour(series, 0) for series in patients.values()]
    ends = [at_hour(series, 52) for series in patients.values()]
    assert statistics.median(news2(reading) for reading in starts) >= 5
    assert sum(bool(reading.on_oxygen) for reading in starts) >= 0.6 * len(starts)
    assert all(news2(reading) <= 3 for reading in ends)
    assert not any(reading.on_oxygen for reading in ends)


def test_mix_is_mostly_stable_with_some_of_each() -> None:
    simulator = Simulator(2000, 3, "mix", start_ms=START_MS)
    counts: defaultdict[str, int] = defaultdict(int)
    for profile in simulator.patients:
        counts[profile.scenario] += 1
    assert set(counts) == EXPECTED_SCENARIOS
    assert 0.6 * 2000 <= counts["stable"] <= 0.8 * 2000
    reading = next(simulator.readings())
    assert reading.scenario == simulator.patients[0].scenario


# --- measurement cadence and artifacts --------------------------------------------------------


def test_monitor_cadence_measures_everything_every_reading() -> None:
    for reading in run("mix", patients=20, hours=1, interval_s=60):
        # onset_time is ground truth, None for a patient who does not deteriorate.
        measured = (field for field in FIELD_NAMES if field != "onset_time")
        assert all(getattr(reading, field) is not None for field in measured)


def test_ward_cadence_null_pattern() -> None:
    patients = by_patient(run("stable", patients=20, hours=24, interval_s=60, cadence="ward"))
    for series in patients.values():
        assert all(field is not None for field in dataclasses.astuple(series[0])[:-1])
        assert series[0].onset_time is None, "stable patients never deteriorate"
        assert all(r.heart_rate is not None and r.spo2 is not None for r in series)
        assert all(r.on_oxygen is not None for r in series)
        round_fields = ("systolic_bp", "diastolic_bp", "respiratory_rate", "consciousness")
        for reading in series:
            present = {getattr(reading, field) is not None for field in round_fields}
            assert len(present) == 1, reading
        rounds = [r.event_time for r in series if r.systolic_bp is not None]
        gaps_min = [(b - a) / 60_000 for a, b in itertools.pairwise(rounds)]
        assert all(15 <= gap <= 61 for gap in gaps_min)
        temperatures = [r.event_time for r in series if r.body_temperature is not None]
        gaps_h = [(b - a) / 3.6e6 for a, b in itertools.pairwise(temperatures)]
        assert gaps_h
        assert all(2 <= gap <= 6.1 for gap in gaps_h)


def test_artifacts_drop_probe_readings_and_spike_heart_rate() -> None:
    readings = run("stable", patients=10, hours=1, interval_s=1.0, artifact_rate=0.005)
    dropouts = [r for r in readings if r.spo2 is None]
    assert dropouts
    assert all(r.heart_rate is None and r.systolic_bp is not None for r in dropouts)
    spikes = 0
    for series in by_patient(readings).values():
        rates = values(series, "heart_rate")
        spikes += sum(b - a > 30 for a, b in itertools.pairwise(rates))
    assert spikes > 0
    clean = run("stable", patients=10, hours=1, interval_s=1.0)
    assert all(r.spo2 is not None and r.heart_rate is not None for r in clean)


# --- arguments and pacing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patients": 0}, "patients"),
        ({"scenario": "flu"}, "Unknown scenario 'flu'"),
        ({"interval_s": 0.0}, "interval"),
        ({"cadence": "hourly"}, "cadence"),
        ({"artifact_rate": 1.5}, "artifact rate"),
        ({"scenario": "sepsis", "scenario_file": "x.toml"}, "not both"),
    ],
)
def test_bad_arguments_raise_input_errors(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"patients": 2, "seed": 1, **kwargs}
    with pytest.raises(InputError, match=message):
        Simulator(**arguments)  # type: ignore[arg-type]


def test_scenario_file_argument_loads_a_user_scenario(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, "mine", "fever_c = 1.0")
    simulator = Simulator(2, 1, scenario_file=path, start_ms=START_MS)
    assert {reading.scenario for reading in itertools.islice(simulator.readings(), 4)} == {"mine"}
    by_path = Simulator(2, 1, str(path), start_ms=START_MS)
    assert by_path.patients == simulator.patients


@pytest.mark.parametrize(
    ("event_ms", "elapsed_s", "speed", "wait_s"),
    [
        (START_MS + 10_000, 4.0, 1.0, 6.0),
        (START_MS + 60_000, 0.5, 60.0, 0.5),
        (START_MS + 10_000, 20.0, 1.0, 0.0),
        (START_MS + 10_000, 0.0, None, 0.0),
        (START_MS, 0.0, 2.0, 0.0),
    ],
)
def test_seconds_until_due(
    event_ms: int, elapsed_s: float, speed: float | None, wait_s: float
) -> None:
    assert seconds_until_due(
        event_ms, first_event_ms=START_MS, elapsed_s=elapsed_s, speed=speed
    ) == pytest.approx(wait_s)


def test_seconds_until_due_rejects_a_speed_that_is_not_positive() -> None:
    with pytest.raises(InputError, match="speed"):
        seconds_until_due(START_MS, first_event_ms=START_MS, elapsed_s=0.0, speed=0.0)


def _pao2_by_sixty_halvings(saturation: float) -> float:
    saturation = min(max(saturation, 1.0), 99.99)
    low, high = 1.0, 2000.0
    for _ in range(60):
        middle = (low + high) / 2
        if saturation_from_pao2(middle) < saturation:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def test_the_fast_inversion_of_the_oxygen_curve_gives_the_same_floats() -> None:
    # Every patient's profile goes through it: a last-bit difference would change the ward.
    saturations = [step / 100 for step in range(-500, 10_600, 7)] + [1.0, 99.99, 100.0]
    for saturation in saturations:
        assert pao2_from_saturation(saturation) == _pao2_by_sixty_halvings(saturation)
    assert saturation_from_pao2(pao2_from_saturation(95.0)) == pytest.approx(95.0)


def test_a_mixed_ward_keeps_the_oximeter_bias_apart_from_the_scenario_offset() -> None:
    """In a mixed ward each patient starts some hours into its scenario; those hours are not
    the oximeter's bias (once they were, and pushed SpO2 up by as many percent)."""
    patients = Simulator(400, 1, "mix", start_ms=START_MS).patients
    assert max(abs(p.oximeter_offset) for p in patients) < 3.0
    assert max(p.scenario_offset_h for p in patients) > 3.0
    assert all(p.oximeter_offset != p.scenario_offset_h for p in patients if p.scenario_offset_h)
