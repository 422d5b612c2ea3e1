"""The policy interface: what an early-warning score sees of a patient, and what it answers.

A policy looks at one patient at one moment: the carried-forward vital signs (each parameter's
last measurement while it is younger than its maximum age, None otherwise) and, if it asks for
it, the recent history of those snapshots. It answers with a score, a risk band and the reasons
for both. The alert engine turns a stream of such verdicts into alerts, with the same
confirmation and de-escalation rules for every policy, so that policies differ only in how they
read the vitals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from medrical.errors import InputError
from medrical.news2 import ClinicalRisk, Vitals

BANDS = (ClinicalRisk.LOW, ClinicalRisk.MEDIUM, ClinicalRisk.HIGH)
"""The bands a verdict may name; the engine escalates and de-escalates between them."""


class PolicyError(InputError):
    """A policy that cannot be found, loaded or configured."""

    def __init__(self, message: str, *, policy: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.policy = policy


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A patient's carried-forward vitals as they stood at one event time (ms since the epoch)."""

    event_time: int
    vitals: Vitals


@dataclass(frozen=True, slots=True)
class Observation:
    """What a policy is given for one reading of one patient.

    `vitals` are the carried-forward values at `event_time`; `history` holds the patient's
    earlier snapshots within the policy's `history_s`, oldest first (empty when the policy asks
    for none, and after a restart until readings arrive again).
    """

    patient_id: str
    event_time: int
    vitals: Vitals
    history: tuple[Snapshot, ...] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    """A policy's answer for one observation.

    - `score`: the policy's own number (points, a count of breached limits, a ratio).
    - `risk`: the band it puts the patient in: low, medium or high. The engine raises an
      escalation when a higher band persists and a de-escalation when a lower one does.
    - `reasons`: why, in a few words each (e.g. ``"respiratory_rate 24/min: 2"``); they go into
      the alert's message.
    - `trigger`: a single-parameter trigger (like a NEWS2 red score) that warrants an alert of
      its own whatever the band; counted even from an incomplete observation.
    - `complete`: whether everything the policy needs was present. Only complete verdicts move
      the band, because an incomplete score is a guess from below.
    """

    score: float
    risk: ClinicalRisk
    reasons: tuple[str, ...] = ()
    trigger: bool = False
    complete: bool = True

    def __post_init__(self) -> None:
        if self.risk not in BANDS:
            raise ValueError(
                f"a verdict's risk is low, medium or high, not {self.risk.value!r} "
                "(report a single-parameter finding with trigger=True)"
            )


Assess = Callable[[Observation], Verdict]


@dataclass(frozen=True, slots=True)
class Policy:
    """A named early-warning policy.

    `assess` must be pure and fast: it runs for every reading of every patient. `history_s`
    says how many seconds of earlier snapshots it wants in `Observation.history` (0: none; the
    engine keeps no history then). `source` cites where its charts come from.
    """

    name: str
    assess: Assess
    title: str = ""
    source: str = ""
    history_s: float = 0.0
    uses: frozenset[str] = field(default_factory=frozenset)
    """The vital-sign fields it reads (documentation only)."""

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise PolicyError(
                f"policy name {self.name!r} must be letters, digits, '-' or '_'",
                policy=self.name,
            )
        if self.history_s < 0:
            raise PolicyError("a policy's history must not be negative", policy=self.name)


def band_for(score: float, *, medium: float, high: float) -> ClinicalRisk:
    """The band of `score` when medium starts at `medium` and high at `high` points."""
    if score >= high:
        return ClinicalRisk.HIGH
    if score >= medium:
        return ClinicalRisk.MEDIUM
    return ClinicalRisk.LOW
