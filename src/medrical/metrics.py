"""Prometheus metrics of Medrical's own processes, served in the text exposition format.

Each process keeps its metrics in a registry of its own (never prometheus_client's global
one), so that a test or a benchmark can run several producers in one interpreter and read
each one's figures apart. `serve_metrics` exposes a registry on a loopback port for
`--metrics-port`; the dashboard serves its registry at `/metrics` of its own server instead.

Names follow Prometheus' conventions: a `medrical_<component>_` prefix, base units (seconds),
`_total` for counters (added by prometheus_client).
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from medrical.config import LOOPBACK
from medrical.errors import InputError

log = logging.getLogger(__name__)

# Delivery, commit and push delays of a pipeline on one machine: a few ms to tens of seconds.
LATENCY_BUCKETS_S = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


@contextmanager
def serve_metrics(
    registry: CollectorRegistry, port: int, host: str = LOOPBACK
) -> Iterator[tuple[str, int]]:
    """Serve `registry` at http://host:port/metrics while the block runs; yields the address
    actually bound (port 0 picks a free one). A port already taken is an InputError."""
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise InputError(
                f"{host}:{port} is already in use.", hint="Choose another --metrics-port."
            ) from None
        raise InputError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}.") from None
    address = server.server_address
    bound = (str(address[0]), int(address[1]))
    log.info("metrics on http://%s:%d/metrics", *bound)
    try:
        yield bound
    finally:
        _stop(server, thread)


def _stop(server: WSGIServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join(5.0)


def read_samples(text: str) -> dict[str, float]:
    """A scrape's samples by name and labels, e.g. `medrical_x_total{topic="t"}`: for tests,
    benchmarks and the status commands that read a process's metrics."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found
