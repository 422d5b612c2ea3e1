"""Event times as the epoch milliseconds Medrical's events carry: the one parser for
`produce --start` and the replay's `event_time` column, and the calendar they must fit in."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

# Event times a calendar date can show: years 1 to 9999, as ISO-8601, Python and PostgreSQL
# (timestamptz) all can. Beyond them a time cannot be printed, stored or compared with others.
MIN_EVENT_TIME_MS: Final = -62_135_596_800_000
"""0001-01-01T00:00:00.000Z"""
MAX_EVENT_TIME_MS: Final = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z"""
EVENT_TIME_RANGE: Final = "years 1 to 9999"

_WHOLE_MS: Final = re.compile(r"-?[0-9]+")


def event_time_in_range(event_time_ms: int) -> bool:
    return MIN_EVENT_TIME_MS <= event_time_ms <= MAX_EVENT_TIME_MS


def epoch_ms_from_iso(text: str) -> int:
    """An ISO-8601 time (a time without offset counts as UTC) as whole epoch milliseconds.

    Raises ValueError for anything else, including a time whose offset takes it outside
    years 1-9999.
    """
    text = text.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not ISO-8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # timedelta arithmetic stays exact to the millisecond, where float seconds would not, and
    # an offset that moves year 1 or 9999 past the calendar's ends cannot overflow it.
    return _in_range(text, (moment - _EPOCH) // timedelta(milliseconds=1))


def parse_event_time(text: str) -> int:
    """Whole milliseconds since the epoch (ASCII digits) or ISO-8601, within years 1-9999.
    Raises ValueError naming the rule the text breaks."""
    text = text.strip()
    if _WHOLE_MS.fullmatch(text):
        # More digits than any time in range has: out of range, without converting them all.
        return _in_range(text, int(text) if len(text) <= 20 else MAX_EVENT_TIME_MS + 1)
    try:
        return epoch_ms_from_iso(text)
    except ValueError as exc:
        if "outside" in str(exc):
            raise
        raise ValueError(f"{text!r} is neither milliseconds since the epoch nor ISO-8601") from None


def _in_range(text: str, event_time_ms: int) -> int:
    if not event_time_in_range(event_time_ms):
        raise ValueError(f"{text!r} lies outside {EVENT_TIME_RANGE}")
    return event_time_ms
