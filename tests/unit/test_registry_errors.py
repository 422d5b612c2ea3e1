"""The registry client names a refusal or an unreachable registry clearly, through its public
methods only: if confluent-kafka changes its internals, these tests say so."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from medrical.config import MedricalConfig, RegistrySettings
from medrical.errors import ServiceUnavailableError
from medrical.schemas.registry import registry_client
from tests.unit.cli_harness import closed_port


class _Refusing(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        body = b'{"error_code": 401, "message": "Unauthorized"}'
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def refusing_registry() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def config(url: str, user_info: str | None = None) -> MedricalConfig:
    secret = SecretStr(user_info) if user_info is not None else None
    return MedricalConfig(registry=RegistrySettings(url=url, basic_auth_user_info=secret))


def test_refused_credentials_are_named_without_the_password(refusing_registry: str) -> None:
    client = registry_client(config(refusing_registry, "app:reg-S3cret"))
    with pytest.raises(ServiceUnavailableError, match="refused our credentials") as caught:
        client.get_subjects()
    assert "reg-S3cret" not in str(caught.value)


def test_missing_credentials_are_named(refusing_registry: str) -> None:
    with pytest.raises(ServiceUnavailableError, match="requires credentials"):
        registry_client(config(refusing_registry)).get_subjects()


def test_an_unreachable_registry_is_named() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(ServiceUnavailableError, match=rf"schema registry: {url} does not answer"):
        registry_client(config(url)).get_subjects()
