"""The dashboard's own Kafka consumer: a background thread that follows `biometrics_*` and
`alerts_*` from their latest offsets and feeds the ward state.

It uses a consumer group of its own (a new one per start, nothing committed), so it never takes
partitions from the sink or the monitor and never replays old data into a live view: history
comes from PostgreSQL instead.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaError, Message

from medrical.config import MedricalConfig
from medrical.dashboard.ward import WardState
from medrical.kafka_clients import client_conf
from medrical.schemas.registry import registry_client
from medrical.schemas.wire import CachedAvroDecoder, WireFormatError, is_framed

log = logging.getLogger(__name__)

BIOMETRICS_TOPICS = "^biometrics_.*"
ALERT_TOPICS = "^alerts_.*"
ALERT_PREFIX = "alerts_"

_BATCH = 500
# A reading waits in the feed at most this long before the stream can push it (consume()
# returns a batch only when full or timed out): 20 ms, not 100, took the ward page's median
# delay from 225-250 ms to 195-199 ms at 1,000 readings/s for 0.02-0.03 core of server CPU.
_POLL_S = 0.02
_SILENCE_CHECK_S = 5.0


class Reachability:
    """Whether the feed reaches Kafka: "live", or "reconnecting" from the moment the client
    reports every broker down until something answers again. A broker lost among others is
    the client's business (its partitions move to other leaders on their own)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lost_at: float | None = None

    @property
    def state(self) -> str:
        return "live" if self._lost_at is None else "reconnecting"

    def lost(self) -> None:
        if self._lost_at is None:
            self._lost_at = self._clock()
            log.warning("live feed: every Kafka broker is unreachable; reconnecting")

    def back(self) -> None:
        if self._lost_at is not None:
            log.info("live feed: Kafka answers again after %.0f s", self._clock() - self._lost_at)
            self._lost_at = None


class LiveFeed:
    """Consume, decode and apply; `start()` once, `stop()` once (it closes the consumer)."""

    def __init__(
        self,
        config: MedricalConfig,
        ward: WardState,
        *,
        group_id: str | None = None,
        metadata_refresh_ms: int = 5000,
    ) -> None:
        self._ward = ward
        self.group_id = group_id or f"medrical-dashboard-{uuid.uuid4().hex[:12]}"
        conf = client_conf(
            config,
            **{
                "group.id": self.group_id,
                "auto.offset.reset": "latest",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                # New biometrics_* or alerts_* topics are found by this refresh.
                "topic.metadata.refresh.interval.ms": metadata_refresh_ms,
                "error_cb": self._on_kafka_error,
            },
        )
        conf.update(config.kafka.extra)
        self._registry = registry_client(config)
        self._decoder = CachedAvroDecoder(self._schema_text)
        self._consumer = Consumer(conf)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="medrical-dashboard-feed")
        self.messages = 0
        self.undecodable = 0
        self.last_error: str | None = None
        self.reachability = Reachability()

    def _schema_text(self, schema_id: int) -> str:
        text = self._registry.get_schema(schema_id).schema_str
        if not text:
            raise WireFormatError(f"the registry has no schema text for id {schema_id}")
        return str(text)

    def start(self) -> None:
        self._consumer.subscribe([BIOMETRICS_TOPICS, ALERT_TOPICS])
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self._consumer.close()
        self._registry.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def kafka_state(self) -> str:
        return self.reachability.state

    def _on_kafka_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self.reachability.lost()

    def _check_kafka_back(self) -> None:
        """While every broker was lost: ask for metadata, which answers once one is back."""
        try:
            self._consumer.list_topics(timeout=1.0)
        except Exception:  # KafkaException while still down: ask again on the next turn
            return
        self.reachability.back()

    def _run(self) -> None:
        next_silence_check = time.monotonic() + _SILENCE_CHECK_S
        while not self._stop.is_set():
            try:
                batch = self._consumer.consume(_BATCH, _POLL_S)
            except Exception as exc:  # a fatal client error: report, pause, carry on
                self._note_error(f"consume failed: {exc}")
                self._stop.wait(1.0)
                continue
            if self.reachability.state != "live":
                # Not the batch's messages: they may have been fetched before the brokers went.
                self._check_kafka_back()
            for message in batch:
                self._handle(message)
            if time.monotonic() >= next_silence_check:
                next_silence_check = time.monotonic() + _SILENCE_CHECK_S
                self._ward.check_silence()

    def _handle(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                self._note_error(f"Kafka: {error}")
            return
        value: Any = message.value()
        topic: str = message.topic() or ""
        if not isinstance(value, bytes):
            return
        self.messages += 1
        try:
            if topic.startswith(ALERT_PREFIX):
                self._ward.apply_monitor_alert(decode_alert(value, self._decoder))
            else:
                kind, timestamp = message.timestamp()
                origin_ms = None if kind == TIMESTAMP_NOT_AVAILABLE else timestamp
                self._ward.apply_reading(self._decoder.decode(value), topic, origin_ms)
        except WireFormatError as exc:
            self.undecodable += 1
            self._note_error(f"{topic} offset {message.offset()}: {exc}")
        except Exception as exc:  # e.g. the registry cannot be reached for a new schema id
            self.undecodable += 1
            self._note_error(f"{topic} offset {message.offset()}: {exc}")

    def _note_error(self, text: str) -> None:
        if text != self.last_error:
            log.warning("live feed: %s", text)
        self.last_error = text


def decode_alert(value: bytes, decoder: CachedAvroDecoder) -> Mapping[str, Any]:
    """An alert value: Confluent-framed Avro, or a JSON object."""
    if is_framed(value):
        return decoder.decode(value)
    try:
        record = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireFormatError(f"alert value is neither Avro nor JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise WireFormatError("alert value is JSON but not an object")
    return record
