"""Where the produce loop sends readings: Kafka, or JSON lines on stdout for a dry run."""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Mapping
from typing import IO, Any, Protocol

from medrical import schemas
from medrical.simulation import Reading
from medrical.stopping import StopFlag


class EventSink(Protocol):
    """Where the loop sends readings: Kafka, or JSON lines for a dry run."""

    def send(self, reading: Reading) -> None: ...

    def wait(self, timeout_s: float) -> None:
        """Pass time, serving whatever the sink must serve meanwhile (delivery reports)."""

    def finish(self) -> None:
        """Drain what is in flight."""

    def counts(self) -> tuple[int, int, int]:
        """(sent, delivered, failed) so far."""


class JsonLinesSink:
    """A dry run: each reading checked against the Avro value schema, then written as one JSON
    line (event_time as ISO-8601 UTC). Nothing touches the network.

    When the reader goes away (`| head`), the run stops as if asked to: that is not a failure.
    """

    first_error: str | None = None

    def __init__(self, stop: StopFlag, out: IO[str] | None = None) -> None:
        self._out = out if out is not None else sys.stdout
        self._stop = stop
        self._written = 0

    def send(self, reading: Reading) -> None:
        schemas.check_record(reading.to_record())
        line = json.dumps(reading.to_json_dict(), separators=(",", ":")) + "\n"
        try:
            self._out.write(line)
        except BrokenPipeError:
            self._reader_gone()
            return
        self._written += 1

    def wait(self, timeout_s: float) -> None:
        self._flush()
        time.sleep(timeout_s)

    def finish(self) -> None:
        self._flush()

    def counts(self) -> tuple[int, int, int]:
        return self._written, self._written, 0

    def _flush(self) -> None:
        try:
            self._out.flush()
        except BrokenPipeError:
            self._reader_gone()

    def _reader_gone(self) -> None:
        self._stop.set("output closed")
        # Point the descriptor at /dev/null so the interpreter's own flush at exit stays quiet.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._out.fileno())
            os.close(devnull)
        except (OSError, ValueError, io.UnsupportedOperation):
            pass


class _Producer(Protocol):
    @property
    def stats(self) -> Any: ...

    def send(self, record: Mapping[str, Any]) -> None: ...

    def poll(self, timeout_s: float = 0.0) -> None: ...

    def flush(self, timeout_s: float = 30.0) -> int: ...


class KafkaSink:
    """Readings to Kafka through a `BiometricsProducer` (keyed by patient id)."""

    def __init__(self, producer: _Producer, flush_timeout_s: float = 30.0) -> None:
        self._producer = producer
        self._flush_timeout_s = flush_timeout_s
        self.undelivered = 0

    @property
    def first_error(self) -> str | None:
        error: str | None = self._producer.stats.first_error
        return error

    def send(self, reading: Reading) -> None:
        self._producer.send(reading.to_record())

    def wait(self, timeout_s: float) -> None:
        self._producer.poll(timeout_s)

    def finish(self) -> None:
        self.undelivered = self._producer.flush(self._flush_timeout_s)

    def counts(self) -> tuple[int, int, int]:
        stats = self._producer.stats
        # Whatever flush could not deliver in time counts as failed.
        return stats.sent, stats.delivered, stats.failed + self.undelivered
