"""What every route of the dashboard works with, and how a route asks for it.

`create_app` puts one `Dashboard` (the ward state, the store, the settings) on the application;
a route declares `dashboard: DashboardDep` and FastAPI hands it over, so that routes hold no
closure state and tests pass fakes through `create_app`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from fastapi import Depends, Request
from pydantic import SecretStr

from medrical.dashboard import history, security
from medrical.dashboard.store import AckStore, HistoryStore
from medrical.dashboard.ward import WardState
from medrical.errors import ServiceUnavailableError

if TYPE_CHECKING:
    from medrical.dashboard.metrics import DashboardMetrics
    from medrical.dashboard.pipeline import PipelineSampler

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class DashboardStore(AckStore, HistoryStore, Protocol):
    """Everything the web application keeps in or reads from the database."""


@dataclass
class DashboardSettings:
    token: SecretStr | None = None
    # Host header values accepted (DNS-rebinding guard); None accepts any.
    allowed_hosts: Sequence[str] | None = LOOPBACK_HOSTS
    silent_after_s: float = 30.0
    # How often an open stream sends what changed. 150 ms, not 250: at 1,000 readings/s with
    # the sink and the monitor running, the page kept up (it was the page that fell behind at
    # 100 ms before off-screen tiles were skipped) and its p99 fell from 302 to 218 ms.
    flush_interval_s: float = 0.15
    heartbeat_s: float = 15.0
    max_points: int = history.DEFAULT_MAX_POINTS
    # Set when the server shuts down, so that open streams end and the server can stop.
    closing: threading.Event = field(default_factory=threading.Event)
    feed_alive: Callable[[], bool] = lambda: True
    # "live", or "reconnecting" while the live feed has lost every Kafka broker.
    feed_state: Callable[[], str] = lambda: "live"
    # Served at /metrics when given (`medrical dashboard --metrics`).
    metrics: DashboardMetrics | None = None
    # The pipeline view's measurements (`/pipeline`); None in tests without Kafka.
    pipeline: PipelineSampler | None = None
    login_throttle: security.LoginThrottle = field(default_factory=security.LoginThrottle)


@dataclass(frozen=True)
class Dashboard:
    ward: WardState
    store: DashboardStore
    settings: DashboardSettings

    def refresh_acks(self) -> None:
        """Take in acknowledgements made elsewhere (another server on the same database)."""
        try:
            self.ward.record_acks(self.store.acks(self.ward.alert_ids()).values())
        except ServiceUnavailableError as exc:
            log.warning("acknowledgements not refreshed: %s", exc)

    def snapshot(self, patient_id: str | None) -> dict[str, Any]:
        self.refresh_acks()
        data = self.ward.snapshot(patient_id)
        data["silent_after_s"] = self.settings.silent_after_s
        return data


def get_dashboard(request: Request) -> Dashboard:
    dashboard: Dashboard = request.app.state.dashboard
    return dashboard


DashboardDep = Annotated[Dashboard, Depends(get_dashboard)]
