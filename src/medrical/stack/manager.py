"""Bringing the local stack up and down, in order, each service behind a real health check.

What is particular to each engine lives in its `Service` (see `services.py`); this module
orders them, refuses taken ports, waits on their probes, and stops them by their PID files.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from medrical.config import LOOPBACK, StackSettings
from medrical.errors import InputError, StackError
from medrical.health import CheckResult
from medrical.stack import fetch, preparation, process
from medrical.stack.connect import ConnectService
from medrical.stack.java import find_java
from medrical.stack.kafka import KafkaService
from medrical.stack.layout import StackLayout
from medrical.stack.postgres import PostgresService
from medrical.stack.registry import RegistryService
from medrical.stack.services import Engines, Service
from medrical.waiting import poll

log = logging.getLogger(__name__)

# Kept here too, where `configure from-stack` has always found them.
CLIENT_CONFIG_SSL = preparation.CLIENT_CONFIG_SSL
CLIENT_CONFIG_SASL_SSL = preparation.CLIENT_CONFIG_SASL_SSL

_POLL_S = 0.5


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    pid: int | None
    healthy: bool
    detail: str
    resident_mib: float | None


class LocalStack:
    def __init__(self, settings: StackSettings) -> None:
        self.layout = StackLayout.of(settings)
        if not settings.tls and self._running_mode() == "tls":
            # A stack started with --tls is probed and described as such until it stops.
            settings = settings.model_copy(update={"tls": True})
        self.settings = settings
        # In start-up order; each later one needs the earlier ones.
        self.services: list[Service] = [
            PostgresService(settings, self.layout),
            KafkaService(settings, self.layout),
            RegistryService(settings, self.layout),
            ConnectService(settings, self.layout),
        ]

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
        for service in self.services:
            tracked = process.running(service.pid_file)
            healthy, detail = False, "not running"
            if tracked is not None:
                check = _probed(service.probe)
                healthy = check.ok
                detail = check.detail if check.ok else f"running, not answering: {check.detail}"
            result.append(
                ServiceStatus(
                    service.name,
                    service.address(),
                    tracked.pid if tracked else None,
                    healthy,
                    detail,
                    tracked.resident_mib() if tracked else None,
                )
            )
        return result

    def is_running(self) -> bool:
        return any(process.running(s.pid_file) for s in self.services)

    # up ------------------------------------------------------------------------------------------

    def up(self, report: Callable[[str], None] = log.info) -> dict[str, float]:
        """Start every service that is not running; return seconds each took to be healthy."""
        self._refuse_mode_change()
        engines = Engines(
            fetch.fetch_engines(self.settings.cache_dir), find_java(self.settings.java_home)
        )
        preparation.prepare(self.settings, self.layout)
        timings: dict[str, float] = {}
        for service in self.services:
            if process.running(service.pid_file):
                report(f"{service.name:<9} already running at {service.address()}")
                continue
            self.check_ports_free(service)
            started = time.monotonic()
            child = service.start(engines)
            service.await_ready(partial(self.wait_healthy, service, child))
            timings[service.name] = time.monotonic() - started
            report(f"{service.name:<9} up at {service.address()} ({timings[service.name]:.1f} s)")
        return timings

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
        child: subprocess.Popen[bytes],
        probe: Callable[[], CheckResult] | None = None,
    ) -> None:
        """Poll the probe until it passes; stop the child and raise if it dies or times out."""
        check = probe or service.probe

        def probed() -> CheckResult:
            if child.poll() is not None:
                process.stop(service.pid_file)  # forgets the PID file and child
                raise StackError(
                    f"{service.name} exited during start-up (exit code {child.returncode}).",
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
        return self.service(name).log_file


def _probed(probe: Callable[[], CheckResult]) -> CheckResult:
    """A probe's result; a probe that cannot even run (a secret file gone) did not pass."""
    try:
        return probe()
    except Exception as exc:  # a probe may fail in many ways; each is only "not healthy"
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return CheckResult("", "", False, text[:160])
