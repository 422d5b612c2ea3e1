"""The pipeline view's figures: what flows in, what is stored, and how far each stage lags."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from medrical.dashboard.access import require_api_access
from medrical.dashboard.context import DashboardDep

router = APIRouter(dependencies=[Depends(require_api_access)], tags=["pipeline"])


@router.get("/api/pipeline")
def pipeline(dashboard: DashboardDep) -> dict[str, Any]:
    """Events/s in, rows/s stored, alerts/s, and per `biometrics_*`/`alerts_*` topic its input
    rate and each stage's lag (readings, seconds), with their values over the last minutes
    (`times`). Measured every `interval_s` while pages ask, as `medrical stack status` does."""
    sampler = dashboard.settings.pipeline
    if sampler is None:
        raise HTTPException(404, "this dashboard has no pipeline view")
    return sampler.view()
