"""The local registry enforces BACKWARD compatibility on the project's subjects: a schema that
would break consumers and the sink's tables is refused, an additive optional field passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError

from medrical import schemas
from medrical.config import MedricalConfig
from medrical.errors import ExitCode
from medrical.health import check_registry
from medrical.schemas.registry import registry_client
from tests.integration.helpers import unique_topic

pytestmark = pytest.mark.integration

# The example of a breaking change: patient_id retyped, every other field dropped.
BREAKING = json.dumps(
    {
        "type": "record",
        "name": "Biometrics",
        "namespace": "io.medrical",
        "fields": [{"name": "patient_id", "type": "int"}],
    }
)


def avro(text: str) -> Schema:
    return Schema(text, "AVRO")


def produce_one(config: MedricalConfig, topic: str) -> subprocess.CompletedProcess[str]:
    """`medrical produce` as a user runs it, against the test stack."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": str(config.kafka.bootstrap_servers),
        "SCHEMA_REGISTRY_URL": str(config.registry.url),
    }
    return subprocess.run(
        [
            *(sys.executable, "-m", "medrical", "produce", "--topic", topic, "--count", "1"),
            *("--patients", "1", "--seed", "1", "--speed", "max"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_stack_sets_backward_and_config_check_reports_it(
    live_config: MedricalConfig,
) -> None:
    client = registry_client(live_config)
    try:
        assert client.get_compatibility() == schemas.COMPATIBILITY
    finally:
        client.close()
    result = check_registry(live_config.registry, timeout_s=10)
    assert result.ok, result.detail
    assert result.detail.endswith("compatibility BACKWARD"), result.detail


def test_an_optional_field_passes_and_a_breaking_schema_is_refused(
    live_config: MedricalConfig,
) -> None:
    topic = unique_topic("compat")
    subject = f"{topic}-value"
    client = registry_client(live_config)
    try:
        # Version 1 first, as an older producer registered it; today's adds spo2_scale and
        # scenario, optional with defaults: the producer registers it without complaint.
        client.register_schema(subject, avro(schemas.schema_text(schemas.BIOMETRICS_VALUE_V1)))
        produced = produce_one(live_config, topic)
        assert produced.returncode == 0, produced.stderr
        assert len(client.get_versions(subject)) == 2

        with pytest.raises(SchemaRegistryError) as refused:
            client.register_schema(subject, avro(BREAKING))
        assert refused.value.http_status_code == 409
        assert len(client.get_versions(subject)) == 2
    finally:
        client.close()


def test_producing_over_an_incompatible_subject_fails_with_one_clear_line(
    live_config: MedricalConfig,
) -> None:
    topic = unique_topic("foreign")
    client = registry_client(live_config)
    try:
        client.register_schema(f"{topic}-value", avro(BREAKING))
    finally:
        client.close()
    produced = produce_one(live_config, topic)
    assert produced.returncode == ExitCode.UNAVAILABLE, produced.stderr
    assert "Traceback" not in produced.stderr
    errors = [line for line in produced.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, produced.stderr
    assert "incompatible" in errors[0].lower(), errors[0]
    assert f"{topic}-value" in errors[0], errors[0]
