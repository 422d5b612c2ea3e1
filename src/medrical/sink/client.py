"""A small client of Kafka Connect's REST API (the same on the local stack and managed Connect)."""

from __future__ import annotations

import re
import ssl
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from medrical.config import ConnectSettings
from medrical.errors import InputError, MedricalError, ServiceUnavailableError
from medrical.waiting import poll


class ConnectorFailedError(MedricalError):
    """The connector or one of its tasks failed; carries Connect's own trace."""


@dataclass(frozen=True)
class TaskState:
    task_id: int
    state: str
    trace: str | None


@dataclass(frozen=True)
class ConnectorState:
    name: str
    connector_state: str
    task_states: tuple[str, ...]
    trace: str | None
    tasks: tuple[TaskState, ...] = ()
    connector_trace: str | None = None

    @property
    def running(self) -> bool:
        return (
            self.connector_state == "RUNNING"
            and bool(self.task_states)
            and all(state == "RUNNING" for state in self.task_states)
        )

    @property
    def failed(self) -> bool:
        return self.connector_state == "FAILED" or "FAILED" in self.task_states

    @property
    def failed_tasks(self) -> tuple[TaskState, ...]:
        return tuple(task for task in self.tasks if task.state == "FAILED")


def _parse_status(name: str, body: dict[str, Any]) -> ConnectorState:
    tasks = tuple(
        TaskState(int(task.get("id", number)), task.get("state", "UNKNOWN"), task.get("trace"))
        for number, task in enumerate(body.get("tasks", []))
    )
    connector = body.get("connector", {})
    trace = next((task.trace for task in tasks if task.trace), None) or connector.get("trace")
    return ConnectorState(
        name=name,
        connector_state=connector.get("state", "UNKNOWN"),
        task_states=tuple(task.state for task in tasks),
        trace=trace,
        tasks=tasks,
        connector_trace=connector.get("trace"),
    )


# Messages whose words hide the cause; what they mean for Medrical's sink.
_TRACE_EXPLANATIONS = {
    "Unable to determine Dialect without JDBC metadata": (
        "the sink's task could not open a connection to PostgreSQL when it started "
        "(PostgreSQL down, or the connector's SSL setting does not match the server's)"
    ),
    "RegistryUnavailableError": "the schema registry stayed unavailable for the whole retry budget",
}


def explain_trace(trace: str | None) -> str:
    """One line saying why a connector or task failed: the deepest cause in Connect's trace,
    with a plain explanation where the engines' own words hide it."""
    if not trace:
        return "no trace"
    lines = [line.strip() for line in trace.strip().splitlines() if line.strip()]
    causes = [line.removeprefix("Caused by: ") for line in lines if line.startswith("Caused by:")]
    deepest = causes[-1] if causes else lines[0]
    for marker, meaning in _TRACE_EXPLANATIONS.items():
        if marker in trace:
            return f"{meaning}: {deepest[:300]}"
    return deepest[:300]


def connector_path(name: str, *rest: str) -> str:
    """`/connectors/<name>[/...]` with the name as one encoded path segment, so that a name
    such as `../connector-plugins` or `a#frag` can only ever address its own connector."""
    if not name or name in (".", "..") or name != name.strip():
        raise InputError(f"connector name {name!r} is empty, '.' or '..', or has spaces around it.")
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise InputError(f"connector name {name!r} holds control characters.")
    return "/".join(("/connectors", quote(name, safe=""), *rest))


class ConnectClient:
    def __init__(self, settings: ConnectSettings, timeout_s: float = 15.0) -> None:
        if not settings.url:
            raise ValueError("connect url is not resolved")
        auth: tuple[str, str] | None = None
        if settings.basic_auth_user_info is not None:
            user, _, password = settings.basic_auth_user_info.get_secret_value().partition(":")
            auth = (user, password)
        verify: ssl.SSLContext | bool = True
        if settings.ssl_ca_location is not None:
            verify = ssl.create_default_context(cafile=str(settings.ssl_ca_location))
        self.url = settings.url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, auth=auth, verify=verify, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ConnectClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceUnavailableError(
                "Kafka Connect",
                f"cannot reach {self.url} ({exc}).",
                hint="Is Connect up (`medrical stack status`) and is connect.url right?",
            ) from exc
        if response.status_code in (401, 403):
            raise ServiceUnavailableError(
                "Kafka Connect",
                f"{self.url} refused our credentials (HTTP {response.status_code}).",
                hint="Check connect.basic_auth_user_info.",
            )
        return response

    def plugins(self, *, connectors_only: bool = True) -> list[str]:
        """Plugin classes the workers have: connectors, or converters and the rest too."""
        params = {} if connectors_only else {"connectorsOnly": "false"}
        response = self._request("GET", "/connector-plugins", params=params)
        response.raise_for_status()
        return [plugin["class"] for plugin in response.json()]

    def connectors(self) -> dict[str, ConnectorState]:
        """Every connector's state, in one request."""
        response = self._request("GET", "/connectors", params={"expand": "status"})
        response.raise_for_status()
        return {
            name: _parse_status(name, entry.get("status", {}))
            for name, entry in response.json().items()
        }

    def restart(self, name: str, *, only_failed: bool = True, timeout_s: float = 30.0) -> None:
        """Restart the connector's failed instances (its tasks included), as Connect's
        `POST /connectors/{name}/restart?includeTasks=true&onlyFailed=true` does.

        Right after a configuration change Connect answers 409 ("stale configuration",
        "rebalance in progress") until its workers agree again: that is retried until
        `timeout_s`, not an error.
        """

        def attempt() -> httpx.Response:
            return self._request(
                "POST",
                connector_path(name, "restart"),
                params={"includeTasks": "true", "onlyFailed": str(only_failed).lower()},
            )

        response = poll(
            attempt, timeout_s=timeout_s, interval_s=0.5, done=lambda r: r.status_code != 409
        )
        if response.status_code >= 400 and response.status_code != 404:
            raise ConnectorFailedError(
                f"Connect refused to restart {name!r} (HTTP {response.status_code}): "
                f"{_message(response)}"
            )

    def apply(self, name: str, config: dict[str, str]) -> bool:
        """Create or update a connector; True when it was created."""
        response = self._request("PUT", connector_path(name, "config"), json=config)
        if response.status_code >= 400:
            raise ConnectorFailedError(
                f"Connect rejected the configuration of {name!r} "
                f"(HTTP {response.status_code}): {_message(response)}"
            )
        return response.status_code == 201

    def validate(self, name: str, config: dict[str, str]) -> list[str]:
        """Connect's own validation; returns one line per invalid setting."""
        plugin = config["connector.class"].rsplit(".", 1)[-1]
        body = {"name": name, **config}
        response = self._request("PUT", f"/connector-plugins/{plugin}/config/validate", json=body)
        if response.status_code >= 400:
            return [_message(response)]
        problems = []
        for item in response.json().get("configs", []):
            value = item.get("value", {})
            for error in value.get("errors", []):
                problems.append(f"{value.get('name')}: {error}")
        return problems

    def status(self, name: str) -> ConnectorState | None:
        response = self._request("GET", connector_path(name, "status"))
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return _parse_status(name, response.json())

    def config(self, name: str) -> dict[str, str] | None:
        response = self._request("GET", connector_path(name, "config"))
        if response.status_code == 404:
            return None
        response.raise_for_status()
        result: dict[str, str] = response.json()
        return result

    def storing(self, topic: str) -> list[str]:
        """The connectors whose `topics` or `topics.regex` take `topic` (the regex read as
        Python reads it, which agrees with Java's for the patterns Medrical writes)."""
        response = self._request("GET", "/connectors", params={"expand": "info"})
        response.raise_for_status()
        names = []
        for name, entry in sorted(response.json().items()):
            conf = entry.get("info", {}).get("config", {})
            listed = [t.strip() for t in conf.get("topics", "").split(",") if t.strip()]
            try:
                matched = bool(conf.get("topics.regex")) and bool(
                    re.fullmatch(conf["topics.regex"], topic)
                )
            except re.error:
                matched = False
            if topic in listed or matched:
                names.append(name)
        return names

    def pause(self, name: str) -> None:
        """Stop the connector's tasks from taking records; its offsets stay where they are."""
        self._request("PUT", connector_path(name, "pause")).raise_for_status()

    def resume(self, name: str) -> None:
        self._request("PUT", connector_path(name, "resume")).raise_for_status()

    def delete(self, name: str) -> bool:
        response = self._request("DELETE", connector_path(name))
        if response.status_code == 404:
            return False
        response.raise_for_status()
        return True

    def wait_running(self, name: str, timeout_s: float = 60.0, *, tasks: int = 1) -> ConnectorState:
        """Wait until the connector runs with `tasks` tasks running (Connect starts them one
        after another); one that runs with fewer by the deadline is returned as it is."""

        def checked() -> ConnectorState | None:
            state = self.status(name)
            if state is not None and state.failed:
                raise ConnectorFailedError(
                    f"connector {name!r} failed: {explain_trace(state.trace)}",
                    hint="Full trace: `medrical connector status`.",
                )
            return state

        state = poll(
            checked,
            timeout_s=timeout_s,
            interval_s=0.5,
            done=lambda state: (
                state is not None and state.running and len(state.task_states) >= tasks
            ),
        )
        if state is not None and state.running:
            return state
        seen = f"{state.connector_state} {list(state.task_states)}" if state else "absent"
        raise ConnectorFailedError(
            f"connector {name!r} was not running within {timeout_s:.0f} s (state: {seen})."
        )


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", response.text))
    except ValueError:
        return response.text[:500]
