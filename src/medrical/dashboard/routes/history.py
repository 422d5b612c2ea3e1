"""A patient's history from PostgreSQL, with the alerts of the same window."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from medrical.dashboard import history, models
from medrical.dashboard.access import require_api_access
from medrical.dashboard.context import DashboardDep
from medrical.dashboard.ward import now_ms

router = APIRouter(dependencies=[Depends(require_api_access)], tags=["history"])


@router.get("/api/patients/{patient_id:path}/readings", response_model=models.History)
def readings(
    patient_id: str,
    dashboard: DashboardDep,
    since: Annotated[int | None, Query(description="Start, ms since the epoch.")] = None,
    until: Annotated[int | None, Query(description="End, ms since the epoch.")] = None,
    window: Annotated[
        int, Query(ge=60, le=7 * 86400, description="Seconds before 'until' (no 'since').")
    ] = 3600,
) -> dict[str, Any]:
    """A patient's readings in a time range, from PostgreSQL, each with its NEWS2 score."""
    end = until if until is not None else now_ms()
    start = since if since is not None else end - window * 1000
    history.check_window(start, end)
    store = dashboard.store
    rows = store.readings(
        patient_id, start, end, history.bucket_seconds(start, end, dashboard.settings.max_points)
    )
    stored = store.alerts(patient_id, start, end)
    alerts = history.merge_alerts(
        stored,
        dashboard.ward.alerts(patient_id, limit=10_000),
        store.acks([alert["alert_id"] for alert in stored]),
        start,
        end,
    )
    return {
        "patient_id": patient_id,
        "since": start,
        "until": end,
        "bucket_s": rows.bucket_s,
        "truncated": rows.truncated,
        "points": history.score_rows(rows.rows),
        "alerts": alerts,
    }
