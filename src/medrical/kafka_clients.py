"""Shared construction of confluent-kafka clients and the schema registry client.

Every client is built here, so every command (producer, checks, monitor, dashboard) inherits
the same TLS and SASL settings and the same refusals: a client certificate or key that cannot
work is refused before any connection, naming the setting; a broker or registry that refuses
us is named with the cause (TLS, certificate, credentials), within a bounded time.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import logging
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import (
    Schema,
    SchemaRegistryClient,
    topic_subject_name_strategy,
)
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError

from medrical.config import KafkaSettings, MedricalConfig, mask_url
from medrical.errors import ConfigError, ServiceUnavailableError
from medrical.schemas.wire import FramedAvroEncoder, MessageField, SchemaRegistrar, subject_name

_librdkafka_log = logging.getLogger("medrical.librdkafka")

# librdkafka's own lines about conditions it retries and resolves by itself (a coordinator
# still loading on a fresh broker, an idle connection closed): nothing for a user to act on.
_TRANSIENT = re.compile(
    r"retrying|will retry|coordinator load in progress|not coordinator|"
    r"leader not available|disconnected \(after|broker transport failure.*retry",
    re.IGNORECASE,
)


class LibrdkafkaLog:
    """The `logger` of every client: librdkafka's transient, self-resolving conditions at
    debug level, the rest at the level librdkafka gave."""

    def log(self, level: int, message: str, *args: Any) -> None:
        text = message % args if args else message
        _librdkafka_log.log(logging.DEBUG if _TRANSIENT.search(text) else level, "%s", text)


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

# Set to 1 to use a key or password file other users can read (refused otherwise).
ALLOW_EXPOSED_SECRETS_ENV = "MEDRICAL_ALLOW_EXPOSED_SECRETS"


# Every client retries a broker it lost at least once a second (librdkafka backs off to 10 s):
# a restarted broker, or a partition's new leader, is then reached within a second of being
# there. Settings of the configuration (kafka.extra) and of the caller win over these.
CLIENT_DEFAULTS: dict[str, Any] = {"reconnect.backoff.max.ms": 1000}


def client_conf(config: MedricalConfig, **overrides: Any) -> dict[str, Any]:
    check_client_files(config.kafka)
    conf: dict[str, Any] = {**CLIENT_DEFAULTS, **config.kafka.client_config()}
    conf["logger"] = LibrdkafkaLog()
    conf.update(overrides)
    return conf


# --- client certificate and key, checked before any connection ---------------------------------


def exposed_secrets_allowed() -> bool:
    return os.environ.get(ALLOW_EXPOSED_SECRETS_ENV, "").strip().lower() in ("1", "true", "yes")


def refuse_exposed(path: Path, setting: str, *, allow: bool | None = None) -> None:
    """A secret file readable or writable by other users is refused, unless allowed."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if not mode & (stat.S_IRWXG | stat.S_IRWXO):
        return
    if allow if allow is not None else exposed_secrets_allowed():
        _librdkafka_log.warning("%s %s can be read by other users (allowed)", setting, path)
        return
    raise ConfigError(
        f"{setting} {path} can be read by other users (mode {stat.S_IMODE(mode):o}).",
        setting=setting,
        hint=f"Restrict it with `chmod 600 {path}`, or accept the risk with "
        f"--allow-exposed-secrets ({ALLOW_EXPOSED_SECRETS_ENV}=1).",
    )


def check_client_files(
    settings: KafkaSettings, *, now: dt.datetime | None = None, allow_exposed: bool | None = None
) -> None:
    """Refuse a client certificate or key that cannot work, with the setting and the reason:
    unreadable, not PEM, encrypted with another password, expired, or not a pair."""
    if not settings.uses_tls:
        return
    cert_path, key_path = settings.ssl_certificate_location, settings.ssl_key_location
    if key_path is None and cert_path is None:
        return
    if key_path is None or cert_path is None:
        missing = "kafka.ssl_key_location" if key_path is None else "kafka.ssl_certificate_location"
        raise ConfigError(
            f"{missing} is not set, but the other half of the client certificate is.",
            setting=missing,
            hint="Give both the certificate (service.cert) and its key (service.key).",
        )
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from medrical.config.ssl_files import key_matches

    key_bytes = _read(key_path, "kafka.ssl_key_location")
    refuse_exposed(key_path, "kafka.ssl_key_location", allow=allow_exposed)
    cert_bytes = _read(cert_path, "kafka.ssl_certificate_location")
    password = settings.ssl_key_password
    try:
        key = serialization.load_pem_private_key(
            key_bytes, password.get_secret_value().encode() if password else None
        )
    except TypeError:
        raise ConfigError(
            f"kafka.ssl_key_location {key_path} is encrypted and kafka.ssl_key_password is "
            "not set (or the key is not encrypted and a password is set).",
            setting="kafka.ssl_key_password",
            hint="Set kafka.ssl_key_password (`medrical configure --ssl-key-password-file`).",
        ) from None
    except ValueError:
        raise ConfigError(
            f"kafka.ssl_key_location {key_path} is not a readable PEM private key "
            "(or kafka.ssl_key_password does not open it).",
            setting="kafka.ssl_key_location",
            hint="Give the service.key file your Kafka provider handed out.",
        ) from None
    try:
        cert = x509.load_pem_x509_certificate(cert_bytes)
    except ValueError:
        raise ConfigError(
            f"kafka.ssl_certificate_location {cert_path} is not a PEM certificate.",
            setting="kafka.ssl_certificate_location",
            hint="Give the service.cert file your Kafka provider handed out.",
        ) from None
    moment = now or dt.datetime.now(dt.UTC)
    if cert.not_valid_after_utc <= moment:
        raise ConfigError(
            f"the client certificate {cert_path} expired on "
            f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC.",
            setting="kafka.ssl_certificate_location",
            hint="Download a new one from your Kafka provider (or run `medrical stack up "
            "--tls` again for the local stack), then `medrical configure ssl`.",
        )
    if cert.not_valid_before_utc > moment:
        raise ConfigError(
            f"the client certificate {cert_path} is not valid before "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC.",
            setting="kafka.ssl_certificate_location",
            hint="Check this machine's clock.",
        )
    if not key_matches(cert, key):
        raise ConfigError(
            f"the client key {key_path} does not belong to the certificate {cert_path}.",
            setting="kafka.ssl_key_location",
            hint="Give the service.key that came with that service.cert.",
        )


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{setting} {path} cannot be read: {exc.strerror or exc}.",
            setting=setting,
            hint="Check the path and its permissions, or run `medrical configure ssl`.",
        ) from None


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


_BROKER_NAME = re.compile(r"\b[a-z_]+://\S+", re.IGNORECASE)


class _Collect:
    """Keeps librdkafka's log lines (they tell why a connection closed) at debug level."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, level: int, message: str, *args: Any) -> None:
        text = message % args if args else message
        self.lines.append(text)
        _librdkafka_log.debug("%s", text)


def ensure_kafka_reachable(config: MedricalConfig, timeout_s: float = 10.0) -> int:
    """Ask the cluster for its metadata; return the broker count or raise a clear error."""
    errors: list[KafkaError] = []
    collected = _Collect()
    timeout_ms = str(int(timeout_s * 1000))
    conf = client_conf(
        config,
        logger=collected,
        error_cb=errors.append,
        **{"socket.connection.setup.timeout.ms": timeout_ms},
    )
    try:
        admin = AdminClient(conf)
    except KafkaException as exc:
        raise ConfigError(
            f"the Kafka client settings are not usable: {exc.args[0].str()}.",
            setting="kafka",
            hint="See `medrical config show`.",
        ) from None
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException:
        admin.poll(0)  # delivers the error callbacks that say why
        raise explain_kafka_failure(config.kafka, timeout_s, errors, collected.lines) from None
    return len(metadata.brokers)


def explain_kafka_failure(
    settings: KafkaSettings, timeout_s: float, errors: list[KafkaError], log_lines: list[str]
) -> ServiceUnavailableError:
    """One message naming the cause of a failed first contact, from librdkafka's reports."""
    servers = settings.bootstrap_servers
    # Broker names such as ssl://host:port say nothing about the cause: leave them out.
    texts = [_BROKER_NAME.sub("", text) for text in [e.str() for e in errors] + log_lines]
    joined = "\n".join(texts).lower()
    codes = {error.code() for error in errors}
    protocol = settings.security_protocol

    def fail(detail: str, hint: str) -> ServiceUnavailableError:
        return ServiceUnavailableError("Kafka", detail, hint=hint)

    if KafkaError.SASL_AUTHENTICATION_FAILED in codes or "invalid credentials" in joined:
        return fail(
            f"{servers} refused the SASL credentials of user {settings.sasl_username!r} "
            f"({settings.sasl_mechanism or 'PLAIN'}).",
            "Check kafka.sasl_username, kafka.sasl_password and kafka.sasl_mechanism.",
        )
    if "certificate expired" in joined:
        return fail(
            f"{servers} refused our client certificate: it has expired.",
            "Renew kafka.ssl_certificate_location (`medrical configure ssl`).",
        )
    if any(alert in joined for alert in ("certificate required", "unknown ca", "bad certificate")):
        return fail(
            f"{servers} requires a client certificate it trusts, and did not accept ours "
            f"({settings.ssl_certificate_location or 'none set'}).",
            "Use the certificate and key issued for this service (service.cert, service.key), "
            "signed by the CA the broker trusts: `medrical configure ssl`.",
        )
    if "certificate verify failed" in joined:
        if "hostname" in joined or "ip address mismatch" in joined:
            return fail(
                f"the certificate of {servers} does not name that host.",
                "Connect by the name in the broker's certificate, or (not recommended) set "
                "kafka.ssl_endpoint_identification = false.",
            )
        return fail(
            f"the certificate of {servers} is not signed by a CA we trust.",
            "Set kafka.ssl_ca_location to the service's ca.pem.",
        )
    if protocol in ("PLAINTEXT", "SASL_PLAINTEXT") and (
        "security.protocol" in joined or "ssl listener" in joined or "apiversion" in joined
    ):
        return fail(
            f"{servers} closed the connection before answering: it expects TLS, and "
            f"kafka.security_protocol is {protocol}.",
            "Set kafka.security_protocol to SSL (client certificates) or SASL_SSL.",
        )
    if KafkaError._SSL in codes or "ssl" in joined:
        cause = next((text for text in texts if "ssl" in text.lower()), "")
        return fail(
            f"the TLS handshake with {servers} failed ({cause[:200]}).",
            "Check kafka.security_protocol and the kafka.ssl_* settings.",
        )
    return fail(
        f"no answer from {servers} within {timeout_s:.0f} s.",
        "Is the cluster up (`medrical stack status`) and is kafka.bootstrap_servers right "
        "(`medrical config show`)?",
    )
