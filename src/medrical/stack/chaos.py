"""Faults on demand for the local stack: kill, stop and start, pause and resume its services.

Every action reaches a process through the service's PID file, which also records the
process's start time, so only a process this stack started is ever signalled (a PID the kernel
has since given to another program is not). Signals go to the service's process group: each
service leads its own, and PostgreSQL's backends die or pause with their postmaster, as they
would when a machine fails.
"""

from __future__ import annotations

import logging
import os
import random
import re
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from medrical.errors import InputError, StackError
from medrical.stack import process
from medrical.stack.manager import LocalStack
from medrical.stack.services import Engines, Service
from medrical.waiting import poll

log = logging.getLogger(__name__)

# A target that names no one service: a broker chosen at random each time.
ANY_BROKER = "broker"


class Action(StrEnum):
    KILL = "kill"  # SIGKILL, as a crash or an out-of-memory kill would
    STOP = "stop"  # SIGTERM, a clean shutdown (SIGKILL after the stack's usual time-out)
    START = "start"
    PAUSE = "pause"  # SIGSTOP: the process holds its sockets and answers nothing
    RESUME = "resume"


# What brings a service back after each action, when asked to (`--back-after`).
_UNDO = {Action.KILL: Action.START, Action.STOP: Action.START, Action.PAUSE: Action.RESUME}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str, *, option: str) -> float:
    """Seconds from "20s", "5m", "1.5h", "500ms" or a plain number of seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise InputError(f"{option} takes a duration such as 20s, 5m or 1h, not {text!r}.")
    return float(match.group(1)) * _UNIT_S[match.group(2) or "s"]


@dataclass(frozen=True)
class ChaosEvent:
    """One thing done to one service, and when."""

    at: datetime
    action: Action
    service: str
    pid: int | None
    detail: str

    def line(self) -> str:
        pid = f" (pid {self.pid})" if self.pid else ""
        return (
            f"{self.at:%H:%M:%S.%f}"[:-3] + f"  {self.action:<6} {self.service}{pid}: {self.detail}"
        )


class Chaos:
    """Acts on the services of one local stack; reports each event as it happens."""

    def __init__(
        self,
        stack: LocalStack,
        *,
        report: Callable[[ChaosEvent], None] = lambda event: log.info("%s", event.line()),
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stack = stack
        self.clock = clock
        self.report = report
        self.rng = rng or random.Random()
        self.sleep = sleep
        self._engines: Engines | None = None

    # targets -------------------------------------------------------------------------------------

    def resolve(self, target: str) -> Service:
        """A service by name, or for "broker" a running broker at random (any broker when
        none runs, so that `start broker` has one to start)."""
        if target != ANY_BROKER:
            return self.stack.service(target)
        brokers: list[Service] = list(self.stack.kafka_nodes)
        running = [b for b in brokers if process.running(b.pid_file) is not None]
        return self.rng.choice(running or brokers)

    def check_targets(self, targets: Sequence[str]) -> None:
        for target in targets:
            if target != ANY_BROKER:
                self.stack.service(target)  # an unknown name is a usage error, before any act

    # actions -------------------------------------------------------------------------------------

    def act(
        self, action: Action, target: str, *, back_after_s: float | None = None
    ) -> tuple[Service, bool]:
        """Do `action` to `target`; with `back_after_s`, undo it (start again, resume) after
        that many seconds, even when interrupted meanwhile. Returns the service, and whether
        the action changed anything (killing a stopped service does not)."""
        service = self.resolve(target)
        done = self._do(action, service)
        undo = _UNDO.get(action)
        if back_after_s is None or undo is None or not done:
            return service, done
        try:
            self.sleep(back_after_s)
        finally:
            self._do(undo, service)
        return service, done

    def _do(self, action: Action, service: Service) -> bool:
        """True when the action changed something."""
        tracked = process.running(service.pid_file)
        if action is Action.START:
            if tracked is not None:
                self._event(action, service, tracked.pid, "already running")
                return False
            started = time.monotonic()
            self.stack.start([service], self._stack_engines(), report=lambda _line: None)
            pid = process.running(service.pid_file)
            elapsed = time.monotonic() - started
            self._event(action, service, pid.pid if pid else None, f"healthy in {elapsed:.1f} s")
            return True
        if tracked is None:
            self._event(action, service, None, "not running; nothing to do")
            return False
        if action is Action.STOP:
            started = time.monotonic()
            process.stop(service.pid_file, timeout_s=45)
            self._event(
                action, service, tracked.pid, f"stopped in {time.monotonic() - started:.1f} s"
            )
            return True
        sig = {Action.KILL: signal.SIGKILL, Action.PAUSE: signal.SIGSTOP}.get(
            action, signal.SIGCONT
        )
        try:
            os.killpg(tracked.pid, sig)
        except ProcessLookupError:
            self._event(action, service, tracked.pid, "ended meanwhile; nothing to do")
            return False
        if action is Action.KILL:
            _wait_gone(service)
        elif action is Action.PAUSE:
            _wait_state(tracked.pid, stopped=True)
        else:
            _wait_state(tracked.pid, stopped=False)
        self._event(action, service, tracked.pid, f"sent {sig.name}")
        return True

    def _stack_engines(self) -> Engines:
        if self._engines is None:
            self._engines = self.stack.engines()
        return self._engines

    def _event(self, action: Action, service: Service, pid: int | None, detail: str) -> None:
        self.report(ChaosEvent(datetime.now(UTC).astimezone(), action, service.name, pid, detail))

    # loop ----------------------------------------------------------------------------------------

    def loop(
        self,
        action: Action,
        targets: Sequence[str],
        *,
        every_s: float,
        for_s: float,
        back_after_s: float | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> int:
        """Act every `every_s` seconds for `for_s` seconds, on one of `targets` at random each
        time; return how many times it acted."""
        if every_s <= 0:
            raise InputError("--every must be longer than 0 s.")
        self.check_targets(targets)
        clock = self.clock
        began = clock()
        rounds = 0
        while clock() - began < for_s and not stop():
            self.act(action, self.rng.choice(list(targets)), back_after_s=back_after_s)
            rounds += 1
            due = began + rounds * every_s
            while clock() < due and clock() - began < for_s and not stop():
                self.sleep(min(0.2, max(0.0, due - clock())))
        return rounds


def _wait_state(pid: int, *, stopped: bool, timeout_s: float = 5.0) -> None:
    """Signals arrive a moment after they are sent: report a pause once it has taken."""
    poll(
        lambda: (process.state(pid) == "T") == stopped,
        timeout_s=timeout_s,
        interval_s=0.01,
    )


def _wait_gone(service: Service, timeout_s: float = 10.0) -> None:
    """A killed process is gone within moments; collect it so its PID file reads as ended."""
    gone = poll(
        lambda: process.running(service.pid_file) is None,
        timeout_s=timeout_s,
        interval_s=0.05,
    )
    if not gone:
        raise StackError(f"{service.name} still runs {timeout_s:.0f} s after SIGKILL.")
