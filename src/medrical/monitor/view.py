"""A live ward view for the terminal: patients by risk, latest vitals, score, trend, last data.

The view is a `MonitorObserver`: the monitor's loop tells it about readings and alerts, and
rich's Live redraws it from another thread, hence the lock. It only displays what the engine
scored; the vitals shown are each parameter's latest value as it arrived, not a second
carry-forward.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from rich.console import Group
from rich.table import Table
from rich.text import Text

from medrical.monitor.alerts import Alert
from medrical.monitor.engine import ScoredReading
from medrical.monitor.events import VitalsEvent
from medrical.news2 import ClinicalRisk

TREND_WINDOW_MS = 15 * 60_000
"""The trend arrow compares the score with the one about this long ago, in event time."""
_RISK_STYLE = {
    ClinicalRisk.LOW: "green",
    ClinicalRisk.LOW_MEDIUM: "yellow",
    ClinicalRisk.MEDIUM: "dark_orange",
    ClinicalRisk.HIGH: "bold red",
}
_VITALS = (
    ("heart_rate", "HR", "{}"),
    ("systolic_bp", "SBP", "{}"),
    ("respiratory_rate", "RR", "{}"),
    ("spo2", "SpO2", "{}"),
    ("body_temperature", "Temp", "{:.1f}"),
    ("consciousness", "ACVPU", "{}"),
    ("on_oxygen", "O2", "{}"),
)


@dataclass
class PatientRow:
    patient_id: str
    topic: str
    score: int = 0
    risk: ClinicalRisk = ClinicalRisk.LOW
    complete: bool = True
    event_time: int = 0
    received: float = 0.0
    vitals: dict[str, object] = field(default_factory=dict)
    history: list[tuple[int, int]] = field(default_factory=list)
    last_alert: str = ""

    def trend(self) -> str:
        """Rising, falling or steady against the oldest score within the trend window."""
        if not self.history:
            return " "
        then = self.history[0][1]
        if self.score > then:
            return "↑"
        if self.score < then:
            return "↓"
        return "→"


class WardView:
    """Collects the latest state per patient and renders it as a rich table."""

    def __init__(self, max_rows: int = 40) -> None:
        self.max_rows = max_rows
        self._rows: dict[tuple[str, str], PatientRow] = {}
        self._lock = threading.Lock()
        self._readings = 0
        self._alerts = 0

    def reading(self, topic: str, event: VitalsEvent, scored: ScoredReading) -> None:
        with self._lock:
            self._readings += 1
            row = self._rows.get((topic, event.patient_id))
            if row is None:
                row = self._rows[(topic, event.patient_id)] = PatientRow(event.patient_id, topic)
            result = scored.score
            row.score, row.risk, row.complete = result.score, result.risk, result.complete
            row.event_time, row.received = event.event_time, time.monotonic()
            for name, _, _ in _VITALS:
                value = getattr(event, name)
                if value is not None:
                    row.vitals[name] = value
            row.history.append((event.event_time, result.score))
            while row.history and row.history[0][0] < event.event_time - TREND_WINDOW_MS:
                row.history.pop(0)

    def alert(self, topic: str, alert: Alert) -> None:
        with self._lock:
            self._alerts += 1
            row = self._rows.get((topic, alert.patient_id))
            if row is not None:
                row.last_alert = f"{alert.kind.value} {alert.risk.value}"

    def __rich__(self) -> Group:
        with self._lock:
            rows = sorted(self._rows.values(), key=lambda r: (-r.risk.rank, -r.score, r.patient_id))
            shown = [(r, dict(r.vitals), r.trend()) for r in rows[: self.max_rows]]
            total, readings, alerts = len(rows), self._readings, self._alerts
        now = time.monotonic()
        table = Table(expand=False, header_style="bold")
        for heading in ("patient", "NEWS2", "", "risk", *(v[1] for v in _VITALS), "last", "alert"):
            table.add_column(heading, justify="right" if heading not in ("patient",) else "left")
        for row, vitals, trend in shown:
            style = _RISK_STYLE[row.risk]
            cells = []
            for name, _, fmt in _VITALS:
                value = vitals.get(name)
                if value is None:
                    cells.append("-")
                elif isinstance(value, bool):
                    cells.append("O2" if value else "air")
                else:
                    cells.append(fmt.format(value))
            table.add_row(
                row.patient_id,
                Text(f"{row.score}{'' if row.complete else '?'}", style=style),
                trend,
                Text(row.risk.value, style=style),
                *cells,
                f"{now - row.received:.0f} s",
                row.last_alert,
            )
        footer = Text(
            f"{total} patients ({min(total, self.max_rows)} shown), {readings} readings, "
            f"{alerts} alerts. '?' marks an incomplete score. Synthetic data; not for "
            "clinical use. Ctrl+C stops.",
            style="dim",
        )
        return Group(table, footer)
