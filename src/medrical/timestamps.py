"""ISO-8601 times as the epoch milliseconds Medrical's events carry: the one parser for
`produce --start` and the replay's `event_time` column."""

from __future__ import annotations

from datetime import UTC, datetime


def epoch_ms_from_iso(text: str) -> int:
    """An ISO-8601 time (a time without offset counts as UTC) as whole epoch milliseconds.

    Raises ValueError for anything else, including a time whose offset takes it outside the
    years 1-9999 that Python's datetime can hold.
    """
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return round(moment.timestamp() * 1000)
    except (OverflowError, OSError):
        raise ValueError("outside the years 1-9999") from None
