"""The local stack's pure parts and process handling, without starting any engine."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from medrical.cli import _run
from medrical.config import StackSettings
from medrical.errors import StackError
from medrical.stack import fetch, java, process, rendering
from medrical.stack.manager import LocalStack
from medrical.waiting import poll


@pytest.fixture
def settings(tmp_path: Path) -> StackSettings:
    return StackSettings(home=tmp_path / "stack", cache_dir=tmp_path / "cache")


def test_kafka_listens_on_loopback_only_with_single_node_replication(
    settings: StackSettings, tmp_path: Path
) -> None:
    text = rendering.kafka_server_properties(settings, tmp_path / "data")
    props = dict(line.split("=", 1) for line in text.splitlines())
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
    ):
        assert props[key] == "1"
    assert props["log.dirs"] == str(tmp_path / "data")


def test_connect_worker_is_distributed_on_loopback_with_file_secrets(
    settings: StackSettings, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets" / "connect.properties"
    text = rendering.connect_worker_properties(settings, tmp_path / "plugins", secrets)
    props = dict(line.split("=", 1) for line in text.splitlines())
    assert props["listeners"] == "http://127.0.0.1:18083"
    assert props["group.id"]
    assert props["config.storage.replication.factor"] == "-1"  # the cluster's default
    assert props["plugin.path"] == str(tmp_path / "plugins")
    assert props["config.providers"] == "file"
    assert props["config.providers.file.param.allowed.paths"] == str(secrets.parent)


def test_registry_binds_loopback_and_keeps_the_password_off_its_command_line(
    settings: StackSettings,
) -> None:
    props = rendering.registry_system_properties(settings, "registry")
    assert props["quarkus.http.host"] == "127.0.0.1"
    assert props["quarkus.management.host"] == "127.0.0.1"
    assert not any("password" in key for key in props)


def test_default_ports_avoid_the_well_known_ones() -> None:
    defaults = StackSettings()
    ports = {
        defaults.kafka_port,
        defaults.controller_port,
        defaults.registry_port,
        defaults.registry_management_port,
        defaults.connect_port,
        defaults.postgres_port,
    }
    assert ports.isdisjoint({5432, 8080, 8081, 8083, 9000, 9092, 9093})


def test_pinned_versions_are_exact() -> None:
    versions = fetch.pinned_versions()
    assert versions["kafka"].startswith("4.")
    assert versions["debezium"].endswith(".Final")
    assert versions["apicurio"].startswith("3.")
    assert all("SNAPSHOT" not in v and "[" not in v for v in versions.values())


def test_fetch_without_maven_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(StackError, match="Maven"):
        fetch.fetch_engines(tmp_path / "cache", show_progress=False)


def _fake_java(folder: Path, major: int) -> Path:
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "java"
    script.write_text(f"#!/bin/sh\necho 'openjdk version \"{major}.0.1\" 2024-01-01' >&2\n")
    script.chmod(0o755)
    return folder


def test_an_old_java_is_named_in_the_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = _fake_java(tmp_path / "jdk17", 17)
    monkeypatch.setattr(java, "_candidates", lambda _c: [(old / "bin" / "java", "test")])
    with pytest.raises(StackError, match=r"Java 21 or newer; found Java 17 \(test\)"):
        java.find_java()


def test_a_new_enough_java_is_chosen(tmp_path: Path) -> None:
    home = _fake_java(tmp_path / "jdk25", 25)
    runtime = java.find_java(home)
    assert runtime.major == 25
    assert runtime.executable == home / "bin" / "java"


def test_a_configured_java_home_without_java_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="holds no bin/java"):
        java.find_java(tmp_path)


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[Path]:
    pid_file = tmp_path / "sleeper.pid"
    process.spawn(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        pid_file=pid_file,
        log_file=tmp_path / "sleeper.log",
    )
    yield pid_file
    process.stop(pid_file, timeout_s=5)


def test_a_spawned_process_is_tracked_and_stopped_by_its_pid(sleeper: Path) -> None:
    tracked = process.running(sleeper)
    assert tracked is not None
    assert process.stop(sleeper, timeout_s=5)
    assert not tracked.alive()
    assert not sleeper.exists()
    assert process.stop(sleeper) is False


def test_a_recycled_pid_is_never_signalled(sleeper: Path, tmp_path: Path) -> None:
    tracked = process.running(sleeper)
    assert tracked is not None
    # Same PID, different start time: a program the kernel gave the PID to later.
    forged = tmp_path / "forged.pid"
    forged.write_text(f"{tracked.pid} 1\n")
    assert process.running(forged) is None
    assert process.stop(forged) is False
    assert tracked.alive()


def test_a_taken_port_is_reported_with_the_setting_to_change(settings: StackSettings) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        stack = LocalStack(settings.model_copy(update={"kafka_port": port}))
        with pytest.raises(StackError) as caught:
            stack.check_ports_free(stack.service("kafka"))
    message = str(caught.value)
    assert f"port {port}" in message
    assert "MEDRICAL_STACK__KAFKA_PORT" in message


def _stack_env(settings: StackSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDRICAL_STACK__HOME", str(settings.home))
    monkeypatch.setenv("MEDRICAL_STACK__CACHE_DIR", str(settings.cache_dir))


def test_status_of_a_stopped_stack_shows_every_service_down(
    settings: StackSettings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stack_env(settings, monkeypatch)
    assert _run(["stack", "status"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [
        "postgres",
        "kafka",
        "registry",
        "connect",
        "supervisor",
    ]
    assert all(line.split()[1] == "down" for line in lines)


def test_down_on_a_stopped_stack_is_fine(
    settings: StackSettings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stack_env(settings, monkeypatch)
    assert _run(["stack", "down"]) == 0
    assert "not running" in capsys.readouterr().err


def test_reset_wipes_data_but_not_the_engine_cache(
    settings: StackSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stack_env(settings, monkeypatch)
    (settings.home / "data" / "kafka").mkdir(parents=True)
    settings.cache_dir.mkdir(parents=True)
    assert _run(["stack", "reset"]) == 0
    assert not (settings.home / "data").exists()
    assert settings.cache_dir.exists()


def test_logs_of_an_unknown_service_is_a_usage_error(
    settings: StackSettings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stack_env(settings, monkeypatch)
    assert _run(["stack", "logs", "zookeeper"]) == 2
    assert "unknown service 'zookeeper'" in capsys.readouterr().err


def test_a_service_that_dies_at_start_up_shows_its_log(
    settings: StackSettings, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port where no broker answers
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    stack = LocalStack(settings.model_copy(update={"kafka_port": free_port}))
    log = stack.layout.log_file("kafka")
    started = process.spawn(
        ["sh", "-c", "echo 'FATAL: broken on purpose'; exit 3"],
        pid_file=stack.layout.pid_file("kafka"),
        log_file=log,
    )
    with pytest.raises(StackError) as caught:
        stack.wait_healthy(stack.service("kafka"), started)
    text = str(caught.value)
    assert "kafka exited during start-up" in text
    assert "FATAL: broken on purpose" in text


def test_the_cli_prints_no_traceback_for_stack_errors(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MEDRICAL_STACK__HOME": str(tmp_path / "stack"),
        "MEDRICAL_STACK__CACHE_DIR": str(tmp_path / "cache"),
        "PATH": str(Path(sys.executable).parent),
    }
    result = subprocess.run(
        [str(Path(sys.executable).parent / "medrical"), "stack", "fetch"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Maven (mvn)" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_process_that_ended_on_its_own_is_not_running(tmp_path: Path) -> None:
    pid_file = tmp_path / "quick.pid"
    tracked = process.spawn(["true"], pid_file=pid_file, log_file=tmp_path / "quick.log")
    assert process.read_pid_file(pid_file) == tracked
    assert poll(lambda: not tracked.alive(), timeout_s=10, interval_s=0.05)
    assert process.stop(pid_file) is False
    assert not pid_file.exists()


def test_a_spawned_process_is_detached_in_its_own_session(tmp_path: Path) -> None:
    """Nobody's child: a process that started (or stops) it has no exit status to collect
    and holds no handle on it; it leads its own session, so it is stopped by its own PID."""
    pid_file, log_file = tmp_path / "daemon.pid", tmp_path / "daemon.log"
    tracked = process.spawn(
        [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"],
        pid_file=pid_file,
        log_file=log_file,
    )
    try:
        assert tracked.alive()
        stat = Path(f"/proc/{tracked.pid}/stat").read_text().rsplit(")", 1)[1].split()
        assert int(stat[1]) != os.getpid()  # its parent
        assert os.getsid(tracked.pid) == os.getpgid(tracked.pid) == tracked.pid
        assert poll(lambda: "started" in log_file.read_text(), timeout_s=10, interval_s=0.05)
    finally:
        assert process.stop(pid_file, timeout_s=5)
    assert not tracked.alive()
