"""`medrical config check` against the real engines of a running local stack."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from medrical.cli import _run
from medrical.config import MedricalConfig
from medrical.config.store import render_toml
from medrical.health import check_all

pytestmark = pytest.mark.integration


def test_every_service_answers(live_config: MedricalConfig) -> None:
    results = check_all(live_config, timeout_s=10)
    assert [result.service for result in results] == [
        "kafka",
        "schema registry",
        "kafka connect",
        "postgresql",
    ]
    for result in results:
        assert result.ok, f"{result.service}: {result.problem}: {result.detail}"
    assert results[3].detail.startswith("PostgreSQL ")


def test_config_check_command_exits_0(live_config: MedricalConfig, tmp_path: Path) -> None:
    stack = live_config.stack
    postgres = live_config.postgres
    # Only non-secret settings go into the file: the password stays in the stack's own file.
    settings = {
        "kafka": {"bootstrap_servers": live_config.kafka.bootstrap_servers},
        "registry": {"url": live_config.registry.url},
        "connect": {"url": live_config.connect.url},
        "postgres": {
            "host": postgres.host,
            "port": postgres.port,
            "database": postgres.database,
            "user": postgres.user,
            "password_file": postgres.password_file,
        },
        "stack": stack.model_dump(mode="json", exclude_none=True),
    }
    config_file = tmp_path / "config.toml"
    config_file.write_text(render_toml(settings), encoding="utf-8")
    with CliRunner().isolation() as (stdout, stderr, _):
        code = _run(["--config", str(config_file), "config", "check", "--timeout", "10"])
        output = stdout.getvalue().decode()
        errors = stderr.getvalue().decode()
    assert code == 0, output + errors
    lines = output.splitlines()
    assert len(lines) == 4
    assert all(" OK " in line for line in lines), output
