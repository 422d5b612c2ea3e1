"""Polling until a condition holds or a deadline passes: the one loop every wait uses."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(
    check: Callable[[], T],
    *,
    timeout_s: float,
    interval_s: float,
    done: Callable[[T], bool] = bool,
) -> T:
    """Call `check` until `done(result)` holds or `timeout_s` has passed; the last result.

    `check` runs at least once, and once more at the deadline, so a condition that holds just
    in time is seen; it may raise to end the wait early (a child that died, a failed task).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        remaining = deadline - time.monotonic()
        if done(result) or remaining <= 0:
            return result
        time.sleep(min(interval_s, remaining))
