"""The dashboard through the loss of its only broker, on the real one-broker stack: while
Kafka is dead its live stream tells the page the feed is reconnecting, and once the broker is
back the same stream says live again and the ward takes readings again, neither the server nor
the page having been restarted.
"""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from medrical.config import MedricalConfig
from medrical.producing.topics import ensure_topic
from medrical.reliability import SteadyLoad
from medrical.simulation import Simulator
from tests.integration.helpers import (
    child_env,
    kill_service,
    restart_stack,
    running_dashboard,
    unique_topic,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class FeedStates(threading.Thread):
    """Follows the dashboard's event stream as a page would and keeps each `feed` event's
    Kafka state, in order. Ends when the server closes the stream."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.states: list[str] = []
        self.connected = threading.Event()

    def run(self) -> None:
        event = None
        try:
            # The stream sends a heartbeat every 15 s even while nothing changes.
            timeout = httpx.Timeout(10.0, read=60.0)
            with httpx.stream("GET", f"{self.url}api/stream", timeout=timeout) as response:
                self.connected.set()
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        event = line.removeprefix("event: ")
                    elif line.startswith("data: ") and event == "feed":
                        self.states.append(json.loads(line.removeprefix("data: "))["kafka"])
                    elif not line:
                        event = None
        except httpx.HTTPError:
            pass  # the server stopped at the end of the test


def readings_applied(url: str) -> int:
    return int(httpx.get(f"{url}api/health", timeout=5).json()["readings_applied"])


def test_the_ward_says_reconnecting_while_its_only_broker_is_dead_then_resumes(
    live_config: MedricalConfig,
) -> None:
    topic = unique_topic("reconnect")
    ensure_topic(live_config, topic)
    readings = Simulator(20, 11, "mix", interval_s=1.0).readings()
    with (
        running_dashboard(child_env(live_config.stack)) as url,
        SteadyLoad(live_config, topic, readings, rate=50) as load,
    ):
        feed = FeedStates(url)
        feed.start()
        assert feed.connected.wait(30), "the dashboard's stream did not open"
        wait_for(
            lambda: True if readings_applied(url) > 0 else None,
            timeout_s=60,
            what="the ward to take its first readings",
        )
        kill_service(live_config, "kafka")
        try:
            wait_for(
                lambda: True if feed.states == ["reconnecting"] else None,
                timeout_s=60,
                what="the stream to say the feed is reconnecting",
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the stream said {feed.states}") from None
        finally:  # the rest of the session needs its broker, whatever happened here
            restart_stack(live_config)
        try:
            wait_for(
                lambda: True if feed.states == ["reconnecting", "live"] else None,
                timeout_s=120,
                what="the stream to say the feed is live again",
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the stream said {feed.states}") from None
        applied = readings_applied(url)
        wait_for(
            lambda: True if readings_applied(url) > applied else None,
            timeout_s=60,
            what="the ward to take readings again",
        )
    summary = load.summary
    assert summary is not None
    assert (summary.failed, summary.delivered) == (0, summary.sent), summary
    feed.join(timeout=30)
