"""Kafka Connect of the local stack: one distributed worker with the JDBC sink plugins."""

from __future__ import annotations

import dataclasses

import httpx
from pydantic import SecretStr

from medrical.config import LOOPBACK, ConnectSettings
from medrical.errors import MedricalError
from medrical.health import CheckResult, Problem, check_connect
from medrical.stack import fetch, process, rendering
from medrical.stack.services import PROBE_TIMEOUT_S, Engines, Port, Service, read_secret


class ConnectService(Service):
    name = "connect"
    start_timeout_s = 240.0

    def ports(self) -> list[Port]:
        return [
            Port("connect_port", self.settings.connect_port),
            Port("connect_metrics_port", self.settings.connect_metrics),
        ]

    def metrics_port(self) -> int:
        return self.settings.connect_metrics

    def address(self) -> str:
        scheme = "https" if self.settings.tls else "http"
        return f"{scheme}://{LOOPBACK}:{self.settings.connect_port}"

    def client_settings(self) -> ConnectSettings:
        if not self.settings.tls:
            return ConnectSettings(url=self.address())
        password = read_secret(self.layout.connect_password_file)
        return ConnectSettings(
            url=self.address(),
            basic_auth_user_info=SecretStr(f"{rendering.CONNECT_USER}:{password}"),
            ssl_ca_location=self.layout.tls.ca_cert,
        )

    def probe(self) -> CheckResult:
        """Connect answers, and lists both JDBC sinks (its plugins load before its REST API
        serves them, so this is also the end of its start-up)."""
        from medrical.sink.client import ConnectClient

        settings = self.client_settings()
        result = check_connect(settings, PROBE_TIMEOUT_S)
        if not result.ok:
            return result
        try:
            with ConnectClient(settings, timeout_s=PROBE_TIMEOUT_S + 2) as client:
                plugins = client.plugins()
        except (MedricalError, httpx.HTTPError, ValueError) as exc:
            return dataclasses.replace(result, ok=False, detail=str(exc), problem=Problem.PROTOCOL)
        missing = [c for c in (fetch.COPY_SINK_CLASS, fetch.JDBC_SINK_CLASS) if c not in plugins]
        if missing:
            detail = f"Connect is up but does not list {', '.join(missing)}"
            return dataclasses.replace(result, ok=False, detail=detail, problem=Problem.PROTOCOL)
        return dataclasses.replace(result, detail=f"{result.detail}, JDBC sink plugins loaded")

    def start(self, engines: Engines) -> process.TrackedProcess:
        properties = self.layout.etc / "connect-distributed.properties"
        properties.write_text(
            rendering.connect_worker_properties(
                self.settings,
                engines.folder / "plugins",
                self.layout.connect_secrets_file,
                self.layout.tls if self.settings.tls else None,
            ),
            encoding="utf-8",
        )
        jaas = (
            [f"-Djava.security.auth.login.config={self.layout.connect_jaas_file}"]
            if self.settings.tls
            else []
        )
        return process.spawn(
            [
                *self.java_command(engines.java, self.settings.connect_heap_mb),
                *jaas,
                *self.metrics_agent(engines, "connect"),
                "-cp",
                str(engines.folder / "lib" / "*"),
                "org.apache.kafka.connect.cli.ConnectDistributed",
                str(properties),
            ],
            pid_file=self.pid_file,
            log_file=self.log_file,
        )
