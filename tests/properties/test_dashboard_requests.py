"""Any request to the dashboard's API: never a server error, and nothing is stored unless the
request came from the dashboard's own pages, as JSON, for an alert that exists."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from medrical.dashboard.context import DashboardSettings
from medrical.dashboard.routes.stream import parse_last_event_id
from medrical.dashboard.ward import WardState
from tests.unit.test_dashboard_api import FakeStore, client_for

HOST = "127.0.0.1:8050"

path = st.one_of(
    st.sampled_from(
        [
            "/api/alerts/a-1/ack",
            "/api/alerts/%2e%2e/ack",
            "/api/alerts//ack",
            "/api/login",
            "/api/patients/P-1/readings",
            "/api/snapshot",
            "/api/alerts",
            "/api/health",
        ]
    ),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/-_.%?=&", max_size=40).map(
        lambda tail: "/api/" + tail
    ),
)
header_value = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
headers = st.fixed_dictionaries(
    {},
    optional={
        "origin": st.one_of(st.just(f"http://{HOST}"), st.just("null"), header_value),
        "sec-fetch-site": st.sampled_from(["same-origin", "same-site", "cross-site", "none"]),
        "content-type": st.sampled_from(
            ["application/json", "text/plain", "application/x-www-form-urlencoded", "x/y"]
        ),
    },
)
body = st.one_of(
    st.binary(max_size=80),
    st.sampled_from([b"{}", b'{"acknowledged_by": "Kim"}', b"null", b"[]", b'{"token": 1}']),
)


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    path=path,
    headers=headers,
    body=body,
)
def test_any_request(method: str, path: str, headers: dict[str, str], body: bytes) -> None:
    ward = WardState()
    ward.apply_monitor_alert({"alert_id": "a-1", "patient_id": "P-1", "risk": "high"})
    store = FakeStore()
    with client_for(ward, store, DashboardSettings(allowed_hosts=None)) as client:
        response = client.request(method, path, content=body, headers={"host": HOST, **headers})
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if store.rows:
        assert method == "POST"
        assert path == "/api/alerts/a-1/ack"
        assert headers.get("sec-fetch-site", "same-origin") == "same-origin"
        assert headers.get("origin", f"http://{HOST}") == f"http://{HOST}"
        assert headers.get("content-type") == "application/json"
        assert set(store.rows) == {"a-1"}


digits_of_any_script = st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=6)
change_number = st.one_of(
    st.text(max_size=30),
    digits_of_any_script,
    st.integers(min_value=0).map(str),
    st.integers(min_value=1, max_value=6000).map(lambda length: "9" * length),
)


@given(seq=change_number)
def test_any_last_event_id_resumes_from_a_number_or_starts_afresh(seq: str) -> None:
    # A reconnecting page sends back the id it last saw; a forged one must not break the stream.
    resumed = parse_last_event_id(f"abc-{seq}", "abc")
    if resumed is not None:
        assert seq.strip().isascii()
        assert resumed == int(seq.strip())
