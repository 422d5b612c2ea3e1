"""When each simulated patient's deterioration begins: the ground truth alerts are judged by.

A scenario deteriorates from the first stretch of its timeline in which some insult moves away
from its neutral value (a numeric track growing in size, or consciousness stepping down the
ACVPU scale); its onset is where that stretch starts (for consciousness, the step itself). A
scenario that only holds or improves (stable, recovery) has no onset. A patient meets the
onset at the event time their own pace and entry point into the scenario give; for a patient
admitted past it, that time lies before their first reading.
"""

from __future__ import annotations

from typing import Final

from medrical.simulation.physiology import PatientProfile
from medrical.simulation.reading import CONSCIOUSNESS_LEVELS
from medrical.simulation.scenario import Insults, Scenario
from medrical.timestamps import MAX_EVENT_TIME_MS, MIN_EVENT_TIME_MS

_HOUR_MS: Final = 3_600_000
_NEUTRAL: Final = Insults()
# Interpolated values compare equal within this; keyframes hold a few decimals at most.
_EPSILON: Final = 1e-9


def onset_hours(scenario: Scenario) -> float | None:
    """The scenario time (hours) at which its deterioration begins, or None if it never does."""
    candidates: list[float] = []
    for name, (times, values) in scenario.tracks.items():
        neutral = float(getattr(_NEUTRAL, name))
        for index in range(1, len(times)):
            if abs(values[index] - neutral) > abs(values[index - 1] - neutral) + _EPSILON:
                candidates.append(times[index - 1])
                break
    times, levels = scenario.consciousness_track
    for index in range(1, len(times)):
        if CONSCIOUSNESS_LEVELS.index(levels[index]) > CONSCIOUSNESS_LEVELS.index(
            levels[index - 1]
        ):
            candidates.append(times[index])
            break
    return min(candidates) if candidates else None


def onset_time(profile: PatientProfile, scenario: Scenario, start_ms: int) -> int | None:
    """The event time (ms) at which `profile` meets the scenario's onset, for a simulation that
    started at `start_ms`; None if the scenario never deteriorates."""
    hours = onset_hours(scenario)
    if hours is None:
        return None
    # The simulator's scenario clock: (t - start) in hours * pace + entry offset.
    onset = start_ms + round((hours - profile.scenario_offset_h) / profile.pace * _HOUR_MS)
    # A stream that starts near year 1 (or ends near 9999) may put the onset beyond the
    # calendar, where no time can be written; its edge keeps it before (or after) every reading.
    return min(max(onset, MIN_EVENT_TIME_MS), MAX_EVENT_TIME_MS)
