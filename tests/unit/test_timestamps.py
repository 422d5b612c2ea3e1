"""One ISO-8601 parser for `produce --start` and the replay's event_time."""

from __future__ import annotations

import pytest

from medrical.timestamps import epoch_ms_from_iso


def test_an_iso_time_without_offset_counts_as_utc() -> None:
    assert epoch_ms_from_iso("2026-01-01T08:00:00Z") == 1_767_254_400_000
    assert epoch_ms_from_iso(" 2026-01-01T08:00:00 ") == 1_767_254_400_000
    assert epoch_ms_from_iso("2026-01-01T09:00:00+01:00") == 1_767_254_400_000


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z", "²"])
def test_anything_else_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the callers turn any ValueError into theirs
        epoch_ms_from_iso(text)
