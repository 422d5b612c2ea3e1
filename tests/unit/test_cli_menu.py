"""`medrical` with no arguments: help without a terminal, the menu on one."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from medrical.cli import _run
from medrical.cli.menu import run_menu


@pytest.fixture(autouse=True)
def keep_logging() -> Iterator[None]:
    medrical_logger = logging.getLogger("medrical")
    saved = (medrical_logger.handlers[:], medrical_logger.level, medrical_logger.propagate)
    yield
    medrical_logger.handlers[:], medrical_logger.level, medrical_logger.propagate = saved


def test_without_a_terminal_it_prints_help_and_exits_0() -> None:
    runner = CliRunner()
    with runner.isolation() as (stdout, _stderr, _):
        code = _run([])
        output = stdout.getvalue().decode()
    assert code == 0
    assert "Usage: medrical" in output
    for command in ("produce", "connector", "test", "demo", "stack", "configure"):
        assert command in output


def menu_with(answers: str) -> tuple[int, list[list[str]], str]:
    """Run the menu on scripted answers; collect what it would run."""
    dispatched: list[list[str]] = []

    def dispatch(arguments: list[str]) -> int:
        dispatched.append(arguments)
        return 3 if arguments == ["stack", "status"] else 0

    runner = CliRunner()
    with runner.isolation(input=answers) as (stdout, _stderr, _):
        code = run_menu(dispatch)
        return code, dispatched, stdout.getvalue().decode()


def test_the_menu_offers_each_job_and_runs_the_chosen_command() -> None:
    code, dispatched, output = menu_with("4\nq\n")
    assert dispatched == [["stack", "status"]]
    assert code == 3  # the last command's exit code
    for label in ("configure", "produce", "test", "stack status", "demo", "quit"):
        assert label in output


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ("2\n5\n100\nq\n", ["produce", "--patients", "5", "--count", "100"]),
        ("2\n\n\nq\n", ["produce", "--patients", "10"]),
        ("3\nconnector\nq\n", ["test", "connector"]),
        ("demo\nq\n", ["demo"]),
        ("1\nq\n", ["configure"]),
    ],
)
def test_menu_choices_become_commands(answers: str, expected: list[str]) -> None:
    _code, dispatched, _output = menu_with(answers)
    assert dispatched == [expected]


def test_an_unknown_choice_is_asked_again_and_end_of_input_quits() -> None:
    code, dispatched, _output = menu_with("9\n")
    assert dispatched == []
    assert code == 0
