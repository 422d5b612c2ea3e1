"""The live stream: Server-Sent Events from the ward state's change log.

Each message carries the log number as its id, so a browser that reconnects (EventSource does
so by itself) sends Last-Event-ID and receives what it missed, or a fresh snapshot when it fell
too far behind.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Sequence

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from medrical.dashboard.access import require_api_access
from medrical.dashboard.context import Dashboard, DashboardDep
from medrical.dashboard.ward import LoggedEvent

router = APIRouter(dependencies=[Depends(require_api_access)], tags=["ward"])


def format_sse(event: str | None, data: str, message_id: str | None = None) -> str:
    """One Server-Sent Events message; `data` must be a single line (JSON is)."""
    lines = []
    if message_id is not None:
        lines.append(f"id: {message_id}")
    if event is not None:
        lines.append(f"event: {event}")
    lines.append(f"data: {data}")
    return "\n".join(lines) + "\n\n"


def shown_on(event: LoggedEvent, patient_id: str | None) -> bool:
    """Whether a page (of one patient, or of the ward: None) receives this change."""
    return patient_id is None or event.patient_id in (None, patient_id)


def batch_payload(events: Sequence[LoggedEvent], patient_id: str | None) -> str | None:
    """The events a page needs, as one JSON array; of several changes to one patient only the
    last is sent. None when nothing is left for this page."""
    out: list[str] = []
    patient_slot: dict[str, int] = {}
    for event in events:
        if not shown_on(event, patient_id):
            continue
        if event.kind == "patient" and event.patient_id is not None:
            slot = patient_slot.get(event.patient_id)
            if slot is not None:
                out[slot] = event.payload
                continue
            patient_slot[event.patient_id] = len(out)
        out.append(event.payload)
    if not out:
        return None
    return "[" + ",".join(out) + "]"


def event_id(instance: str, seq: int) -> str:
    """An SSE id: the server's instance and the change number, so that a page reconnecting to
    a restarted server is not mistaken for one that is merely behind."""
    return f"{instance}-{seq}"


_CHANGE_NUMBER = re.compile(r"[0-9]{1,20}")


def parse_last_event_id(text: str | None, instance: str) -> int | None:
    """The change number to resume from, or None (send a snapshot) if the id is not ours."""
    if text is None:
        return None
    owner, _, seq = text.strip().rpartition("-")
    # ASCII digits only (str.isdigit also accepts "²", which int() refuses), and no more than
    # a change number can have (int() refuses thousands of digits).
    if owner != instance or not _CHANGE_NUMBER.fullmatch(seq):
        return None
    return int(seq)


@router.get("/api/stream", response_class=StreamingResponse)
async def stream(
    request: Request, dashboard: DashboardDep, patient_id: str | None = None
) -> StreamingResponse:
    """Server-Sent Events: `snapshot` (a Snapshot), then `batch` messages (JSON arrays of
    {type: patient|alert|ack, ...}); each message's id is the change number to resume from
    (Last-Event-ID)."""
    resume = parse_last_event_id(request.headers.get("last-event-id"), dashboard.ward.instance)
    return StreamingResponse(
        events(dashboard, patient_id, resume),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


async def events(
    dashboard: Dashboard, patient_id: str | None, resume: int | None
) -> AsyncIterator[str]:
    """The stream of one page; counted among the open streams while it lasts."""
    metrics = dashboard.settings.metrics
    if metrics is not None:
        metrics.sse_clients.inc()
    try:
        async for message in _page_events(dashboard, patient_id, resume):
            yield message
    finally:
        if metrics is not None:
            metrics.sse_clients.dec()


async def _page_events(
    dashboard: Dashboard, patient_id: str | None, resume: int | None
) -> AsyncIterator[str]:
    ward, conf = dashboard.ward, dashboard.settings
    yield "retry: 2000\n\n"
    cursor = -1 if resume is None else resume
    last_sent = time.monotonic()
    feed_shown = "live"  # what the page assumes until told otherwise
    while True:
        feed_state = conf.feed_state()
        if feed_state != feed_shown:
            feed_shown = feed_state
            yield format_sse("feed", json.dumps({"kafka": feed_state}))
            last_sent = time.monotonic()
        logged = ward.events_since(cursor)
        if logged is None:
            snap = await run_in_threadpool(dashboard.snapshot, patient_id)
            cursor = snap["seq"]
            yield format_sse(
                "snapshot",
                json.dumps(snap, separators=(",", ":")),
                event_id(ward.instance, cursor),
            )
            last_sent = time.monotonic()
        elif logged:
            cursor = logged[-1].seq
            payload = batch_payload(logged, patient_id)
            if payload is not None:
                yield format_sse("batch", payload, event_id(ward.instance, cursor))
                last_sent = time.monotonic()
                if conf.metrics is not None:
                    conf.metrics.pushed(e for e in logged if shown_on(e, patient_id))
        if time.monotonic() - last_sent >= conf.heartbeat_s:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
        if conf.closing.is_set():
            return
        await asyncio.sleep(conf.flush_interval_s)
