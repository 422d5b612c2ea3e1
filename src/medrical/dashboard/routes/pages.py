"""The pages (static files: data reaches them only as JSON), the login, and the API description."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from medrical.dashboard import models, security
from medrical.dashboard.access import require_api_access, require_page_access
from medrical.dashboard.context import DashboardDep


def static_dir() -> Path:
    return Path(str(resources.files("medrical.dashboard") / "static"))


PAGES = static_dir()

public = APIRouter()
pages = APIRouter(dependencies=[Depends(require_page_access)], include_in_schema=False)
api_description = APIRouter(dependencies=[Depends(require_api_access)], include_in_schema=False)


@pages.get("/")
def ward_page() -> FileResponse:
    return FileResponse(PAGES / "ward.html")


@pages.get("/patient")
def patient_page() -> FileResponse:
    return FileResponse(PAGES / "patient.html")


@pages.get("/pipeline")
def pipeline_page() -> FileResponse:
    return FileResponse(PAGES / "pipeline.html")


@public.get("/login", include_in_schema=False)
def login_page() -> FileResponse:
    return FileResponse(PAGES / "login.html")


@public.post("/api/login", status_code=204, tags=["access"])
def login(body: models.LoginRequest, dashboard: DashboardDep) -> Response:
    """Exchange the access token for a session cookie (only when a token is configured)."""
    token = dashboard.settings.token
    if token is None:
        return Response(status_code=204)
    throttle = dashboard.settings.login_throttle
    wait_s = throttle.retry_after_s()
    if wait_s:
        raise HTTPException(
            429, "too many failed logins; try again later", {"retry-after": str(wait_s)}
        )
    if not security.token_matches(body.token, token):
        throttle.failed()
        raise HTTPException(401, "wrong access token")
    response = Response(status_code=204)
    response.set_cookie(
        security.SESSION_COOKIE,
        security.session_value(token),
        max_age=security.SESSION_MAX_AGE_S,
        httponly=True,
        samesite="strict",
    )
    return response


@api_description.get("/openapi.json")
def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())
