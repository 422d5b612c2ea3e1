"""Stopping a loop cleanly: a flag that a signal or a caller sets, checked between steps."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class StopFlag:
    """Set by a signal, or by a caller; the loop checks it between events."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def set(self, reason: str = "stop requested") -> None:
        if self.reason is None:
            self.reason = reason

    def __bool__(self) -> bool:
        return self.reason is not None


class StopOnSignals:
    """While active, SIGINT and SIGTERM set `flag` instead of killing the process.

    The first signal also restores the previous handlers, so a second Ctrl+C interrupts at
    once (for when draining takes too long). Outside the main thread, signals are left alone.
    """

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, flag: StopFlag) -> None:
        self.flag = flag
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.flag.set(f"stopped by {signal.Signals(signum).name}")
        self._restore()

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for signum in self._SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self.flag

    def __exit__(self, *_exc: object) -> None:
        self._restore()
