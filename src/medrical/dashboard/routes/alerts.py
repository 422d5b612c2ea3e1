"""The alert feed and acknowledgements."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from medrical.dashboard import acks, models
from medrical.dashboard.access import require_api_access
from medrical.dashboard.context import DashboardDep

router = APIRouter(dependencies=[Depends(require_api_access)], tags=["alerts"])


@router.get("/api/alerts", response_model=list[models.Alert])
def list_alerts(
    dashboard: DashboardDep,
    patient_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """Alerts seen since the dashboard started, newest first, with acknowledgements."""
    dashboard.refresh_acks()
    return dashboard.ward.alerts(patient_id, limit)


@router.post("/api/alerts/{alert_id}/ack", response_model=models.AckResult)
def acknowledge(
    alert_id: str, dashboard: DashboardDep, body: models.AckRequest | None = None
) -> dict[str, Any]:
    """Acknowledge an alert. The first acknowledgement is kept; repeating one is harmless."""
    ack, created = acks.acknowledge(
        dashboard.store, dashboard.ward, alert_id, body.acknowledged_by if body else None
    )
    return {"alert_id": ack.alert_id, "acknowledged": ack.to_dict(), "created": created}
