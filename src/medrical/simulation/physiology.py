"""Synthetic patients: who they are (profile) and where their vitals are heading (targets).

The numbers come from published normal ranges and textbook physiology; docs/scenarios.md lists
the sources. Everything here is synthetic and not for clinical use.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

from medrical.simulation.scenario import AGE_BANDS, Insults, Scenario

MIN_PULSE_PRESSURE: Final = 5
"""Diastolic is kept at least this far below systolic (mmHg)."""

_AGE_BAND_WEIGHTS: Final = (0.15, 0.30, 0.33, 0.22)
"""Adult medical ward admissions skew old."""
_AGE_YEARS: Final = {"18-39": (18, 39), "40-64": (40, 64), "65-79": (65, 79), "80+": (80, 95)}
_CONDITION_WEIGHTS: Final[dict[str, dict[str, float]]] = {
    # Rough adult prevalences by age band: none, hypertension, diabetes, copd, heart failure.
    "18-39": {"none": 0.85, "hypertension": 0.07, "type-2-diabetes": 0.04, "copd": 0.02,
              "heart-failure": 0.02},
    "40-64": {"none": 0.55, "hypertension": 0.25, "type-2-diabetes": 0.10, "copd": 0.06,
              "heart-failure": 0.04},
    "65-79": {"none": 0.35, "hypertension": 0.35, "type-2-diabetes": 0.12, "copd": 0.10,
              "heart-failure": 0.08},
    "80+": {"none": 0.30, "hypertension": 0.35, "type-2-diabetes": 0.10, "copd": 0.12,
            "heart-failure": 0.13},
}  # fmt: skip
# Office blood pressure by age (mean, sd): systolic rises with age, diastolic falls after 60.
_SYSTOLIC_BY_AGE: Final = {"18-39": (117, 9), "40-64": (124, 11), "65-79": (132, 12),
                           "80+": (136, 13)}  # fmt: skip
_DIASTOLIC_BY_AGE: Final = {"18-39": (72, 7), "40-64": (79, 7), "65-79": (76, 8),
                            "80+": (71, 8)}  # fmt: skip

_BAROMETRIC_MINUS_WATER_MMHG: Final = 713.0  # 760 mmHg at sea level minus 47 mmHg water vapour
_RESPIRATORY_QUOTIENT: Final = 0.8
_NORMAL_PACO2_MMHG: Final = 40.0
_AIR_FIO2: Final = 0.21
_HEALTHY_OXYGENATION_RATIO: Final = 0.95
FEVER_HEART_RATE_BPM_PER_C: Final = 10.0


def saturation_from_pao2(pao2_mmhg: float) -> float:
    """Haemoglobin saturation (%) for an arterial PO2, by Severinghaus' (1979) equation."""
    pao2 = max(pao2_mmhg, 1.0)
    return 100.0 / (23400.0 / (pao2**3 + 150.0 * pao2) + 1.0)


def pao2_from_saturation(saturation: float) -> float:
    """Arterial PO2 (mmHg) that gives ``saturation`` (%), inverting Severinghaus by bisection.

    Every patient of a ward is drawn with one inversion, so it is written for speed: the curve
    inline (the bracket never goes below 1 mmHg, where `saturation_from_pao2` clamps), and no
    more halvings once the bracket holds two neighbouring floats, after which a halving
    changes nothing: the result is the one sixty halvings give.
    """
    saturation = min(max(saturation, 1.0), 99.99)
    low, high = 1.0, 2000.0
    for _ in range(60):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        if 100.0 / (23400.0 / (middle**3 + 150.0 * middle) + 1.0) < saturation:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def alveolar_po2(fio2: float, paco2_mmhg: float) -> float:
    """Alveolar PO2 by the simplified alveolar gas equation, at sea level."""
    return fio2 * _BAROMETRIC_MINUS_WATER_MMHG - paco2_mmhg / _RESPIRATORY_QUOTIENT


@dataclass(frozen=True, slots=True)
class Baseline:
    """A patient's own normal vitals at rest, on room air, without circadian swing."""

    heart_rate: float
    systolic_bp: float
    diastolic_bp: float
    body_temperature: float
    spo2: float
    respiratory_rate: float


@dataclass(frozen=True, slots=True)
class PatientProfile:
    """A synthetic patient: persistent identity, who they are, and their own normal."""

    patient_id: str
    scenario: str
    age_years: int
    age_band: str
    chronic_condition: str
    spo2_scale: int
    """NEWS2 SpO2 scale: 2 only for confirmed hypercapnic respiratory failure."""
    baseline: Baseline
    paco2_mmhg: float
    """Arterial CO2; raised in hypercapnic respiratory failure, lowering alveolar oxygen."""
    oxygenation_ratio: float
    """Arterial/alveolar PO2 ratio on air: how well this patient's lungs transfer oxygen."""
    oximeter_offset: float
    """How far this patient's pulse oximetry reads above the arterial saturation (%)."""
    pace: float
    """How fast this patient moves through the scenario (1.0 = as written)."""
    scenario_offset_h: float
    """Where in the scenario's timeline this patient was when the simulation started."""


def patient_id(number: int) -> str:
    """The synthetic identity of the ``number``-th patient (1-based): ``P-000001``."""
    return f"P-{number:06d}"


def _clipped_gauss(rng: random.Random, mean: float, sd: float, low: float, high: float) -> float:
    return min(max(rng.gauss(mean, sd), low), high)


def draw_profile(
    rng: random.Random, number: int, scenario: Scenario, *, offset_into_scenario: bool
) -> PatientProfile:
    """Draw a patient for ``scenario`` from published normal ranges and rough prevalences."""
    bands: Sequence[str] = scenario.age_bands or AGE_BANDS
    weights = [_AGE_BAND_WEIGHTS[AGE_BANDS.index(band)] for band in bands]
    band = rng.choices(bands, weights)[0]
    age = rng.randint(*_AGE_YEARS[band])
    if scenario.chronic_condition is not None:
        condition = scenario.chronic_condition
    else:
        table = _CONDITION_WEIGHTS[band]
        condition = rng.choices(list(table), list(table.values()))[0]
    hypercapnic = scenario.spo2_scale == 2

    heart_rate = _clipped_gauss(rng, 74.0, 8.0, 58.0, 90.0)
    if condition == "heart-failure":
        heart_rate -= 5.0  # most are on a beta blocker
    respiratory_rate = _clipped_gauss(rng, 15.0, 1.6, 12.5, 18.5)
    if condition == "copd":
        respiratory_rate += 1.5
    temperature = _clipped_gauss(rng, 36.6, 0.2, 36.4, 37.0)
    systolic_mean, systolic_sd = _SYSTOLIC_BY_AGE[band]
    diastolic_mean, diastolic_sd = _DIASTOLIC_BY_AGE[band]
    if condition == "hypertension":
        systolic_mean += 12
        diastolic_mean += 6
    systolic = _clipped_gauss(rng, systolic_mean, systolic_sd, 116.0, 165.0)
    diastolic = _clipped_gauss(rng, diastolic_mean, diastolic_sd, 58.0, min(95.0, systolic - 30))
    if hypercapnic:
        paco2 = _clipped_gauss(rng, 55.0, 2.5, 50.0, 62.0)
        spo2_on_air = _clipped_gauss(rng, 86.0, 1.2, 84.0, 87.5)
    else:
        paco2 = _NORMAL_PACO2_MMHG
        mean = 97.3 - (0.5 if band == "80+" else 0.0) - (2.0 if condition == "copd" else 0.0)
        spo2_on_air = _clipped_gauss(rng, mean, 0.9, 95.0, 99.3)
    # Severinghaus' curve is so flat near the top that a reading of 99% would imply an
    # arterial PO2 above the alveolar one; cap the ratio at healthy young lungs' and let the
    # rest be the oximeter's own bias (devices are accurate only to about 2%).
    air_alveolar = alveolar_po2(_AIR_FIO2, paco2)
    ratio = min(pao2_from_saturation(spo2_on_air) / air_alveolar, _HEALTHY_OXYGENATION_RATIO)
    oximeter_offset = spo2_on_air - saturation_from_pao2(ratio * air_alveolar)
    pace = math.exp(rng.uniform(math.log(0.8), math.log(1.25))) if scenario.duration_h else 1.0
    scenario_offset_h = rng.uniform(0.0, 0.5 * scenario.duration_h) if offset_into_scenario else 0.0
    return PatientProfile(
        patient_id=patient_id(number),
        scenario=scenario.name,
        age_years=age,
        age_band=band,
        chronic_condition=condition,
        spo2_scale=2 if hypercapnic else 1,
        baseline=Baseline(
            heart_rate=heart_rate,
            systolic_bp=systolic,
            diastolic_bp=diastolic,
            body_temperature=temperature,
            spo2=spo2_on_air,
            respiratory_rate=respiratory_rate,
        ),
        paco2_mmhg=paco2,
        oxygenation_ratio=ratio,
        oximeter_offset=oximeter_offset,
        pace=pace,
        scenario_offset_h=scenario_offset_h,
    )


# Hypovolaemia after the ATLS classes of haemorrhage: (blood loss %, change) breakpoints.
_BLOOD_LOSS_HEART_RATE: Final = ((0, 0.0), (15, 8.0), (30, 32.0), (40, 52.0), (60, 80.0))
_BLOOD_LOSS_SYSTOLIC: Final = ((0, 0.0), (15, 0.0), (30, -8.0), (40, -35.0), (60, -60.0))
_BLOOD_LOSS_PULSE_PRESSURE: Final = ((0, 1.0), (15, 0.95), (30, 0.72), (40, 0.6), (60, 0.5))
_BLOOD_LOSS_RESPIRATORY_RATE: Final = ((0, 0.0), (15, 2.0), (30, 7.0), (40, 12.0), (60, 18.0))


def _piecewise(breakpoints: tuple[tuple[int, float], ...], x: float) -> float:
    previous_x, previous_y = breakpoints[0]
    if x <= previous_x:
        return previous_y
    for next_x, next_y in breakpoints[1:]:
        if x <= next_x:
            return previous_y + (x - previous_x) / (next_x - previous_x) * (next_y - previous_y)
        previous_x, previous_y = next_x, next_y
    return previous_y


class Circadian(NamedTuple):
    """Circadian offsets from a patient's 24-hour mean at one time of day."""

    heart_rate: float
    systolic_bp: float
    diastolic_bp: float
    body_temperature: float


def circadian(hour_of_day: float) -> Circadian:
    """Mild circadian swing: lowest in the early morning, highest in the afternoon."""
    angle = 2.0 * math.pi / 24.0
    return Circadian(
        heart_rate=4.0 * math.cos(angle * (hour_of_day - 16.0)),
        systolic_bp=6.0 * math.cos(angle * (hour_of_day - 14.0)),
        diastolic_bp=4.5 * math.cos(angle * (hour_of_day - 14.0)),
        body_temperature=0.2 * math.cos(angle * (hour_of_day - 17.0)),
    )


@functools.lru_cache(maxsize=1024)
def _pao2_for_reading(saturation: float) -> float:
    """Titration asks for the same few targets over and over; spare the bisection."""
    return pao2_from_saturation(saturation)


class Targets(NamedTuple):
    """Where a patient's vitals are heading now; the processes revert towards these."""

    heart_rate: float
    systolic_bp: float
    diastolic_bp: float
    body_temperature: float
    spo2: float
    respiratory_rate: float


def oxygen_fio2(
    profile: PatientProfile, insults: Insults, target: tuple[int, int] | None, current: float
) -> float:
    """The inspired oxygen fraction: as the scenario says, or titrated to a target SpO2 range.

    Titration starts oxygen when the patient falls below the range on air, aims at its middle,
    and weans back to air once air alone keeps the patient half a point above its floor; in
    between it keeps whatever the patient is on, so it does not flap at the edge.
    """
    if target is None:
        return insults.fio2
    low, high = target
    ratio = profile.oxygenation_ratio * (1.0 - 0.7 * insults.respiratory_failure)
    offset = profile.oximeter_offset
    on_air = saturation_from_pao2(ratio * alveolar_po2(_AIR_FIO2, profile.paco2_mmhg)) + offset
    if on_air >= low + 0.5:
        return _AIR_FIO2
    if on_air >= low and current <= _AIR_FIO2:
        return _AIR_FIO2
    wanted_pao2 = _pao2_for_reading((low + high) / 2.0 - offset)
    needed = (wanted_pao2 / ratio + profile.paco2_mmhg / _RESPIRATORY_QUOTIENT) / (
        _BAROMETRIC_MINUS_WATER_MMHG
    )
    # Venturi masks and cannulae are set in whole percent; round up to reach the range.
    return min(max(math.ceil(needed * 100.0) / 100.0, 0.22), 0.6)


def targets(
    profile: PatientProfile,
    insults: Insults,
    fio2: float,
    core_temperature: float,
    rhythm: Circadian,
) -> Targets:
    """Combine baseline, scenario insults, coupling between vitals and the circadian rhythm.

    ``core_temperature`` is the patient's current (latent) temperature, so that heart rate
    follows the fever the patient actually has, not the one the scenario asks for.
    """
    baseline = profile.baseline
    loss = insults.blood_loss_pct
    fever_excess = core_temperature - baseline.body_temperature - rhythm.body_temperature
    heart_rate = (
        baseline.heart_rate * insults.heart_rate_scale
        + insults.heart_rate_delta
        + FEVER_HEART_RATE_BPM_PER_C * fever_excess
        + _piecewise(_BLOOD_LOSS_HEART_RATE, loss)
        + 20.0 * insults.vasodilation
        + 12.0 * insults.respiratory_failure
        + rhythm.heart_rate
    )
    systolic = (
        baseline.systolic_bp
        + insults.systolic_delta
        - 50.0 * insults.vasodilation
        + _piecewise(_BLOOD_LOSS_SYSTOLIC, loss)
        + rhythm.systolic_bp
    )
    diastolic = (
        baseline.diastolic_bp
        + insults.diastolic_delta
        - 35.0 * insults.vasodilation
        + rhythm.diastolic_bp
    )
    # Hypovolaemia narrows the pulse pressure: diastolic holds up while systolic falls.
    pulse_pressure = max(
        (systolic - diastolic) * _piecewise(_BLOOD_LOSS_PULSE_PRESSURE, loss),
        MIN_PULSE_PRESSURE + 5.0,
    )
    ratio = profile.oxygenation_ratio * (1.0 - 0.7 * insults.respiratory_failure)
    spo2 = min(
        saturation_from_pao2(ratio * alveolar_po2(fio2, profile.paco2_mmhg))
        + profile.oximeter_offset,
        100.0,
    )
    respiratory_rate = (
        baseline.respiratory_rate
        + insults.respiratory_rate_delta
        + 14.0 * insults.respiratory_failure
        + _piecewise(_BLOOD_LOSS_RESPIRATORY_RATE, loss)
        + 1.5 * max(fever_excess, 0.0)
    )
    return Targets(
        heart_rate=heart_rate,
        systolic_bp=systolic,
        diastolic_bp=systolic - pulse_pressure,
        body_temperature=baseline.body_temperature + insults.fever_c + rhythm.body_temperature,
        spo2=spo2,
        respiratory_rate=respiratory_rate,
    )
