"""Scenarios: timelines of physiological insults, written as TOML data.

A scenario file names its patients' situation (``[patient]``), an optional oxygen target that
the ward titrates to (``[oxygen]``) and a list of ``[[keyframes]]``. Each keyframe sets some
insults at an offset in hours; every insult is its own track, interpolated linearly between the
keyframes that set it, starting from its neutral value at hour 0 unless hour 0 sets it, and held
after its last keyframe. Consciousness is a step track: it holds until the next keyframe sets it.
"""

from __future__ import annotations

import bisect
import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from medrical.errors import InputError
from medrical.simulation.reading import CONSCIOUSNESS_LEVELS

MIX: Final = "mix"
"""The scenario name that selects a realistic ward mix of the built-in scenarios."""

AGE_BANDS: Final = ("18-39", "40-64", "65-79", "80+")
CHRONIC_CONDITIONS: Final = ("none", "hypertension", "type-2-diabetes", "copd", "heart-failure")


@dataclass(frozen=True, slots=True)
class Insults:
    """What a scenario does to a patient at one moment, relative to the patient's own normal."""

    fever_c: float = 0.0
    """Shift of the core temperature set point, deg C (negative for hypothermia)."""
    blood_loss_pct: float = 0.0
    """Share of the circulating blood volume lost, percent."""
    respiratory_failure: float = 0.0
    """Severity 0..1 of impaired gas exchange (lowers SpO2, raises respiration)."""
    vasodilation: float = 0.0
    """Severity 0..1 of distributive (e.g. septic) vasodilation (lowers pressures)."""
    fio2: float = 0.21
    """Inspired oxygen fraction; 0.21 is room air."""
    heart_rate_scale: float = 1.0
    """Multiplies the baseline heart rate (conduction disease, rate-limiting drugs)."""
    heart_rate_delta: float = 0.0
    systolic_delta: float = 0.0
    diastolic_delta: float = 0.0
    respiratory_rate_delta: float = 0.0
    consciousness: str = "A"


# Allowed range of every numeric insult; the neutral value comes from the Insults defaults.
_NUMERIC_RANGES: Final[dict[str, tuple[float, float]]] = {
    "fever_c": (-5.0, 5.0),
    "blood_loss_pct": (0.0, 60.0),
    "respiratory_failure": (0.0, 1.0),
    "vasodilation": (0.0, 1.0),
    "fio2": (0.21, 1.0),
    "heart_rate_scale": (0.3, 3.0),
    "heart_rate_delta": (-80.0, 120.0),
    "systolic_delta": (-100.0, 140.0),
    "diastolic_delta": (-60.0, 90.0),
    "respiratory_rate_delta": (-10.0, 40.0),
}
_NEUTRAL: Final = Insults()
_TOP_LEVEL_KEYS: Final = ("name", "description", "mix_weight", "patient", "oxygen", "keyframes")
_PATIENT_KEYS: Final = ("spo2_scale", "chronic_condition", "age_bands")
_OXYGEN_KEYS: Final = ("target_spo2",)
_KEYFRAME_KEYS: Final = ("at_h", *_NUMERIC_RANGES, "consciousness")
_NAME_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9_-]*")
_MAX_HOURS: Final = 24.0 * 365


@dataclass(frozen=True, slots=True)
class Scenario:
    """A validated scenario: who the patients are and what happens to them over time."""

    name: str
    description: str
    source: str
    """Where it came from: ``built-in`` or the file's path."""
    mix_weight: float
    """Relative share of the ward mix; 0 keeps the scenario out of ``mix``."""
    spo2_scale: int | None
    """Forces the NEWS2 SpO2 scale; 2 means confirmed hypercapnic respiratory failure."""
    chronic_condition: str | None
    age_bands: tuple[str, ...] | None
    oxygen_target_spo2: tuple[int, int] | None
    """When set, oxygen is titrated to this SpO2 range instead of following ``fio2``."""
    tracks: Mapping[str, tuple[tuple[float, ...], tuple[float, ...]]]
    """Per numeric insult: (hours, values), hours strictly increasing, starting at 0."""
    consciousness_track: tuple[tuple[float, ...], tuple[str, ...]]
    duration_h: float
    """Offset of the last keyframe: after it every insult holds its last value."""

    def insults_at(self, hours: float) -> Insults:
        """Return the insults ``hours`` after the scenario began (held after its end)."""
        if hours >= self.duration_h:
            hours = self.duration_h
        values: dict[str, Any] = {
            name: _interpolate(times, points, hours)
            for name, (times, points) in self.tracks.items()
        }
        times, levels = self.consciousness_track
        values["consciousness"] = levels[bisect.bisect_right(times, hours) - 1]
        return Insults(**values)


def _interpolate(times: tuple[float, ...], values: tuple[float, ...], hours: float) -> float:
    index = bisect.bisect_right(times, hours)
    if index >= len(times):
        return values[-1]
    before, after = times[index - 1], times[index]
    share = (hours - before) / (after - before)
    return values[index - 1] + share * (values[index] - values[index - 1])


def builtin_scenario_names() -> tuple[str, ...]:
    """Names of the scenarios shipped with Medrical, sorted."""
    folder = resources.files("medrical.simulation").joinpath("scenarios")
    return tuple(
        sorted(
            entry.name.removesuffix(".toml")
            for entry in folder.iterdir()
            if entry.name.endswith(".toml")
        )
    )


def load_builtin_scenario(name: str) -> Scenario:
    """Load one of the scenarios shipped with Medrical by name."""
    names = builtin_scenario_names()
    if name not in names:
        raise InputError(
            f"Unknown scenario {name!r}.",
            hint=f"Choose one of: {', '.join((*names, MIX))}, or give a scenario file.",
        )
    resource = resources.files("medrical.simulation").joinpath("scenarios", f"{name}.toml")
    scenario = parse_scenario(resource.read_text(encoding="utf-8"), source="built-in", stem=name)
    if scenario.name != name:
        raise InputError(f"built-in scenario file {name}.toml names itself {scenario.name!r}.")
    return scenario


def load_scenario_file(path: str | os.PathLike[str]) -> Scenario:
    """Load and validate a user's scenario file; problems raise `InputError` naming the file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"Scenario file {file} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"Scenario file {file} cannot be read: {exc}") from None
    return parse_scenario(text, source=str(file), stem=file.stem)


def resolve_scenarios(spec: str | os.PathLike[str]) -> list[Scenario]:
    """Turn a scenario selection (a built-in name, ``mix`` or a file path) into scenarios.

    For ``mix`` the result holds every built-in scenario with a positive ``mix_weight``.
    """
    if not isinstance(spec, str):
        return [load_scenario_file(spec)]
    if spec == MIX:
        mix = [load_builtin_scenario(name) for name in builtin_scenario_names()]
        return [scenario for scenario in mix if scenario.mix_weight > 0]
    if spec.endswith(".toml") or os.sep in spec or "/" in spec:
        return [load_scenario_file(spec)]
    return [load_builtin_scenario(spec)]


def parse_scenario(text: str, *, source: str, stem: str) -> Scenario:
    """Parse and validate the TOML text of a scenario; ``source`` names it in error messages."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"Scenario file {source} is not valid TOML: {exc}") from None
    return _Validator(source).scenario(document, stem)


class _Validator:
    """Checks a parsed scenario document, naming the file and the offending key on failure."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, problem: str) -> InputError:
        return InputError(f"Scenario file {self.source}: {problem}")

    def known_keys(self, table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                suggestion = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.fail(
                    f"unknown key {key!r} in {where}{suggestion}; allowed: {', '.join(allowed)}."
                )

    def number(self, value: object, where: str, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"{where} must be a number, not {value!r}.")
        number = float(value)
        if not low <= number <= high:
            raise self.fail(f"{where} = {value!r} is outside {low:g}..{high:g}.")
        return number

    def table(self, value: object, where: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(f"{where} must be a table.")
        return value

    def scenario(self, document: Mapping[str, Any], stem: str) -> Scenario:
        self.known_keys(document, _TOP_LEVEL_KEYS, "the top level")
        name = document.get("name", stem)
        if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name) or name == MIX:
            raise self.fail(
                f"name {name!r} must be lower-case letters, digits, '-' or '_', and not {MIX!r}."
            )
        description = document.get("description", "")
        if not isinstance(description, str):
            raise self.fail("description must be a string.")
        mix_weight = self.number(document.get("mix_weight", 0), "mix_weight", 0.0, 1e6)
        spo2_scale, condition, age_bands = self.patient(document.get("patient", {}))
        target = self.oxygen(document.get("oxygen", {}))
        tracks, consciousness_track, duration = self.keyframes(
            document.get("keyframes"), titrated=target is not None
        )
        return Scenario(
            name=name,
            description=description.strip(),
            source=self.source,
            mix_weight=mix_weight,
            spo2_scale=spo2_scale,
            chronic_condition=condition,
            age_bands=age_bands,
            oxygen_target_spo2=target,
            tracks=tracks,
            consciousness_track=consciousness_track,
            duration_h=duration,
        )

    def patient(self, value: object) -> tuple[int | None, str | None, tuple[str, ...] | None]:
        patient = self.table(value, "[patient]")
        self.known_keys(patient, _PATIENT_KEYS, "[patient]")
        scale = patient.get("spo2_scale")
        if scale is not None and (isinstance(scale, bool) or scale not in (1, 2)):
            raise self.fail(f"[patient] spo2_scale must be 1 or 2, not {scale!r}.")
        condition = patient.get("chronic_condition")
        if condition is not None and condition not in CHRONIC_CONDITIONS:
            raise self.fail(
                f"[patient] chronic_condition {condition!r} is not one of "
                f"{', '.join(CHRONIC_CONDITIONS)}."
            )
        bands = patient.get("age_bands")
        if bands is not None:
            if (
                not isinstance(bands, list)
                or not bands
                or any(band not in AGE_BANDS for band in bands)
            ):
                raise self.fail(
                    f"[patient] age_bands must be a non-empty list of {', '.join(AGE_BANDS)}."
                )
            bands = tuple(bands)
        return scale, condition, bands

    def oxygen(self, value: object) -> tuple[int, int] | None:
        oxygen = self.table(value, "[oxygen]")
        self.known_keys(oxygen, _OXYGEN_KEYS, "[oxygen]")
        target = oxygen.get("target_spo2")
        if target is None:
            return None
        if (
            not isinstance(target, list)
            or len(target) != 2
            or not all(isinstance(bound, int) and not isinstance(bound, bool) for bound in target)
            or not 70 <= target[0] < target[1] <= 100
        ):
            raise self.fail(
                f"[oxygen] target_spo2 must be two whole percentages [low, high] with "
                f"70 <= low < high <= 100, not {target!r}."
            )
        return (target[0], target[1])

    def keyframes(
        self, value: object, *, titrated: bool
    ) -> tuple[
        dict[str, tuple[tuple[float, ...], tuple[float, ...]]],
        tuple[tuple[float, ...], tuple[str, ...]],
        float,
    ]:
        if not isinstance(value, list) or not value:
            raise self.fail("needs at least one [[keyframes]] entry (the first with at_h = 0).")
        points: dict[str, list[tuple[float, float]]] = {name: [] for name in _NUMERIC_RANGES}
        levels: list[tuple[float, str]] = []
        previous = -1.0
        for number, entry in enumerate(value, start=1):
            where = f"keyframe {number}"
            frame = self.table(entry, where)
            self.known_keys(frame, _KEYFRAME_KEYS, where)
            if "at_h" not in frame:
                raise self.fail(f"{where} has no at_h (its offset in hours).")
            at_h = self.number(frame["at_h"], f"{where} at_h", 0.0, _MAX_HOURS)
            if number == 1 and at_h != 0:
                raise self.fail(f"the first keyframe must be at_h = 0, not {frame['at_h']!r}.")
            if at_h <= previous:
                raise self.fail(
                    f"{where} at_h = {frame['at_h']!r} does not come after {previous:g}."
                )
            previous = at_h
            if titrated and "fio2" in frame:
                raise self.fail(
                    f"{where} sets fio2, but [oxygen] target_spo2 titrates oxygen; keep one."
                )
            for name, (low, high) in _NUMERIC_RANGES.items():
                if name in frame:
                    points[name].append(
                        (at_h, self.number(frame[name], f"{where} {name}", low, high))
                    )
            if "consciousness" in frame:
                level = frame["consciousness"]
                if level not in CONSCIOUSNESS_LEVELS:
                    raise self.fail(
                        f"{where} consciousness {level!r} is not one of "
                        f"{', '.join(CONSCIOUSNESS_LEVELS)}."
                    )
                levels.append((at_h, level))
        tracks = {}
        for name, track in points.items():
            if not track:
                continue
            if track[0][0] != 0:
                track.insert(0, (0.0, float(getattr(_NEUTRAL, name))))
            tracks[name] = (tuple(t for t, _ in track), tuple(v for _, v in track))
        if not levels or levels[0][0] != 0:
            levels.insert(0, (0.0, _NEUTRAL.consciousness))
        consciousness = (tuple(t for t, _ in levels), tuple(v for _, v in levels))
        return tracks, consciousness, previous
