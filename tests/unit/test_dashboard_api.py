"""The dashboard's web application through FastAPI's TestClient, over a fake store."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import SecretStr

from medrical.dashboard import security
from medrical.dashboard.app import ROUTERS, create_app
from medrical.dashboard.context import DashboardSettings
from medrical.dashboard.routes.pages import static_dir
from medrical.dashboard.routes.stream import (
    batch_payload,
    event_id,
    format_sse,
    parse_last_event_id,
)
from medrical.dashboard.store import HistoryRows
from medrical.dashboard.ward import WardState
from tests.unit.test_dashboard_core import START, FakeAckStore, reading

HOSTILE_ID = "<script>alert(1)</script>"
TOKEN = "a-long-enough-access-token-1234"


class FakeStore(FakeAckStore):
    """History from lists, as the PostgreSQL store would return it."""

    def __init__(self) -> None:
        super().__init__()
        self.history: list[dict[str, Any]] = []
        self.stored_alerts: list[dict[str, Any]] = []
        self.asked: list[tuple[str, int, int, int]] = []

    def readings(self, patient_id: str, since_ms: int, until_ms: int, bucket_s: int) -> HistoryRows:
        self.asked.append((patient_id, since_ms, until_ms, bucket_s))
        rows = [
            r
            for r in self.history
            if r["patient_id"] == patient_id and since_ms <= r["event_time"] < until_ms
        ]
        return HistoryRows(rows, bucket_s)

    def alerts(self, patient_id: str, since_ms: int, until_ms: int) -> list[dict[str, Any]]:
        return [dict(a) for a in self.stored_alerts if a["patient_id"] == patient_id]


@pytest.fixture
def ward() -> WardState:
    return WardState()


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


def client_for(
    ward: WardState, store: FakeStore, settings: DashboardSettings | None = None
) -> TestClient:
    return TestClient(create_app(ward, store, settings or DashboardSettings(allowed_hosts=None)))


@pytest.fixture
def client(ward: WardState, store: FakeStore) -> Iterator[TestClient]:
    with client_for(ward, store) as test_client:
        yield test_client


def test_patients_with_latest_state_highest_risk_first(client: TestClient, ward: WardState) -> None:
    ward.apply_reading(reading("P-000002"), "biometrics_a")
    ward.apply_reading(reading("P-000001", heart_rate=140, respiratory_rate=26), "biometrics_a")
    response = client.get("/api/patients")
    assert response.status_code == 200
    patients = response.json()
    assert [p["patient_id"] for p in patients] == ["P-000001", "P-000002"]
    assert patients[0]["score"] == 6
    assert patients[0]["vitals"]["heart_rate"] == 140
    assert patients[0]["trend"]
    assert client.get("/api/patients/P-000002").json()["score"] == 0
    assert client.get("/api/patients/P-404").status_code == 404


def test_snapshot_carries_the_change_number_and_settings(
    client: TestClient, ward: WardState
) -> None:
    ward.apply_reading(reading(), "biometrics_a")
    snap = client.get("/api/snapshot").json()
    assert snap["seq"] == ward.last_seq
    assert snap["silent_after_s"] == 30.0
    assert [p["patient_id"] for p in snap["patients"]] == ["P-000001"]
    assert client.get("/api/snapshot", params={"patient_id": "P-x"}).json()["patients"] == []


def test_readings_in_a_window_come_scored_with_alerts(
    client: TestClient, store: FakeStore, ward: WardState
) -> None:
    store.history = [reading(at=START + i * 1000, heart_rate=70 + i) for i in range(5)]
    store.stored_alerts = [
        {"alert_id": "m-1", "patient_id": "P-000001", "kind": "escalation", "event_time": START}
    ]
    store.acknowledge("m-1", "nurse")
    ward.apply_monitor_alert(
        {"alert_id": "m-2", "patient_id": "P-000001", "event_time": START + 2000}
    )
    response = client.get(
        "/api/patients/P-000001/readings", params={"since": START, "until": START + 600_000}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["bucket_s"] == 0
    assert [p["heart_rate"] for p in body["points"]] == [70, 71, 72, 73, 74]
    assert all(p["score"] == 0 for p in body["points"])
    assert [a["alert_id"] for a in body["alerts"]] == ["m-1", "m-2"]
    assert body["alerts"][0]["acknowledged"]["acknowledged_by"] == "nurse"
    assert body["alerts"][0]["source"] == "monitor"

    client.get("/api/patients/P-000001/readings", params={"window": 86400})
    assert store.asked[-1][3] == 58, "a day is averaged into buckets"
    bad = client.get("/api/patients/P-000001/readings", params={"since": START, "until": START - 1})
    assert bad.status_code == 400
    assert "window" in bad.json()["detail"]


def test_acknowledging_an_alert(client: TestClient, ward: WardState, store: FakeStore) -> None:
    ward.apply_monitor_alert({"alert_id": "a-1", "patient_id": "P-1", "risk": "high"})
    first = client.post("/api/alerts/a-1/ack", json={"acknowledged_by": "Nurse Kim"})
    assert first.status_code == 200
    assert first.json()["created"] is True
    second = client.post("/api/alerts/a-1/ack", json={"acknowledged_by": "Dr Who"})
    assert second.json()["created"] is False
    assert second.json()["acknowledged"]["acknowledged_by"] == "Nurse Kim"
    assert store.rows["a-1"].acknowledged_by == "Nurse Kim"
    listed = client.get("/api/alerts").json()
    assert listed[0]["acknowledged"]["acknowledged_by"] == "Nurse Kim"
    # An older alert, only in the monitor's tables; an empty JSON body means the ward.
    store.stored_alert_ids.add("a-2")
    assert (
        client.post("/api/alerts/a-2/ack", json={}).json()["acknowledged"]["acknowledged_by"]
        == "ward"
    )
    assert client.post("/api/alerts/a-1/ack", json={"acknowledged_by": "x\x07"}).status_code == 400


def test_an_acknowledgement_outlives_the_server(store: FakeStore) -> None:
    first_run = WardState()
    first_run.apply_monitor_alert({"alert_id": "a-1", "patient_id": "P-1"})
    with client_for(first_run, store) as client:
        client.post("/api/alerts/a-1/ack", json={"acknowledged_by": "night shift"})
    second_run = WardState()
    second_run.apply_monitor_alert({"alert_id": "a-1", "patient_id": "P-1"})
    with client_for(second_run, store) as client:
        alert = client.get("/api/alerts").json()[0]
        assert alert["acknowledged"]["acknowledged_by"] == "night shift"
        snap_alert = client.get("/api/snapshot").json()["alerts"][0]
        assert snap_alert["acknowledged"]["acknowledged_by"] == "night shift"


# --- escaping ----------------------------------------------------------------------------------


def test_a_hostile_patient_id_is_data_never_markup(client: TestClient, ward: WardState) -> None:
    ward.apply_reading(reading(HOSTILE_ID), "biometrics_a")
    ward.apply_monitor_alert({"alert_id": "x", "patient_id": HOSTILE_ID, "message": "<b>hi</b>"})
    response = client.get("/api/patients")
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()[0]["patient_id"] == HOSTILE_ID
    # Pages are static: the data reaches them only as JSON, which the scripts put into the
    # document with textContent.
    for page in ("/", "/patient?id=%3Cscript%3E"):
        html = client.get(page)
        assert html.headers["content-type"].startswith("text/html")
        assert "<script>alert" not in html.text
        assert "script-src 'self'" in html.headers["content-security-policy"]
    one = client.get("/api/patients/" + "%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert one.json()["patient_id"] == HOSTILE_ID


def test_scripts_never_build_markup_from_strings() -> None:
    sources = {p.name: p.read_text() for p in static_dir().glob("*.js")}
    assert {"common.js", "ward.js", "patient.js", "charts.js", "login.js"} <= set(sources)
    for name, text in sources.items():
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, f"{name} uses {sink}"
    for page in static_dir().glob("*.html"):
        text = page.read_text()
        assert re.search(r"<script(?![^>]*\bsrc=)", text) is None, f"inline script in {page}"
        assert "http://" not in text, f"{page} loads from elsewhere"
        assert "https://" not in text, f"{page} loads from elsewhere"


# --- access ------------------------------------------------------------------------------------


def test_off_loopback_every_api_call_needs_the_token(ward: WardState, store: FakeStore) -> None:
    settings = DashboardSettings(token=SecretStr(TOKEN), allowed_hosts=None)
    with client_for(ward, store, settings) as client:
        assert client.get("/api/patients").status_code == 401
        assert client.get("/openapi.json").status_code == 401
        page = client.get("/", follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"] == "/login"
        assert client.get("/login").status_code == 200
        assert client.get("/static/dashboard.css").status_code == 200
        assert client.get("/api/patients", headers={"authorization": "Bearer wrong"}).status_code
        ok = client.get("/api/patients", headers={"authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200

        assert client.post("/api/login", json={"token": "nope"}).status_code == 401
        login = client.post("/api/login", json={"token": TOKEN})
        assert login.status_code == 204
        cookie = login.headers["set-cookie"]
        assert TOKEN not in cookie
        assert "httponly" in cookie.lower()
        assert "samesite=strict" in cookie.lower()
        assert client.get("/api/patients").status_code == 200, "the session cookie lets it in"


PUBLIC_ROUTES = {"/login", "/api/login"}


def test_every_route_but_the_login_needs_access(ward: WardState, store: FakeStore) -> None:
    """Access is a dependency of each router: a route added without one must not slip by."""
    app = create_app(ward, store, DashboardSettings(token=SecretStr(TOKEN), allowed_hosts=None))
    routes = [
        route
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and route.path not in PUBLIC_ROUTES
    ]
    assert len(routes) >= 10
    with TestClient(app) as client:
        for route in routes:
            path = route.path.replace("{patient_id:path}", "P-1").replace("{alert_id}", "a-1")
            for method in route.methods or ():
                # A write is sent as JSON, so that the cross-site check lets it reach access.
                body: dict[str, str] | None = {} if method not in ("GET", "HEAD") else None
                response = client.request(method, path, json=body, follow_redirects=False)
                assert response.status_code in (401, 303), f"{method} {route.path} is open"
                assert "script-src 'self'" in response.headers["content-security-policy"]


def test_off_loopback_requests_without_a_token_are_401_not_500(
    ward: WardState, store: FakeStore
) -> None:
    settings = DashboardSettings(token=SecretStr(TOKEN), allowed_hosts=None)
    with client_for(ward, store, settings) as client:
        client.cookies.set(security.SESSION_COOKIE, "forged")
        assert client.get("/api/alerts").status_code == 401
        assert client.get("/api/stream").status_code == 401


def test_on_loopback_only_loopback_host_names_are_served(ward: WardState, store: FakeStore) -> None:
    with TestClient(create_app(ward, store), base_url="http://127.0.0.1:18880") as client:
        assert client.get("/api/patients").status_code == 200
        rebinding = client.get("/api/patients", headers={"host": "evil.example:18880"})
        assert rebinding.status_code == 400
        assert client.get("/api/patients", headers={"host": "localhost:18880"}).status_code == 200


def test_openapi_documents_the_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/patients",
        "/api/patients/{patient_id}",
        "/api/patients/{patient_id}/readings",
        "/api/alerts",
        "/api/alerts/{alert_id}/ack",
        "/api/snapshot",
        "/api/stream",
    ):
        assert path in paths


# --- live stream -------------------------------------------------------------------------------


def parse_sse(text: str) -> list[dict[str, str]]:
    messages = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":") or not line:
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if fields:
            messages.append(fields)
    return messages


def closed_settings() -> DashboardSettings:
    # A closing server ends each stream after one round, so a test can read it to the end.
    settings = DashboardSettings(allowed_hosts=None, flush_interval_s=0.01)
    settings.closing.set()
    return settings


def test_stream_starts_with_a_snapshot(ward: WardState, store: FakeStore) -> None:
    ward.apply_reading(reading(), "biometrics_a")
    with client_for(ward, store, closed_settings()) as client:
        response = client.get("/api/stream")
    assert response.headers["content-type"].startswith("text/event-stream")
    messages = parse_sse(response.text)
    assert messages[0] == {"retry": "2000"}
    assert messages[1]["event"] == "snapshot"
    assert messages[1]["id"] == event_id(ward.instance, 1)
    snap = json.loads(messages[1]["data"])
    assert snap["patients"][0]["patient_id"] == "P-000001"


def test_stream_says_when_the_feed_is_reconnecting_to_kafka(
    ward: WardState, store: FakeStore
) -> None:
    settings = closed_settings()
    settings.feed_state = lambda: "reconnecting"
    with client_for(ward, store, settings) as client:
        messages = parse_sse(client.get("/api/stream").text)
    assert {"event": "feed", "data": '{"kafka": "reconnecting"}'} in messages
    with client_for(ward, store, closed_settings()) as client:
        live = parse_sse(client.get("/api/stream").text)
    assert all(message.get("event") != "feed" for message in live)  # live is the default


def test_stream_resumes_from_last_event_id(ward: WardState, store: FakeStore) -> None:
    ward.apply_reading(reading("P-1", at=START), "biometrics_a")
    seen = ward.last_seq
    ward.apply_reading(reading("P-1", at=START + 1000, heart_rate=99), "biometrics_a")
    ward.apply_reading(reading("P-1", at=START + 2000, heart_rate=100), "biometrics_a")
    ward.apply_reading(reading("P-2", at=START + 2000), "biometrics_a")
    with client_for(ward, store, closed_settings()) as client:
        resumed = client.get(
            "/api/stream", headers={"last-event-id": event_id(ward.instance, seen)}
        )
        other_run = client.get("/api/stream", headers={"last-event-id": "0123456789ab-1"})
        one_patient = client.get(
            "/api/stream",
            params={"patient_id": "P-2"},
            headers={"last-event-id": event_id(ward.instance, seen)},
        )
    batch = parse_sse(resumed.text)[1]
    assert batch["event"] == "batch"
    assert batch["id"] == event_id(ward.instance, ward.last_seq)
    items = json.loads(batch["data"])
    # P-1's two changes are coalesced into the latest.
    assert [(i["patient"]["patient_id"], i["patient"]["vitals"]["heart_rate"]) for i in items] == [
        ("P-1", 100),
        ("P-2", 72),
    ]
    assert parse_sse(other_run.text)[1]["event"] == "snapshot"
    only = json.loads(parse_sse(one_patient.text)[1]["data"])
    assert [i["patient"]["patient_id"] for i in only] == ["P-2"]


def test_sse_helpers() -> None:
    assert format_sse("batch", "[1]", "abc-3") == "id: abc-3\nevent: batch\ndata: [1]\n\n"
    assert format_sse(None, "{}") == "data: {}\n\n"
    assert parse_last_event_id("abc-3", "abc") == 3
    assert parse_last_event_id("abc-x", "abc") is None
    assert parse_last_event_id("other-3", "abc") is None
    assert parse_last_event_id(None, "abc") is None
    assert batch_payload([], None) is None
