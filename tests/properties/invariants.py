"""The one invariant of every input surface: no traceback, one clear line, a documented exit."""

from __future__ import annotations

from tests.unit.cli_harness import Outcome

# 0 success, 2 usage (bad input), 69 a service unreachable, 78 configuration.
DOCUMENTED_EXITS = frozenset({0, 2, 69, 78})


def assert_clean(outcome: Outcome, allowed: frozenset[int] = DOCUMENTED_EXITS) -> None:
    text = outcome.stdout + outcome.stderr
    assert "Traceback" not in text, text[-2000:]
    assert outcome.code in allowed, f"exit {outcome.code}: {text[-2000:]}"
    assert len(outcome.errors) <= 1, outcome.stderr
    if outcome.code == 2 and not outcome.errors:
        # The argument parser's own refusal (a flag's type or a missing value).
        assert "Usage:" in outcome.stderr or "Error" in outcome.stderr, outcome.stderr
    elif outcome.code != 0:
        # Medrical's own refusals: exactly one line, naming the problem.
        assert len(outcome.errors) == 1, outcome.stderr
        assert len(outcome.errors[0]) < 2000
