"""Where the local stack keeps each thing, derived from the settings alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medrical.config import StackSettings

SERVICES = ("postgres", "kafka", "registry", "connect")


@dataclass(frozen=True)
class StackLayout:
    home: Path

    @classmethod
    def of(cls, settings: StackSettings) -> StackLayout:
        return cls(settings.home)

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
