"""The tunable part of alerting: confirmation, hysteresis, silence and carry-forward limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from medrical.monitor.carry_forward import MaxAges
from medrical.policies import NEWS2, Policy


@dataclass(frozen=True, slots=True)
class Confirmation:
    """How long a condition must persist before it counts, to suppress one-off artifacts.

    A run of consecutive qualifying readings is confirmed once it holds `readings` readings
    and/or spans `seconds` of event time from its first reading to the current one. With
    `require="both"` both must hold; with `"either"`, one suffices. `readings=1, seconds=0`
    confirms at once.
    """

    readings: int = 3
    seconds: float = 60.0
    require: Literal["both", "either"] = "both"

    def __post_init__(self) -> None:
        if self.readings < 1:
            raise ValueError("a confirmation needs at least one reading")
        if self.seconds < 0:
            raise ValueError("a confirmation time must not be negative")
        if self.require not in ("both", "either"):
            raise ValueError(f"require must be 'both' or 'either', not {self.require!r}")

    def satisfied(self, readings: int, span_ms: int) -> bool:
        enough_readings = readings >= self.readings
        long_enough = span_ms >= self.seconds * 1000
        if self.require == "both":
            return enough_readings and long_enough
        return enough_readings or long_enough


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """Everything the alert engine can be tuned with; the defaults are documented per field.

    - `escalation`: a higher aggregate band (medium 5-6, high 7+) must persist 3 complete
      readings spanning at least 60 s.
    - `de_escalation`: a lower band must persist 5 complete readings spanning at least 5 min,
      and each of them must sit `de_escalation_margin` points below the band's lower edge (with
      the default 1: leaving high needs a score of 5 or less, leaving medium 3 or less), so a
      score wavering around a threshold does not flap.
    - `red_score`: a red score (any parameter scoring 3) must persist like an escalation; the
      episode ends, re-arming the alert, once complete readings without one persist like a
      de-escalation (`red_score_clear`).
    - `silence_seconds`: no reading for 5 minutes raises a silent alert; a gap that long also
      restarts every confirmation, since readings either side of it are not a sustained run.
    - `max_ages`: carry-forward limits, see MaxAges.
    - `scoring`: the early-warning policy that scores each reading (`medrical.policies`);
      NEWS2 by default. For another policy the bands are its verdict's risk, a lower band
      counts as soon as the verdict names it (the score margin is NEWS2's), and its
      single-parameter trigger takes the red score's place.
    """

    escalation: Confirmation = field(default_factory=Confirmation)
    de_escalation: Confirmation = field(
        default_factory=lambda: Confirmation(readings=5, seconds=300.0)
    )
    de_escalation_margin: int = 1
    red_score: Confirmation = field(default_factory=Confirmation)
    red_score_clear: Confirmation = field(
        default_factory=lambda: Confirmation(readings=5, seconds=300.0)
    )
    silence_seconds: float = 300.0
    max_ages: MaxAges = field(default_factory=MaxAges)
    scoring: Policy = NEWS2

    def __post_init__(self) -> None:
        if self.de_escalation_margin < 0:
            raise ValueError("the de-escalation margin must not be negative")
        if self.silence_seconds <= 0:
            raise ValueError("the silence time must be positive")
