"""Apicurio Registry of the local stack: the Confluent-compatible API, schemas in PostgreSQL."""

from __future__ import annotations

import os

from confluent_kafka.schema_registry import SchemaRegistryClient
from pydantic import SecretStr

from medrical import schemas
from medrical.config import LOOPBACK, RegistrySettings
from medrical.health import CheckResult, check_registry
from medrical.stack import process, rendering
from medrical.stack.postgres import PostgresService
from medrical.stack.services import (
    PROBE_TIMEOUT_S,
    Engines,
    Port,
    Service,
    Waiter,
    read_secret,
)


class RegistryService(Service):
    name = "registry"
    start_timeout_s = 180.0

    def ports(self) -> list[Port]:
        return [
            Port("registry_port", self.settings.registry_port),
            Port("registry_management_port", self.settings.registry_management_port),
        ]

    def address(self) -> str:
        scheme = "https" if self.settings.tls else "http"
        return f"{scheme}://{LOOPBACK}:{self.settings.registry_port}/apis/ccompat/v7"

    def client_settings(self) -> RegistrySettings:
        if not self.settings.tls:
            return RegistrySettings(url=self.address())
        password = read_secret(self.layout.registry_password_file)
        return RegistrySettings(
            url=self.address(),
            basic_auth_user_info=SecretStr(f"{rendering.REGISTRY_USER}:{password}"),
            ssl_ca_location=self.layout.tls.ca_cert,
        )

    def probe(self) -> CheckResult:
        return check_registry(self.client_settings(), PROBE_TIMEOUT_S)

    def await_ready(self, wait: Waiter) -> None:
        """Once it answers, make its global compatibility rule BACKWARD (Apicurio starts with
        none), through the Confluent-compatible API, so that it is stored with the schemas and
        `GET /config` reports it as any Confluent-compatible registry would."""
        wait(self.probe)
        client = SchemaRegistryClient(
            {"timeout": PROBE_TIMEOUT_S * 10, **self.client_settings().client_config()}
        )
        try:
            client.set_compatibility(level=schemas.COMPATIBILITY)
        finally:
            client.close()

    def start(self, engines: Engines) -> process.TrackedProcess:
        PostgresService(self.settings, self.layout).ensure_databases()
        tls = self.layout.tls if self.settings.tls else None
        props = rendering.registry_system_properties(self.settings, "registry", tls)
        env = dict(os.environ)
        # Quarkus reads this from the environment, keeping the password off the command line.
        env["APICURIO_DATASOURCE_PASSWORD"] = read_secret(self.layout.postgres_password_file)
        if tls is not None:
            env[rendering.REGISTRY_PASSWORD_ENV] = read_secret(self.layout.registry_password_file)
        return process.spawn(
            [
                *self.java_command(engines.java, self.settings.registry_heap_mb),
                *(f"-D{key}={value}" for key, value in props.items()),
                "-jar",
                str(engines.folder / "apicurio" / "quarkus-run.jar"),
            ],
            pid_file=self.pid_file,
            log_file=self.log_file,
            env=env,
            cwd=self.layout.data,
        )
