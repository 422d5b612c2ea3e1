"""Restarting failed tasks of Medrical's connectors, with back-off, and saying so.

Kafka Connect never restarts a failed task by itself. The sink's own retries (the converter's
for the registry, Debezium's for PostgreSQL) ride out a blink of a minute or so; past that the
task fails on purpose rather than divert good records to the dead letters, and this supervisor
brings it back once the service is: each failed task is restarted through Connect's REST API,
at growing intervals while it keeps failing.

The local stack runs it as a process of its own (`stack up` starts it, `stack down` stops it,
its log is `medrical stack logs supervisor`); beside a managed Connect, run
`medrical connector supervise`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from medrical.errors import MedricalError
from medrical.sink.client import ConnectClient, ConnectorState, explain_trace
from medrical.waiting import poll

log = logging.getLogger(__name__)

DEFAULT_MATCH = r"medrical-.*"


@dataclass(frozen=True)
class RestartPolicy:
    """The first restart comes `first_delay_s` after a failure is seen; each further one
    (while the task keeps failing) waits twice as long, up to `max_delay_s`. A task seen
    running for `stable_after_s` counts as recovered, and the next failure starts afresh."""

    first_delay_s: float = 2.0
    # A restart is cheap (a task start), and the longest pause is how long the pipeline may
    # stay idle after the service it waited for is back.
    max_delay_s: float = 15.0
    stable_after_s: float = 120.0


@dataclass
class _TaskHistory:
    restarts: int = 0
    next_restart_at: float | None = None
    running_since: float | None = None


@dataclass(frozen=True)
class Restart:
    connector: str
    task_id: int | None  # None: the connector itself failed
    attempt: int
    reason: str
    next_delay_s: float


@dataclass
class RestartPlanner:
    """Decides, from successive observations, which failed instances to restart now (pure)."""

    policy: RestartPolicy = field(default_factory=RestartPolicy)
    _history: dict[tuple[str, int | None], _TaskHistory] = field(default_factory=dict)

    def plan(self, states: dict[str, ConnectorState], now: float) -> list[Restart]:
        restarts = []
        seen = set()
        for name, state in sorted(states.items()):
            instances: list[tuple[int | None, str, str | None]] = [
                (None, state.connector_state, state.connector_trace)
            ]
            instances += [(task.task_id, task.state, task.trace) for task in state.tasks]
            for task_id, instance_state, trace in instances:
                key = (name, task_id)
                seen.add(key)
                restart = self._observe(key, instance_state, trace, now)
                if restart is not None:
                    restarts.append(restart)
        for gone in set(self._history) - seen:
            del self._history[gone]
        return restarts

    def _observe(
        self, key: tuple[str, int | None], state: str, trace: str | None, now: float
    ) -> Restart | None:
        history = self._history.setdefault(key, _TaskHistory())
        if state == "RUNNING":
            if history.running_since is None:
                history.running_since = now
            if now - history.running_since >= self.policy.stable_after_s:
                history.restarts = 0
            history.next_restart_at = None
            return None
        history.running_since = None
        if state != "FAILED":
            return None
        delay = min(self.policy.first_delay_s * 2**history.restarts, self.policy.max_delay_s)
        if history.next_restart_at is None:
            history.next_restart_at = now + delay
        if now < history.next_restart_at:
            return None
        history.restarts += 1
        next_delay = min(self.policy.first_delay_s * 2**history.restarts, self.policy.max_delay_s)
        history.next_restart_at = None
        return Restart(key[0], key[1], history.restarts, explain_trace(trace), next_delay)


def describe(restart: Restart) -> str:
    what = "connector" if restart.task_id is None else f"task {restart.task_id} of"
    return (
        f"restarting {what} {restart.connector} (restart {restart.attempt} in a row; if it "
        f"fails again, the next one in {restart.next_delay_s:.0f} s): it failed: {restart.reason}"
    )


def supervise(
    client: ConnectClient,
    *,
    match: str = DEFAULT_MATCH,
    interval_s: float = 2.0,
    policy: RestartPolicy | None = None,
    should_stop: Callable[[], bool],
    report: Callable[[str], None] = log.warning,
) -> int:
    """Watch the connectors whose names match `match` until `should_stop()`; return how many
    restarts were made. An unreachable Connect is waited for, not fatal."""
    pattern = re.compile(match)
    planner = RestartPlanner(policy or RestartPolicy())
    restarts = 0
    connect_down_since: float | None = None
    while not should_stop():
        try:
            states = {
                name: state
                for name, state in client.connectors().items()
                if pattern.fullmatch(name)
            }
            if connect_down_since is not None:
                report(f"Kafka Connect at {client.url} answers again")
                connect_down_since = None
            for restart in planner.plan(states, time.monotonic()):
                report(describe(restart))
                client.restart(restart.connector)
                restarts += 1
        except (MedricalError, httpx.HTTPError) as exc:
            if connect_down_since is None:
                report(f"cannot watch the connectors for now: {exc}")
                connect_down_since = time.monotonic()
        _sleep_unless_stopped(interval_s, should_stop)
    return restarts


def _sleep_unless_stopped(seconds: float, should_stop: Callable[[], bool]) -> None:
    poll(should_stop, timeout_s=seconds, interval_s=0.2)
