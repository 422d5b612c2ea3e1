"""The live stack: four healthy services, and the registry's compatibility rules."""

from __future__ import annotations

import json

import httpx
import pytest

from medrical import schemas
from medrical.config import MedricalConfig
from medrical.stack.manager import LocalStack

pytestmark = pytest.mark.integration


def test_four_services_are_healthy_and_report_memory(live_config: MedricalConfig) -> None:
    rows = LocalStack(live_config.stack).status()
    assert [row.name for row in rows] == ["postgres", "kafka", "registry", "connect"]
    assert all(row.healthy for row in rows), [(r.name, r.detail) for r in rows]
    assert all(row.resident_mib and row.resident_mib > 1 for row in rows)


def test_up_on_a_running_stack_starts_nothing(live_config: MedricalConfig) -> None:
    lines: list[str] = []
    assert LocalStack(live_config.stack).up(report=lines.append) == {}
    assert all("already running" in line for line in lines)


def test_the_registry_accepts_the_schema_evolution_as_backward_compatible(
    live_config: MedricalConfig,
) -> None:
    assert live_config.registry.url is not None
    subject = f"{live_config.registry.url}/subjects/it-compat-value"
    headers = {"Content-Type": "application/vnd.schemaregistry.v1+json"}

    def body(name: str) -> str:
        return json.dumps({"schema": schemas.schema_text(name)})

    with httpx.Client(timeout=10) as http:
        http.put(
            f"{live_config.registry.url}/config/it-compat-value",
            content=json.dumps({"compatibility": "BACKWARD"}),
            headers=headers,
        ).raise_for_status()
        http.post(
            f"{subject}/versions", content=body(schemas.BIOMETRICS_VALUE_V1), headers=headers
        ).raise_for_status()
        check = http.post(
            f"{live_config.registry.url}/compatibility/subjects/it-compat-value/versions/latest",
            content=body(schemas.BIOMETRICS_VALUE),
            headers=headers,
        )
        check.raise_for_status()
        assert check.json()["is_compatible"] is True
        http.post(
            f"{subject}/versions", content=body(schemas.BIOMETRICS_VALUE), headers=headers
        ).raise_for_status()
        http.delete(subject)
