"""Shared fixtures: isolation from the user's own configuration, and the live local stack.

Integration tests (marked `integration`) run against the real engines. By default the test
session starts its own stack on its own ports and data folder, and stops it at the end. With
MEDRICAL_TEST_STACK=running they use the stack the configuration already points at (for
example one started with `medrical stack up`), and leave it running.
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from medrical.config import MedricalConfig, StackSettings, load_config
from medrical.stack.layout import StackLayout
from medrical.stack.manager import LocalStack
from medrical.waiting import poll

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


def running_children() -> list[str]:
    """This process's child processes that still run (zombies aside), as "PID command"."""
    found = []
    for listing in Path("/proc/self/task").glob("*/children"):
        for pid in listing.read_text().split():
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:  # ended meanwhile
                continue
            if state != "Z":
                shown = command.replace(b"\0", b" ").decode(errors="replace").strip()
                found.append(f"{pid} {shown}")
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Every test stops and reaps what it started: a child left running would outlive the
    run (and its Popen warn "subprocess is still running" at exit)."""
    gc.collect()  # a Popen nobody holds any more reaps its ended child
    left = poll(running_children, timeout_s=10, interval_s=0.2, done=lambda found: not found)
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "child processes still running after the tests", red=True)
            for line in left:
                reporter.write_line(f"  {line[:300]}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@contextmanager
def own_stack(prefix: str, *, port_shift: int = 0, **options: Any) -> Iterator[StackSettings]:
    """A local stack of the test session's own, in a fresh data folder, on the test ports
    shifted by `port_shift`, with any other stack settings in `options` (tls, brokers);
    started here, stopped by its PID files and wiped on the way out."""
    # PostgreSQL runs as an unprivileged user when the tests run as root: its data folder
    # must be reachable by that user, so it cannot live under a 0700 pytest temp folder.
    home = Path(tempfile.mkdtemp(prefix=f"medrical-test-{prefix}-"))
    home.chmod(0o755)
    ports = {name: port + port_shift for name, port in TEST_PORTS.items()}
    ports["kafka_sasl_port"] = ports["kafka_port"] + 2
    settings = StackSettings(home=home, **ports, **options)  # type: ignore[arg-type]
    try:
        LocalStack(settings).up()
        yield settings
    finally:
        # The settings of the mode it runs in now, whatever a test switched it to.
        LocalStack(settings).down()
        # The engines' logs go with the folder; a CI run that is to keep them names a place.
        keep = os.environ.get("MEDRICAL_TEST_KEEP_LOGS")
        if keep and (home / "logs").is_dir():
            shutil.copytree(home / "logs", Path(keep) / home.name, dirs_exist_ok=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def live_config() -> Iterator[MedricalConfig]:
    """A configuration pointing at a running local stack, started here unless told otherwise."""
    if os.environ.get("MEDRICAL_TEST_STACK") == "running":
        yield load_config()
        return
    with own_stack("stack") as settings:
        yield MedricalConfig(stack=settings)


@pytest.fixture
def connectors(live_config: MedricalConfig) -> Iterator[list[str]]:
    """Names of the connectors a test applies on the live stack; deleted at its end."""
    from medrical.sink import ConnectClient

    names: list[str] = []
    yield names
    with ConnectClient(live_config.connect) as client:
        for name in names:
            client.delete(name)


@pytest.fixture(scope="session")
def tls_stack_settings() -> Iterator[StackSettings]:
    """The session's TLS stack (ports 100 above the plain test stack's), started once and
    shared by the TLS tests and the sink's mode switch, which leaves it in TLS mode."""
    with own_stack("tls-stack", port_shift=100, tls=True) as settings:
        yield settings


@pytest.fixture(scope="session")
def tls_stack(tls_stack_settings: StackSettings) -> StackLayout:
    return StackLayout.of(tls_stack_settings)
