"""Kafka of the local stack: KRaft nodes, each a broker and a controller in one JVM.

One node is a quorum of its own. Three nodes form a static quorum of three voters, so a
cluster keeps its controller and every partition when any one node is down.
"""

from __future__ import annotations

import base64
import dataclasses
import subprocess
import uuid
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from medrical.config import LOOPBACK, KafkaPortKind, KafkaSettings, StackSettings
from medrical.errors import StackError
from medrical.health import CheckResult, LibrdkafkaDebugLog, check_kafka
from medrical.stack import process, rendering
from medrical.stack.layout import StackLayout, kafka_node_names
from medrical.stack.services import PROBE_TIMEOUT_S, Engines, Port, Service, Waiter, read_secret


class KafkaService(Service):
    start_timeout_s = 120.0

    def __init__(
        self, settings: StackSettings, layout: StackLayout, node: int = 1, brokers: int = 1
    ) -> None:
        super().__init__(settings, layout)
        self.node = node
        self.brokers = brokers
        self.name = kafka_node_names(brokers)[node - 1]

    def port(self, kind: KafkaPortKind) -> int:
        return self.settings.node_port(kind, self.node)

    def ports(self) -> list[Port]:
        kinds: list[KafkaPortKind] = ["kafka", "controller"]
        if self.settings.tls:
            kinds.append("kafka_sasl")
        return [
            *(
                Port(self.settings.node_port_setting(kind, self.node), self.port(kind))
                for kind in kinds
            ),
            Port("kafka_metrics_port", self.settings.kafka_metrics_port_of(self.node)),
        ]

    def metrics_port(self) -> int:
        return self.settings.kafka_metrics_port_of(self.node)

    def address(self) -> str:
        if self.settings.tls:
            return f"{LOOPBACK}:{self.port('kafka')} (mTLS), :{self.port('kafka_sasl')} (SASL_SSL)"
        return f"{LOOPBACK}:{self.port('kafka')}"

    @property
    def data_dir(self) -> Path:
        return self.layout.data / self.name

    # probes --------------------------------------------------------------------------------------

    def client_settings(self, *, whole_cluster: bool = False) -> KafkaSettings:
        """The stack's own client (its mutual-TLS identity in TLS mode), to this node alone:
        the probe says whether this node answers, not the cluster."""
        bootstrap = (
            self.settings.bootstrap_servers()
            if whole_cluster
            else f"{LOOPBACK}:{self.port('kafka')}"
        )
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
            bootstrap_servers=f"{LOOPBACK}:{self.port('kafka_sasl')}",
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

    def start(self, engines: Engines) -> process.TrackedProcess:
        data = self.data_dir
        properties = self.layout.etc / f"server-{self.name}.properties"
        tls = self.layout.tls if self.settings.tls else None
        properties.write_text(
            rendering.kafka_server_properties(
                self.settings, data, tls, node=self.node, brokers=self.brokers
            ),
            encoding="utf-8",
        )
        base = self.java_command(engines.java, self.settings.kafka_heap_mb)
        classpath = ["-cp", str(engines.folder / "lib" / "*")]
        if not (data / "meta.properties").exists():
            self._format(base[0], classpath, properties)
        return process.spawn(
            [
                *base,
                *self.metrics_agent(engines, "kafka"),
                *classpath,
                "kafka.Kafka",
                str(properties),
            ],
            pid_file=self.pid_file,
            log_file=self.log_file,
        )

    def _format(self, java: str, classpath: list[str], properties: Path) -> None:
        """Format this node's storage with the cluster's id (made by the first node formatted),
        and record how many nodes the stack's data is for."""
        id_file = self.layout.kafka_cluster_id_file
        if not id_file.exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
            id_file.write_text(cluster_id + "\n", encoding="ascii")
        cluster_id = id_file.read_text(encoding="ascii").strip()
        # A static quorum of three is formatted as it is; one node is a quorum of its own.
        quorum = ["--standalone"] if self.brokers == 1 else []
        result = subprocess.run(
            [
                java,
                "-Xmx256m",
                *classpath,
                "kafka.tools.StorageTool",
                "format",
                *quorum,
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
                f"the storage of {self.name} could not be formatted.",
                log_tail=(result.stdout + result.stderr)[-2000:],
            )
        self.layout.kafka_brokers_file.write_text(f"{self.brokers}\n", encoding="ascii")


ROLE = "broker+controller"


def partition_leaders(node: KafkaService) -> dict[int, list[str]] | None:
    """The partitions each node leads ("topic-partition"), by node id; None when no node
    answers."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    conf: dict[str, Any] = dict(node.client_settings(whole_cluster=True).client_config())
    conf["logger"] = LibrdkafkaDebugLog()
    conf["socket.connection.setup.timeout.ms"] = str(int(PROBE_TIMEOUT_S * 1000))
    try:
        metadata = AdminClient(conf).list_topics(timeout=PROBE_TIMEOUT_S)
    except KafkaException:
        return None
    leaders: dict[int, list[str]] = {}
    for topic in sorted(metadata.topics):
        for partition in sorted(metadata.topics[topic].partitions.values(), key=lambda p: p.id):
            if partition.leader >= 0:
                leaders.setdefault(partition.leader, []).append(f"{topic}-{partition.id}")
    return leaders


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
