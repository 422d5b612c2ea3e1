"""Riding out a Kafka outage: retry what failed for a transient reason, for a stated time.

One `Outage` per monitor keeps the clock: it starts at the first failure nobody could get past
and stops at the next success. Past `limit_s` it gives up with a ServiceUnavailableError (exit
69 at the command line). It also writes the monitor's account of the outage: one line when
Kafka has not answered for `QUIET_S`, one when it answers again, nothing per retry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException

from medrical.errors import ExitCode, MedricalError, ServiceUnavailableError

log = logging.getLogger("medrical.monitor")

T = TypeVar("T")

QUIET_S = 2.0
"""Failures shorter than this (a new topic's leader being elected, say) go unreported."""

_TRANSIENT_CODES = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._TIMED_OUT,
        KafkaError._MSG_TIMED_OUT,
        KafkaError._RESOLVE,
        KafkaError._WAIT_COORD,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError.CONCURRENT_TRANSACTIONS,
        # A restarted broker answers with these until its partitions have leaders again.
        KafkaError.FENCED_LEADER_EPOCH,
        KafkaError.UNKNOWN_LEADER_EPOCH,
        KafkaError.OFFSET_NOT_AVAILABLE,
        KafkaError.REPLICA_NOT_AVAILABLE,
        KafkaError.BROKER_NOT_AVAILABLE,
        KafkaError.NOT_ENOUGH_REPLICAS,
        KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        KafkaError.KAFKA_STORAGE_ERROR,
        KafkaError._TIMED_OUT_QUEUE,
        KafkaError._WAIT_CACHE,
    }
)


class StopWaiting(MedricalError):
    """The monitor was told to stop while it waited for Kafka."""

    exit_code = ExitCode.INTERRUPTED


def transient(exc: BaseException) -> bool:
    """Whether a Kafka failure may go away by itself (broker down, leader moving, timeout)."""
    if not isinstance(exc, KafkaException) or not exc.args:
        return False
    error = exc.args[0]
    if not isinstance(error, KafkaError) or error.fatal() or error.txn_requires_abort():
        return False
    return bool(error.retriable()) or error.code() in _TRANSIENT_CODES


class Outage:
    """The clock and the account of one monitor's time without Kafka."""

    def __init__(
        self,
        limit_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit_s = limit_s
        self._clock = clock
        self._sleep = sleep
        self.since: float | None = None
        self.stopping: Callable[[], bool] = lambda: False
        self.reported = False
        self.outages = 0

    def retry(
        self,
        what: str,
        action: Callable[[], T],
        *,
        retriable: Callable[[BaseException], bool] = transient,
    ) -> T:
        """Run `action`; while it fails transiently, wait and try again until the limit."""
        delay = 0.25
        while True:
            try:
                result = action()
            except Exception as exc:
                if not retriable(exc):
                    raise
                log.debug("%s failed, will retry: %s", what, _describe(exc))
                if self.stopping():
                    raise StopWaiting(f"stopped while waiting for Kafka ({what})") from exc
                self.down(f"{what}: {_describe(exc)}")
                self._sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.up()
            return result

    def down(self, reason: str) -> None:
        """Kafka did not answer; give up once that has lasted longer than the limit."""
        now = self._clock()
        if self.since is None:
            self.since = now
            self.outages += 1
            return
        if not self.reported and now - self.since >= QUIET_S:
            self.reported = True
            log.warning(
                "Kafka does not answer (%s); waiting for it, for up to %.0f s", reason, self.limit_s
            )
        if now - self.since > self.limit_s:
            raise ServiceUnavailableError(
                "Kafka",
                f"unreachable for {now - self.since:.0f} s (last: {reason}).",
                hint="Is the cluster up (`medrical stack status`)? The limit is "
                "--kafka-outage-timeout.",
            )

    def up(self) -> None:
        if self.since is not None:
            if self.reported:
                log.warning("Kafka answers again, after %.1f s", self._clock() - self.since)
            self.since = None
            self.reported = False

    @property
    def ongoing(self) -> bool:
        return self.since is not None

    def client_error(self, error: KafkaError) -> None:
        """A client's error callback: brokers gone start (or continue) the outage clock."""
        if error.fatal():
            log.error("Kafka consumer: %s", error.str())
        elif error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            self.down(error.str())
        else:
            log.debug("Kafka consumer: %s", error.str())

    def probe(self, client: Any) -> None:
        """While the clock runs, ask `client` (a consumer) for metadata: an answer stops it."""
        try:
            client.list_topics(timeout=1.0)
        except KafkaException as exc:
            if not transient(exc):
                raise
            self.down(str(exc.args[0].str()))
            return
        self.up()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return str(exc.args[0].str())
    return str(exc)
