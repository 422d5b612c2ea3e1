"""What the dashboard accepts from whom: no cross-site writes, only existing alerts
acknowledged, sessions that expire, logins that cannot be guessed at speed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from medrical.dashboard import security
from medrical.dashboard.context import DashboardSettings
from medrical.dashboard.ward import WardState
from tests.unit.test_dashboard_api import TOKEN, FakeStore, client_for

HOST = "127.0.0.1:8050"
SAME_ORIGIN = {"origin": f"http://{HOST}", "sec-fetch-site": "same-origin"}


@pytest.fixture
def ward() -> WardState:
    state = WardState()
    state.apply_monitor_alert({"alert_id": "a-1", "patient_id": "P-1", "risk": "high"})
    return state


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


def ack(client: TestClient, alert_id: str = "a-1", **kwargs: object) -> int:
    response = client.post(f"/api/alerts/{alert_id}/ack", **kwargs)  # type: ignore[arg-type]
    return response.status_code


@pytest.mark.parametrize(
    "headers",
    [
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
        {"origin": "http://evil.example"},
        {"origin": "null"},
        {"origin": f"http://{HOST}.evil.example"},
        {"origin": f"http://{HOST}", "sec-fetch-site": "cross-site"},
    ],
)
def test_a_write_from_another_site_is_refused(
    ward: WardState, store: FakeStore, headers: dict[str, str]
) -> None:
    with client_for(ward, store) as client:
        assert ack(client, json={}, headers={"host": HOST, **headers}) == 403
    assert store.rows == {}, "nothing was stored"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", None),
        (b"acknowledged_by=x", "application/x-www-form-urlencoded"),
        (b'{"acknowledged_by": "x"}', "text/plain"),
        (b"--b\r\n\r\n--b--", "multipart/form-data; boundary=b"),
    ],
)
def test_a_write_needs_a_json_body_which_no_plain_form_can_send(
    ward: WardState, store: FakeStore, body: bytes, content_type: str | None
) -> None:
    headers = {"host": HOST, **SAME_ORIGIN}
    if content_type is not None:
        headers["content-type"] = content_type
    with client_for(ward, store) as client:
        assert ack(client, content=body, headers=headers) == 415
    assert store.rows == {}


def test_the_dashboards_own_page_may_write(ward: WardState, store: FakeStore) -> None:
    with client_for(ward, store) as client:
        headers = {"host": HOST, **SAME_ORIGIN}
        assert ack(client, json={"acknowledged_by": "Kim"}, headers=headers) == 200
    assert store.rows["a-1"].acknowledged_by == "Kim"


def test_only_an_alert_that_exists_is_acknowledged(ward: WardState, store: FakeStore) -> None:
    with client_for(ward, store) as client:
        for junk in ("junk", "a-2", "0" * 128):
            assert ack(client, junk, json={}) == 404
        assert store.rows == {}, "no junk id is stored"
        store.stored_alert_ids.add("older")  # in the monitor's tables, not on the ward
        assert ack(client, "older", json={}) == 200
    assert set(store.rows) == {"older"}


def test_the_session_cookie_expires() -> None:
    token = SecretStr(TOKEN)
    issued = 1_800_000_000.0
    cookie = security.session_value(token, now=issued)
    assert security.session_matches(cookie, token, now=issued + 60)
    assert not security.session_matches(cookie, token, now=issued + security.SESSION_MAX_AGE_S)
    assert not security.session_matches(cookie, token, now=issued - 60), "not from the future"
    forged = f"{int(issued) + 3600}.{cookie.partition('.')[2]}"
    assert not security.session_matches(forged, token, now=issued + 3600)
    for junk in ("", ".", "x.y", "١٢٣.abc", "9" * 40 + ".00"):
        assert not security.session_matches(junk, token, now=issued)


def test_the_login_cookie_says_when_it_expires(ward: WardState, store: FakeStore) -> None:
    settings = DashboardSettings(token=SecretStr(TOKEN), allowed_hosts=None)
    with client_for(ward, store, settings) as client:
        cookie = client.post("/api/login", json={"token": TOKEN}).headers["set-cookie"]
    assert f"max-age={security.SESSION_MAX_AGE_S}" in cookie.lower()


def test_failed_logins_are_throttled(ward: WardState, store: FakeStore) -> None:
    now = [0.0]
    throttle = security.LoginThrottle(attempts=3, window_s=60, clock=lambda: now[0])
    settings = DashboardSettings(
        token=SecretStr(TOKEN), allowed_hosts=None, login_throttle=throttle
    )
    with client_for(ward, store, settings) as client:
        codes = [
            client.post("/api/login", json={"token": f"guess{n}"}).status_code for n in range(5)
        ]
        assert codes == [401, 401, 401, 429, 429]
        refused = client.post("/api/login", json={"token": TOKEN})
        assert refused.status_code == 429, "even the right token waits: a guesser learns nothing"
        assert int(refused.headers["retry-after"]) == 60
        now[0] = 61.0
        assert client.post("/api/login", json={"token": TOKEN}).status_code == 204
