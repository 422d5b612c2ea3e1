"""Logs on a terminal read as lines for a person, and librdkafka's self-resolving retries stay
at debug level."""

from __future__ import annotations

import logging

import pytest

from medrical.kafka_clients import LibrdkafkaLog
from medrical.logs import _TextFormatter


def record(level: int, message: str, name: str = "medrical.stack") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


def test_terminal_lines_are_for_a_person() -> None:
    formatter = _TextFormatter()
    assert formatter.format(record(logging.INFO, "kafka healthy")) == "kafka healthy"
    assert formatter.format(record(logging.WARNING, "key readable")) == "warning: key readable"
    assert formatter.format(record(logging.DEBUG, "probe")) == "debug medrical.stack: probe"
    assert "s3cret" not in formatter.format(record(logging.ERROR, "http://u:s3cret@h failed"))


@pytest.mark.parametrize(
    ("line", "level"),
    [
        (
            "[thrd:main]: Failed to acquire idempotence PID from broker 1: "
            "Coordinator load in progress: retrying",
            logging.DEBUG,
        ),
        ("[thrd:ssl://x:9092/1]: SSL handshake failed: certificate verify failed", 30),
    ],
)
def test_librdkafka_retries_that_resolve_themselves_are_debug(
    caplog: pytest.LogCaptureFixture, line: str, level: int
) -> None:
    with caplog.at_level(logging.DEBUG, logger="medrical.librdkafka"):
        LibrdkafkaLog().log(
            logging.WARNING, "%s [%s] %s", "IDEMPOTENCE", "rdkafka#producer-1", line
        )
    assert [r.levelno for r in caplog.records] == [level]
