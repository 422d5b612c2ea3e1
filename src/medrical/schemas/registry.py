"""The schema registry client every command uses, and Avro encoding through it.

confluent-kafka's client, with bounded calls and refusals (credentials, TLS, an unreachable
registry) turned into errors that name the registry and the cause; registration under
`<topic>-key` / `<topic>-value` subjects, as the JDBC sink and every consumer expect.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import httpx
from confluent_kafka.schema_registry import (
    Schema,
    SchemaRegistryClient,
    topic_subject_name_strategy,
)
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError

from medrical.config import MedricalConfig, mask_url
from medrical.errors import ServiceUnavailableError
from medrical.schemas.wire import FramedAvroEncoder, MessageField, SchemaRegistrar, subject_name

try:  # the registry client may run on its own copy of httpx (httpx2)
    from confluent_kafka.schema_registry.common._httpx_compat import httpx as _registry_httpx

    _TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
        httpx.TransportError,
        _registry_httpx.TransportError,
    )
    _TIMEOUT_ERRORS: tuple[type[Exception], ...] = (
        httpx.TimeoutException,
        _registry_httpx.TimeoutException,
    )
except ImportError:  # pragma: no cover - older clients use httpx itself
    _TRANSPORT_ERRORS = (httpx.TransportError,)
    _TIMEOUT_ERRORS = (httpx.TimeoutException,)


REGISTRY_TIMEOUT_S = 10


def registry_client(config: MedricalConfig) -> SchemaRegistryClient:
    """A registry client whose calls end within a bounded time, never hang, and whose refusals
    (credentials, TLS) are named as such."""
    return ExplainingRegistryClient(config)


class ExplainingRegistryClient(SchemaRegistryClient):
    """confluent-kafka's registry client whose public methods turn a refusal (401/403) or a
    transport failure into a ServiceUnavailableError that names the registry and the cause."""

    def __init__(self, config: MedricalConfig) -> None:
        super().__init__({"timeout": REGISTRY_TIMEOUT_S, **config.registry.client_config()})
        self.masked_url = mask_url(config.registry.url or "")
        self.has_credentials = config.registry.basic_auth_user_info is not None


def _explaining(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: ExplainingRegistryClient, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except SchemaRegistryError as exc:
            if exc.http_status_code in (401, 403):
                raise registry_auth_error(
                    self.masked_url, exc.http_status_code, self.has_credentials
                ) from None
            raise
        except _TRANSPORT_ERRORS as exc:
            raise registry_transport_error(self.masked_url, exc) from None

    return call


# Every public method, as the client's own API lists them: a method added by a later version
# is covered too.
for _name, _method in inspect.getmembers(SchemaRegistryClient, inspect.isfunction):
    if not _name.startswith("_"):
        setattr(ExplainingRegistryClient, _name, _explaining(_method))


def registry_auth_error(url: str, status: int, has_credentials: bool) -> ServiceUnavailableError:
    if has_credentials:
        detail = f"{url} refused our credentials (HTTP {status})."
        hint = "Check registry.basic_auth_user_info (USER:PASSWORD)."
    else:
        detail = f"{url} requires credentials (HTTP {status}) and none are set."
        hint = "Set registry.basic_auth_user_info (`medrical configure --registry-user-info-file`)."
    return ServiceUnavailableError("schema registry", detail, hint=hint)


def registry_transport_error(url: str, exc: Exception) -> ServiceUnavailableError:
    text = str(exc)
    if isinstance(exc, _TIMEOUT_ERRORS):
        return ServiceUnavailableError(
            "schema registry", f"no answer from {url} within {REGISTRY_TIMEOUT_S} s."
        )
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return ServiceUnavailableError(
            "schema registry",
            f"the TLS certificate of {url} is not trusted ({_first_line(text)}).",
            hint="Set registry.ssl_ca_location to the CA that signed it.",
        )
    if "SSL" in text or "TLS" in text:
        return ServiceUnavailableError(
            "schema registry",
            f"the TLS handshake with {url} failed ({_first_line(text)}).",
            hint="Check that registry.url says https:// only when the registry serves TLS.",
        )
    return ServiceUnavailableError(
        "schema registry",
        f"{url} does not answer ({_first_line(text)}).",
        hint="Is the registry up (`medrical stack status`) and is registry.url right?",
    )


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:200]


def avro_serializer(registry: SchemaRegistryClient, schema: str) -> AvroSerializer:
    """An AvroSerializer registering under `<topic>-key` / `<topic>-value` subjects.

    The strategy is named explicitly: recent clients otherwise first look the subject up
    through the associations API, which Confluent-compatible registries other than
    Confluent's lack.
    """
    serializer: AvroSerializer = AvroSerializer(
        registry, schema, conf={"subject.name.strategy": topic_subject_name_strategy}
    )
    return serializer


def schema_registrar(registry: SchemaRegistryClient, url: str | None) -> SchemaRegistrar:
    """Registration as AvroSerializer does it with auto-registration: the client's own cache
    first, then a POST to the subject's versions, schemas not normalised."""
    shown = mask_url(url or "")

    def register(subject: str, schema_text: str) -> int:
        try:
            registered = registry.register_schema_full_response(
                subject, Schema(schema_text, "AVRO"), normalize_schemas=False
            )
        except SchemaRegistryError as exc:
            if exc.http_status_code == 409:
                raise ServiceUnavailableError(
                    "schema registry",
                    f"{shown} refused the schema of {subject}: it is incompatible with the "
                    f"subject's latest under the registry's compatibility rule "
                    f"({exc.error_message}).",
                    hint="That topic carries other data: produce to another one.",
                ) from exc
            raise ServiceUnavailableError(
                "schema registry", f"{shown} refused the schema of {subject}: {exc}"
            ) from exc
        if registered.schema_id is None:
            raise ServiceUnavailableError(
                "schema registry", f"{shown} registered {subject} but returned no schema id"
            )
        schema_id: int = registered.schema_id
        return schema_id

    return register


def avro_encoder(
    registry: SchemaRegistryClient,
    url: str | None,
    schema_text: str,
    topic: str,
    field: MessageField,
) -> FramedAvroEncoder:
    """A fast encoder of `topic`'s keys or values, registering under `<topic>-<field>`."""
    return FramedAvroEncoder(
        schema_text, subject_name(topic, field), schema_registrar(registry, url)
    )
