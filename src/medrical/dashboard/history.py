"""A patient's history for the charts: how finely to sample a window, and NEWS2 per point.

Pure. Scores come from the monitor's engine run over the rows in time order, so values measured
in an observation round are carried forward exactly as they are live. When a window holds more
readings than a chart can show, rows are averages over fixed time buckets (the database does
that) and each point is scored from its bucket's averages: the chart says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from medrical.dashboard.ward import Ack
from medrical.errors import InputError
from medrical.monitor import AlertEngine, EventError, VitalsEvent

MAX_WINDOW_MS = 7 * 24 * 3_600_000
DEFAULT_MAX_POINTS = 1500
# Readings arrive at most about once a second per patient.
_READINGS_PER_SECOND = 1.0


def check_window(since_ms: int, until_ms: int) -> None:
    if until_ms <= since_ms:
        raise InputError("the window is empty: 'until' must be later than 'since'.")
    if until_ms - since_ms > MAX_WINDOW_MS:
        raise InputError("the window is longer than 7 days; choose a shorter one.")


def bucket_seconds(since_ms: int, until_ms: int, max_points: int = DEFAULT_MAX_POINTS) -> int:
    """0 for raw rows when the window fits `max_points` readings, else a bucket length in s."""
    span_s = (until_ms - since_ms) / 1000
    if span_s * _READINGS_PER_SECOND <= max_points:
        return 0
    return max(1, -(-int(span_s) // max_points))


def score_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each row (event_time in ms, vitals as in the Avro event) with its NEWS2 score added.

    Rows must come in event-time order; a row the engine cannot read (implausible values) is
    kept without a score so that the chart still shows what was stored.
    """
    engine = AlertEngine()
    points: list[dict[str, Any]] = []
    for row in rows:
        point = dict(row)
        point["score"] = None
        point["risk"] = None
        point["complete"] = False
        try:
            outcome = engine.process(VitalsEvent.from_mapping(row), raised_at=0)
        except EventError:
            points.append(point)
            continue
        if outcome.reading is not None:
            result = outcome.reading.score
            point["score"] = result.score
            point["risk"] = result.risk.value
            point["complete"] = result.complete
        points.append(point)
    return points


def merge_alerts(
    stored: Iterable[Mapping[str, Any]],
    live: Iterable[Mapping[str, Any]],
    acks: Mapping[str, Ack],
    since_ms: int,
    until_ms: int,
) -> list[dict[str, Any]]:
    """The alerts of a window, oldest first: those stored by the monitor (with their
    acknowledgements) and those the ward holds live, which win where both have one."""
    merged: dict[str, dict[str, Any]] = {}
    for alert in stored:
        merged[alert["alert_id"]] = {"source": "monitor", **alert}
    stored_ids = list(merged)
    for alert in live:
        when = alert["event_time"] or alert["raised_at"] or 0
        if since_ms <= when < until_ms:
            merged[alert["alert_id"]] = dict(alert)
    for alert_id in stored_ids:
        ack = acks.get(alert_id)
        merged[alert_id].setdefault("acknowledged", None if ack is None else ack.to_dict())
    return sorted(merged.values(), key=lambda a: a.get("event_time") or 0)
