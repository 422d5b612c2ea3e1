"""Construction of confluent-kafka clients, and the first contact with the cluster.

Every client's settings come from `client_conf`, so every command (producer, checks, monitor,
dashboard) inherits the same TLS and SASL settings and the same refusals: a client certificate
or key that cannot work is refused before any connection (`medrical.client_certificates`),
naming the setting; a broker that refuses us is named with the cause (TLS, certificate,
credentials), within a bounded time. The registry client lives in `medrical.schemas.registry`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from medrical.client_certificates import check_client_files
from medrical.config import KafkaSettings, MedricalConfig
from medrical.errors import ConfigError, ServiceUnavailableError

# Imported from here by the monitor's and the producer's clients as well.
from medrical.schemas.registry import avro_encoder, avro_serializer, registry_client

__all__ = [
    "CLIENT_DEFAULTS",
    "LibrdkafkaLog",
    "avro_encoder",
    "avro_serializer",
    "client_conf",
    "ensure_kafka_reachable",
    "explain_kafka_failure",
    "registry_client",
]

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
