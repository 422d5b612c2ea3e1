"""The monitor's checkpoint unit: one transactional producer that commits alerts, patient state
and input offsets together, or not at all.

A transaction opens with the first record produced after the last commit, and `commit` closes
it with the consumer's offsets. Its failures come in two kinds, and each tells the caller
what it may still believe:

- `TransactionAborted`: the transaction was aborted (or must be, and was): nothing of it
  is visible. Rewind to the committed offsets and go on with the same producer.
- `ProducerLost`: the producer is unusable, or its transaction's outcome is unknown: fenced
  by a newer instance with our transactional id or by the coordinator (the transaction outlived
  its timeout), or a call to the coordinator timed out or did not return at all. Whether the
  transaction committed is known only once a new producer under the same transactional id has
  finished `init_transactions`, which completes or aborts what the old one left. `reset()`
  does that; then rewind.

A timed-out transactional call is never retried on the same producer: librdkafka documents
the retry, but with the group coordinator away `send_offsets_to_transaction` can ignore its
timeout and block for good, and a retry then waits on the first call forever. So every
blocking call runs on a worker thread with a deadline, and a producer whose call missed it is
left to finish (or not) on its own while a new one takes over.

In every case the caller's next step is the same: rewind to what Kafka has committed (offsets
and, with them, the changelog), which is consistent whichever way an uncertain transaction
ended. Waiting for Kafka to come back is the `Outage`'s job: it keeps the time and raises
`ServiceUnavailableError` past its limit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from medrical.errors import MedricalError
from medrical.monitor.outage import Outage

log = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPT_TIMEOUT_S = 10.0
"""The timeout given to one blocking transactional call."""

STUCK_AFTER_S = ATTEMPT_TIMEOUT_S + 5.0
"""A call that has not returned by then is given up (see the module docstring)."""


class TransactionFailed(MedricalError):
    """The open transaction did not commit; rewind to the committed state."""


class TransactionAborted(TransactionFailed):
    """The transaction was aborted: nothing of it is visible."""


class ProducerLost(TransactionFailed):
    """The producer can no longer be used; `reset()` before anything else."""


class TransactionSetupError(MedricalError):
    """Kafka refused the monitor's transactional id for good (authorisation, say)."""


class CallStuck(Exception):
    """A blocking librdkafka call did not return within its deadline."""


class TransactionalOutput:
    """Owns the transactional producer; see the module docstring."""

    def __init__(
        self,
        make_producer: Callable[[], Producer],
        outage: Outage,
        *,
        stuck_after_s: float = STUCK_AFTER_S,
    ) -> None:
        self._make_producer = make_producer
        self._outage = outage
        self._stuck_after_s = stuck_after_s
        self._producer: Producer | None = None
        self.in_transaction = False
        self.replaced = 0
        """How many producers were given up and replaced (fenced, timed out, stuck)."""

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            raise RuntimeError("the transactional producer is not started")
        return self._producer

    def start(self) -> None:
        """Create a producer and register its transactional id.

        That fences older instances and settles whatever transaction they left open. A
        timed-out `init_transactions` is retried on the same producer (librdkafka resumes
        it), for as long as the `Outage` allows: a second producer would race the first
        one's registration and be fenced by it. Only a call that never returns gets its
        producer given up.
        """
        while True:
            producer = self._make_producer()
            try:
                self._outage.retry(
                    "starting Kafka transactions",
                    lambda p=producer: self._bounded(  # type: ignore[misc]
                        lambda: p.init_transactions(ATTEMPT_TIMEOUT_S)
                    ),
                )
            except CallStuck as exc:
                _retire(producer)
                self._outage.down(str(exc))
                continue
            except KafkaException as exc:
                _retire(producer)
                raise TransactionSetupError(
                    f"cannot start Kafka transactions: {_text(exc)}"
                ) from exc
            except BaseException:
                _retire(producer)
                raise
            self._producer = producer
            self.in_transaction = False
            return

    def produce(
        self, topic: str, value: bytes | None, key: bytes | None, partition: int | None = None
    ) -> None:
        """Produce into the open transaction, opening one first if none is."""
        producer = self.producer
        if not self.in_transaction:
            try:
                producer.begin_transaction()
            except KafkaException as exc:
                raise _classify(exc, "beginning a transaction") from exc
            self.in_transaction = True
        kwargs: dict[str, Any] = {} if partition is None else {"partition": partition}
        while True:
            try:
                producer.produce(topic, value=value, key=key, **kwargs)
                return
            except BufferError:  # the local queue is full: let deliveries drain it
                self._poll(producer, 0.05)
            except KafkaException as exc:
                raise _classify(exc, "producing") from exc

    def poll(self) -> None:
        """Serve delivery reports; a fatal error (fenced, say) raises TransactionFailed."""
        if self._producer is not None:
            self._poll(self._producer, 0)

    @staticmethod
    def _poll(producer: Producer, timeout_s: float) -> None:
        try:
            producer.poll(timeout_s)
        except KafkaException as exc:
            raise _classify(exc, "delivering") from exc

    def commit(self, offsets: Sequence[TopicPartition], group_metadata: Any) -> None:
        """Add the offsets and commit, once; raises TransactionFailed on any failure."""
        if not self.in_transaction:
            return
        producer = self.producer
        try:
            if offsets:
                self._bounded(
                    lambda: producer.send_offsets_to_transaction(
                        list(offsets), group_metadata, ATTEMPT_TIMEOUT_S
                    )
                )
            self._bounded(lambda: producer.commit_transaction(ATTEMPT_TIMEOUT_S))
        except CallStuck as exc:
            self._outage.down(str(exc))
            raise ProducerLost(f"{exc}; its outcome is settled by a new producer") from exc
        except KafkaException as exc:
            failure = _classify(exc, "committing")
            if isinstance(failure, TransactionAborted):
                self.abort()
            elif _transient(exc):
                self._outage.down(str(exc.args[0].str()))
            raise failure from exc
        self._outage.up()
        self.in_transaction = False

    def abort(self) -> None:
        """Abort the open transaction; a producer that cannot is replaced (`reset`)."""
        if not self.in_transaction:
            return
        producer = self.producer
        try:
            self._bounded(lambda: producer.abort_transaction(ATTEMPT_TIMEOUT_S))
        except (KafkaException, CallStuck) as exc:
            log.debug("abort failed (%s); starting a new producer instead", _text(exc))
            self.reset()
            return
        self.in_transaction = False

    def reset(self) -> None:
        """Replace the producer by a new one under the same transactional id.

        Its `init_transactions` waits until the broker has completed or aborted whatever the
        old one left open, so afterwards the committed state is settled.
        """
        old, self._producer = self._producer, None
        self.in_transaction = False
        if old is not None:
            self.replaced += 1
            _retire(old)
        self.start()

    def close(self) -> None:
        """Abort what is open and let go of the producer (it may be unusable by now)."""
        producer, self._producer = self._producer, None
        if producer is None:
            return
        if self.in_transaction:
            try:
                self._bounded(lambda: producer.abort_transaction(ATTEMPT_TIMEOUT_S))
            except (KafkaException, CallStuck) as exc:
                log.debug("abort on close: %s", _text(exc))
        self.in_transaction = False
        _retire(producer)

    def _bounded(self, call: Callable[[], T]) -> T:
        """Run a blocking producer call on a worker thread; raise CallStuck past the deadline.

        The worker of a stuck call keeps its producer alive until the call returns, if ever;
        the caller replaces the producer meanwhile.
        """
        outcome: list[Any] = []
        done = threading.Event()

        def run() -> None:
            try:
                outcome.append((True, call()))
            except BaseException as exc:  # handed over to the caller's thread
                outcome.append((False, exc))
            finally:
                done.set()

        worker = threading.Thread(target=run, name="medrical-transaction", daemon=True)
        worker.start()
        if not done.wait(self._stuck_after_s):
            raise CallStuck(
                f"a transactional call to Kafka did not return within {self._stuck_after_s:.0f} s"
            )
        ok, value = outcome[0]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]


def _retire(producer: Producer) -> None:
    """Drop what a given-up producer still queues, off the caller's thread.

    Purging and destroying a producer whose brokers are away, or one with a call still stuck
    inside librdkafka, can block; nothing the monitor does waits for it.
    """

    def run() -> None:
        try:
            producer.purge()
            producer.flush(0)
        except KafkaException as exc:  # a fenced producer refuses even this
            log.debug("discarding the old producer: %s", exc.args[0])

    threading.Thread(target=run, name="medrical-retire-producer", daemon=True).start()


def _text(exc: BaseException) -> str:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return str(exc.args[0].str())
    return str(exc)


def _transient(exc: KafkaException) -> bool:
    error: KafkaError = exc.args[0]
    return bool(error.retriable()) or error.code() == KafkaError._TIMED_OUT


def _classify(exc: KafkaException, doing: str) -> TransactionFailed:
    error: KafkaError = exc.args[0]
    if error.txn_requires_abort():
        return TransactionAborted(f"Kafka aborted the transaction while {doing}: {error.str()}")
    return ProducerLost(f"the transactional producer failed while {doing}: {error.str()}")
