"""The simulator: many synthetic patients, one seeded stream of readings in event-time order.

Every patient draws from random streams of its own, seeded from the seed and the patient's
number: a patient's profile and readings are the same whichever other patients are simulated
beside it, so a ward split into shards (processes, machines) gives the same readings as the
whole ward in one process.

Each vital is a latent physiological value that reverts towards the patient's current target
as an Ornstein-Uhlenbeck process, discretised exactly for the step between two readings, so
consecutive readings are strongly correlated. A reading adds measurement noise to the latent
value and rounds it to what a bedside device shows.
"""

from __future__ import annotations

import functools
import math
import os
import random
import time
from collections.abc import Iterator
from typing import Final, Literal, get_args

from medrical.errors import InputError
from medrical.simulation.latent import (
    DIASTOLIC,
    HEART_RATE,
    NORMAL_BITS,
    RESPIRATORY_RATE,
    SPO2,
    SYSTOLIC,
    TEMPERATURE,
    PatientState,
    normal_quantiles,
    ou_step,
)
from medrical.simulation.onsets import onset_time
from medrical.simulation.physiology import (
    MIN_PULSE_PRESSURE,
    PatientProfile,
    draw_profile,
)
from medrical.simulation.reading import Reading
from medrical.simulation.scenario import MIX, Scenario, resolve_scenarios
from medrical.simulation.shard import WHOLE_WARD, Shard
from medrical.timestamps import EVENT_TIME_RANGE, event_time_in_range
from medrical.vitals import SURVIVABLE_BOUNDS

Cadence = Literal["monitor", "ward"]
CADENCES: Final[tuple[str, ...]] = get_args(Cadence)

# Ward observation rounds (ms): blood pressure, respiration and consciousness every
# 15-60 minutes, temperature every 2-6 hours.
_WARD_ROUND_MS: Final = (15 * 60_000, 60 * 60_000)
_WARD_TEMPERATURE_MS: Final = (2 * 3_600_000, 6 * 3_600_000)

# Artifacts: probe-off dropouts last seconds, motion spikes a beat or three.
_PROBE_OFF_SHARE: Final = 0.6
_PROBE_OFF_S: Final = (5.0, 30.0)
_MOTION_S: Final = (1.0, 3.0)
_MOTION_SPIKE_BPM: Final = (40.0, 90.0)

_HR_LOW, _HR_HIGH = (int(bound) for bound in SURVIVABLE_BOUNDS["heart_rate"])
_SBP_LOW, _SBP_HIGH = (int(bound) for bound in SURVIVABLE_BOUNDS["systolic_bp"])
_DBP_LOW, _DBP_HIGH = (int(bound) for bound in SURVIVABLE_BOUNDS["diastolic_bp"])
_TEMP_LOW, _TEMP_HIGH = SURVIVABLE_BOUNDS["body_temperature"]
_SPO2_LOW, _SPO2_HIGH = (int(bound) for bound in SURVIVABLE_BOUNDS["spo2"])
_RR_LOW, _RR_HIGH = (int(bound) for bound in SURVIVABLE_BOUNDS["respiratory_rate"])


MAX_INTERVAL_S: Final = 86_400
"""Readings at most a day apart: NEWS2 observations are never rarer."""

MAX_PATIENTS: Final = 1_000_000
"""The most patients one Simulator holds: each is drawn and kept in memory (about 1 KiB)
before the first reading, so a million take about a GiB and minutes; more would only exhaust
the machine. A larger ward is simulated in shards."""


class Simulator:
    """A seeded population of synthetic patients and the stream of their readings.

    The arguments map to the ``produce`` flags: ``patients`` (--patients), ``seed`` (--seed),
    ``scenario`` (--scenario: a built-in name or ``mix``; a path also works),
    ``scenario_file`` (--scenario-file), ``interval_s`` (--interval: seconds of event time
    between two readings of one patient), ``start_ms`` (--start: event time of the first
    reading, ms since the epoch; default now), ``cadence`` (--cadence) and ``artifact_rate``
    (--artifact-rate: the chance that a reading starts a probe-off or motion artifact).
    ``shard`` (--shard, --workers) picks the patients of the ward of ``patients`` that this
    simulator holds; their readings are those of the whole ward, staggered as in it.
    """

    def __init__(
        self,
        patients: int,
        seed: int,
        scenario: str | os.PathLike[str] = "stable",
        *,
        scenario_file: str | os.PathLike[str] | None = None,
        interval_s: float = 1.0,
        start_ms: int | None = None,
        cadence: Cadence = "monitor",
        artifact_rate: float = 0.0,
        shard: Shard = WHOLE_WARD,
    ) -> None:
        if isinstance(patients, bool) or not isinstance(patients, int) or patients < 1:
            raise InputError(
                f"The number of patients must be a whole number >= 1, not {patients!r}."
            )
        held = len(shard.numbers(patients))
        if held > MAX_PATIENTS:
            raise InputError(
                f"{held:,} patients are more than one simulator holds ({MAX_PATIENTS:,}): each "
                "is kept in memory, about 1 KiB each.",
                hint="Simulate fewer, or split the ward into shards, each simulated apart.",
            )
        if shard.count > patients:
            raise InputError(
                f"A ward of {patients} patient(s) cannot be split {shard.count} ways: "
                "every share needs a patient.",
                hint=f"Give --patients {shard.count} or more.",
            )
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InputError(f"The seed must be a whole number, not {seed!r}.")
        if not math.isfinite(interval_s) or not 0.001 <= interval_s <= MAX_INTERVAL_S:
            raise InputError(
                f"The interval must lie between 0.001 s (one millisecond) and {MAX_INTERVAL_S} s "
                f"(a day), not {interval_s!r}."
            )
        if cadence not in CADENCES:
            raise InputError(
                f"Unknown cadence {cadence!r}.", hint=f"Choose {' or '.join(CADENCES)}."
            )
        if not 0.0 <= artifact_rate <= 1.0:
            raise InputError(f"The artifact rate must lie in 0..1, not {artifact_rate!r}.")
        if scenario_file is not None:
            if scenario != "stable":
                raise InputError("Give either a scenario name or a scenario file, not both.")
            scenario = scenario_file
        self.scenarios: tuple[Scenario, ...] = tuple(resolve_scenarios(scenario))
        self.seed = seed
        self.interval_s = interval_s
        self.interval_ms = round(interval_s * 1000)
        self.start_ms = int(time.time() * 1000) if start_ms is None else start_ms
        if not (
            event_time_in_range(self.start_ms)
            and event_time_in_range(self.start_ms + self.interval_ms - 1)
        ):
            raise InputError(
                f"The start leaves no room for a round of readings within {EVENT_TIME_RANGE}.",
                hint="Give a --start between 0001-01-01 and 9999-12-30.",
            )
        self.cadence: Cadence = cadence
        self.artifact_rate = artifact_rate
        self.ward_size = patients
        self.shard = shard
        self.numbers: tuple[int, ...] = tuple(shard.numbers(patients))
        self._is_mix = scenario == MIX

    @functools.cached_property
    def patients(self) -> tuple[PatientProfile, ...]:
        """The profiles of the patients this simulator holds, drawn at first use (a ward of
        100,000 takes seconds), so that constructing a Simulator only checks its arguments."""
        is_mix = self._is_mix
        weights = [scenario.mix_weight for scenario in self.scenarios]
        profiles = []
        for number in self.numbers:
            rng = random.Random(f"medrical-patient-{self.seed}-{number}")
            scenario = rng.choices(self.scenarios, weights)[0] if is_mix else self.scenarios[0]
            profiles.append(draw_profile(rng, number, scenario, offset_into_scenario=is_mix))
        return tuple(profiles)

    def onsets(self) -> dict[str, int]:
        """Each deteriorating patient's onset (event time, ms; see `onsets`), by patient id."""
        found = {}
        for profile in self.patients:
            onset = onset_time(profile, self._scenario_of(profile), self.start_ms)
            if onset is not None:
                found[profile.patient_id] = onset
        return found

    def _scenario_of(self, profile: PatientProfile) -> Scenario:
        return self._by_name[profile.scenario]

    @functools.cached_property
    def _by_name(self) -> dict[str, Scenario]:
        return {scenario.name: scenario for scenario in self.scenarios}

    def readings(self) -> Iterator[Reading]:
        """Yield readings forever: one per patient per interval, in event-time order.

        The ward's patients are staggered evenly within the interval, a shard's as in the
        whole ward. Every call starts the same stream afresh, so equal seeds give equal
        streams.
        """
        normal = normal_quantiles()
        width = NORMAL_BITS
        start_ms = self.start_ms
        interval_ms = self.interval_ms
        ward_size = self.ward_size
        states = [
            PatientState(
                profile,
                self._scenario_of(profile),
                random.Random(f"medrical-readings-{self.seed}-{number}"),
            )
            for number, profile in zip(self.numbers, self.patients, strict=True)
        ]
        offsets = [(number - 1) * interval_ms // ward_size for number in self.numbers]
        for state, offset in zip(states, offsets, strict=True):
            state.onset_time = onset_time(state.profile, state.scenario, start_ms)
            state.refresh(start_ms + offset, start_ms)
            state.temperature = state.rng.gauss(state.temperature_target, TEMPERATURE[1])
            # Heart rate is coupled to the temperature, so settle it on the second pass.
            state.refresh(start_ms + offset, start_ms)
            state.settle()

        dt_s = interval_ms / 1000.0
        a_hr, b_hr = ou_step(HEART_RATE[0], HEART_RATE[1], dt_s)
        a_sbp, b_sbp = ou_step(SYSTOLIC[0], SYSTOLIC[1], dt_s)
        a_dbp, b_dbp = ou_step(DIASTOLIC[0], DIASTOLIC[1], dt_s)
        a_temp, b_temp = ou_step(TEMPERATURE[0], TEMPERATURE[1], dt_s)
        a_spo2, b_spo2 = ou_step(SPO2[0], SPO2[1], dt_s)
        a_rr, b_rr = ou_step(RESPIRATORY_RATE[0], RESPIRATORY_RATE[1], dt_s)
        noise_hr, noise_sbp, noise_dbp = HEART_RATE[2], SYSTOLIC[2], DIASTOLIC[2]
        noise_temp, noise_spo2, noise_rr = TEMPERATURE[2], SPO2[2], RESPIRATORY_RATE[2]
        ward = self.cadence == "ward"
        artifact_rate = self.artifact_rate
        probe_off_readings = (_PROBE_OFF_S[0] / dt_s, _PROBE_OFF_S[1] / dt_s)
        motion_readings = (_MOTION_S[0] / dt_s, _MOTION_S[1] / dt_s)
        pairs = list(zip(states, offsets, strict=True))
        round_start = start_ms
        first_round = True

        while True:
            for state, offset in pairs:
                now = round_start + offset
                bits = state.bits
                if not first_round:
                    if now >= state.refresh_due:
                        state.refresh(now, start_ms)
                    target = state.heart_rate_target
                    state.heart_rate = (
                        target + (state.heart_rate - target) * a_hr + b_hr * normal[bits(width)]
                    )
                    target = state.systolic_target
                    state.systolic = (
                        target + (state.systolic - target) * a_sbp + b_sbp * normal[bits(width)]
                    )
                    target = state.diastolic_target
                    state.diastolic = (
                        target + (state.diastolic - target) * a_dbp + b_dbp * normal[bits(width)]
                    )
                    target = state.temperature_target
                    state.temperature = (
                        target
                        + (state.temperature - target) * a_temp
                        + b_temp * normal[bits(width)]
                    )
                    target = state.spo2_target
                    state.spo2 = (
                        target + (state.spo2 - target) * a_spo2 + b_spo2 * normal[bits(width)]
                    )
                    target = state.respiratory_rate_target
                    state.respiratory_rate = (
                        target
                        + (state.respiratory_rate - target) * a_rr
                        + b_rr * normal[bits(width)]
                    )

                heart_rate: int | None = min(
                    max(round(state.heart_rate + noise_hr * normal[bits(width)]), _HR_LOW), _HR_HIGH
                )
                spo2: int | None = min(
                    max(round(state.spo2 + noise_spo2 * normal[bits(width)]), _SPO2_LOW), _SPO2_HIGH
                )
                if ward and now < state.round_due:
                    systolic = diastolic = respiratory_rate = None
                    consciousness = None
                else:
                    if ward:
                        state.round_due = now + int(state.uniform(*_WARD_ROUND_MS))
                    systolic = min(
                        max(round(state.systolic + noise_sbp * normal[bits(width)]), _SBP_LOW),
                        _SBP_HIGH,
                    )
                    diastolic = min(
                        max(round(state.diastolic + noise_dbp * normal[bits(width)]), _DBP_LOW),
                        _DBP_HIGH,
                        systolic - MIN_PULSE_PRESSURE,
                    )
                    respiratory_rate = min(
                        max(
                            round(state.respiratory_rate + noise_rr * normal[bits(width)]), _RR_LOW
                        ),
                        _RR_HIGH,
                    )
                    consciousness = state.consciousness
                if ward and now < state.temperature_due:
                    temperature = None
                else:
                    if ward:
                        state.temperature_due = now + int(state.uniform(*_WARD_TEMPERATURE_MS))
                    temperature = min(
                        max(
                            round(state.temperature + noise_temp * normal[bits(width)], 1),
                            _TEMP_LOW,
                        ),
                        _TEMP_HIGH,
                    )

                if artifact_rate:
                    if state.artifact_left == 0 and state.chance() < artifact_rate:
                        state.artifact_probe_off = state.chance() < _PROBE_OFF_SHARE
                        span = probe_off_readings if state.artifact_probe_off else motion_readings
                        state.artifact_left = max(1, round(state.uniform(*span)))
                        state.artifact_spike = round(state.uniform(*_MOTION_SPIKE_BPM))
                    if state.artifact_left:
                        state.artifact_left -= 1
                        if state.artifact_probe_off:
                            heart_rate = spo2 = None
                        elif heart_rate is not None:
                            heart_rate = min(heart_rate + state.artifact_spike, _HR_HIGH)

                yield Reading(
                    state.profile.patient_id,
                    now,
                    heart_rate,
                    systolic,
                    diastolic,
                    temperature,
                    spo2,
                    respiratory_rate,
                    consciousness,
                    state.on_oxygen,
                    state.scenario.name,
                    state.profile.spo2_scale,
                    state.onset_time,
                )
            first_round = False
            round_start += interval_ms
            if not event_time_in_range(round_start + interval_ms - 1):
                return  # the calendar ends (year 9999) before the next round would
