"""One patient's latent vitals during a run of `Simulator.readings`: the targets they revert
to (from the scenario and the time of day) and the Ornstein-Uhlenbeck dynamics of each, with
the fast normal draws that drive them."""

from __future__ import annotations

import functools
import math
import random
import statistics
from typing import Final

from medrical.simulation.physiology import PatientProfile, circadian, oxygen_fio2, targets
from medrical.simulation.scenario import Scenario

# Per vital: (time constant of reversion in s, stationary SD of the latent value, SD of the
# measurement noise). Temperature drifts slowly; SpO2 and heart rate wander quickly.
HEART_RATE: Final = (180.0, 3.0, 1.0)
SYSTOLIC: Final = (600.0, 5.0, 2.0)
DIASTOLIC: Final = (600.0, 3.5, 1.5)
TEMPERATURE: Final = (1800.0, 0.12, 0.05)
SPO2: Final = (120.0, 0.7, 0.4)
RESPIRATORY_RATE: Final = (300.0, 1.2, 0.6)

TARGET_REFRESH_MS: Final = 60_000
"""Scenarios change over hours; recomputing targets once a minute keeps readings cheap."""
AIR_FIO2: Final = 0.21

NORMAL_BITS: Final = 14


@functools.cache
def normal_quantiles() -> tuple[float, ...]:
    """Standard normal quantiles at 2**14 evenly spaced probabilities.

    Indexing them with random bits is inverse-transform sampling of the normal distribution,
    discretised finely enough for noise, and a few times cheaper than ``random.gauss``, which
    dominated the cost of a reading. It also bounds the noise at about 3.9 SD.
    """
    size = 1 << NORMAL_BITS
    standard = statistics.NormalDist()
    return tuple(standard.inv_cdf((index + 0.5) / size) for index in range(size))


def ou_step(tau_s: float, sd: float, dt_s: float) -> tuple[float, float]:
    """Exact OU discretisation: x' = mu + (x - mu) * a + b * N(0, 1)."""
    a = math.exp(-dt_s / tau_s)
    return a, sd * math.sqrt(1.0 - a * a)


class PatientState:
    """The mutable part of a patient during one run of `Simulator.readings`."""

    __slots__ = (
        "artifact_left",
        "artifact_probe_off",
        "artifact_spike",
        "bits",
        "chance",
        "consciousness",
        "diastolic",
        "diastolic_target",
        "fio2",
        "heart_rate",
        "heart_rate_target",
        "on_oxygen",
        "onset_time",
        "profile",
        "refresh_due",
        "respiratory_rate",
        "respiratory_rate_target",
        "rng",
        "round_due",
        "scenario",
        "spo2",
        "spo2_target",
        "systolic",
        "systolic_target",
        "temperature",
        "temperature_due",
        "temperature_target",
        "uniform",
    )

    def __init__(self, profile: PatientProfile, scenario: Scenario, rng: random.Random) -> None:
        self.profile = profile
        self.scenario = scenario
        self.rng = rng
        self.bits = rng.getrandbits
        self.chance = rng.random
        self.uniform = rng.uniform
        baseline = profile.baseline
        self.heart_rate = self.heart_rate_target = baseline.heart_rate
        self.systolic = self.systolic_target = baseline.systolic_bp
        self.diastolic = self.diastolic_target = baseline.diastolic_bp
        self.temperature = self.temperature_target = baseline.body_temperature
        self.spo2 = self.spo2_target = baseline.spo2
        self.respiratory_rate = self.respiratory_rate_target = baseline.respiratory_rate
        self.consciousness = "A"
        self.fio2 = AIR_FIO2
        self.on_oxygen = False
        self.refresh_due = 0
        self.round_due = 0
        self.temperature_due = 0
        self.artifact_left = 0
        self.artifact_probe_off = False
        self.artifact_spike = 0
        self.onset_time: int | None = None

    def refresh(self, now_ms: int, start_ms: int) -> None:
        """Recompute the targets for the scenario time and time of day at ``now_ms``."""
        profile = self.profile
        hours = (now_ms - start_ms) / 3_600_000 * profile.pace + profile.scenario_offset_h
        insults = self.scenario.insults_at(hours)
        rhythm = circadian((now_ms // 1000) % 86_400 / 3600.0)
        self.fio2 = oxygen_fio2(profile, insults, self.scenario.oxygen_target_spo2, self.fio2)
        self.on_oxygen = self.fio2 > AIR_FIO2
        self.consciousness = insults.consciousness
        goal = targets(profile, insults, self.fio2, self.temperature, rhythm)
        self.heart_rate_target = goal.heart_rate
        self.systolic_target = goal.systolic_bp
        self.diastolic_target = goal.diastolic_bp
        self.temperature_target = goal.body_temperature
        self.spo2_target = goal.spo2
        self.respiratory_rate_target = goal.respiratory_rate
        self.refresh_due = now_ms + TARGET_REFRESH_MS

    def settle(self) -> None:
        """Start each latent value but temperature at a stationary draw around its target."""
        gauss = self.rng.gauss
        self.heart_rate = gauss(self.heart_rate_target, HEART_RATE[1])
        self.systolic = gauss(self.systolic_target, SYSTOLIC[1])
        self.diastolic = gauss(self.diastolic_target, DIASTOLIC[1])
        self.spo2 = gauss(self.spo2_target, SPO2[1])
        self.respiratory_rate = gauss(self.respiratory_rate_target, RESPIRATORY_RATE[1])
