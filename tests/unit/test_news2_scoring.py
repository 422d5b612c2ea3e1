"""NEWS2 Chart 1 (scoring) and Chart 4 (clinical risk), RCP 2017, walked edge by edge."""

from __future__ import annotations

import pytest

from medrical.errors import ExitCode, InputError
from medrical.news2 import (
    ClinicalRisk,
    Consciousness,
    News2Score,
    Parameter,
    SpO2Scale,
    Vitals,
    VitalSignRangeError,
    clinical_risk,
    score,
    score_body_temperature,
    score_consciousness,
    score_heart_rate,
    score_on_oxygen,
    score_respiratory_rate,
    score_spo2,
    score_systolic_bp,
)

# Chart 1, respiration rate: <=8: 3 | 9-11: 1 | 12-20: 0 | 21-24: 2 | >=25: 3
RESPIRATORY_RATE_EDGES = [
    (0, 3),
    (8, 3),
    (9, 1),
    (11, 1),
    (12, 0),
    (20, 0),
    (21, 2),
    (24, 2),
    (25, 3),
    (60, 3),
]

# Chart 1, SpO2 Scale 1: <=91: 3 | 92-93: 2 | 94-95: 1 | >=96: 0, on air or oxygen alike
SPO2_SCALE_1_EDGES = [
    (50, 3),
    (91, 3),
    (92, 2),
    (93, 2),
    (94, 1),
    (95, 1),
    (96, 0),
    (100, 0),
]

# Chart 1, SpO2 Scale 2: <=83: 3 | 84-85: 2 | 86-87: 1 | 88-92: 0 | >=93 on air: 0 |
# 93-94 on oxygen: 1 | 95-96 on oxygen: 2 | >=97 on oxygen: 3
SPO2_SCALE_2_EDGES = [
    (70, False, 3),
    (83, False, 3),
    (83, True, 3),
    (84, False, 2),
    (85, True, 2),
    (86, False, 1),
    (87, True, 1),
    (88, False, 0),
    (88, True, 0),
    (92, False, 0),
    (92, True, 0),
    (93, False, 0),
    (100, False, 0),
    (93, True, 1),
    (94, True, 1),
    (95, True, 2),
    (96, True, 2),
    (97, True, 3),
    (100, True, 3),
]

# Chart 1, systolic BP: <=90: 3 | 91-100: 2 | 101-110: 1 | 111-219: 0 | >=220: 3
SYSTOLIC_BP_EDGES = [
    (40, 3),
    (90, 3),
    (91, 2),
    (100, 2),
    (101, 1),
    (110, 1),
    (111, 0),
    (219, 0),
    (220, 3),
    (280, 3),
]

# Chart 1, pulse: <=40: 3 | 41-50: 1 | 51-90: 0 | 91-110: 1 | 111-130: 2 | >=131: 3
HEART_RATE_EDGES = [
    (20, 3),
    (40, 3),
    (41, 1),
    (50, 1),
    (51, 0),
    (90, 0),
    (91, 1),
    (110, 1),
    (111, 2),
    (130, 2),
    (131, 3),
    (200, 3),
]

# Chart 1, temperature, read as half-open bands:
# <=35.0: 3 | >35.0..<=36.0: 1 | >36.0..<=38.0: 0 | >38.0..<=39.0: 1 | >39.0: 2
BODY_TEMPERATURE_EDGES = [
    (30.0, 3),
    (35.0, 3),
    # A finer value scores as the 0.1 °C step it is shown as.
    (35.04, 3),
    (35.06, 1),
    (35.1, 1),
    (36.0, 1),
    (36.04, 1),
    (36.06, 0),
    (36.1, 0),
    (38.0, 0),
    (38.04, 0),
    (38.06, 1),
    (38.1, 1),
    (39.0, 1),
    (39.04, 1),
    (39.06, 2),
    (39.1, 2),
    (42.0, 2),
]


@pytest.mark.parametrize(("rate", "points"), RESPIRATORY_RATE_EDGES)
def test_respiratory_rate_bands(rate: int, points: int) -> None:
    assert score_respiratory_rate(rate) == points


@pytest.mark.parametrize(("spo2", "points"), SPO2_SCALE_1_EDGES)
@pytest.mark.parametrize("on_oxygen", [False, True])
def test_spo2_scale_1_bands_ignore_oxygen(spo2: int, points: int, on_oxygen: bool) -> None:
    assert score_spo2(spo2, scale=SpO2Scale.SCALE_1, on_oxygen=on_oxygen) == points


@pytest.mark.parametrize(("spo2", "on_oxygen", "points"), SPO2_SCALE_2_EDGES)
def test_spo2_scale_2_bands(spo2: int, on_oxygen: bool, points: int) -> None:
    assert score_spo2(spo2, scale=SpO2Scale.SCALE_2, on_oxygen=on_oxygen) == points


@pytest.mark.parametrize(("spo2", "points"), [(83, 3), (85, 2), (87, 1), (88, 0), (92, 0)])
def test_spo2_scale_2_at_or_below_target_needs_no_oxygen_status(spo2: int, points: int) -> None:
    assert score_spo2(spo2, scale=SpO2Scale.SCALE_2, on_oxygen=None) == points


@pytest.mark.parametrize("spo2", [93, 97])
def test_spo2_scale_2_above_target_is_unscorable_without_oxygen_status(spo2: int) -> None:
    assert score_spo2(spo2, scale=SpO2Scale.SCALE_2, on_oxygen=None) is None


@pytest.mark.parametrize(("on_oxygen", "points"), [(False, 0), (True, 2)])
def test_air_or_oxygen(on_oxygen: bool, points: int) -> None:
    assert score_on_oxygen(on_oxygen) == points


@pytest.mark.parametrize(("mmhg", "points"), SYSTOLIC_BP_EDGES)
def test_systolic_bp_bands(mmhg: int, points: int) -> None:
    assert score_systolic_bp(mmhg) == points


@pytest.mark.parametrize(("rate", "points"), HEART_RATE_EDGES)
def test_heart_rate_bands(rate: int, points: int) -> None:
    assert score_heart_rate(rate) == points


@pytest.mark.parametrize(
    ("level", "points"),
    [
        (Consciousness.ALERT, 0),
        (Consciousness.CONFUSION, 3),
        (Consciousness.VOICE, 3),
        (Consciousness.PAIN, 3),
        (Consciousness.UNRESPONSIVE, 3),
    ],
)
def test_consciousness_acvpu(level: Consciousness, points: int) -> None:
    assert score_consciousness(level) == points


@pytest.mark.parametrize(("celsius", "points"), BODY_TEMPERATURE_EDGES)
def test_body_temperature_half_open_bands(celsius: float, points: int) -> None:
    assert score_body_temperature(celsius) == points


def _normal(**changes: object) -> Vitals:
    base: dict[str, object] = {
        "respiratory_rate": 16,
        "spo2": 97,
        "on_oxygen": False,
        "systolic_bp": 120,
        "heart_rate": 70,
        "consciousness": Consciousness.ALERT,
        "body_temperature": 37.0,
    }
    base.update(changes)
    return Vitals(**base)  # type: ignore[arg-type]


def test_normal_observations_score_zero_low_risk() -> None:
    result = score(_normal())
    assert result.score == 0
    assert result.risk is ClinicalRisk.LOW
    assert not result.red_flag
    assert result.complete
    assert list(result.subscores) == list(Parameter)
    assert set(result.subscores.values()) == {0}


@pytest.mark.parametrize(
    ("changes", "aggregate", "red_flag", "risk"),
    [
        # 1-4 without a red score: low
        ({"heart_rate": 95}, 1, False, ClinicalRisk.LOW),
        ({"respiratory_rate": 22, "heart_rate": 115}, 4, False, ClinicalRisk.LOW),
        # a single 3 with aggregate below 5: low-medium
        ({"consciousness": Consciousness.VOICE}, 3, True, ClinicalRisk.LOW_MEDIUM),
        ({"systolic_bp": 90, "heart_rate": 95}, 4, True, ClinicalRisk.LOW_MEDIUM),
        # 5-6: medium, whether or not a red score is present
        ({"respiratory_rate": 22, "heart_rate": 115, "body_temperature": 38.5}, 5, False,
         ClinicalRisk.MEDIUM),
        ({"spo2": 91, "on_oxygen": True}, 5, True, ClinicalRisk.MEDIUM),
        ({"spo2": 91, "on_oxygen": True, "heart_rate": 95}, 6, True, ClinicalRisk.MEDIUM),
        # 7+: high
        ({"respiratory_rate": 22, "heart_rate": 115, "spo2": 92, "body_temperature": 38.5}, 7,
         False, ClinicalRisk.HIGH),
        ({"respiratory_rate": 30, "spo2": 85, "on_oxygen": True, "systolic_bp": 85,
          "heart_rate": 140, "consciousness": Consciousness.UNRESPONSIVE,
          "body_temperature": 34.0}, 20, True, ClinicalRisk.HIGH),
    ],
)  # fmt: skip
def test_aggregate_red_flag_and_risk(
    changes: dict[str, object], aggregate: int, red_flag: bool, risk: ClinicalRisk
) -> None:
    result = score(_normal(**changes))
    assert (result.score, result.red_flag, result.risk) == (aggregate, red_flag, risk)


def test_scale_2_on_oxygen_high_saturation_is_a_red_score() -> None:
    result = score(_normal(spo2=97, on_oxygen=True, spo2_scale=SpO2Scale.SCALE_2))
    assert result.subscores[Parameter.SPO2] == 3
    assert result.subscores[Parameter.ON_OXYGEN] == 2
    assert result.score == 5
    assert result.red_parameters == (Parameter.SPO2,)
    assert result.risk is ClinicalRisk.MEDIUM


def test_scale_2_on_air_high_saturation_scores_nothing() -> None:
    result = score(_normal(spo2=97, on_oxygen=False, spo2_scale=SpO2Scale.SCALE_2))
    assert result.score == 0


def test_oxygen_alone_never_makes_a_red_score() -> None:
    result = score(_normal(on_oxygen=True))
    assert (result.score, result.red_flag, result.risk) == (2, False, ClinicalRisk.LOW)


@pytest.mark.parametrize(
    ("aggregate", "red_flag", "risk"),
    [
        (0, False, ClinicalRisk.LOW),
        (4, False, ClinicalRisk.LOW),
        (3, True, ClinicalRisk.LOW_MEDIUM),
        (4, True, ClinicalRisk.LOW_MEDIUM),
        (5, False, ClinicalRisk.MEDIUM),
        (6, True, ClinicalRisk.MEDIUM),
        (7, False, ClinicalRisk.HIGH),
        (20, True, ClinicalRisk.HIGH),
    ],
)
def test_clinical_risk_chart_4(aggregate: int, red_flag: bool, risk: ClinicalRisk) -> None:
    assert clinical_risk(aggregate, red_flag=red_flag) is risk


def test_risk_bands_are_ordered() -> None:
    assert ClinicalRisk.LOW < ClinicalRisk.LOW_MEDIUM < ClinicalRisk.MEDIUM < ClinicalRisk.HIGH
    assert max(ClinicalRisk) is ClinicalRisk.HIGH


def test_missing_parameters_make_an_incomplete_lower_bound() -> None:
    result = score(Vitals(respiratory_rate=26, heart_rate=95))
    assert not result.complete
    assert result.missing == frozenset(Parameter) - {
        Parameter.RESPIRATORY_RATE,
        Parameter.HEART_RATE,
    }
    assert result.score == 4
    assert result.red_flag
    assert result.risk is ClinicalRisk.LOW_MEDIUM


def test_scale_2_high_saturation_without_oxygen_status_is_missing_not_guessed() -> None:
    result = score(_normal(spo2=95, on_oxygen=None, spo2_scale=SpO2Scale.SCALE_2))
    assert result.missing == {Parameter.SPO2, Parameter.ON_OXYGEN}


def test_score_rejects_a_parameter_both_present_and_missing() -> None:
    with pytest.raises(ValueError, match="both scored and missing"):
        News2Score(subscores={Parameter.SPO2: 0}, missing=frozenset({Parameter.SPO2}))


@pytest.mark.parametrize(
    ("changes", "parameter"),
    [
        ({"spo2": 101}, Parameter.SPO2),
        ({"spo2": -1}, Parameter.SPO2),
        ({"heart_rate": -5}, Parameter.HEART_RATE),
        ({"respiratory_rate": -1}, Parameter.RESPIRATORY_RATE),
        ({"systolic_bp": 400}, Parameter.SYSTOLIC_BP),
        ({"body_temperature": 98.6}, Parameter.BODY_TEMPERATURE),
        ({"body_temperature": 20.0}, Parameter.BODY_TEMPERATURE),
    ],
)
def test_implausible_values_are_input_errors(
    changes: dict[str, object], parameter: Parameter
) -> None:
    with pytest.raises(VitalSignRangeError) as caught:
        _normal(**changes)
    assert caught.value.parameter is parameter
    assert isinstance(caught.value, InputError)
    assert caught.value.exit_code == ExitCode.USAGE
    assert parameter.value in str(caught.value)


def test_fahrenheit_gets_a_hint() -> None:
    with pytest.raises(VitalSignRangeError, match="Celsius, not Fahrenheit"):
        _normal(body_temperature=101.3)


@pytest.mark.parametrize(
    ("text", "level"), [("A", Consciousness.ALERT), (" v ", Consciousness.VOICE)]
)
def test_consciousness_parse(text: str, level: Consciousness) -> None:
    assert Consciousness.parse(text) is level


def test_consciousness_parse_rejects_other_letters() -> None:
    with pytest.raises(InputError, match="ACVPU"):
        Consciousness.parse("X")


@pytest.mark.parametrize(
    ("value", "scale"),
    [(None, SpO2Scale.SCALE_1), (1, SpO2Scale.SCALE_1), ("2", SpO2Scale.SCALE_2)],
)
def test_spo2_scale_parse(value: int | str | None, scale: SpO2Scale) -> None:
    assert SpO2Scale.parse(value) is scale


@pytest.mark.parametrize("value", [0, 3, "two"])
def test_spo2_scale_parse_rejects_others(value: int | str) -> None:
    with pytest.raises(InputError, match="1 or 2"):
        SpO2Scale.parse(value)
