"""Running the command line in a unit test: isolated from the user's configuration and
environment, with stdout and stderr captured apart."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medrical.cli import _run
from medrical.config import ENV_ALIASES
from medrical.redaction import forget_secrets


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def errors(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def isolate_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Body of an isolation fixture: a fresh config directory (yielded), no configuration from
    the environment, and Medrical's logger restored afterwards (the CLI points it at the
    captured stderr)."""
    directory = tmp_path / "config"
    monkeypatch.setenv("MEDRICAL_CONFIG_DIR", str(directory))
    for name in [*ENV_ALIASES, "DATABASE_URL"]:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("MEDRICAL_") and "__" in name:
            monkeypatch.delenv(name)
    medrical_logger = logging.getLogger("medrical")
    saved = (medrical_logger.handlers[:], medrical_logger.level, medrical_logger.propagate)
    yield directory
    forget_secrets()
    medrical_logger.handlers[:], medrical_logger.level, medrical_logger.propagate = saved


def run_cli(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Outcome:
    """Run the command line as `medrical` does, stdin not being a terminal."""
    runner = CliRunner()
    with runner.isolation(input=input, env=env) as (stdout, stderr, _):
        code = _run(list(args))
        return Outcome(code, stdout.getvalue().decode(), stderr.getvalue().decode())


def closed_port() -> int:
    """A loopback port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
