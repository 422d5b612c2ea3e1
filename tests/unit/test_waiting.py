"""The one polling loop: stops as soon as the condition holds, checks once more at the
deadline, and lets the check end the wait by raising."""

from __future__ import annotations

import pytest

from medrical.waiting import poll


def test_poll_returns_the_first_result_that_is_done() -> None:
    answers = iter([None, None, "ready", "later"])
    assert poll(lambda: next(answers), timeout_s=5, interval_s=0.001) == "ready"


def test_poll_returns_the_last_result_at_the_deadline() -> None:
    calls: list[int] = []

    def check() -> int:
        calls.append(1)
        return len(calls)

    result = poll(check, timeout_s=0.05, interval_s=0.01, done=lambda n: n > 10_000)
    assert result == len(calls) >= 2


def test_a_check_that_raises_ends_the_wait() -> None:
    def check() -> bool:
        raise RuntimeError("the child died")

    with pytest.raises(RuntimeError, match="child died"):
        poll(check, timeout_s=5, interval_s=0.01)
