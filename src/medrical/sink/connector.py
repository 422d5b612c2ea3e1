"""Building JDBC sink connector configurations from Medrical's configuration (pure)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from medrical.config import MASK, MedricalConfig, mask_url

Flavor = Literal["copy", "debezium", "aiven"]
# Medrical's own COPY sink: the local stack builds it (stack/resources/medrical-sink), and it
# drains a backlog several times faster than Debezium's (docs/performance.md).
DEFAULT_FLAVOR: Flavor = "copy"

DEFAULT_CONNECTOR_NAME = "medrical-biometrics-sink"
DEFAULT_TOPICS_REGEX = "biometrics_(.*)"
DEBEZIUM_SINK_CLASS = "io.debezium.connector.jdbc.JdbcSinkConnector"
AIVEN_SINK_CLASS = "io.aiven.connect.jdbc.JdbcSinkConnector"
COPY_SINK_CLASS = "io.medrical.connect.sink.CopySinkConnector"
BYTE_ARRAY_CONVERTER = "org.apache.kafka.connect.converters.ByteArrayConverter"
APICURIO_AVRO_CONVERTER = "io.apicurio.registry.utils.converter.AvroConverter"
# Apicurio's converter wrapped by Medrical's own (built by `medrical stack fetch` from
# stack/resources/medrical-connect): it waits out an unavailable registry instead of sending
# good records to the dead letters, and fails the task if the registry stays away.
MEDRICAL_AVRO_CONVERTER = "io.medrical.connect.RegistryRetryingAvroConverter"
CONFLUENT_AVRO_CONVERTER = "io.confluent.connect.avro.AvroConverter"
DEAD_LETTER_TOPIC = "medrical_dead_letters"


def apicurio_api_url(registry_url: str) -> str:
    """The converter speaks Apicurio's own v2 API; derive it from a ccompat URL."""
    for marker in ("/apis/ccompat/", "/apis/registry/"):
        if marker in registry_url:
            return registry_url.split(marker, 1)[0] + "/apis/registry/v2"
    return registry_url.rstrip("/") + "/apis/registry/v2"


# How long one record waits for an unavailable registry before its task fails (and the
# supervisor restarts it); kept well under the consumer's max.poll.interval.ms (5 minutes).
REGISTRY_RETRY_BUDGET_MS = 60_000
REGISTRY_RETRY_BACKOFF_MAX_MS = 5_000
# Debezium retries a write that failed for want of a database connection this many times, this
# far apart (about a minute), before the task fails and the supervisor takes over.
DATABASE_WRITE_RETRIES = 20
DATABASE_WRITE_RETRY_DELAY_MS = 3_000

# Throughput and freshness (benchmarks/bench_sink.py, docs/performance.md). One task per
# partition of a biometrics topic (producing.topics.DEFAULT_PARTITIONS), so that three database
# sessions write side by side; up to SINK_BATCH records per poll and per write, so that a backlog
# is written in few large batches while a live stream still goes out at every poll.
SINK_TASKS = 3
SINK_BATCH = 5_000
# How soon the consumers notice a topic created after they started (Kafka's default: 5 min).
TOPIC_DISCOVERY_MS = 5_000
# The COPY sink writes a whole poll at once, so larger polls mean fewer, larger COPYs; a
# partition's fetch must hold that many readings (about 130 bytes each on the wire).
COPY_SINK_BATCH = 20_000
COPY_SINK_PARTITION_FETCH_BYTES = 8 * 1024 * 1024


def _apicurio_converter(prefix: str, registry_url: str) -> dict[str, str]:
    # The Confluent wire format: magic byte, 4-byte content id, no headers.
    return {
        prefix: MEDRICAL_AVRO_CONVERTER,
        f"{prefix}.medrical.retry.budget.ms": str(REGISTRY_RETRY_BUDGET_MS),
        f"{prefix}.medrical.retry.backoff.max.ms": str(REGISTRY_RETRY_BACKOFF_MAX_MS),
        # A schema id names immutable content: when the periodic refresh of a cached schema
        # fails, keep using it rather than failing the record.
        f"{prefix}.apicurio.registry.fault-tolerant-refresh": "true",
        f"{prefix}.apicurio.registry.url": apicurio_api_url(registry_url),
        f"{prefix}.apicurio.registry.headers.enabled": "false",
        f"{prefix}.apicurio.registry.id-handler": (
            "io.apicurio.registry.serde.Legacy4ByteIdHandler"
        ),
        f"{prefix}.apicurio.registry.use-id": "contentId",
        f"{prefix}.apicurio.registry.as-confluent": "true",
    }


def _apicurio_security(
    prefix: str, config: MedricalConfig, password_file: Path | None
) -> dict[str, str]:
    """Basic auth and the CA the converter trusts, when the registry asks for them.

    With `password_file` the password is a FileConfigProvider reference (the local stack's
    worker holds `registry.password` there); otherwise it travels in the configuration, as a
    managed Connect service needs it.
    """
    registry = config.registry
    conf: dict[str, str] = {}
    if registry.basic_auth_user_info is not None:
        user, _, password = registry.basic_auth_user_info.get_secret_value().partition(":")
        conf[f"{prefix}.apicurio.auth.username"] = user
        conf[f"{prefix}.apicurio.auth.password"] = (
            f"${{file:{password_file}:registry.password}}" if password_file else password
        )
    if registry.ssl_ca_location is not None:
        # The converter's HTTP client reads a PEM CA bundle directly (no Java truststore).
        conf[f"{prefix}.apicurio.rest.request.ssl.ca-bundle.location"] = str(
            registry.ssl_ca_location
        )
    return conf


def _confluent_converter(prefix: str, config: MedricalConfig) -> dict[str, str]:
    assert config.registry.url is not None
    conf = {prefix: CONFLUENT_AVRO_CONVERTER, f"{prefix}.schema.registry.url": config.registry.url}
    if config.registry.basic_auth_user_info is not None:
        conf[f"{prefix}.basic.auth.credentials.source"] = "USER_INFO"
        conf[f"{prefix}.basic.auth.user.info"] = (
            config.registry.basic_auth_user_info.get_secret_value()
        )
    return conf


def _dead_letters() -> dict[str, str]:
    # Poison (records no converter can ever read, values the database refuses) goes to a
    # dead-letter topic instead of stopping the sink; the topic name stays outside
    # biometrics_(.*) so the sink never reads it back. A registry that is unavailable is
    # waited out by the converter, never a reason to divert a record (MEDRICAL_AVRO_CONVERTER).
    return {
        "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": DEAD_LETTER_TOPIC,
        # The cluster's default (-1): 1 on one broker, 3 where min.insync.replicas is 2.
        "errors.deadletterqueue.topic.replication.factor": "-1",
        "errors.deadletterqueue.context.headers.enable": "true",
        "errors.log.enable": "true",
    }


def _registry_converters(
    config: MedricalConfig, password_file: Path | None, prefixes: tuple[str, ...]
) -> dict[str, str]:
    assert config.registry.url is not None
    conf: dict[str, str] = {}
    for prefix in prefixes:
        conf |= _apicurio_converter(prefix, config.registry.url)
        conf |= _apicurio_security(prefix, config, password_file)
    return conf


def sink_config(
    config: MedricalConfig,
    *,
    flavor: Flavor = DEFAULT_FLAVOR,
    topics_regex: str = DEFAULT_TOPICS_REGEX,
    password_file: Path | None = None,
    tasks_max: int | None = None,
) -> dict[str, str]:
    """The connector's configuration, as sent to Connect's REST API.

    With `password_file` (a properties file the Connect worker can read, holding
    `postgres.password`), the configuration refers to the password through Connect's
    FileConfigProvider instead of holding it.
    """
    pg = config.postgres
    if password_file is not None:
        password = f"${{file:{password_file}:postgres.password}}"
    else:
        password = pg.resolved_password() or ""
    assert config.registry.url is not None
    if flavor == "aiven":
        conf = {
            "connector.class": AIVEN_SINK_CLASS,
            "tasks.max": str(tasks_max or 1),
            "topics.regex": topics_regex,
            "connection.url": pg.jdbc_url(),
            "connection.user": pg.user,
            "connection.password": password,
            "insert.mode": "insert",
            "table.name.format": "${topic}",
            "auto.create": "true",
            "auto.evolve": "true",
        }
        conf |= _confluent_converter("key.converter", config)
        conf |= _confluent_converter("value.converter", config)
        return conf
    if flavor == "copy":
        conf = {
            "connector.class": COPY_SINK_CLASS,
            "tasks.max": str(tasks_max or SINK_TASKS),
            "topics.regex": topics_regex,
            "connection.url": pg.jdbc_url(),
            "connection.username": pg.user,
            "connection.password": password,
            # Upsert on (patient_id, event_time): a redelivered event overwrites itself.
            "primary.key.fields": "patient_id,event_time",
            "collection.name.format": "${topic}",
            # The database unreachable: each batch retried for about a minute, then the task
            # fails with its records unacknowledged, for the supervisor to restart.
            "medrical.retry.budget.ms": str(DATABASE_WRITE_RETRIES * DATABASE_WRITE_RETRY_DELAY_MS),
            "medrical.retry.backoff.ms": str(DATABASE_WRITE_RETRY_DELAY_MS),
            # None of these can lose a row: a poll is written and committed in one transaction
            # before `put` returns, and Connect commits no offset beyond it.
            "consumer.override.max.poll.records": str(COPY_SINK_BATCH),
            "consumer.override.max.partition.fetch.bytes": str(COPY_SINK_PARTITION_FETCH_BYTES),
            "consumer.override.metadata.max.age.ms": str(TOPIC_DISCOVERY_MS),
            # The key repeats the value's patient_id and is not stored: left as bytes, it
            # costs no second Avro decoding per record.
            "key.converter": BYTE_ARRAY_CONVERTER,
        }
        conf |= _dead_letters()
        return conf | _registry_converters(config, password_file, ("value.converter",))
    conf = {
        "connector.class": DEBEZIUM_SINK_CLASS,
        "tasks.max": str(tasks_max or SINK_TASKS),
        "topics.regex": topics_regex,
        "connection.url": pg.jdbc_url(),
        "connection.username": pg.user,
        "connection.password": password,
        # Upsert on (patient_id, event_time): a redelivered event overwrites itself, so
        # at-least-once delivery still stores every reading exactly once.
        "insert.mode": "upsert",
        "primary.key.mode": "record_value",
        "primary.key.fields": "patient_id,event_time",
        "schema.evolution": "basic",
        "collection.name.format": "${topic}",
        "use.time.zone": "UTC",
        # A write that fails for want of a connection (PostgreSQL restarting, a network blip)
        # is retried, not fatal at once; the rows stay unacknowledged meanwhile.
        "connection.restart.on.errors": "true",
        "flush.max.retries": str(DATABASE_WRITE_RETRIES),
        "flush.retry.delay.ms": str(DATABASE_WRITE_RETRY_DELAY_MS),
        # None of the settings below can lose a row: Debezium writes each batch in one
        # transaction and hands Connect the offsets of written records only, and Connect
        # commits no other offset (the consumer's auto-commit stays off).
        "batch.size": str(SINK_BATCH),
        "consumer.override.max.poll.records": str(SINK_BATCH),
        # A topic created after the connector started is found at the next metadata refresh.
        "consumer.override.metadata.max.age.ms": str(TOPIC_DISCOVERY_MS),
    }
    conf |= _dead_letters()
    return conf | _registry_converters(config, password_file, ("key.converter", "value.converter"))


# A whole-value reference to a Connect config provider, e.g. ${file:/path:postgres.password}:
# it names where the secret is, not the secret. A password that merely starts with "${" is not.
_PROVIDER_REFERENCE = re.compile(r"\$\{[A-Za-z][\w.-]*:[^{}]*\}")


def mask_secrets(conf: dict[str, str]) -> dict[str, str]:
    """A copy safe to print: passwords and user-info replaced, provider references kept."""
    masked = {}
    for key, value in conf.items():
        secret = key.endswith(("password", "user.info"))
        if secret and not _PROVIDER_REFERENCE.fullmatch(value):
            masked[key] = MASK
        else:
            # A registry URL of the form https://user:password@host carries a password too.
            masked[key] = mask_url(value) if "://" in value else value
    return masked
