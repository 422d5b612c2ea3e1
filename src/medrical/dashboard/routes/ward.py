"""The ward now: health, the snapshot a page starts from, and each patient's latest state."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from medrical.dashboard import models
from medrical.dashboard.access import require_api_access
from medrical.dashboard.context import DashboardDep

router = APIRouter(dependencies=[Depends(require_api_access)], tags=["ward"])


@router.get("/api/health", response_model=models.Health)
def health(dashboard: DashboardDep) -> dict[str, Any]:
    ward = dashboard.ward
    return {
        "patients": len(ward.patients(with_trend=False)),
        "readings_applied": ward.readings_applied,
        "readings_rejected": ward.readings_rejected,
        "feed_alive": dashboard.settings.feed_alive(),
        "monitor_alerts_seen": ward.monitor_alerts_seen,
    }


@router.get("/api/snapshot", response_model=models.Snapshot)
def get_snapshot(dashboard: DashboardDep, patient_id: str | None = None) -> dict[str, Any]:
    """Every patient (or one), the alert feed, and the change number the stream follows."""
    return dashboard.snapshot(patient_id)


@router.get("/api/patients", response_model=list[models.Patient])
def list_patients(dashboard: DashboardDep) -> list[dict[str, Any]]:
    """Every patient's latest state, highest clinical risk first."""
    return dashboard.ward.patients()


# After the history router: this path would otherwise swallow '.../readings' too.
@router.get("/api/patients/{patient_id:path}", response_model=models.Patient)
def get_patient(patient_id: str, dashboard: DashboardDep) -> dict[str, Any]:
    """One patient's latest state (an id may hold any character, '/' too)."""
    found = dashboard.ward.patient(patient_id)
    if found is None:
        raise HTTPException(404, "no reading of this patient since the dashboard started")
    return found
