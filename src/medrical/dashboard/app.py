"""The dashboard's web application: pages, static assets, the JSON API and the live stream.

Live changes are pushed as Server-Sent Events from the ward state's change log: each message
carries the log number as its id, so a browser that reconnects (EventSource does so by itself)
sends Last-Event-ID and receives what it missed, or a fresh snapshot when it fell too far behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import SecretStr
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import HTTPConnection

from medrical import __version__
from medrical.dashboard import acks as ack_logic
from medrical.dashboard import history, models, security
from medrical.dashboard.store import AckStore, HistoryStore
from medrical.dashboard.ward import LoggedEvent, WardState, now_ms
from medrical.errors import InputError, MedricalError, ServiceUnavailableError

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
WINDOWS_S = (3600, 6 * 3600, 24 * 3600)

# Scripts and styles only from Medrical itself; no inline script, no other origin.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-cache",
}


class DashboardStore(AckStore, HistoryStore, Protocol):
    """Everything the web application keeps in or reads from the database."""


@dataclass
class DashboardSettings:
    token: SecretStr | None = None
    # Host header values accepted (DNS-rebinding guard); None accepts any.
    allowed_hosts: Sequence[str] | None = LOOPBACK_HOSTS
    silent_after_s: float = 30.0
    flush_interval_s: float = 0.25
    heartbeat_s: float = 15.0
    max_points: int = history.DEFAULT_MAX_POINTS
    # Set when the server shuts down, so that open streams end and the server can stop.
    closing: threading.Event = field(default_factory=threading.Event)
    feed_alive: Callable[[], bool] = lambda: True
    # "live", or "reconnecting" while the live feed has lost every Kafka broker.
    feed_state: Callable[[], str] = lambda: "live"


def static_dir() -> Path:
    return Path(str(resources.files("medrical.dashboard") / "static"))


def format_sse(event: str | None, data: str, message_id: str | None = None) -> str:
    """One Server-Sent Events message; `data` must be a single line (JSON is)."""
    lines = []
    if message_id is not None:
        lines.append(f"id: {message_id}")
    if event is not None:
        lines.append(f"event: {event}")
    lines.append(f"data: {data}")
    return "\n".join(lines) + "\n\n"


def batch_payload(events: Sequence[LoggedEvent], patient_id: str | None) -> str | None:
    """The events a page needs, as one JSON array; of several changes to one patient only the
    last is sent. None when nothing is left for this page."""
    out: list[str] = []
    patient_slot: dict[str, int] = {}
    for event in events:
        if patient_id is not None and event.patient_id not in (None, patient_id):
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


def parse_last_event_id(text: str | None, instance: str) -> int | None:
    """The change number to resume from, or None (send a snapshot) if the id is not ours."""
    if text is None:
        return None
    owner, _, seq = text.strip().rpartition("-")
    if owner != instance or not seq.isdigit():
        return None
    return int(seq)


def _host_of(header: str) -> str:
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class _Guard:
    """Host check, access token, and security headers on every response."""

    PUBLIC = ("/login", "/api/login", "/static/")

    def __init__(self, app: ASGIApp, settings: DashboardSettings) -> None:
        self.app = app
        self.settings = settings

    def _authorised(self, scope: Scope) -> bool:
        token = self.settings.token
        if token is None:
            return True
        headers = Headers(scope=scope)
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("bearer ") and security.token_matches(
            authorization[7:].strip(), token
        ):
            return True
        cookie = HTTPConnection(scope).cookies.get(security.SESSION_COOKIE)
        return cookie is not None and security.session_matches(cookie, token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        allowed = self.settings.allowed_hosts
        if allowed is not None:
            host = _host_of(Headers(scope=scope).get("host", ""))
            if host not in allowed:
                await JSONResponse({"detail": "unexpected Host header"}, 400)(scope, receive, send)
                return
        if not path.startswith(self.PUBLIC) and not self._authorised(scope):
            if path.startswith("/api/") or path in ("/openapi.json", "/docs"):
                response: Response = JSONResponse({"detail": "access token required"}, 401)
            else:
                response = Response(status_code=303, headers={"location": "/login"})
            await self._with_headers(response)(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _with_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def create_app(
    ward: WardState, store: DashboardStore, settings: DashboardSettings | None = None
) -> FastAPI:
    """The web application over a ward state and a store (both may be fakes in tests)."""
    conf = settings or DashboardSettings()
    pages = static_dir()
    app = FastAPI(
        title="Medrical ward dashboard",
        version=__version__,
        description="Live synthetic vital signs and NEWS2 scores. All data is synthetic; "
        "Medrical is not a medical device and its scores are not for clinical use.",
        # The interactive docs page loads scripts from a CDN; the OpenAPI JSON is enough.
        docs_url=None,
        redoc_url=None,
    )

    @app.exception_handler(MedricalError)
    async def _medrical_error(_request: Request, exc: MedricalError) -> JSONResponse:
        status = 400 if isinstance(exc, InputError) else 503
        if isinstance(exc, ServiceUnavailableError):
            log.warning("%s", exc)
        return JSONResponse({"detail": str(exc)}, status_code=status)

    def refresh_acks() -> None:
        try:
            ward.record_acks(store.acks(ward.alert_ids()).values())
        except ServiceUnavailableError as exc:
            log.warning("acknowledgements not refreshed: %s", exc)

    def snapshot(patient_id: str | None) -> dict[str, Any]:
        refresh_acks()
        data = ward.snapshot(patient_id)
        data["silent_after_s"] = conf.silent_after_s
        return data

    # --- pages --------------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def ward_page() -> FileResponse:
        return FileResponse(pages / "ward.html")

    @app.get("/patient", include_in_schema=False)
    def patient_page() -> FileResponse:
        return FileResponse(pages / "patient.html")

    @app.get("/login", include_in_schema=False)
    def login_page() -> FileResponse:
        return FileResponse(pages / "login.html")

    @app.post("/api/login", status_code=204, tags=["access"])
    def login(body: models.LoginRequest) -> Response:
        """Exchange the access token for a session cookie (only when a token is configured)."""
        if conf.token is None:
            return Response(status_code=204)
        if not security.token_matches(body.token, conf.token):
            raise HTTPException(401, "wrong access token")
        response = Response(status_code=204)
        response.set_cookie(
            security.SESSION_COOKIE,
            security.session_value(conf.token),
            httponly=True,
            samesite="strict",
        )
        return response

    app.mount("/static", StaticFiles(directory=pages), name="static")

    # --- API ----------------------------------------------------------------------------------

    @app.get("/api/health", response_model=models.Health, tags=["ward"])
    def health() -> dict[str, Any]:
        return {
            "patients": len(ward.patients(with_trend=False)),
            "readings_applied": ward.readings_applied,
            "readings_rejected": ward.readings_rejected,
            "feed_alive": conf.feed_alive(),
            "monitor_alerts_seen": ward.monitor_alerts_seen,
        }

    @app.get("/api/snapshot", response_model=models.Snapshot, tags=["ward"])
    def get_snapshot(patient_id: str | None = None) -> dict[str, Any]:
        """Every patient (or one), the alert feed, and the change number the stream follows."""
        return snapshot(patient_id)

    @app.get("/api/patients", response_model=list[models.Patient], tags=["ward"])
    def list_patients() -> list[dict[str, Any]]:
        """Every patient's latest state, highest clinical risk first."""
        return ward.patients()

    @app.get(
        "/api/patients/{patient_id:path}/readings", response_model=models.History, tags=["history"]
    )
    def readings(
        patient_id: str,
        since: Annotated[int | None, Query(description="Start, ms since the epoch.")] = None,
        until: Annotated[int | None, Query(description="End, ms since the epoch.")] = None,
        window: Annotated[
            int, Query(ge=60, le=7 * 86400, description="Seconds before 'until' (no 'since').")
        ] = 3600,
    ) -> dict[str, Any]:
        """A patient's readings in a time range, from PostgreSQL, each with its NEWS2 score."""
        end = until if until is not None else now_ms()
        start = since if since is not None else end - window * 1000
        history.check_window(start, end)
        bucket = history.bucket_seconds(start, end, conf.max_points)
        rows = store.readings(patient_id, start, end, bucket)
        alerts = {a["alert_id"]: a for a in store.alerts(patient_id, start, end)}
        stored_ids = list(alerts)
        for alert in alerts.values():
            alert.setdefault("source", "monitor")
        for alert in ward.alerts(patient_id, limit=10_000):
            when = alert["event_time"] or alert["raised_at"] or 0
            if start <= when < end:
                alerts[alert["alert_id"]] = alert
        acked = store.acks(stored_ids)
        for alert_id in stored_ids:
            ack = acked.get(alert_id)
            alerts[alert_id].setdefault("acknowledged", None if ack is None else ack.to_dict())
        return {
            "patient_id": patient_id,
            "since": start,
            "until": end,
            "bucket_s": rows.bucket_s,
            "truncated": rows.truncated,
            "points": history.score_rows(rows.rows),
            "alerts": sorted(alerts.values(), key=lambda a: a.get("event_time") or 0),
        }

    @app.get("/api/patients/{patient_id:path}", response_model=models.Patient, tags=["ward"])
    def get_patient(patient_id: str) -> dict[str, Any]:
        """One patient's latest state (an id may hold any character, '/' too)."""
        found = ward.patient(patient_id)
        if found is None:
            raise HTTPException(404, "no reading of this patient since the dashboard started")
        return found

    @app.get("/api/alerts", response_model=list[models.Alert], tags=["alerts"])
    def list_alerts(
        patient_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> list[dict[str, Any]]:
        """Alerts seen since the dashboard started, newest first, with acknowledgements."""
        refresh_acks()
        return ward.alerts(patient_id, limit)

    @app.post("/api/alerts/{alert_id}/ack", response_model=models.AckResult, tags=["alerts"])
    def acknowledge(alert_id: str, body: models.AckRequest | None = None) -> dict[str, Any]:
        """Acknowledge an alert. The first acknowledgement is kept; repeating one is harmless."""
        ack, created = ack_logic.acknowledge(
            store, ward, alert_id, body.acknowledged_by if body else None
        )
        return {"alert_id": ack.alert_id, "acknowledged": ack.to_dict(), "created": created}

    @app.get("/api/stream", tags=["ward"], response_class=StreamingResponse)
    async def stream(request: Request, patient_id: str | None = None) -> StreamingResponse:
        """Server-Sent Events: `snapshot` (a Snapshot), then `batch` messages (JSON arrays of
        {type: patient|alert|ack, ...}); each message's id is the change number to resume from
        (Last-Event-ID)."""
        resume = parse_last_event_id(request.headers.get("last-event-id"), ward.instance)
        return StreamingResponse(
            _events(patient_id, resume),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    async def _events(patient_id: str | None, resume: int | None) -> AsyncIterator[str]:
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
            events = ward.events_since(cursor)
            if events is None:
                snap = await run_in_threadpool(snapshot, patient_id)
                cursor = snap["seq"]
                yield format_sse(
                    "snapshot",
                    json.dumps(snap, separators=(",", ":")),
                    event_id(ward.instance, cursor),
                )
                last_sent = time.monotonic()
            elif events:
                cursor = events[-1].seq
                payload = batch_payload(events, patient_id)
                if payload is not None:
                    yield format_sse("batch", payload, event_id(ward.instance, cursor))
                    last_sent = time.monotonic()
            if time.monotonic() - last_sent >= conf.heartbeat_s:
                yield ": keep-alive\n\n"
                last_sent = time.monotonic()
            if conf.closing.is_set():
                return
            await asyncio.sleep(conf.flush_interval_s)

    app.add_middleware(_Guard, settings=conf)
    return app
