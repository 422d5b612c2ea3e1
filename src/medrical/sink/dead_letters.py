"""The sink's dead letters: records Connect could not convert, kept with their error context.

Kafka Connect writes each one to `medrical_dead_letters` with the original key and value bytes
and `__connect.errors.*` headers (source topic, partition, offset, stage, exception). This
module reads them back, summarises them per source topic, and replays chosen ones to their
source topic and partition; the upserting sink then stores each exactly once. Which dead
letters were replayed is kept in a compacted topic beside them, so that a replay is never
repeated by accident and the summaries tell the pending ones from the replayed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from confluent_kafka import Producer

from medrical.config import MedricalConfig
from medrical.errors import InputError, ServiceUnavailableError
from medrical.kafka_clients import client_conf
from medrical.producing.topics import ensure_topic
from medrical.sink.connector import DEAD_LETTER_TOPIC
from medrical.topic_reading import read_to_end

REPLAYS_TOPIC = "medrical_dead_letters_replayed"
_HEADER_PREFIX = "__connect.errors."
# Put on every replayed record: where in the dead letters it came from.
REPLAYED_FROM_HEADER = "medrical.replayed.from"
READ_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class DeadLetter:
    """One record of the dead-letter topic, with the context Connect gave it."""

    partition: int
    offset: int
    timestamp_ms: int
    topic: str | None
    source_partition: int | None
    source_offset: int | None
    connector: str | None
    stage: str | None
    exception: str | None
    message: str | None
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    replayed: bool = False

    @property
    def id(self) -> str:
        """Its place in the dead-letter topic, `partition:offset`: what `replay` takes."""
        return f"{self.partition}:{self.offset}"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "timestamp_ms": self.timestamp_ms,
            "topic": self.topic,
            "partition": self.source_partition,
            "offset": self.source_offset,
            "connector": self.connector,
            "stage": self.stage,
            "exception": self.exception,
            "message": self.message,
            "replayed": self.replayed,
        }


def parse_dead_letter(
    partition: int,
    offset: int,
    timestamp_ms: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] | None,
) -> DeadLetter:
    """A dead letter from a raw record of the topic (pure)."""
    context: dict[str, str] = {}
    others: list[tuple[str, bytes]] = []
    for name, raw in headers or ():
        if name.startswith(_HEADER_PREFIX):
            context[name.removeprefix(_HEADER_PREFIX)] = (raw or b"").decode(
                "utf-8", errors="replace"
            )
        elif raw is not None:
            others.append((name, raw))
    return DeadLetter(
        partition=partition,
        offset=offset,
        timestamp_ms=timestamp_ms,
        topic=context.get("topic"),
        source_partition=_int(context.get("partition")),
        source_offset=_int(context.get("offset")),
        connector=context.get("connector.name"),
        stage=context.get("stage"),
        exception=context.get("exception.class.name"),
        message=context.get("exception.message"),
        key=key,
        value=value,
        headers=tuple(others),
    )


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class TopicSummary:
    topic: str
    count: int
    pending: int
    latest_error: str


def summarise(letters: Iterable[DeadLetter]) -> list[TopicSummary]:
    """Per source topic: how many dead letters, how many not yet replayed, the latest error."""
    by_topic: dict[str, list[DeadLetter]] = {}
    for letter in letters:
        by_topic.setdefault(letter.topic or "?", []).append(letter)
    result = []
    for topic, group in sorted(by_topic.items()):
        latest = max(group, key=lambda letter: (letter.timestamp_ms, letter.offset))
        result.append(
            TopicSummary(
                topic=topic,
                count=len(group),
                pending=sum(not letter.replayed for letter in group),
                latest_error=f"{latest.stage}: {latest.exception}: {latest.message}",
            )
        )
    return result


def select(
    letters: Sequence[DeadLetter],
    *,
    ids: Sequence[str] = (),
    topic: str | None = None,
    include_replayed: bool = False,
) -> list[DeadLetter]:
    """The dead letters chosen by id (`partition:offset`) and/or source topic (pure)."""
    known = {letter.id: letter for letter in letters}
    unknown = [wanted for wanted in ids if wanted not in known]
    if unknown:
        raise InputError(
            f"no dead letter with id {', '.join(unknown)} (ids are partition:offset, as "
            "`medrical dead-letters list` prints them)."
        )
    chosen = [known[wanted] for wanted in ids] if ids else list(letters)
    if topic is not None:
        chosen = [letter for letter in chosen if letter.topic == topic]
    if not include_replayed:
        chosen = [letter for letter in chosen if not letter.replayed]
    return chosen


# --- reading and replaying (I/O) -------------------------------------------------------------


def read_dead_letters(config: MedricalConfig) -> list[DeadLetter]:
    """Every dead letter, oldest first per partition, marked when already replayed."""
    replayed = {
        key.decode("utf-8")
        for message in read_to_end(config, REPLAYS_TOPIC, timeout_s=READ_TIMEOUT_S)
        if (key := message.key()) is not None and message.value() is not None
    }
    letters = []
    for message in read_to_end(config, DEAD_LETTER_TOPIC, timeout_s=READ_TIMEOUT_S):
        _kind, timestamp = message.timestamp()
        raw = message.headers() or []
        headers = [
            (name, value.encode() if isinstance(value, str) else value)
            for name, value in (raw.items() if isinstance(raw, dict) else raw)
        ]
        letter = parse_dead_letter(
            message.partition() or 0,  # a consumed message always has both
            message.offset() or 0,
            timestamp,
            message.key(),
            message.value(),
            headers,
        )
        letters.append(replace(letter, replayed=letter.id in replayed))
    return letters


@dataclass(frozen=True)
class Replayed:
    letter: DeadLetter
    partition: int
    offset: int


def replay(config: MedricalConfig, letters: Sequence[DeadLetter]) -> list[Replayed]:
    """Write each dead letter's original key, value and headers back to its source topic and
    partition (acks=all, idempotent), then record it as replayed."""
    for letter in letters:
        if letter.topic is None:
            raise InputError(
                f"dead letter {letter.id} names no source topic (it lacks Connect's context "
                "headers), so it cannot be replayed."
            )
    _ensure_replays_topic(config)
    producer = Producer(
        client_conf(config, **{"acks": "all", "enable.idempotence": True, "linger.ms": 5})
    )
    delivered: list[Replayed] = []
    failures: list[str] = []

    def on_delivery(letter: DeadLetter) -> Any:
        def callback(error: Any, message: Any) -> None:
            if error is not None:
                failures.append(f"{letter.id}: {error}")
            else:
                delivered.append(Replayed(letter, message.partition(), message.offset()))

        return callback

    for letter in letters:
        assert letter.topic is not None
        kwargs: dict[str, Any] = {}
        if letter.source_partition is not None:
            kwargs["partition"] = letter.source_partition
        producer.produce(
            letter.topic,
            key=letter.key,
            value=letter.value,
            headers=[*letter.headers, (REPLAYED_FROM_HEADER, letter.id.encode())],
            on_delivery=on_delivery(letter),
            **kwargs,
        )
        producer.poll(0)
    remaining = producer.flush(30)
    for done in delivered:
        producer.produce(
            REPLAYS_TOPIC,
            key=done.letter.id.encode(),
            value=json.dumps(
                {
                    "topic": done.letter.topic,
                    "partition": done.partition,
                    "offset": done.offset,
                    "replayed_at_ms": int(time.time() * 1000),
                }
            ).encode(),
        )
    unrecorded = producer.flush(30)
    if remaining or failures or unrecorded:
        raise ServiceUnavailableError(
            "Kafka",
            f"{len(failures) + remaining} of {len(letters)} dead letter(s) could not be "
            f"replayed ({'; '.join(failures[:3]) or 'not delivered within 30 s'}); "
            f"{len(delivered)} were.",
        )
    return delivered


def _ensure_replays_topic(config: MedricalConfig) -> None:
    # Compacted: one record per replayed dead letter is all that needs keeping.
    ensure_topic(config, REPLAYS_TOPIC, partitions=1, topic_config={"cleanup.policy": "compact"})
