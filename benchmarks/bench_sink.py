"""The JDBC sink on a running stack: drain rate, live freshness and a new topic's first row,
each against a baseline or a goal of the same run.

- drain:     a backlog of BACKLOG readings in a topic of 3 partitions, then a sink connector of
             this run's own applied (the configuration `medrical connector apply` makes);
             rows/s from its first stored row to its last, against a raw `COPY` (binary, in one
             transaction) of the very same rows into a table of the same shape, primary key
             included, measured right after;
- live:      `--rate` readings/s (10,000 by default: as many patients, one reading a second
             each) for `--live` seconds after a warm-up; every 100 ms, the age of the newest
             stored row (now minus its event time, which is stamped when the reading is handed
             to the producer), against the age of the newest reading handed to the producer at
             the same instants (what the producer alone adds);
- new topic: seconds from a new topic's first event to its first stored row, with the
             connector running, then again right after `connector apply` changed the
             connector's configuration (its topics regex); the goal is 15 s.

`--flavor debezium` measures Debezium's JDBC sink instead of Medrical's COPY sink; `--set
KEY=VALUE` overrides one connector setting (repeatable), to compare a tuning with the shipped
one. The stack comes from the usual configuration (by default the local stack of
`medrical stack up`); the run removes its connector, topics and tables at the end.

    .venv/bin/python benchmarks/bench_sink.py [--backlog 200000] [--rate 10000] [--live 30]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql

from medrical.config import MedricalConfig, load_config
from medrical.producing import BiometricsProducer
from medrical.producing.topics import delete_topic, ensure_topic
from medrical.reliability import SteadyLoad
from medrical.simulation import Reading, Simulator
from medrical.sink import ConnectClient
from medrical.sink.deploy import connector_config, deploy_connector, remove_connector
from medrical.waiting import poll

START_MS = 1_767_225_600_000
SAMPLE_S = 0.1
NEW_TOPIC_GOAL_S = 15.0


def say(line: str) -> None:
    """Progress to stderr: stdout holds the figures (or the JSON)."""
    print(line, file=sys.stderr, flush=True)


def connect(config: MedricalConfig) -> psycopg.Connection[Any]:
    return psycopg.connect(**config.postgres.connect_kwargs(), autocommit=True)


def row_count(conn: psycopg.Connection[Any], table: str) -> int | None:
    """Rows in `table`; None while it does not exist."""
    exists = conn.execute("SELECT to_regclass(%s)", (f'public."{table}"',)).fetchone()
    if exists is None or exists[0] is None:
        return None
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
    return int(row[0]) if row else 0


def has_rows(conn: psycopg.Connection[Any], table: str) -> bool:
    exists = conn.execute("SELECT to_regclass(%s)", (f'public."{table}"',)).fetchone()
    if exists is None or exists[0] is None:
        return False
    query = sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier(table))
    return conn.execute(query).fetchone() is not None


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


# --- drain ---------------------------------------------------------------------------------


def produce_backlog(config: MedricalConfig, topic: str, count: int) -> None:
    ensure_topic(config, topic)
    readings = Simulator(1000, 1, "mix", start_ms=START_MS).readings()
    with BiometricsProducer(config, topic) as producer:
        for _ in range(count):
            producer.send(next(readings).to_record())
        assert producer.flush(120) == 0, "backlog undelivered"
    assert producer.stats.failed == 0


def drain(
    config: MedricalConfig,
    client: ConnectClient,
    name: str,
    conf: dict[str, str],
    topic: str,
    count: int,
) -> dict[str, float]:
    """Apply the connector to a backlog and time it from its first stored row to its last."""
    with connect(config) as conn:
        applied = time.monotonic()
        deploy_connector(client, name, conf, report=say)
        first_count = poll(
            lambda: row_count(conn, topic) or 0, timeout_s=120, interval_s=0.05, done=bool
        )
        first = time.monotonic()
        assert first_count, "no row within 120 s of `connector apply`"
        stored = poll(
            lambda: row_count(conn, topic) or 0,
            timeout_s=600,
            interval_s=0.2,
            done=lambda n: n >= count,
        )
        done = time.monotonic()
        distinct = conn.execute(
            sql.SQL("SELECT count(DISTINCT (patient_id, event_time)) FROM {}").format(
                sql.Identifier(topic)
            )
        ).fetchone()
    assert stored == count, f"{stored} rows stored for {count} readings ({distinct} distinct)"
    return {
        "rows": count,
        "rows_per_s": (count - first_count) / (done - first),
        "apply_to_first_row_s": first - applied,
        "apply_to_last_row_s": done - applied,
    }


def raw_copy(config: MedricalConfig, table: str) -> float:
    """Rows/s of a binary COPY of `table`'s rows into a fresh table of the same shape."""
    copy_table = f"{table}_copy"
    source, target = sql.Identifier(table), sql.Identifier(copy_table)
    with psycopg.connect(**config.postgres.connect_kwargs()) as conn:
        data = bytearray()
        with conn.cursor().copy(sql.SQL("COPY {} TO STDOUT (FORMAT binary)").format(source)) as out:
            for chunk in out:
                data += chunk
        rows = row_count(conn, table) or 0
        conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(target, source))
        conn.commit()
        started = time.perf_counter()
        with conn.cursor().copy(
            sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(target)
        ) as into:
            for offset in range(0, len(data), 1 << 20):
                into.write(data[offset : offset + (1 << 20)])
        conn.commit()
        elapsed = time.perf_counter() - started
        assert row_count(conn, copy_table) == rows
    return rows / elapsed


# --- live ----------------------------------------------------------------------------------


class Stamped:
    """The simulator's readings with the event time set to the moment each is handed to the
    producer, so that a stored row's age is how long ago it was sent; keeps the newest."""

    def __init__(self, readings: Iterator[Reading]) -> None:
        self._readings = readings
        self.newest_ms = 0

    def __iter__(self) -> Iterator[Reading]:
        for reading in self._readings:
            # One reading a second per patient: a millisecond stamp is unique per patient.
            now_ms = time.time_ns() // 1_000_000
            self.newest_ms = now_ms
            yield dataclasses.replace(reading, event_time=now_ms)


def newest_stored_ms(conn: psycopg.Connection[Any], table: str) -> int | None:
    query = sql.SQL("SELECT (extract(epoch FROM max(event_time)) * 1000)::bigint FROM {}")
    row = conn.execute(query.format(sql.Identifier(table))).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def live(
    config: MedricalConfig, topic: str, *, rate: int, seconds: float, warm_up_s: float = 5.0
) -> dict[str, float]:
    ensure_topic(config, topic)
    simulator = Simulator(rate, 2, "mix", interval_s=1.0)
    simulator.patients  # noqa: B018 - drawn before the clock starts
    stamped = Stamped(simulator.readings())
    stored_ages: list[float] = []
    sent_ages: list[float] = []
    with connect(config) as conn, SteadyLoad(config, topic, stamped, rate=rate) as load:
        poll(lambda: has_rows(conn, topic), timeout_s=120, interval_s=0.1)
        # The probe's own index, so that each sample reads the newest row, not the table.
        conn.execute(sql.SQL("CREATE INDEX ON {} (event_time)").format(sql.Identifier(topic)))
        threading.Event().wait(warm_up_s)
        sent_before = load.sent()
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            newest = newest_stored_ms(conn, topic)
            now_ms = time.time_ns() // 1_000_000
            if newest is not None:
                stored_ages.append((now_ms - newest) / 1000)
                sent_ages.append((now_ms - stamped.newest_ms) / 1000)
            threading.Event().wait(SAMPLE_S)
        sent_rate = (load.sent() - sent_before) / (time.monotonic() - started)
    return {
        "sent_per_s": sent_rate,
        "samples": len(stored_ages),
        "stored_age_p50_s": statistics.median(stored_ages),
        "stored_age_p99_s": percentile(stored_ages, 0.99),
        "stored_age_max_s": max(stored_ages),
        "sent_age_p50_s": statistics.median(sent_ages),
        "sent_age_p99_s": percentile(sent_ages, 0.99),
    }


# --- new topics ----------------------------------------------------------------------------


def first_row_after_first_event(config: MedricalConfig, topic: str) -> float:
    """Seconds from the first event sent to a new topic until its first stored row."""
    ensure_topic(config, topic)
    stamped = Stamped(Simulator(50, 3, "mix", interval_s=0.5).readings())
    with connect(config) as conn, SteadyLoad(config, topic, stamped, rate=100) as load:
        poll(load.sent, timeout_s=30, interval_s=0.001)
        first_event = time.monotonic()
        seen = poll(lambda: has_rows(conn, topic), timeout_s=180, interval_s=0.1)
        first_row = time.monotonic()
    assert seen, f"no row of {topic} within 180 s"
    return first_row - first_event


# --- the run -------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=200_000)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--live", type=float, default=30.0, help="seconds sampled live")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--flavor", choices=["copy", "debezium"], default="copy", help="which sink (copy)"
    )
    parser.add_argument("--skip", action="append", default=[], choices=["drain", "live", "new"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    config = load_config()
    run = uuid.uuid4().hex[:6]
    prefix = f"biometrics_bench{run}_"
    regex = f"{prefix}(.*)"
    name = f"medrical-bench-sink-{run}"
    conf = connector_config(config, flavor=args.flavor, topics_regex=regex)
    for setting in args.set:
        key, _, value = setting.partition("=")
        conf[key] = value
    topics: list[str] = []
    figures: dict[str, Any] = {
        "flavor": args.flavor,
        "settings": dict(s.partition("=")[::2] for s in args.set),
    }
    with ConnectClient(config.connect) as client:
        # A sink already applied to every biometrics_* topic (as `demo` leaves it) would store
        # this run's topics too, into the same tables, beside the connector measured here.
        paused = client.storing(prefix + "drain")
        for other in paused:
            say(f"pausing {other} for the run (it takes this run's topics too)")
            client.pause(other)
        try:
            if "drain" not in args.skip:
                topic = prefix + "drain"
                topics.append(topic)
                say(f"producing a backlog of {args.backlog:,} readings")
                produce_backlog(config, topic, args.backlog)
                figures["drain"] = drain(config, client, name, conf, topic, args.backlog)
                figures["drain"]["copy_rows_per_s"] = raw_copy(config, topic)
                topics.append(f"{topic}_copy")
            else:
                deploy_connector(client, name, conf, report=say)
            if "live" not in args.skip:
                topic = prefix + "live"
                topics.append(topic)
                say(f"live at {args.rate:,} readings/s")
                figures["live"] = live(config, topic, rate=args.rate, seconds=args.live)
            if "new" not in args.skip:
                topics.append(prefix + "new")
                say("a new topic, the connector running")
                running = first_row_after_first_event(config, prefix + "new")
                # What `connector apply --topics-regex ...` does, then at once a new topic.
                changed = conf | {"topics.regex": f"{regex}|{prefix}other_(.*)"}
                deploy_connector(client, name, changed, report=say)
                topics.append(prefix + "afterapply")
                say("a new topic right after `connector apply` changed the configuration")
                after_apply = first_row_after_first_event(config, prefix + "afterapply")
                figures["new_topic"] = {"running_s": running, "after_apply_s": after_apply}
        finally:
            remove_connector(client, name)
            cleanup(config, topics)
            for other in paused:
                client.resume(other)
    print(json.dumps(figures, indent=2) if args.json else report(figures))
    return 0


def cleanup(config: MedricalConfig, topics: list[str]) -> None:
    with connect(config) as conn:
        for table in topics:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
    for topic in topics:
        if not topic.endswith("_copy"):
            try:
                delete_topic(config, topic)
            except Exception as exc:  # a leftover topic is no failed run
                say(f"could not delete {topic}: {exc}")


def report(figures: dict[str, Any]) -> str:
    lines = [f"sink: {figures['flavor']}"]
    if figures["settings"]:
        lines.append(
            "settings over the shipped ones: "
            + ", ".join(f"{k}={v}" for k, v in figures["settings"].items())
        )
    if "drain" in figures:
        d = figures["drain"]
        lines += [
            f"drain of {d['rows']:,} rows",
            f"  raw COPY (baseline)        {d['copy_rows_per_s']:>10,.0f} rows/s  1.00",
            f"  {figures['flavor'] + ' sink':<27}{d['rows_per_s']:>10,.0f} rows/s  "
            f"{d['rows_per_s'] / d['copy_rows_per_s']:.2f}x  (goal 0.35x)",
            f"  apply to first row {d['apply_to_first_row_s']:.1f} s, "
            f"to last row {d['apply_to_last_row_s']:.1f} s",
        ]
    if "live" in figures:
        v = figures["live"]
        lines += [
            f"live at {v['sent_per_s']:,.0f} readings/s sent, {v['samples']} samples",
            f"  newest reading sent (baseline) age p50 {v['sent_age_p50_s']:.2f} s, "
            f"p99 {v['sent_age_p99_s']:.2f} s",
            f"  newest stored row          age p50 {v['stored_age_p50_s']:.2f} s, "
            f"p99 {v['stored_age_p99_s']:.2f} s (goal 1 s), max {v['stored_age_max_s']:.2f} s",
        ]
    if "new_topic" in figures:
        n = figures["new_topic"]
        lines += [
            "new topic, first event to first row (goal 15 s)",
            f"  connector running          {n['running_s']:.1f} s",
            f"  right after connector apply {n['after_apply_s']:.1f} s",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
