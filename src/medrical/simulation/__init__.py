"""Synthetic patients and their vital signs: pure, seeded, no network.

Everything this package produces is synthetic. It is not a medical device and its output is
not for clinical use.
"""

from medrical.simulation.clock import seconds_until_due
from medrical.simulation.physiology import Baseline, PatientProfile
from medrical.simulation.reading import CONSCIOUSNESS_LEVELS, FIELD_NAMES, Reading
from medrical.simulation.replay import CsvReplay, RowProblem
from medrical.simulation.scenario import (
    MIX,
    Insults,
    Scenario,
    builtin_scenario_names,
    load_builtin_scenario,
    load_scenario_file,
)
from medrical.simulation.shard import WHOLE_WARD, Shard
from medrical.simulation.simulator import CADENCES, Cadence, Simulator
from medrical.vitals import SURVIVABLE_BOUNDS

__all__ = [
    "CADENCES",
    "CONSCIOUSNESS_LEVELS",
    "FIELD_NAMES",
    "MIX",
    "SURVIVABLE_BOUNDS",
    "WHOLE_WARD",
    "Baseline",
    "Cadence",
    "CsvReplay",
    "Insults",
    "PatientProfile",
    "Reading",
    "RowProblem",
    "Scenario",
    "Shard",
    "Simulator",
    "builtin_scenario_names",
    "load_builtin_scenario",
    "load_scenario_file",
    "seconds_until_due",
]
