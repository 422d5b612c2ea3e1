"""Bringing the local stack up and down, in order, each service behind a real health check.

What is particular to each engine lives in its `Service` (see `services.py`); this module
orders them, refuses taken ports, waits on their probes, and stops them by their PID files.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from medrical.config import (
    LOOPBACK,
    STACK_NODE_PORT_FIELDS,
    STACK_PORT_FIELDS,
    MedricalConfig,
    StackSettings,
    load_config,
)
from medrical.errors import InputError, StackError
from medrical.health import CheckResult
from medrical.stack import fetch, preparation, process
from medrical.stack.connect import ConnectService
from medrical.stack.java import find_java
from medrical.stack.kafka import ROLE, KafkaService, partition_leaders
from medrical.stack.layout import SUPERVISOR, StackLayout
from medrical.stack.postgres import PostgresService
from medrical.stack.registry import RegistryService
from medrical.stack.services import Engines, Service
from medrical.waiting import poll

log = logging.getLogger(__name__)

# Kept here too, where `configure from-stack` has always found them.
CLIENT_CONFIG_SSL = preparation.CLIENT_CONFIG_SSL
CLIENT_CONFIG_SASL_SSL = preparation.CLIENT_CONFIG_SASL_SSL

_POLL_S = 0.5
# How long `stack up` waits for the connectors' tasks to start before judging them.
CONNECTORS_SETTLE_S = 45.0


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    pid: int | None
    healthy: bool
    detail: str
    resident_mib: float | None
    # Kafka nodes only: the node's roles and the partitions it leads ("topic-partition").
    role: str | None = None
    leads: tuple[str, ...] | None = None
    # Where its Prometheus metrics are served (Kafka nodes and Connect).
    metrics: str | None = None


class LocalStack:
    def __init__(self, settings: StackSettings) -> None:
        self.layout = StackLayout.of(settings)
        if not settings.tls and self._running_mode() == "tls":
            # A stack started with --tls is probed and described as such until it stops.
            settings = settings.model_copy(update={"tls": True})
        self.settings = settings
        self.brokers = settings.broker_count
        self.kafka_nodes = [
            KafkaService(settings, self.layout, node, self.brokers)
            for node in range(1, self.brokers + 1)
        ]
        # In start-up order; each later one needs the earlier ones. The Kafka nodes start
        # together: a quorum of three elects a leader only once two of them run.
        self.waves: list[list[Service]] = [
            [PostgresService(settings, self.layout)],
            list(self.kafka_nodes),
            [RegistryService(settings, self.layout)],
            [ConnectService(settings, self.layout)],
        ]
        self.services: list[Service] = [service for wave in self.waves for service in wave]

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        names = ", ".join(s.name for s in self.services)
        raise InputError(f"unknown service {name!r}; choose one of {names}.")

    def _running_mode(self) -> str | None:
        try:
            return self.layout.mode_file.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    # status ------------------------------------------------------------------------------------

    def status(self) -> list[ServiceStatus]:
        result = []
        leaders = partition_leaders(self.kafka_nodes[0]) if self.is_running() else None
        for service in self.services:
            tracked = process.running(service.pid_file)
            healthy, detail = False, "not running"
            if tracked is not None:
                check = _probed(service.probe)
                healthy = check.ok
                detail = check.detail if check.ok else f"running, not answering: {check.detail}"
            role, leads = None, None
            if isinstance(service, KafkaService):
                role = ROLE
                if leaders is not None:
                    leads = tuple(leaders.get(service.node, ()))
            result.append(
                ServiceStatus(
                    service.name,
                    service.address(),
                    tracked.pid if tracked else None,
                    healthy,
                    detail,
                    tracked.resident_mib() if tracked else None,
                    role,
                    leads,
                    _metrics_url(service.metrics_port()),
                )
            )
        return result

    def is_running(self) -> bool:
        return any(process.running(s.pid_file) for s in self.services)

    def client_config(self) -> MedricalConfig:
        """Medrical's settings for this stack as it runs: in TLS mode, those of the mutual-TLS
        client file `stack up --tls` writes; otherwise the defaults, which point at it."""
        if self.settings.tls:
            return load_config(self.layout.client / CLIENT_CONFIG_SSL, environ={})
        return MedricalConfig(stack=self.settings)

    def supervisor_pid(self) -> int | None:
        tracked = process.running(self.layout.pid_file(SUPERVISOR))
        return tracked.pid if tracked else None

    def connector_problems(self) -> list[str]:
        """One line per failed connector or task on the stack's Connect; [] when none."""
        from medrical.sink.client import ConnectClient, explain_trace

        problems = []
        with ConnectClient(self.client_config().connect, timeout_s=10) as client:
            for name, state in sorted(client.connectors().items()):
                if state.connector_state == "FAILED":
                    problems.append(
                        f"connector {name} FAILED: {explain_trace(state.connector_trace)}"
                    )
                for task in state.failed_tasks:
                    problems.append(
                        f"connector {name} task {task.task_id} FAILED: {explain_trace(task.trace)}"
                    )
        return problems

    # up ------------------------------------------------------------------------------------------

    def up(self, report: Callable[[str], None] = log.info) -> dict[str, float]:
        """Start every service that is not running; return seconds each took to be healthy."""
        self._refuse_mode_change()
        self._refuse_broker_count_change()
        engines = self.engines()
        preparation.prepare(self.settings, self.layout)
        timings: dict[str, float] = {}
        for wave in self.waves:
            timings |= self.start(
                [s for s in wave if not self._already_running(s, report)], engines, report
            )
        self._follow_connectors(report)
        self._start_supervisor(report)
        if "connect" in timings:
            self._judge_connectors()
        return timings

    def engines(self) -> Engines:
        return Engines(
            fetch.fetch_engines(self.settings.cache_dir), find_java(self.settings.java_home)
        )

    def _already_running(self, service: Service, report: Callable[[str], None]) -> bool:
        if process.running(service.pid_file) is None:
            return False
        report(f"{service.name:<9} already running at {service.address()}")
        return True

    def start(
        self,
        services: list[Service],
        engines: Engines,
        report: Callable[[str], None] = log.info,
    ) -> dict[str, float]:
        """Spawn the services side by side, then wait until each is ready; return seconds."""
        started = time.monotonic()
        spawned = []
        for service in services:
            self.check_ports_free(service)
            spawned.append((service, service.start(engines)))
        timings = {}
        for index, (service, tracked) in enumerate(spawned):
            try:
                service.await_ready(partial(self.wait_healthy, service, tracked))
            except StackError:
                for sibling, _ in spawned[index + 1 :]:  # started with it, not left behind
                    process.stop(sibling.pid_file)
                raise
            timings[service.name] = time.monotonic() - started
            report(f"{service.name:<9} up at {service.address()} ({timings[service.name]:.1f} s)")
        return timings

    def _follow_connectors(self, report: Callable[[str], None]) -> None:
        """Re-apply connectors made for the other mode (plain or TLS) with this one's settings."""
        from medrical.sink.client import ConnectClient
        from medrical.sink.follow import follow_stack

        config = self.client_config()
        with ConnectClient(config.connect) as client:
            follow_stack(client, config, report)

    def _start_supervisor(self, report: Callable[[str], None]) -> None:
        if self.supervisor_pid() is not None:
            return
        env = dict(os.environ)
        # The child finds this very stack whatever configuration file the environment names.
        env |= {
            f"MEDRICAL_STACK__{name.upper()}": str(getattr(self.settings, name))
            for name in (*STACK_PORT_FIELDS, *STACK_NODE_PORT_FIELDS, "home", "cache_dir")
            if getattr(self.settings, name) is not None
        }
        env["MEDRICAL_STACK__TLS"] = "true" if self.settings.tls else "false"
        process.spawn(
            [sys.executable, "-m", "medrical", "connector", "supervise", "--local-stack"],
            pid_file=self.layout.pid_file(SUPERVISOR),
            log_file=self.layout.log_file(SUPERVISOR),
            env=env,
        )
        report(
            f"{SUPERVISOR:<9} watching the connectors' tasks "
            f"(log: `medrical stack logs {SUPERVISOR}`)"
        )

    def _judge_connectors(self) -> None:
        """Once the tasks of a freshly started Connect have had time to start (or fail, and be
        restarted by the supervisor), refuse to call the stack healthy if any is failed."""
        from medrical.sink.client import ConnectClient

        with ConnectClient(self.client_config().connect) as client:
            settled = poll(
                lambda: all(state.running for state in client.connectors().values()),
                timeout_s=CONNECTORS_SETTLE_S,
                interval_s=1.0,
                done=bool,
            )
        if settled:
            return
        problems = self.connector_problems()
        if problems:
            raise StackError(
                "the stack is up, but " + "; ".join(problems),
                hint="The supervisor keeps restarting them (`medrical stack logs supervisor`); "
                "details: `medrical connector status --name NAME`.",
            )

    def _refuse_broker_count_change(self) -> None:
        recorded = self.settings.recorded_brokers
        wanted = self.settings.brokers
        chosen = "brokers" in self.settings.model_fields_set
        if chosen and recorded is not None and recorded != wanted:
            raise StackError(
                f"the stack's data at {self.layout.home} was made for {recorded} "
                f"broker(s), not {wanted}.",
                hint="Run `medrical stack reset --force` to start afresh with "
                f"{wanted}, or leave out --brokers (stack.brokers).",
            )

    def _refuse_mode_change(self) -> None:
        mode = self._running_mode()
        wanted = "tls" if self.settings.tls else "plain"
        if mode is not None and mode != wanted and self.is_running():
            raise StackError(
                f"the stack is running {'with' if mode == 'tls' else 'without'} TLS.",
                hint="Run `medrical stack down` first, then `medrical stack up"
                f"{' --tls' if self.settings.tls else ''}`.",
            )

    def check_ports_free(self, service: Service) -> None:
        for port in service.ports():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((LOOPBACK, port.number))
                except OSError:
                    raise StackError(
                        f"port {port.number} on {LOOPBACK}, needed by {service.name}, is already "
                        "in use by another program.",
                        hint=f"Stop that program, or choose another port with "
                        f"MEDRICAL_STACK__{port.setting.upper()}=<port>.",
                    ) from None

    def wait_healthy(
        self,
        service: Service,
        started: process.TrackedProcess,
        probe: Callable[[], CheckResult] | None = None,
    ) -> None:
        """Poll the probe until it passes; stop the process and raise if it dies or times out."""
        check = probe or service.probe

        def probed() -> CheckResult:
            if not started.alive():
                process.stop(service.pid_file)  # forgets the PID file
                raise StackError(
                    f"{service.name} exited during start-up.",
                    hint=f"Full log: {service.log_file}",
                    log_tail=process.tail(service.log_file),
                )
            return _probed(check)

        result = poll(
            probed,
            timeout_s=service.start_timeout_s,
            interval_s=_POLL_S,
            done=lambda result: result.ok,
        )
        if result.ok:
            return
        last_error = result.detail[:160]
        process.stop(service.pid_file)
        raise StackError(
            f"{service.name} did not become healthy within {service.start_timeout_s:.0f} s "
            f"(last check: {last_error}).",
            hint=f"Full log: {service.log_file}",
            log_tail=process.tail(service.log_file),
        )

    # down / reset --------------------------------------------------------------------------------

    def down(self, report: Callable[[str], None] = log.info) -> list[str]:
        stopped = []
        if process.stop(self.layout.pid_file(SUPERVISOR), timeout_s=15):
            stopped.append(SUPERVISOR)
            report(f"{SUPERVISOR:<9} stopped")
        for service in reversed(self.services):
            if process.stop(service.pid_file, timeout_s=45):
                stopped.append(service.name)
                report(f"{service.name:<9} stopped")
        if not self.is_running():
            self.layout.mode_file.unlink(missing_ok=True)
        return stopped

    def reset(self) -> None:
        if self.is_running():
            raise StackError(
                "the stack is running; its data cannot be wiped under it.",
                hint="Run `medrical stack down` first, or `medrical stack reset --force`.",
            )
        for folder in (self.layout.data, self.layout.logs, self.layout.etc, self.layout.run):
            shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(self.layout.secrets, ignore_errors=True)
        shutil.rmtree(self.layout.tls.folder, ignore_errors=True)
        shutil.rmtree(self.layout.client, ignore_errors=True)

    def log_path(self, name: str) -> Path:
        if name == SUPERVISOR:
            return self.layout.log_file(SUPERVISOR)
        return self.service(name).log_file


def _metrics_url(port: int | None) -> str | None:
    return None if port is None else f"http://{LOOPBACK}:{port}/metrics"


def _probed(probe: Callable[[], CheckResult]) -> CheckResult:
    """A probe's result; a probe that cannot even run (a secret file gone) did not pass."""
    try:
        return probe()
    except Exception as exc:  # a probe may fail in many ways; each is only "not healthy"
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return CheckResult("", "", False, text[:160])
