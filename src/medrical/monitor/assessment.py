"""Inputs for `evaluation.evaluate`: a simulated ward run in-process, or what the sinks stored.

Evaluation only looks at each patient's first and last reading and where their scenario label
changes, so both sources keep just those "boundary" readings instead of every reading: twelve
hours of a hundred patients at one reading a second stay a few hundred records.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from medrical.config import MedricalConfig
from medrical.errors import InputError, ServiceUnavailableError
from medrical.monitor.alerts import Alert, AlertKind
from medrical.monitor.engine import AlertEngine
from medrical.monitor.evaluation import LabelledReading, ScenarioReport, evaluate
from medrical.monitor.events import reading_fields
from medrical.monitor.policy import AlertPolicy
from medrical.monitor.records import alerts_topic_for
from medrical.news2 import ClinicalRisk
from medrical.simulation import FIELD_NAMES, Simulator

HOUR_MS = 3_600_000
MAX_HOURS = 366 * 24
DEFAULT_IGNORED = frozenset({"recovery"})


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An alert as evaluation needs it, e.g. read back from the alerts table."""

    patient_id: str
    kind: AlertKind
    risk: ClinicalRisk
    event_time: int


class BoundaryReadings:
    """Keeps each patient's first reading, every label change, and their last reading."""

    def __init__(self) -> None:
        self._kept: list[LabelledReading] = []
        self._last: dict[str, LabelledReading] = {}
        self._last_kept: dict[str, LabelledReading] = {}

    def add(self, reading: LabelledReading) -> None:
        kept = self._last_kept.get(reading.patient_id)
        if kept is None or kept.scenario != reading.scenario:
            self._kept.append(reading)
            self._last_kept[reading.patient_id] = reading
        self._last[reading.patient_id] = reading

    def readings(self) -> list[LabelledReading]:
        tails = [r for p, r in self._last.items() if self._last_kept[p] is not r]
        return self._kept + tails


@dataclass(frozen=True)
class Assessment:
    """A report and what it was computed from."""

    source: str
    readings: int
    alerts: int
    reports: dict[str, ScenarioReport]


def simulate(
    simulator: Simulator,
    hours: float,
    *,
    policy: AlertPolicy | None = None,
    ignored_scenarios: frozenset[str] = DEFAULT_IGNORED,
) -> Assessment:
    """Run the simulator's stream for `hours` of event time through one engine, in-process.

    `raised_at` is the event time itself: no pipeline, so delays are the policy's alone.
    """
    policy = policy if policy is not None else AlertPolicy()
    result = simulate_each(simulator, hours, [policy], ignored_scenarios=ignored_scenarios)
    return result[policy.scoring.name]


def simulate_each(
    simulator: Simulator,
    hours: float,
    policies: Sequence[AlertPolicy],
    *,
    ignored_scenarios: frozenset[str] = DEFAULT_IGNORED,
) -> dict[str, Assessment]:
    """Like `simulate`, with every policy scoring the same stream; keyed by scoring name."""
    if not (math.isfinite(hours) and 0 < hours <= MAX_HOURS):
        raise InputError(
            f"the simulated time must be positive and at most {MAX_HOURS} hours (a year), "
            f"not {hours!r}."
        )
    end = simulator.start_ms + round(hours * HOUR_MS)
    records = (
        reading.to_record()
        for reading in itertools.takewhile(lambda r: r.event_time < end, simulator.readings())
    )
    source = (
        f"simulated: {len(simulator.patients)} patients, {hours:g} h, one reading per "
        f"{simulator.interval_s:g} s, seed {simulator.seed}"
    )
    return _score_each(records, policies, source, ignored_scenarios)


def _score_each(
    records: Iterable[Mapping[str, object]],
    policies: Sequence[AlertPolicy],
    source: str,
    ignored_scenarios: frozenset[str],
) -> dict[str, Assessment]:
    """Score the records (in event-time order) with an engine per policy, and evaluate each."""
    engines = [(p.scoring.name, AlertEngine(p)) for p in policies]
    alerts: dict[str, list[Alert]] = {name: [] for name, _ in engines}
    boundaries = BoundaryReadings()
    count = 0
    for record in records:
        fields = reading_fields(record)
        now = fields[1]
        for name, engine in engines:
            raised = engine.process_fields(fields, raised_at=now)
            if raised:
                alerts[name].extend(raised)
        onset = record.get("onset_time")
        boundaries.add(
            LabelledReading(fields[0], now, fields[9], onset if isinstance(onset, int) else None)
        )
        count += 1
    labelled = boundaries.readings()
    return {
        name: Assessment(
            source,
            count,
            len(alerts[name]),
            evaluate(labelled, alerts[name], ignored_scenarios=ignored_scenarios),
        )
        for name, _ in engines
    }


def from_postgres(
    config: MedricalConfig,
    topic: str,
    *,
    ignored_scenarios: frozenset[str] = DEFAULT_IGNORED,
) -> Assessment:
    """Read the readings table of `topic` and its alerts table, as the sinks filled them."""
    readings_table, alerts_table = topic, alerts_topic_for(topic)
    boundaries = BoundaryReadings()
    alerts: list[StoredAlert] = []
    count = 0
    epoch_ms = sql.SQL("(extract(epoch from event_time) * 1000)::bigint")
    try:
        with psycopg.connect(**config.postgres.connect_kwargs()) as conn:
            for table in (readings_table, alerts_table):
                found = conn.execute("SELECT to_regclass(%s)", (f'public."{table}"',)).fetchone()
                if found is None or found[0] is None:
                    raise InputError(
                        f"PostgreSQL has no table {table!r}.",
                        hint="Did the sinks store that topic (`medrical monitor` applies the "
                        "alerts sink)? Or evaluate offline with --simulate.",
                    )
            # Tables filled before readings carried their onset lack the column: their
            # onsets come from the labels instead.
            has_onset = conn.execute(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = 'public' "
                "AND table_name = %s AND column_name = 'onset_time'",
                (readings_table,),
            ).fetchone()
            onset_ms = (
                sql.SQL("(extract(epoch from onset_time) * 1000)::bigint")
                if has_onset
                else sql.SQL("NULL::bigint")
            )
            query = sql.SQL(
                "SELECT patient_id, {}, scenario, {} FROM {} ORDER BY patient_id, event_time"
            ).format(epoch_ms, onset_ms, sql.Identifier(readings_table))
            with conn.cursor(name="medrical_evaluate") as cursor:
                cursor.itersize = 10_000
                cursor.execute(query)
                for patient_id, event_time, scenario, onset_time in cursor:
                    onset = None if onset_time is None else int(onset_time)
                    boundaries.add(LabelledReading(patient_id, int(event_time), scenario, onset))
                    count += 1
            query = sql.SQL("SELECT patient_id, kind, risk, {} FROM {}").format(
                epoch_ms, sql.Identifier(alerts_table)
            )
            for patient_id, kind, risk, event_time in conn.execute(query):
                alerts.append(
                    StoredAlert(patient_id, AlertKind(kind), ClinicalRisk(risk), int(event_time))
                )
    except psycopg.OperationalError as exc:
        raise ServiceUnavailableError(
            "PostgreSQL",
            f"cannot read the stored readings ({exc}).",
            hint="Is PostgreSQL up (`medrical stack status`)?",
        ) from exc
    reports = evaluate(boundaries.readings(), alerts, ignored_scenarios=ignored_scenarios)
    source = f"PostgreSQL tables {readings_table} and {alerts_table}"
    return Assessment(source, count, len(alerts), reports)


# Every stored field but the identity and the two times, which are read as milliseconds.
_VITALS = tuple(
    name for name in FIELD_NAMES if name not in ("patient_id", "event_time", "onset_time")
)


def rescore_postgres(
    config: MedricalConfig,
    topic: str,
    policies: Sequence[AlertPolicy],
    *,
    ignored_scenarios: frozenset[str] = DEFAULT_IGNORED,
) -> dict[str, Assessment]:
    """Score the stored readings of `topic` anew with every policy, in event-time order.

    Unlike `from_postgres` this reads every reading (not the stored alerts): a policy that did
    not run on the stream is judged on the very readings the monitor saw.
    """
    table = topic
    try:
        with psycopg.connect(**config.postgres.connect_kwargs()) as conn:
            columns = {
                row[0]
                for row in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND table_name = %s",
                    (table,),
                )
            }
            if not columns:
                raise InputError(
                    f"PostgreSQL has no table {table!r}.",
                    hint="Did the sink store that topic? Or evaluate offline with --simulate.",
                )
            selected = [
                sql.SQL("(extract(epoch from event_time) * 1000)::bigint"),
                sql.SQL(
                    "(extract(epoch from onset_time) * 1000)::bigint"
                    if "onset_time" in columns
                    else "NULL::bigint"
                ),
                *(sql.Identifier(name) for name in ("patient_id", *_VITALS)),
            ]
            query = sql.SQL("SELECT {} FROM {} ORDER BY event_time, patient_id").format(
                sql.SQL(", ").join(selected), sql.Identifier(table)
            )
            with conn.cursor(name="medrical_rescore") as cursor:
                cursor.itersize = 10_000
                cursor.execute(query)
                records = (
                    {
                        "event_time": int(row[0]),
                        "onset_time": None if row[1] is None else int(row[1]),
                        **dict(zip(("patient_id", *_VITALS), row[2:], strict=True)),
                    }
                    for row in cursor
                )
                return _score_each(
                    records, policies, f"PostgreSQL table {table}, scored anew", ignored_scenarios
                )
    except psycopg.OperationalError as exc:
        raise ServiceUnavailableError(
            "PostgreSQL",
            f"cannot read the stored readings ({exc}).",
            hint="Is PostgreSQL up (`medrical stack status`)?",
        ) from exc


def report_rows(reports: Iterable[ScenarioReport]) -> Iterator[dict[str, Any]]:
    for report in reports:
        yield {
            "scenario": report.scenario,
            "patients": report.patients,
            "deteriorating": report.deteriorating,
            "detected": report.detected,
            "missed": report.missed,
            "median_delay_s": report.median_delay_s,
            "max_delay_s": report.max_delay_s,
            "false_alerts": report.false_alerts,
            "stable_patient_hours": round(report.stable_patient_hours, 3),
            "false_alerts_per_patient_hour": report.false_alerts_per_patient_hour,
        }


def as_json(assessment: Assessment) -> str:
    return json.dumps(
        {
            "source": assessment.source,
            "readings": assessment.readings,
            "alerts": assessment.alerts,
            "scenarios": list(report_rows(assessment.reports.values())),
            "note": "Synthetic data; not for clinical use.",
        },
        indent=2,
    )


def as_text(assessment: Assessment) -> str:
    def number(value: float | None, digits: int = 0) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    header = (
        f"{'scenario':<20} {'patients':>8} {'deterio':>7} {'detected':>8} {'missed':>6} "
        f"{'median s':>8} {'max s':>7} {'false':>5} {'stable h':>8} {'false/h':>7}"
    )
    lines = [
        f"Alert quality ({assessment.source}; {assessment.readings} readings, "
        f"{assessment.alerts} alerts)",
        header,
    ]
    for r in assessment.reports.values():
        lines.append(
            f"{r.scenario:<20} {r.patients:>8} {r.deteriorating:>7} {r.detected:>8} "
            f"{r.missed:>6} {number(r.median_delay_s):>8} {number(r.max_delay_s):>7} "
            f"{r.false_alerts:>5} {r.stable_patient_hours:>8.1f} "
            f"{number(r.false_alerts_per_patient_hour, 3):>7}"
        )
    lines.append(
        "Delays: from a deteriorating patient's onset (when their deterioration began, or "
        "their first reading if later) to the first medium or high alert, in event time. "
        "Synthetic data; not for clinical use."
    )
    return "\n".join(lines)
