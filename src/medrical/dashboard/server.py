"""Running the dashboard: check the services, bind the socket, start the feed, serve, stop.

SIGINT or SIGTERM ends open live streams first (they would otherwise hold the server open),
then the web server, then the Kafka consumer, which is closed cleanly.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from medrical.config import MedricalConfig
from medrical.dashboard import require_web_dependencies, security
from medrical.dashboard.ward import OwnAlerts, WardState
from medrical.errors import InputError
from medrical.kafka_clients import ensure_kafka_reachable

if TYPE_CHECKING:
    from medrical.lag import TopicFlow

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 18880


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or an InputError that says which address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise InputError(
                f"{host}:{port} is already in use.", hint="Choose another --port."
            ) from None
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}.") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve(
    config: MedricalConfig,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    silent_after_s: float = 30.0,
    own_alerts: OwnAlerts = "auto",
    metrics: bool = False,
    on_ready: Callable[[str], None] = print,
) -> None:
    """Serve the dashboard until SIGINT/SIGTERM."""
    require_web_dependencies()
    import uvicorn

    from medrical.dashboard.app import create_app
    from medrical.dashboard.context import LOOPBACK_HOSTS, DashboardSettings
    from medrical.dashboard.feed import LiveFeed
    from medrical.dashboard.metrics import DashboardMetrics
    from medrical.dashboard.pipeline import PipelineSampler
    from medrical.dashboard.store import PostgresStore
    from medrical.lag import LagReader

    token = security.resolve_token(host)
    if silent_after_s <= 0:
        raise InputError(f"--silent-after must be positive, not {silent_after_s:g}.")
    ensure_kafka_reachable(config)
    store = PostgresStore(config)
    store.ensure_schema()
    ward = WardState(own_alerts=own_alerts)
    sock = bind(host, port)
    feed = LiveFeed(config, ward)

    def open_lag_reader() -> tuple[Callable[[], list[TopicFlow]], Callable[[], None]]:
        reader = LagReader(config)
        return reader.measure, reader.close

    pipeline = PipelineSampler(
        open_lag_reader, alerts_received=lambda: ward.monitor_alerts_received
    )
    settings = DashboardSettings(
        token=token,
        allowed_hosts=LOOPBACK_HOSTS if security.is_loopback(host) else None,
        silent_after_s=silent_after_s,
        feed_alive=lambda: feed.alive,
        feed_state=lambda: feed.kafka_state,
        metrics=DashboardMetrics(ward) if metrics else None,
        pipeline=pipeline,
    )
    app = create_app(ward, store, settings)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            settings.closing.set()
            super().handle_exit(sig, frame)

    server = Server(
        uvicorn.Config(
            app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=3,
        )
    )
    feed.start()
    try:
        on_ready(url_of(sock))
        server.run(sockets=[sock])
    finally:
        settings.closing.set()
        pipeline.stop()
        feed.stop()
        store.close()
        sock.close()
