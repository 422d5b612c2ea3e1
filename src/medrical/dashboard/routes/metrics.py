"""`/metrics`: the dashboard's Prometheus metrics, when `medrical dashboard --metrics` asks for
them; behind the same access as the API (Prometheus sends the token as a bearer token)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import Response

from medrical.dashboard.access import require_api_access
from medrical.dashboard.context import DashboardDep

router = APIRouter(dependencies=[Depends(require_api_access)], include_in_schema=False)


@router.get("/metrics")
def metrics(dashboard: DashboardDep) -> Response:
    served = dashboard.settings.metrics
    if served is None:
        raise HTTPException(404, "metrics are off (medrical dashboard --metrics turns them on)")
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(served.registry), media_type=CONTENT_TYPE_LATEST)
