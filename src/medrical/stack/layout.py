"""Where the local stack keeps each thing, derived from the settings alone."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from medrical.config import StackSettings

SERVICES = ("postgres", "kafka", "registry", "connect")


def effective_home(settings: StackSettings) -> Path:
    """PostgreSQL refuses to run as root, and root's home is closed to other users, so a
    root-run stack keeps its data under /var/lib unless a home was chosen explicitly."""
    default = StackSettings.model_fields["home"].default_factory
    if os.geteuid() == 0 and default is not None and settings.home == default():  # type: ignore[call-arg]
        return Path("/var/lib/medrical/stack")
    return settings.home


@dataclass(frozen=True)
class StackLayout:
    home: Path

    @classmethod
    def of(cls, settings: StackSettings) -> StackLayout:
        return cls(effective_home(settings))

    @property
    def etc(self) -> Path:
        return self.home / "etc"

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def secrets(self) -> Path:
        return self.home / "secrets"

    @property
    def postgres_password_file(self) -> Path:
        return self.secrets / "postgres.password"

    @property
    def connect_secrets_file(self) -> Path:
        return self.secrets / "connect-secrets.properties"

    def pid_file(self, service: str) -> Path:
        return self.run / f"{service}.pid"

    def log_file(self, service: str) -> Path:
        return self.logs / f"{service}.log"
