"""The dashboard's web application: its routers put together over a ward state and a store.

Routes live in `medrical.dashboard.routes` (pages and login, ward, history, alerts, the live
stream), ask for what they need through the dependencies of `medrical.dashboard.context` and
`medrical.dashboard.access`, every response passes `middleware.HostCheckAndHeaders`, and every
state-changing request `middleware.SameOriginWrites`.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from medrical import __version__
from medrical.dashboard.acks import UnknownAlertError
from medrical.dashboard.context import Dashboard, DashboardSettings, DashboardStore
from medrical.dashboard.middleware import HostCheckAndHeaders, SameOriginWrites
from medrical.dashboard.routes import alerts, history, metrics, pages, pipeline, stream, ward
from medrical.dashboard.ward import WardState
from medrical.errors import InputError, MedricalError, ServiceUnavailableError

log = logging.getLogger(__name__)

ROUTERS = (
    pages.public,
    pages.pages,
    pages.api_description,
    history.router,  # before ward's: see ward.get_patient
    ward.router,
    alerts.router,
    stream.router,
    pipeline.router,
    metrics.router,
)


async def _medrical_error(_request: Request, exc: Exception) -> JSONResponse:
    status = 400 if isinstance(exc, InputError) else 503
    if isinstance(exc, UnknownAlertError):
        status = 404
    if isinstance(exc, ServiceUnavailableError):
        log.warning("%s", exc)
    return JSONResponse({"detail": str(exc)}, status_code=status)


def create_app(
    ward_state: WardState, store: DashboardStore, settings: DashboardSettings | None = None
) -> FastAPI:
    """The web application over a ward state and a store (both may be fakes in tests)."""
    conf = settings or DashboardSettings()
    app = FastAPI(
        title="Medrical ward dashboard",
        version=__version__,
        description="Live synthetic vital signs and NEWS2 scores. All data is synthetic; "
        "Medrical is not a medical device and its scores are not for clinical use.",
        # The interactive docs page loads scripts from a CDN; the OpenAPI JSON is enough, and
        # it is served by a route of its own so that it needs access like the API.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.dashboard = Dashboard(ward_state, store, conf)
    app.add_exception_handler(MedricalError, _medrical_error)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=pages.PAGES), name="static")
    # Added first, so it runs inside the host check: a refusal still gets the security headers.
    app.add_middleware(SameOriginWrites)
    app.add_middleware(HostCheckAndHeaders, allowed_hosts=conf.allowed_hosts)
    return app
