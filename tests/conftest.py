"""Shared fixtures: isolation from the user's own configuration, and the live local stack.

Integration tests (marked `integration`) run against the real engines. By default the test
session starts its own stack on its own ports and data folder, and stops it at the end. With
MEDRICAL_TEST_STACK=running they use the stack the configuration already points at (for
example one started with `medrical stack up`), and leave it running.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from medrical.config import MedricalConfig, StackSettings, load_config
from medrical.stack.manager import LocalStack

# Test ports, away from both the well-known ones and the stack's own defaults, so that tests
# can run beside a developer's `medrical stack up`; MEDRICAL_TEST_PORT_OFFSET shifts them all
# so that two test sessions can run on one machine at once.
_OFFSET = int(os.environ.get("MEDRICAL_TEST_PORT_OFFSET", "0"))
TEST_PORTS = {
    name: port + _OFFSET
    for name, port in {
        "kafka_port": 29092,
        "controller_port": 29093,
        "registry_port": 28081,
        "registry_management_port": 28082,
        "connect_port": 28083,
        "postgres_port": 25432,
    }.items()
}


_own_config_dir: str | None = None


def _interrupt_on_sigterm(signum: int, _frame: object) -> None:
    # A terminated test run still tears its fixtures down, so the stack it started stops.
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    # Never read or write the real user's configuration from a test.
    global _own_config_dir
    if "MEDRICAL_CONFIG_DIR" not in os.environ:
        _own_config_dir = tempfile.mkdtemp(prefix="medrical-test-config-")
        os.environ["MEDRICAL_CONFIG_DIR"] = _own_config_dir


def pytest_unconfigure(config: pytest.Config) -> None:
    if _own_config_dir is not None:
        shutil.rmtree(_own_config_dir, ignore_errors=True)
        os.environ.pop("MEDRICAL_CONFIG_DIR", None)


@pytest.fixture(scope="session")
def live_config() -> Iterator[MedricalConfig]:
    """A configuration pointing at a running local stack, started here unless told otherwise."""
    if os.environ.get("MEDRICAL_TEST_STACK") == "running":
        yield load_config()
        return
    # PostgreSQL runs as an unprivileged user when the tests run as root: its data folder
    # must be reachable by that user, so it cannot live under a 0700 pytest temp folder.
    home = Path(tempfile.mkdtemp(prefix="medrical-test-stack-"))
    home.chmod(0o755)
    settings = StackSettings(home=home, **TEST_PORTS)  # type: ignore[arg-type]
    stack = LocalStack(settings)
    try:
        stack.up()
        yield MedricalConfig(stack=settings)
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)
