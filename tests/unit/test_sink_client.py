"""The Connect REST client addresses exactly the connector it is given, whatever its name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from medrical.config import ConnectSettings
from medrical.errors import ExitCode, InputError
from medrical.sink.client import ConnectClient, connector_path
from tests.unit.cli_harness import closed_port, isolate_cli, run_cli


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from isolate_cli(tmp_path, monkeypatch)


def recording_client(paths: list[str]) -> ConnectClient:
    def answer(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode().partition("?")[0])  # the path, no query
        return httpx.Response(404, json={"message": "not found"})

    client = ConnectClient(ConnectSettings(url="http://127.0.0.1:1"))
    client._http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(answer))
    return client


@pytest.mark.parametrize(
    ("name", "segment"),
    [
        ("medrical-biometrics-sink", "medrical-biometrics-sink"),
        ("a#frag", "a%23frag"),
        ("a?expand=info", "a%3Fexpand%3Dinfo"),
        ("x/../../connector-plugins", "x%2F..%2F..%2Fconnector-plugins"),
        ("ward a", "ward%20a"),
    ],
)
def test_a_connector_name_is_one_encoded_path_segment(name: str, segment: str) -> None:
    paths: list[str] = []
    with recording_client(paths) as client:
        assert client.status(name) is None
        assert client.config(name) is None
        assert client.delete(name) is False
        client.restart(name)
    assert paths == [
        f"/connectors/{segment}/status",
        f"/connectors/{segment}/config",
        f"/connectors/{segment}",
        f"/connectors/{segment}/restart",
    ]


@pytest.mark.parametrize("name", ["", ".", "..", " sink", "sink\n", "a\x00b"])
def test_names_that_cannot_name_a_connector_are_refused(name: str) -> None:
    with pytest.raises(InputError):
        connector_path(name)


@pytest.mark.parametrize("command", ["status", "delete"])
def test_the_cli_refuses_a_dot_dot_name_with_exit_2(command: str) -> None:
    env = {"KAFKA_CONNECT_URL": f"http://127.0.0.1:{closed_port()}"}
    outcome = run_cli("connector", command, "--name", "..", env=env)
    assert outcome.code == ExitCode.USAGE, outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert "connector name '..'" in outcome.stderr


def test_a_restart_waits_out_connects_409_after_a_configuration_change() -> None:
    """Connect answers 409 ("stale configuration") while its workers take in a new
    configuration; `stack up` re-applying a connector then restarting it met exactly that."""
    answers = [409, 409, 204]
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.raw_path.decode()}")
        status = answers.pop(0)
        return httpx.Response(status, json={"message": "stale configuration"})

    client = ConnectClient(ConnectSettings(url="http://127.0.0.1:1"))
    client._http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(answer))
    with client:
        client.restart("a/b", timeout_s=10)
    assert answers == []
    assert seen == ["POST /connectors/a%2Fb/restart?includeTasks=true&onlyFailed=true"] * 3


def test_waiting_for_a_connector_waits_for_every_task_it_asked_for() -> None:
    """Connect starts a connector's tasks one after another: two running of three is not yet
    running, however RUNNING each of the two is."""
    running = [2, 2, 3]

    def answer(request: httpx.Request) -> httpx.Response:
        count = running.pop(0) if len(running) > 1 else running[0]
        tasks = [{"id": i, "state": "RUNNING"} for i in range(count)]
        return httpx.Response(
            200, json={"name": "sink", "connector": {"state": "RUNNING"}, "tasks": tasks}
        )

    client = ConnectClient(ConnectSettings(url="http://127.0.0.1:1"))
    client._http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(answer))
    with client:
        state = client.wait_running("sink", timeout_s=10, tasks=3)
    assert len(state.task_states) == 3


def test_storing_names_the_connectors_whose_topics_or_regex_take_a_topic() -> None:
    connectors = {
        "medrical-biometrics-sink": {"info": {"config": {"topics.regex": "biometrics_(.*)"}}},
        "medrical-alerts-sink": {"info": {"config": {"topics.regex": "alerts_(.*)"}}},
        "listed": {"info": {"config": {"topics": "biometrics_a, biometrics_ward"}}},
        "broken": {"info": {"config": {"topics.regex": "biometrics_("}}},
    }

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.params["expand"] == "info"
        return httpx.Response(200, json=connectors)

    client = ConnectClient(ConnectSettings(url="http://127.0.0.1:1"))
    client._http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(answer))
    with client:
        assert client.storing("biometrics_ward") == ["listed", "medrical-biometrics-sink"]
        assert client.storing("biometrics_icu") == ["medrical-biometrics-sink"]
        assert client.storing("alerts_ward") == ["medrical-alerts-sink"]
        assert client.storing("other") == []


def test_pause_and_resume_address_the_connector() -> None:
    seen: list[tuple[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.raw_path.decode()))
        return httpx.Response(202)

    client = ConnectClient(ConnectSettings(url="http://127.0.0.1:1"))
    client._http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(answer))
    with client:
        client.pause("ward sink")
        client.resume("ward sink")
    assert seen == [
        ("PUT", "/connectors/ward%20sink/pause"),
        ("PUT", "/connectors/ward%20sink/resume"),
    ]
