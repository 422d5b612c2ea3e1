"""`config check` says which compatibility rule the schema registry enforces."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from medrical import health
from medrical.config import RegistrySettings


def registry_answering(
    monkeypatch: pytest.MonkeyPatch, config: Callable[[], httpx.Response]
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/subjects"):
            return httpx.Response(200, json=["biometrics_default-value"])
        if request.url.path.endswith("/config"):
            return config()
        return httpx.Response(404)

    def client(_url: str, _user: str | None, _ca: str | None, timeout_s: float) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(answer), timeout=timeout_s)

    monkeypatch.setattr(health, "_http_client", client)


def check(monkeypatch: pytest.MonkeyPatch, config: Callable[[], httpx.Response]) -> str:
    registry_answering(monkeypatch, config)
    result = health.check_registry(RegistrySettings(url="http://127.0.0.1:1/apis/ccompat/v7"))
    assert result.ok, result.detail
    return result.detail


def test_the_rule_in_force_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    detail = check(monkeypatch, lambda: httpx.Response(200, json={"compatibilityLevel": "FULL"}))
    assert detail == "1 subject(s), compatibility FULL"


def test_none_is_reported_as_accepting_any_change(monkeypatch: pytest.MonkeyPatch) -> None:
    detail = check(monkeypatch, lambda: httpx.Response(200, json={"compatibilityLevel": "NONE"}))
    assert "compatibility NONE: any schema change is accepted (set BACKWARD)" in detail


@pytest.mark.parametrize(
    "answer",
    [
        lambda: httpx.Response(403, json={"message": "admins only"}),
        lambda: httpx.Response(404),
        lambda: httpx.Response(200, text="not json"),
        lambda: httpx.Response(200, json=["a list"]),
    ],
)
def test_a_registry_that_does_not_say_still_passes(
    monkeypatch: pytest.MonkeyPatch, answer: Callable[[], httpx.Response]
) -> None:
    assert "compatibility rule unknown" in check(monkeypatch, answer)
