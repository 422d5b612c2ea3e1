"""Every `medrical ...` example in the README and docs is real.

Examples that need no server run and must succeed; the others must name an existing command
and only options that command has.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main

from medrical.cli import _run, app
from medrical.cli.lazy import COMMANDS, load_command

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Commands safe to run in a unit test: no network, no files outside the test's config dir.
OFFLINE = (("news2",), ("produce",), ("connector", "show-config"), ("config", "show"))


def _examples() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for block in re.findall(r"```(?:sh|console|bash)\n(.*?)```", doc.read_text(), re.S):
            joined = re.sub(r"\\\n\s*", " ", block)
            for line in joined.splitlines():
                line = line.strip().removeprefix("$ ")
                command = re.split(r"\s+#\s", line)[0].strip()
                if command.startswith(("medrical ", ".venv/bin/medrical ")):
                    found.append((doc.name, command.split("medrical", 1)[1].strip()))
    return found


EXAMPLES = _examples()


def _resolve(tokens: list[str]) -> tuple[Any, list[str]]:
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    if tokens and tokens[0] in COMMANDS:  # the root imports its commands when they run
        path.append(tokens[0])
        command = load_command(tokens.pop(0))
    while tokens and hasattr(command, "commands") and tokens[0] in command.commands:
        command = command.commands[tokens[0]]
        path.append(tokens.pop(0))
    return command, path


def test_the_docs_hold_examples() -> None:
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize(("doc", "example"), EXAMPLES, ids=[e for _, e in EXAMPLES])
def test_example_names_real_commands_and_options(doc: str, example: str) -> None:
    tokens = shlex.split(example)
    command, path = _resolve(list(tokens))
    assert path or not tokens, f"{doc}: `medrical {example}` names no command"
    known: set[str] = set()
    for param in getattr(command, "params", []):
        known.update(param.opts)
        known.update(param.secondary_opts)
    for token in tokens:
        if token.startswith("-") and token != "-":
            option = token.split("=", 1)[0]
            assert option in known, f"{doc}: `medrical {example}`: no option {option}"


OFFLINE_EXAMPLES = [
    (doc, example)
    for doc, example in EXAMPLES
    if any(tuple(shlex.split(example)[: len(p)]) == p for p in OFFLINE)
    and ("produce" not in example or "--dry-run" in example)
]


@pytest.mark.parametrize(("doc", "example"), OFFLINE_EXAMPLES, ids=[e for _, e in OFFLINE_EXAMPLES])
def test_offline_example_runs(doc: str, example: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(shlex.split(example)) == 0, f"{doc}: `medrical {example}` failed"
    assert capsys.readouterr().out.strip()
