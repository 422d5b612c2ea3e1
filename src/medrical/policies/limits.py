"""Single-parameter limit alarms, as bedside monitors raise them, from a TOML file.

A bedside monitor alarms when one measured value leaves the range its limits allow; each alarm
has a priority (IEC 60601-1-8 names low, medium and high). The file sets, per vital sign, a
`low` and/or a `high` limit and the alarm's `priority` (medium or high; default medium):

    name = "ward-defaults"          # optional; the file's stem otherwise

    [heart_rate]
    low = 50                        # alarm below 50/min
    high = 120                      # alarm above 120/min
    priority = "medium"

A value equal to a limit is within it. The verdict's score is the number of breached limits,
its risk the highest priority among them (low when none), and every breach is a reason. A
parameter that a limit names but the observation lacks makes the verdict incomplete.

The built-in file (`limits`) holds commonly shipped adult defaults; adjust them per ward, as
clinicians do at the bedside.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from medrical.news2 import ClinicalRisk, Parameter
from medrical.policies.model import Observation, Policy, PolicyError, Verdict

LIMITED = (
    Parameter.RESPIRATORY_RATE,
    Parameter.SPO2,
    Parameter.SYSTOLIC_BP,
    Parameter.HEART_RATE,
    Parameter.BODY_TEMPERATURE,
)
_NAMES = tuple(p.value for p in LIMITED)
_PRIORITIES = {"medium": ClinicalRisk.MEDIUM, "high": ClinicalRisk.HIGH}
_LIMIT_KEYS = ("low", "high", "priority")
BUILTIN_FILE = "default-limits.toml"


@dataclass(frozen=True, slots=True)
class Limit:
    parameter: Parameter
    low: float | None
    high: float | None
    priority: ClinicalRisk

    def breach(self, value: float) -> str | None:
        if self.low is not None and value < self.low:
            return f"{self.parameter.value} {value:g} < {self.low:g}"
        if self.high is not None and value > self.high:
            return f"{self.parameter.value} {value:g} > {self.high:g}"
        return None


@dataclass(frozen=True, slots=True)
class LimitAlarms:
    """The limits of one file, and the assessment they make."""

    name: str
    limits: tuple[Limit, ...]

    def assess(self, observation: Observation) -> Verdict:
        vitals = observation.vitals
        reasons: list[str] = []
        risk = ClinicalRisk.LOW
        complete = True
        for limit in self.limits:
            value = getattr(vitals, limit.parameter.value)
            if value is None:
                complete = False
                continue
            breach = limit.breach(value)
            if breach is not None:
                reasons.append(breach)
                risk = max(risk, limit.priority)
        return Verdict(score=len(reasons), risk=risk, reasons=tuple(reasons), complete=complete)

    def policy(self, source: str) -> Policy:
        return Policy(
            name=self.name,
            assess=self.assess,
            title=f"limit alarms ({self.name})",
            source=source,
            uses=frozenset(limit.parameter.value for limit in self.limits),
        )


def parse_limits(text: str, *, source: str, stem: str) -> LimitAlarms:
    """Read a limits file's text; any problem raises PolicyError naming `source`."""

    def fail(problem: str) -> PolicyError:
        return PolicyError(f"Limits file {source}: {problem}", policy=stem)

    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise fail(f"not valid TOML ({exc}).") from None
    name = document.pop("name", stem)
    if not isinstance(name, str) or not name:
        raise fail("name must be a non-empty string.")
    limits = []
    for key, table in document.items():
        if key not in _NAMES:
            close = difflib.get_close_matches(key, _NAMES, n=1)
            suggestion = f" (did you mean {close[0]!r}?)" if close else ""
            raise fail(
                f"unknown vital sign {key!r}{suggestion}; limits apply to {', '.join(_NAMES)}."
            )
        limits.append(_limit(Parameter(key), table, fail))
    if not limits:
        raise fail("sets no limit; give a table per vital sign, e.g. [heart_rate] high = 120.")
    return LimitAlarms(name=name, limits=tuple(limits))


def _limit(parameter: Parameter, table: Any, fail: Any) -> Limit:
    where = f"[{parameter.value}]"
    if not isinstance(table, dict):
        raise fail(f"{where} must be a table with low and/or high.")
    unknown = [key for key in table if key not in _LIMIT_KEYS]
    if unknown:
        raise fail(f"unknown key {unknown[0]!r} in {where}; allowed: {', '.join(_LIMIT_KEYS)}.")
    bounds: list[float | None] = []
    for key in ("low", "high"):
        value = table.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise fail(f"{where} {key} must be a number, not {value!r}.")
        bounds.append(None if value is None else float(value))
    low, high = bounds
    if low is None and high is None:
        raise fail(f"{where} needs low, high or both.")
    if low is not None and high is not None and low >= high:
        raise fail(f"{where} low ({low:g}) must lie below high ({high:g}).")
    priority = table.get("priority", "medium")
    if priority not in _PRIORITIES:
        raise fail(f"{where} priority must be medium or high, not {priority!r}.")
    return Limit(parameter, low, high, _PRIORITIES[priority])


def load_limits_file(path: str | Path) -> Policy:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"Limits file {file} does not exist.", policy=str(file)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"Limits file {file} cannot be read: {exc}", policy=str(file)) from None
    return parse_limits(text, source=str(file), stem=file.stem).policy(str(file))


def builtin_limits() -> Policy:
    text = resources.files("medrical.policies").joinpath(BUILTIN_FILE).read_text(encoding="utf-8")
    alarms = parse_limits(text, source=f"built-in {BUILTIN_FILE}", stem="limits")
    return alarms.policy(f"built-in {BUILTIN_FILE}")
