"""Pacing: when an event of the simulator's event-time clock is due on the wall clock."""

from __future__ import annotations

import math

from medrical.errors import InputError


def seconds_until_due(
    event_time_ms: int, *, first_event_ms: int, elapsed_s: float, speed: float | None
) -> float:
    """How many seconds the caller should wait before emitting the event at ``event_time_ms``.

    ``first_event_ms`` is the event time of the first event emitted, ``elapsed_s`` the
    wall-clock seconds (a monotonic clock) since it was emitted. ``speed`` is how many seconds of
    event time pass per wall-clock second (1.0 = real time, 60.0 = an hour a minute); ``None``
    means as fast as possible. A late event is due at once (0.0), never at a negative time.
    """
    if speed is None:
        return 0.0
    if not math.isfinite(speed) or speed <= 0:
        raise InputError(f"The speed must be a positive number, not {speed!r}.")
    due_s = (event_time_ms - first_event_ms) / 1000.0 / speed
    return max(0.0, due_s - elapsed_s)
