"""What the stack knows of each of its services: ports, address, start, probe, time-out.

Each engine of the local stack is one `Service`. The stack itself (`manager.LocalStack`) only
orders them, checks their ports, spawns them, waits on their probes and stops them by PID file;
everything particular to an engine lives in its own module (`postgres`, `kafka`, `registry`,
`connect`). Probes are the same checks `medrical config check` runs (`medrical.health`), given
the settings through which the stack's own clients reach the service.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from medrical.config import LOOPBACK, StackSettings
from medrical.health import CheckResult
from medrical.stack import process, rendering
from medrical.stack.java import JavaRuntime
from medrical.stack.layout import StackLayout

# Seconds the stack's probes wait for an answer: a starting engine is polled again soon.
PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Port:
    """A loopback port a service binds, and the setting that chooses it."""

    setting: str
    number: int


@dataclass(frozen=True)
class Engines:
    """What starting a JVM service needs: the fetched engines and the Java runtime."""

    folder: Path
    java: JavaRuntime


def read_secret(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()


# Given a probe, waits until it passes (or the process dies, or the time-out ends).
Waiter = Callable[[Callable[[], CheckResult]], None]


class Service(ABC):
    """One engine of the stack. Constructing one does no I/O."""

    name: str
    start_timeout_s: float

    def __init__(self, settings: StackSettings, layout: StackLayout) -> None:
        self.settings = settings
        self.layout = layout

    @property
    def pid_file(self) -> Path:
        return self.layout.pid_file(self.name)

    @property
    def log_file(self) -> Path:
        return self.layout.log_file(self.name)

    @abstractmethod
    def ports(self) -> list[Port]:
        """Every port the service binds on loopback."""

    @abstractmethod
    def address(self) -> str:
        """Where clients reach it, as `stack status` shows it."""

    @abstractmethod
    def start(self, engines: Engines) -> process.TrackedProcess:
        """Write its configuration and spawn it (recorded in its PID file); do not wait."""

    @abstractmethod
    def probe(self) -> CheckResult:
        """Whether it answers as it should, and a short detail."""

    def metrics_port(self) -> int | None:
        """Where the JVM's Prometheus JMX exporter listens (None: the engine has none)."""
        return None

    def metrics_agent(self, engines: Engines, rules: str) -> list[str]:
        """The JVM option that starts the Prometheus JMX exporter on `metrics_port()` of
        loopback, with the stack's rules file `metrics/<rules>.yaml`."""
        port = self.metrics_port()
        if port is None:
            return []
        source = resources.files("medrical.stack") / "resources" / "metrics" / f"{rules}.yaml"
        config = self.layout.etc / f"metrics-{self.name}.yaml"
        config.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
        agent = engines.folder / "agents" / "jmx_prometheus_javaagent.jar"
        return [f"-javaagent:{agent}={LOOPBACK}:{port}:{config}"]

    def await_ready(self, wait: Waiter) -> None:
        """Wait until the service is ready; services with set-up steps after their first
        answer (Kafka's SCRAM user) do them here."""
        wait(self.probe)

    def java_command(self, java: JavaRuntime, heap_mb: int) -> list[str]:
        """The JVM and its options, shared by the stack's Java engines."""
        log4j = self.layout.etc / f"log4j2-{self.name}.properties"
        log4j.write_text(rendering.log4j2_config(self.name), encoding="utf-8")
        return [
            str(java.executable),
            f"-Xms{heap_mb // 2}m",
            f"-Xmx{heap_mb}m",
            "-XX:+ExitOnOutOfMemoryError",
            "-XX:+UseSerialGC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dmedrical.stack.service={self.name}",
        ]
