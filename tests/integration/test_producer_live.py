"""The producer on the real engines: its own Avro encoder against the real registry, read back
by confluent-kafka's AvroDeserializer, and `produce --workers` and `--shard` splitting one
ward."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from medrical import schemas
from medrical.config import MedricalConfig
from medrical.producing import BiometricsProducer
from medrical.producing.topics import delete_topic, ensure_topic
from medrical.schemas.registry import avro_encoder, avro_serializer, registry_client
from medrical.simulation import Simulator
from medrical.topic_reading import messages_in, read_to_end
from tests.integration.helpers import START_MS, cli_env, unique_topic, wait_for

pytestmark = pytest.mark.integration


def read_topic(config: MedricalConfig, topic: str) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of `topic`, read from the start of each partition to its end."""
    return [
        (message.key() or b"", message.value() or b"")
        for message in read_to_end(config, topic, timeout_s=60)
    ]


def as_sent(decoded: dict[str, Any]) -> dict[str, Any]:
    """A record as AvroDeserializer returns it, back in the shape it was sent: event and onset
    times in milliseconds, the float32 temperature rounded to its 0.1 resolution."""
    record = dict(decoded)
    record["event_time"] = round(decoded["event_time"].timestamp() * 1000)
    if record.get("onset_time") is not None:
        record["onset_time"] = round(decoded["onset_time"].timestamp() * 1000)
    if record["body_temperature"] is not None:
        record["body_temperature"] = round(record["body_temperature"], 1)
    return record


def test_encoder_registers_like_avro_serializer_on_the_real_registry(
    live_config: MedricalConfig,
) -> None:
    topic = unique_topic("enc")
    text = schemas.schema_text(schemas.BIOMETRICS_VALUE)
    registry = registry_client(live_config)
    try:
        ours = avro_encoder(registry, live_config.registry.url, text, topic, "value")
        theirs = avro_serializer(registry, text)
        context = SerializationContext(topic, MessageField.VALUE)
        simulator = Simulator(10, 4, "mix", start_ms=START_MS, cadence="ward")
        records = [r.to_record() for r in itertools.islice(simulator.readings(), 200)]
        for record in records:
            assert ours(record) == theirs(record, context)
        assert ours.schema_id == registry.get_latest_version(f"{topic}-value").schema_id
        # A client that knows nothing of our caches reads it from the registry itself.
        fresh = registry_client(live_config)
        try:
            deserialize = AvroDeserializer(fresh)
            for record in records:
                decoded = deserialize(ours(record), context)
                assert isinstance(decoded, dict)
                assert as_sent(decoded) == record
        finally:
            fresh.close()
        registry.delete_subject(f"{topic}-value")
    finally:
        registry.close()


def test_every_sent_reading_is_stored_once_and_reads_back(live_config: MedricalConfig) -> None:
    topic = unique_topic("send")
    ensure_topic(live_config, topic)
    simulator = Simulator(25, 9, "mix", start_ms=START_MS, artifact_rate=0.01)
    records = [r.to_record() for r in itertools.islice(simulator.readings(), 5000)]
    try:
        with BiometricsProducer(live_config, topic) as producer:
            for record in records:
                producer.send(record)
            assert producer.flush() == 0
        assert (producer.stats.sent, producer.stats.delivered, producer.stats.failed) == (
            5000,
            5000,
            0,
        )
        registry = registry_client(live_config)
        try:
            values = AvroDeserializer(registry)
            keys = AvroDeserializer(registry)
            value_context = SerializationContext(topic, MessageField.VALUE)
            key_context = SerializationContext(topic, MessageField.KEY)
            back = []
            for key, value in read_topic(live_config, topic):
                record = values(value, value_context)
                assert isinstance(record, dict)
                assert keys(key, key_context) == {"patient_id": record["patient_id"]}
                back.append(as_sent(record))
        finally:
            registry.close()
        order = ("event_time", "patient_id")
        assert sorted(back, key=lambda r: [r[k] for k in order]) == sorted(
            records, key=lambda r: [r[k] for k in order]
        )
    finally:
        delete_topic(live_config, topic)


# --- produce --workers: one ward from several processes ---------------------------------------

WARD_FLAGS = ("--patients", "20", "--scenario", "mix", "--start", "2026-01-01T00:00:00Z")


class Produce:
    """`medrical produce ...` as a child process, its stderr collected as it comes."""

    def __init__(self, config: MedricalConfig, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "medrical", "produce", *args],
            env=cli_env(config),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def wait_for_line(self, text: str, timeout_s: float = 120) -> None:
        wait_for(
            lambda: True if any(text in line for line in self.lines) else None,
            timeout_s=timeout_s,
            interval_s=0.2,
            what=f"{text!r} on stderr",
        )

    def finish(self, timeout_s: float = 120) -> tuple[int, str]:
        """Wait for the exit; the exit code and the whole stderr."""
        self.process.wait(timeout=timeout_s)
        self._reader.join(timeout=30)
        return self.process.returncode, "".join(self.lines)

    def __enter__(self) -> Produce:
        return self

    def __exit__(self, *_exc: object) -> None:
        """Whatever happened, nothing of this run stays behind: its workers and itself are
        stopped by their PIDs."""
        if self.process.poll() is None:
            for pid in worker_pids(self.process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.kill()
            self.process.wait(timeout=30)
        self._reader.join(timeout=30)
        assert self.process.stderr is not None
        self.process.stderr.close()


def worker_pids(parent: int) -> list[int]:
    """The PIDs of the `produce --workers` processes a parent started."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent_of = int(stat.rsplit(")", 1)[1].split()[1])
        if parent_of == parent and b"spawn_main" in command:
            pids.append(int(entry.name))
    return pids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes: it only waits to be collected by its parent.
    return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()


def stored_readings(config: MedricalConfig, topic: str) -> list[dict[str, Any]]:
    registry = registry_client(config)
    try:
        values = AvroDeserializer(registry)
        context = SerializationContext(topic, MessageField.VALUE)
        readings = []
        for _key, value in read_topic(config, topic):
            decoded = values(value, context)
            assert isinstance(decoded, dict)
            readings.append(as_sent(decoded))
        return readings
    finally:
        registry.close()


def ward_series(seed: int, rounds: int) -> dict[str, list[dict[str, Any]]]:
    """Each patient's readings in the undisturbed, unsharded ward, in order."""
    simulator = Simulator(20, seed, "mix", start_ms=START_MS)
    series: dict[str, list[dict[str, Any]]] = {}
    for reading in itertools.islice(simulator.readings(), 20 * rounds):
        series.setdefault(reading.patient_id, []).append(reading.to_record())
    return series


def whole_ward(seed: int, rounds: int) -> list[dict[str, Any]]:
    """The unsharded ward's first `rounds` rounds, every patient's readings."""
    return [record for series in ward_series(seed, rounds).values() for record in series]


def in_ward_order(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda record: (record["event_time"], record["patient_id"]))


def assert_each_patient_a_prefix_once(stored: list[dict[str, Any]], seed: int) -> None:
    """Every stored reading once, and each patient's readings a gapless start of its series
    in the undisturbed ward: nothing lost before the stop, nothing doubled."""
    mine: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(stored, key=lambda r: r["event_time"]):
        mine.setdefault(record["patient_id"], []).append(record)
    longest = max(len(series) for series in mine.values())
    expected = ward_series(seed, longest)
    assert set(mine) == set(expected)  # both workers' patients are there
    for patient, series in mine.items():
        assert series == expected[patient][: len(series)], patient


def wait_for_messages(config: MedricalConfig, topic: str, count: int) -> None:
    wait_for(
        lambda: True if messages_in(config, topic) >= count else None,
        timeout_s=120,
        what=f"{count} messages on {topic}",
    )


def test_two_workers_produce_the_ward_every_reading_once(live_config: MedricalConfig) -> None:
    topic = unique_topic("workers")
    ensure_topic(live_config, topic)
    try:
        with Produce(
            live_config, "--topic", topic, "--workers", "2", "--seed", "5", *WARD_FLAGS,
            "--count", "6000", "--speed", "max",
        ) as run:  # fmt: skip
            code, err = run.finish()
        assert code == 0, err
        assert f"{topic}: 2 workers: 6000 sent, 6000 delivered, 0 failed" in err
        assert "(--count 6000 reached)" in err
        stored = stored_readings(live_config, topic)
        # 300 rounds of 20 patients, 3000 events from each worker's 10: the ward's first 6000.
        assert in_ward_order(stored) == in_ward_order(whole_ward(5, 300))
    finally:
        delete_topic(live_config, topic)


def test_shards_on_two_machines_send_the_unsharded_ward(live_config: MedricalConfig) -> None:
    # Two machines at once, each with a topic of its own to tell their readings apart; the
    # first splits its shard again among two workers.
    machines = {"1/2": ("--workers", "2"), "2/2": ()}
    topics = {shard: unique_topic("shard") for shard in machines}
    for topic in topics.values():
        ensure_topic(live_config, topic)
    try:
        with contextlib.ExitStack() as runs:
            started = [
                runs.enter_context(
                    Produce(
                        live_config, "--topic", topics[shard], "--shard", shard, "--seed", "9",
                        *WARD_FLAGS, *flags, "--count", "3000", "--speed", "max",
                    )
                )
                for shard, flags in machines.items()
            ]  # fmt: skip
            for run in started:
                code, err = run.finish()
                assert code == 0, err
                assert "3000 sent, 3000 delivered, 0 failed" in err, err
        stored = {shard: stored_readings(live_config, topic) for shard, topic in topics.items()}
        first, second = ({r["patient_id"] for r in readings} for readings in stored.values())
        assert len(first) == len(second) == 10
        assert not first & second
        # Each machine's 10 patients, 300 rounds: together the unsharded ward's first 6000.
        union = [record for readings in stored.values() for record in readings]
        assert in_ward_order(union) == in_ward_order(whole_ward(9, 300))
    finally:
        for topic in topics.values():
            delete_topic(live_config, topic)


@contextlib.contextmanager
def endless_ward(
    config: MedricalConfig, topic: str, *, seed: int
) -> Iterator[tuple[Produce, list[int]]]:
    """Two workers producing a ward at 3000 events/s until stopped, once both produce; yields
    the run and the workers' PIDs."""
    with Produce(
        config, "--topic", topic, "--workers", "2", "--seed", str(seed), *WARD_FLAGS,
        "--rate", "3000",
    ) as run:  # fmt: skip
        run.wait_for_line("all 2 workers are producing")
        workers = worker_pids(run.process.pid)
        assert len(workers) == 2
        yield run, workers


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT"])
def test_a_signal_stops_every_worker_cleanly(live_config: MedricalConfig, how: str) -> None:
    topic = unique_topic("wstop")
    ensure_topic(live_config, topic)
    try:
        with endless_ward(live_config, topic, seed=6) as (run, workers):
            wait_for_messages(live_config, topic, 3000)
            run.process.send_signal(getattr(signal, how))
            code, err = run.finish()
        assert code == 0, err
        assert f"(stopped by {how})" in err
        assert not [pid for pid in workers if alive(pid)]
        stored = stored_readings(live_config, topic)
        assert f"{topic}: 2 workers: {len(stored)} sent, {len(stored)} delivered, 0 failed" in err
        assert_each_patient_a_prefix_once(stored, 6)
    finally:
        delete_topic(live_config, topic)


def test_a_killed_worker_is_reported_and_stops_the_other(live_config: MedricalConfig) -> None:
    topic = unique_topic("wkill")
    ensure_topic(live_config, topic)
    try:
        with endless_ward(live_config, topic, seed=8) as (run, workers):
            os.kill(workers[0], signal.SIGKILL)
            code, err = run.finish()
        assert code == 1, err
        assert re.search(r"error: worker [12] of 2 failed: killed by SIGKILL", err), err
        assert "(stopped: worker" in err
        assert "Traceback" not in err
        assert not alive(workers[1])
    finally:
        delete_topic(live_config, topic)
