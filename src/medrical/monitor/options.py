"""What `medrical monitor` is asked to do, and what it reports: options, summary, errors.

Plain data, no Kafka: the CLI builds `MonitorOptions`, `stream.StreamMonitor` runs with them
and fills a `MonitorSummary`.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from medrical.errors import InputError, MedricalError
from medrical.monitor.alerts import Alert
from medrical.monitor.engine import ScoredReading
from medrical.monitor.events import VitalsEvent
from medrical.monitor.policy import AlertPolicy
from medrical.monitor.records import check_group

DEFAULT_GROUP = "medrical-monitor"
DEFAULT_TOPICS = "^biometrics_.*"
DEFAULT_OUTAGE_TIMEOUT_S = 300.0


class MonitorError(MedricalError):
    """The monitor cannot go on: fenced by another instance, or Kafka failed for good."""


class StopSignal(Protocol):
    """Anything that turns true when the loop should stop (e.g. medrical.stopping.StopFlag)."""

    def __bool__(self) -> bool: ...


class MonitorObserver(Protocol):
    """Told about every scored reading and alert, e.g. to draw a ward view."""

    def reading(self, topic: str, event: VitalsEvent, scored: ScoredReading) -> None: ...

    def alert(self, topic: str, alert: Alert) -> None: ...


@dataclass(frozen=True)
class MonitorOptions:
    """How the monitor consumes; the defaults are the CLI's.

    `instance_id`, when given, names this process stably: it becomes the group's static member
    id and part of the transactional id, so a restart under the same id takes over at once
    and aborts whatever its crashed predecessor left open. Without one, a crashed member's
    partitions move after the session timeout and its open transaction is aborted after
    `clients.TRANSACTION_TIMEOUT_MS`.
    """

    group: str = DEFAULT_GROUP
    topics: str = DEFAULT_TOPICS
    instance_id: str | None = None
    commit_interval_s: float = 0.1
    batch_size: int = 2000
    kafka_outage_timeout_s: float = DEFAULT_OUTAGE_TIMEOUT_S
    policy: AlertPolicy = field(default_factory=AlertPolicy)

    def __post_init__(self) -> None:
        check_group(self.group)
        if self.commit_interval_s <= 0:
            raise InputError("the commit interval must be positive")
        if self.batch_size < 1:
            raise InputError("the batch size must be at least 1")
        if not self.kafka_outage_timeout_s > 0:
            raise InputError("the Kafka outage timeout must be positive")
        if self.instance_id is not None:
            check_group(self.instance_id)


@dataclass
class MonitorSummary:
    """Counts over the run; alerts count only once their transaction committed."""

    readings: int = 0
    ignored: int = 0
    invalid: int = 0
    alerts: int = 0
    alerts_by_kind: Counter[str] = field(default_factory=Counter)
    transactions: int = 0
    aborted: int = 0
    rewinds: int = 0
    restored: int = 0
    started: float = field(default_factory=time.monotonic)

    def describe(self) -> str:
        elapsed = time.monotonic() - self.started
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.alerts_by_kind.items()))
        text = (
            f"scored {self.readings} readings in {elapsed:.1f} s "
            f"({self.ignored} repeated or out of order, {self.invalid} invalid); "
            f"raised {self.alerts} alerts" + (f" ({kinds})" if kinds else "") + "; "
            f"{self.transactions} transactions committed, {self.aborted} aborted"
        )
        if self.rewinds:
            text += f"; rewound {self.rewinds} time(s) to the last commit"
        return text
