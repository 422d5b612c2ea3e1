"""Kafka of the local stack: one KRaft node, broker and controller in one JVM."""

from __future__ import annotations

import base64
import dataclasses
import subprocess
import uuid
from typing import Any

from pydantic import SecretStr

from medrical.config import LOOPBACK, KafkaSettings
from medrical.errors import StackError
from medrical.health import CheckResult, LibrdkafkaDebugLog, check_kafka
from medrical.stack import process, rendering
from medrical.stack.services import PROBE_TIMEOUT_S, Engines, Port, Service, Waiter, read_secret


class KafkaService(Service):
    name = "kafka"
    start_timeout_s = 120.0

    def ports(self) -> list[Port]:
        ports = [
            Port("kafka_port", self.settings.kafka_port),
            Port("controller_port", self.settings.controller_port),
        ]
        if self.settings.tls:
            ports.append(Port("kafka_sasl_port", self.settings.kafka_sasl_port))
        return ports

    def address(self) -> str:
        if self.settings.tls:
            return (
                f"{LOOPBACK}:{self.settings.kafka_port} (mTLS), "
                f":{self.settings.kafka_sasl_port} (SASL_SSL)"
            )
        return f"{LOOPBACK}:{self.settings.kafka_port}"

    # probes --------------------------------------------------------------------------------------

    def client_settings(self) -> KafkaSettings:
        """The stack's own client: its mutual-TLS identity in TLS mode."""
        bootstrap = f"{LOOPBACK}:{self.settings.kafka_port}"
        if not self.settings.tls:
            return KafkaSettings(bootstrap_servers=bootstrap)
        tls = self.layout.tls
        return KafkaSettings(
            bootstrap_servers=bootstrap,
            security_protocol="SSL",
            ssl_ca_location=tls.ca_cert,
            ssl_certificate_location=tls.stack_cert,
            ssl_key_location=tls.stack_key,
        )

    def sasl_client_settings(self) -> KafkaSettings:
        return KafkaSettings(
            bootstrap_servers=f"{LOOPBACK}:{self.settings.kafka_sasl_port}",
            security_protocol="SASL_SSL",
            ssl_ca_location=self.layout.tls.ca_cert,
            sasl_mechanism=rendering.KAFKA_SASL_MECHANISM,
            sasl_username=rendering.KAFKA_SASL_USER,
            sasl_password=SecretStr(read_secret(self.layout.kafka_sasl_password_file)),
        )

    def probe(self) -> CheckResult:
        return self._probe(sasl=self.layout.kafka_sasl_password_file.exists())

    def _probe(self, *, sasl: bool) -> CheckResult:
        result = check_kafka(self.client_settings(), PROBE_TIMEOUT_S)
        if not (result.ok and self.settings.tls and sasl):
            return result
        sasl_result = check_kafka(self.sasl_client_settings(), PROBE_TIMEOUT_S)
        if not sasl_result.ok:
            return sasl_result
        return dataclasses.replace(result, detail=f"{result.detail}; mTLS and SASL_SSL")

    def await_ready(self, wait: Waiter) -> None:
        if not self.settings.tls:
            wait(self.probe)
            return
        # Until its SCRAM user exists, the SASL_SSL listener refuses us: wait for mutual TLS
        # first, create the user, then wait for both.
        wait(lambda: self._probe(sasl=False))
        self._upsert_scram_user()
        wait(self.probe)

    def _upsert_scram_user(self) -> None:
        from confluent_kafka.admin import (
            AdminClient,
            ScramCredentialInfo,
            ScramMechanism,
            UserScramCredentialUpsertion,
        )

        conf: dict[str, Any] = dict(self.client_settings().client_config())
        conf["logger"] = LibrdkafkaDebugLog()
        admin = AdminClient(conf)
        upsert = UserScramCredentialUpsertion(
            rendering.KAFKA_SASL_USER,
            ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
            read_secret(self.layout.kafka_sasl_password_file).encode("utf-8"),
        )
        futures = admin.alter_user_scram_credentials([upsert])
        for future in futures.values():
            try:
                future.result(timeout=30)
            except Exception as exc:  # KafkaException: say what failed, never the password
                raise StackError(f"Kafka did not accept the SCRAM user: {_short(exc)}") from exc

    # start ---------------------------------------------------------------------------------------

    def start(self, engines: Engines) -> subprocess.Popen[bytes]:
        data = self.layout.data / "kafka"
        properties = self.layout.etc / "server.properties"
        tls = self.layout.tls if self.settings.tls else None
        properties.write_text(
            rendering.kafka_server_properties(self.settings, data, tls), encoding="utf-8"
        )
        base = self.java_command(engines.java, self.settings.kafka_heap_mb)
        classpath = ["-cp", str(engines.folder / "lib" / "*")]
        if not (data / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
            result = subprocess.run(
                [
                    *base[:1],
                    "-Xmx256m",
                    *classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "--ignore-formatted",
                    # Joined to its option: a base64 id may start with "-".
                    f"--cluster-id={cluster_id}",
                    "-c",
                    str(properties),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise StackError(
                    "Kafka's storage could not be formatted.",
                    log_tail=(result.stdout + result.stderr)[-2000:],
                )
        return process.spawn(
            [*base, *classpath, "kafka.Kafka", str(properties)],
            pid_file=self.pid_file,
            log_file=self.log_file,
        )


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
