"""Who may use a route, as FastAPI dependencies: with an access token configured, a request
needs it as a bearer token or carries the session cookie that the login gives in exchange."""

from __future__ import annotations

from fastapi import HTTPException, Request

from medrical.dashboard import security
from medrical.dashboard.context import DashboardDep


def authorised(request: Request, dashboard: DashboardDep) -> bool:
    token = dashboard.settings.token
    if token is None:
        return True
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer ") and security.token_matches(
        authorization[7:].strip(), token
    ):
        return True
    cookie = request.cookies.get(security.SESSION_COOKIE)
    return cookie is not None and security.session_matches(cookie, token)


def require_api_access(request: Request, dashboard: DashboardDep) -> None:
    if not authorised(request, dashboard):
        raise HTTPException(401, "access token required")


def require_page_access(request: Request, dashboard: DashboardDep) -> None:
    """A page asked for without access sends the browser to the login page instead."""
    if not authorised(request, dashboard):
        raise HTTPException(303, "log in first", headers={"location": "/login"})
