"""Scenario files: timelines, interpolation and the validation of users' files."""

from __future__ import annotations

from pathlib import Path

import pytest

from medrical.errors import InputError
from medrical.simulation import (
    Simulator,
    builtin_scenario_names,
    load_builtin_scenario,
    load_scenario_file,
)

VALID = """
name = "ramp"
description = "A fever that rises over two hours."

[[keyframes]]
at_h = 0

[[keyframes]]
at_h = 1
consciousness = "C"

[[keyframes]]
at_h = 2
fever_c = 2.0
heart_rate_delta = 10
"""


def write(tmp_path: Path, text: str, name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_tracks_interpolate_linearly_and_hold_after_the_end(tmp_path: Path) -> None:
    scenario = load_scenario_file(write(tmp_path, VALID))
    assert scenario.name == "ramp"
    assert scenario.duration_h == 2.0
    assert scenario.insults_at(0).fever_c == 0.0
    assert scenario.insults_at(1).fever_c == pytest.approx(1.0)
    assert scenario.insults_at(1.5).heart_rate_delta == pytest.approx(7.5)
    assert scenario.insults_at(30).fever_c == pytest.approx(2.0)
    assert scenario.insults_at(0.99).consciousness == "A"
    assert scenario.insults_at(1).consciousness == "C"
    assert scenario.insults_at(30).consciousness == "C"
    assert scenario.insults_at(1).fio2 == 0.21


def test_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    scenario = load_scenario_file(write(tmp_path, "[[keyframes]]\nat_h = 0\n", "night-shift.toml"))
    assert scenario.name == "night-shift"
    assert scenario.source == str(tmp_path / "night-shift.toml")


@pytest.mark.parametrize("name", sorted(builtin_scenario_names()))
def test_built_in_scenarios_load_and_document_themselves(name: str) -> None:
    scenario = load_builtin_scenario(name)
    assert scenario.name == name
    assert scenario.description
    assert scenario.mix_weight > 0


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name = [", "is not valid TOML"),
        ('nmae = "x"\n[[keyframes]]\nat_h = 0', "unknown key 'nmae'.*did you mean 'name'"),
        ("[[keyframes]]\nat_h = 0\nfever = 1.0", "unknown key 'fever' in keyframe 1"),
        ('description = "no timeline"', "needs at least one \\[\\[keyframes\\]\\]"),
        ("[[keyframes]]\nat_h = 1", "first keyframe must be at_h = 0"),
        ("[[keyframes]]\nfever_c = 1.0", "keyframe 1 has no at_h"),
        ("[[keyframes]]\nat_h = 0\n[[keyframes]]\nat_h = 0", "keyframe 2 at_h = 0 does not come"),
        ("[[keyframes]]\nat_h = 0\nfever_c = 9.0", "keyframe 1 fever_c = 9.0 is outside -5..5"),
        ('[[keyframes]]\nat_h = 0\nfever_c = "high"', "keyframe 1 fever_c must be a number"),
        ("[[keyframes]]\nat_h = 0\nfio2 = true", "fio2 must be a number"),
        ('[[keyframes]]\nat_h = 0\nconsciousness = "X"', "consciousness 'X' is not one of"),
        ("[patient]\nspo2_scale = 3\n[[keyframes]]\nat_h = 0", "spo2_scale must be 1 or 2"),
        ('[patient]\nchronic_condition = "flu"\n[[keyframes]]\nat_h = 0', "chronic_condition"),
        ('[patient]\nage_bands = ["90+"]\n[[keyframes]]\nat_h = 0', "age_bands"),
        ("[oxygen]\ntarget_spo2 = [92, 88]\n[[keyframes]]\nat_h = 0", "target_spo2 must be"),
        (
            "[oxygen]\ntarget_spo2 = [88, 92]\n[[keyframes]]\nat_h = 0\nfio2 = 0.4",
            "sets fio2, but \\[oxygen\\] target_spo2 titrates",
        ),
        ('name = "Mixed Case"\n[[keyframes]]\nat_h = 0', "name 'Mixed Case' must be"),
        ('name = "mix"\n[[keyframes]]\nat_h = 0', "name 'mix' must be"),
        ("mix_weight = -1\n[[keyframes]]\nat_h = 0", "mix_weight = -1 is outside"),
        ("keyframes = 3", "needs at least one"),
        ("keyframes = [3]", "keyframe 1 must be a table"),
    ],
)
def test_invalid_scenario_files_name_the_file_and_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=problem) as caught:
        load_scenario_file(path)
    assert str(path) in str(caught.value)


def test_missing_scenario_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        Simulator(1, 1, scenario_file=tmp_path / "nowhere.toml")


def test_unknown_built_in_lists_the_choices() -> None:
    with pytest.raises(InputError) as caught:
        load_builtin_scenario("flu")
    assert "sepsis" in str(caught.value)
    assert "mix" in str(caught.value)


def test_scenario_patient_section_shapes_the_profiles(tmp_path: Path) -> None:
    text = (
        '[patient]\nspo2_scale = 2\nchronic_condition = "copd"\nage_bands = ["80+"]\n'
        "[oxygen]\ntarget_spo2 = [88, 92]\n[[keyframes]]\nat_h = 0\n"
    )
    simulator = Simulator(20, 1, write(tmp_path, text), start_ms=0)
    for profile in simulator.patients:
        assert profile.spo2_scale == 2
        assert profile.chronic_condition == "copd"
        assert profile.age_band == "80+"
        assert profile.age_years >= 80
