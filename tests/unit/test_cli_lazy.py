"""The root command lists every command without importing it, and each listed short help is
the command's own."""

from __future__ import annotations

import subprocess
import sys

import pytest

from medrical.cli.lazy import COMMANDS, load_command
from tests.unit.cli_harness import run_cli


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_listed_help_is_the_commands_own(name: str) -> None:
    command = load_command(name)
    own = (command.help or "").split("\n\n")[0].replace("\n", " ").strip()
    assert COMMANDS[name].help == own


def test_help_and_news2_import_none_of_the_heavy_libraries() -> None:
    # typer itself coerces parameters with pydantic, so pydantic is not on the list.
    code = (
        "import sys; from medrical.cli import _run; "
        "_run(['news2', '--respiratory-rate', '18', '--spo2', '96', '--systolic-bp', '120', "
        "'--heart-rate', '80', '--consciousness', 'A', '--body-temperature', '37']); "
        "_run(['--help']); "
        "heavy = ['confluent_kafka', 'fastapi', 'httpx', 'psycopg', 'fastavro', "
        "'cryptography', 'tomlkit', 'medrical.config', 'medrical.simulation']; "
        "print('heavy:', *[name for name in heavy if name in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip().splitlines()[-1] == "heavy:"


def test_produce_help_shows_each_options_default() -> None:
    outcome = run_cli("produce", "--help")
    assert outcome.code == 0
    shown = " ".join(outcome.stdout.split())
    for default in ("[default: 10]", "[default: mix]", "[default: 1]", "[default: now]"):
        assert default in shown
    assert "Simulated patients ." not in shown
