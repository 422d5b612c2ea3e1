"""`medrical dashboard`: the live ward view in a browser."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from medrical.cli import _state
from medrical.dashboard.security import TOKEN_ENV
from medrical.dashboard.server import DEFAULT_HOST, DEFAULT_PORT


def dashboard(
    host: Annotated[
        str,
        typer.Option(
            help=f"Address to listen on. Anything but loopback needs {TOKEN_ENV} set in the "
            "environment."
        ),
    ] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = (
        DEFAULT_PORT
    ),
    silent_after: Annotated[
        float, typer.Option(help="Seconds without a reading before a tile shows silent.")
    ] = 30.0,
    own_alerts: Annotated[
        str,
        typer.Option(
            help="Show the dashboard's own NEWS2 notices: auto (until monitor alerts arrive on "
            "alerts_* topics), always, or never."
        ),
    ] = "auto",
    metrics: Annotated[
        bool,
        typer.Option(
            "--metrics/--no-metrics", help="Serve Prometheus metrics at /metrics [default: off]."
        ),
    ] = False,
) -> None:
    """Serve a live ward dashboard: tiles by NEWS2 risk, alerts, patient charts.

    Synthetic data only; not a medical device.
    """
    from medrical.dashboard.server import serve
    from medrical.errors import InputError

    if own_alerts not in ("auto", "always", "never"):
        raise InputError(f"--own-alerts must be auto, always or never, not {own_alerts!r}.")
    choice: Literal["auto", "always", "never"] = own_alerts  # type: ignore[assignment]

    def ready(url: str) -> None:
        typer.echo(f"Medrical dashboard on {url} (Ctrl+C stops it)")

    serve(
        _state.config(),
        host=host,
        port=port,
        silent_after_s=silent_after,
        own_alerts=choice,
        metrics=metrics,
        on_ready=ready,
    )
