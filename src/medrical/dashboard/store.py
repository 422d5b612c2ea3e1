"""What the dashboard keeps in and reads from PostgreSQL: acknowledgements (a table of its own),
a patient's readings across the sink's `biometrics_*` tables, and the monitor's `alerts_*`
tables when they exist (read column by column, whatever subset of columns they have).

Synchronous psycopg on a small connection pool (psycopg_pool): the web server calls these from
its thread pool, and a request borrows an open connection instead of paying for a new login.
The pool opens at the first request (constructors do no network I/O) and closes with the
server.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from medrical.config import MedricalConfig
from medrical.dashboard.ward import Ack
from medrical.errors import ServiceUnavailableError
from medrical.schemas import TOPIC_PATTERN

ACK_TABLE = "medrical_alert_acks"
ALERT_TABLE_PATTERN = re.compile(r"^alerts_[a-z0-9_]{1,40}$")
MAX_RAW_ROWS = 50_000
MAX_ALERT_ROWS = 1000
_TABLES_TTL_S = 30.0
POOL_SIZE = 4
# How long a request waits for a connection before PostgreSQL counts as unreachable.
POOL_WAIT_S = 10.0

# Columns the charts use, with the SQL type to stand in when an older table lacks one.
READING_COLUMNS = {
    "heart_rate": "integer",
    "systolic_bp": "integer",
    "diastolic_bp": "integer",
    "respiratory_rate": "integer",
    "spo2": "integer",
    "body_temperature": "double precision",
    "consciousness": "text",
    "on_oxygen": "boolean",
    "spo2_scale": "integer",
}
ALERT_TEXT_COLUMNS = ("kind", "risk", "message")
ALERT_TIME_COLUMNS = ("event_time", "raised_at")


@dataclass(frozen=True, slots=True)
class HistoryRows:
    """Rows in event-time order; `bucket_s` > 0 when each row averages that many seconds."""

    rows: list[dict[str, Any]]
    bucket_s: int
    truncated: bool = False


class AckStore(Protocol):
    def ensure_schema(self) -> None: ...

    def acknowledge(self, alert_id: str, acknowledged_by: str) -> tuple[Ack, bool]:
        """Store the first acknowledgement of an alert; return the stored one and whether it is
        new (a second acknowledgement keeps the first)."""
        ...

    def acks(self, alert_ids: Sequence[str]) -> dict[str, Ack]: ...

    def alert_exists(self, alert_id: str) -> bool:
        """Whether the monitor's tables hold an alert of this id."""
        ...


class HistoryStore(Protocol):
    def readings(
        self, patient_id: str, since_ms: int, until_ms: int, bucket_s: int
    ) -> HistoryRows: ...

    def alerts(self, patient_id: str, since_ms: int, until_ms: int) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    columns: dict[str, str]  # column name -> data_type

    def time_ms(self, column: str) -> sql.Composable:
        """The column as ms since the epoch (timestamps without zone hold UTC)."""
        kind = self.columns[column]
        ident = sql.Identifier(column)
        if kind.startswith("timestamp"):
            return sql.SQL("(extract(epoch from {}) * 1000)::bigint").format(ident)
        return sql.SQL("{}::bigint").format(ident)

    def time_from_ms(self, column: str) -> sql.Composable:
        """A placeholder for ms since the epoch, typed to compare with the column (and so use
        its index)."""
        kind = self.columns[column]
        if kind == "timestamp without time zone":
            return sql.SQL("(to_timestamp(%s / 1000.0) AT TIME ZONE 'UTC')")
        if kind.startswith("timestamp"):
            return sql.SQL("to_timestamp(%s / 1000.0)")
        return sql.SQL("%s")


class PostgresStore:
    """AckStore and HistoryStore on PostgreSQL."""

    def __init__(self, config: MedricalConfig) -> None:
        self._where = f"{config.postgres.host}:{config.postgres.port}/{config.postgres.database}"
        self._connect_kwargs = config.postgres.connect_kwargs()
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            kwargs=self._connect_kwargs,
            min_size=1,
            max_size=POOL_SIZE,
            open=False,
            name="dashboard",
        )
        self._opened = False
        # The pool retries a lost server by itself; a request that cannot get a connection
        # says so as a ServiceUnavailableError, so its reconnect warnings are not repeated.
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
        self._tables: dict[str, list[_Table]] = {}
        self._tables_read_at: dict[str, float] = {}
        self._lock = threading.Lock()

    @contextmanager
    def _connection(self, *, pooled: bool = True) -> Iterator[psycopg.Connection[Any]]:
        if not pooled:
            # A single login, so that a PostgreSQL that is down is named with libpq's reason.
            try:
                with psycopg.connect(**self._connect_kwargs) as conn:
                    yield conn
            except psycopg.OperationalError as exc:
                raise self._unreachable(exc) from exc
            return
        with self._lock:
            if not self._opened:
                self._pool.open(wait=False)
                self._opened = True
        try:
            with self._pool.connection(timeout=POOL_WAIT_S) as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise self._unreachable(exc) from exc

    def _unreachable(self, exc: Exception) -> ServiceUnavailableError:
        return ServiceUnavailableError(
            "PostgreSQL",
            f"cannot reach {self._where} ({str(exc).strip().splitlines()[0]}).",
            hint="Is the stack up (`medrical stack status`)?",
        )

    def close(self) -> None:
        """Close every pooled connection (the server's shutdown)."""
        self._pool.close()

    # --- acknowledgements ---------------------------------------------------------------------

    def ensure_schema(self) -> None:
        with self._connection(pooled=False) as conn:
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " alert_id text PRIMARY KEY,"
                    " acknowledged_by text NOT NULL,"
                    " acknowledged_at timestamptz NOT NULL DEFAULT now())"
                ).format(sql.Identifier(ACK_TABLE))
            )

    def acknowledge(self, alert_id: str, acknowledged_by: str) -> tuple[Ack, bool]:
        with self._connection() as conn:
            inserted = conn.execute(
                sql.SQL(
                    "INSERT INTO {} (alert_id, acknowledged_by) VALUES (%s, %s) "
                    "ON CONFLICT (alert_id) DO NOTHING"
                ).format(sql.Identifier(ACK_TABLE)),
                (alert_id, acknowledged_by),
            ).rowcount
            stored = self._select_acks(conn, [alert_id])
        return stored[alert_id], inserted == 1

    def acks(self, alert_ids: Sequence[str]) -> dict[str, Ack]:
        if not alert_ids:
            return {}
        with self._connection() as conn:
            return self._select_acks(conn, list(alert_ids))

    def alert_exists(self, alert_id: str) -> bool:
        with self._connection() as conn:
            for table in self._tables_like(conn, "alerts_"):
                if "alert_id" not in table.columns:
                    continue
                query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE alert_id = %s)").format(
                    sql.Identifier(table.name)
                )
                try:
                    found = conn.execute(query, (alert_id,)).fetchone()
                except psycopg.DatabaseError:
                    conn.rollback()  # a table of unexpected shape holds no alert of ours
                    continue
                if found is not None and found[0]:
                    return True
        return False

    @staticmethod
    def _select_acks(conn: psycopg.Connection[Any], alert_ids: list[str]) -> dict[str, Ack]:
        rows = conn.execute(
            sql.SQL(
                "SELECT alert_id, acknowledged_by,"
                " (extract(epoch from acknowledged_at) * 1000)::bigint"
                " FROM {} WHERE alert_id = ANY(%s)"
            ).format(sql.Identifier(ACK_TABLE)),
            (alert_ids,),
        ).fetchall()
        return {row[0]: Ack(row[0], row[1], int(row[2])) for row in rows}

    # --- history ------------------------------------------------------------------------------

    def _tables_like(self, conn: psycopg.Connection[Any], prefix: str) -> list[_Table]:
        with self._lock:
            read_at = self._tables_read_at.get(prefix)
            if read_at is not None and time.monotonic() - read_at < _TABLES_TTL_S:
                return self._tables[prefix]
        rows = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name LIKE %s",
            (prefix.replace("_", "\\_") + "%",),
        ).fetchall()
        columns: dict[str, dict[str, str]] = {}
        for table, column, data_type in rows:
            columns.setdefault(table, {})[column] = data_type
        pattern = TOPIC_PATTERN if prefix == "biometrics_" else ALERT_TABLE_PATTERN
        tables = [
            _Table(name, cols)
            for name, cols in sorted(columns.items())
            if pattern.fullmatch(name) and "patient_id" in cols and "event_time" in cols
        ]
        with self._lock:
            self._tables[prefix] = tables
            self._tables_read_at[prefix] = time.monotonic()
        return tables

    def readings(self, patient_id: str, since_ms: int, until_ms: int, bucket_s: int) -> HistoryRows:
        with self._connection() as conn:
            tables = self._tables_like(conn, "biometrics_")
            if not tables:
                return HistoryRows([], bucket_s)
            parts: list[sql.Composable] = []
            params: list[Any] = []
            for table in tables:
                selected = [sql.SQL("{} AS t_ms").format(table.time_ms("event_time"))]
                for column, kind in READING_COLUMNS.items():
                    if column in table.columns:
                        selected.append(
                            sql.SQL("{}::{} AS {}").format(
                                sql.Identifier(column), sql.SQL(kind), sql.Identifier(column)
                            )
                        )
                    else:
                        selected.append(
                            sql.SQL("NULL::{} AS {}").format(sql.SQL(kind), sql.Identifier(column))
                        )
                bound = table.time_from_ms("event_time")
                parts.append(
                    sql.SQL(
                        "SELECT {} FROM {} WHERE patient_id = %s "
                        "AND event_time >= {} AND event_time < {}"
                    ).format(sql.SQL(", ").join(selected), sql.Identifier(table.name), bound, bound)
                )
                params.extend([patient_id, since_ms, until_ms])
            union = sql.SQL(" UNION ALL ").join(parts)
            names = list(READING_COLUMNS)
            if bucket_s <= 0:
                query = sql.SQL("SELECT t_ms, {} FROM ({}) r ORDER BY t_ms LIMIT {}").format(
                    sql.SQL(", ").join(sql.Identifier(n) for n in names),
                    union,
                    sql.Literal(MAX_RAW_ROWS + 1),
                )
            else:
                query = sql.SQL(
                    "SELECT (t_ms / {ms}) * {ms} AS t_ms,"
                    " round(avg(heart_rate))::int, round(avg(systolic_bp))::int,"
                    " round(avg(diastolic_bp))::int, round(avg(respiratory_rate))::int,"
                    " round(avg(spo2))::int, round(avg(body_temperature)::numeric, 1)::float8,"
                    # Any level below Alert scores 3, so a bucket shows its worst one.
                    " CASE WHEN bool_or(consciousness <> 'A')"
                    " THEN max(consciousness) FILTER (WHERE consciousness <> 'A')"
                    " ELSE max(consciousness) END,"
                    " bool_or(on_oxygen), max(spo2_scale)"
                    " FROM ({union}) r GROUP BY 1 ORDER BY 1"
                ).format(ms=sql.Literal(bucket_s * 1000), union=union)
            rows = conn.execute(query, params).fetchall()
        truncated = bucket_s <= 0 and len(rows) > MAX_RAW_ROWS
        result = []
        for row in rows[:MAX_RAW_ROWS]:
            record: dict[str, Any] = {"patient_id": patient_id, "event_time": int(row[0])}
            record.update(zip(names, row[1:], strict=True))
            result.append(record)
        return HistoryRows(result, bucket_s, truncated)

    def alerts(self, patient_id: str, since_ms: int, until_ms: int) -> list[dict[str, Any]]:
        with self._connection() as conn:
            tables = [t for t in self._tables_like(conn, "alerts_") if "alert_id" in t.columns]
            found: list[dict[str, Any]] = []
            for table in tables:
                selected: list[sql.Composable] = [
                    sql.SQL("alert_id::text"),
                    sql.SQL("patient_id::text"),
                ]
                names = ["alert_id", "patient_id"]
                for column in ALERT_TEXT_COLUMNS:
                    if column in table.columns:
                        selected.append(sql.SQL("{}::text").format(sql.Identifier(column)))
                        names.append(column)
                if "score" in table.columns and table.columns["score"] in (
                    "integer",
                    "smallint",
                    "bigint",
                ):
                    selected.append(sql.SQL("score::int"))
                    names.append("score")
                for column in ALERT_TIME_COLUMNS:
                    if column in table.columns:
                        selected.append(table.time_ms(column))
                        names.append(column)
                bound = table.time_from_ms("event_time")
                query = sql.SQL(
                    "SELECT {} FROM {} WHERE patient_id = %s AND event_time >= {} "
                    "AND event_time < {} ORDER BY event_time DESC LIMIT {}"
                ).format(
                    sql.SQL(", ").join(selected),
                    sql.Identifier(table.name),
                    bound,
                    bound,
                    sql.Literal(MAX_ALERT_ROWS),
                )
                try:
                    rows = conn.execute(query, (patient_id, since_ms, until_ms)).fetchall()
                except psycopg.DatabaseError:
                    # A table of unexpected shape: skip it rather than lose the whole chart.
                    conn.rollback()
                    continue
                found.extend(dict(zip(names, row, strict=True)) for row in rows)
        return found
