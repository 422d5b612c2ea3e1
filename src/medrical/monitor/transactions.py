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

A commit need not hold up the caller: `begin_commit` hands the commit to its worker thread and
returns. What is produced meanwhile is kept back and opens the next transaction once the commit
has landed (`finish_commit`, which waits or not), so the caller goes on scoring while the
broker writes the last transaction's markers. A failed commit is reported by the next call
that looks, with everything kept back dropped: the caller's rewind goes past it too.

In every case the caller's next step is the same: rewind to what Kafka has committed (offsets
and, with them, the changelog), which is consistent whichever way an uncertain transaction
ended. Waiting for Kafka to come back is the `Outage`'s job: it keeps the time and raises
`ServiceUnavailableError` past its limit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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


@dataclass
class _Call:
    """A blocking producer call running on its worker thread."""

    started: float
    done: threading.Event = field(default_factory=threading.Event)
    outcome: list[tuple[bool, Any]] = field(default_factory=list)
    finished: float = 0.0


_Record = tuple[str, bytes | None, bytes | None, int | None]


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
        self._open = False  # a transaction has begun on the producer and not ended
        self._committing: _Call | None = None
        self._kept_back: list[_Record] = []
        self.last_commit_s = 0.0
        """How long the last commit that landed took, from its start to the broker's answer."""
        self.replaced = 0
        """How many producers were given up and replaced (fenced, timed out, stuck)."""

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            raise RuntimeError("the transactional producer is not started")
        return self._producer

    @property
    def in_transaction(self) -> bool:
        """Something was produced that no commit has begun on yet."""
        return self._open or bool(self._kept_back)

    @property
    def committing(self) -> bool:
        """A commit has begun and its outcome is not collected yet."""
        return self._committing is not None

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
            self._open = False
            return

    def produce(
        self, topic: str, value: bytes | None, key: bytes | None, partition: int | None = None
    ) -> None:
        """Produce into the open transaction, opening one first if none is; while a commit
        runs, keep the record back for the transaction after it."""
        if self._committing is not None and not self.finish_commit(block=False):
            self._kept_back.append((topic, value, key, partition))
            return
        self._produce(topic, value, key, partition)

    def _produce(
        self, topic: str, value: bytes | None, key: bytes | None, partition: int | None
    ) -> None:
        producer = self.producer
        if not self._open:
            try:
                producer.begin_transaction()
            except KafkaException as exc:
                raise _classify(exc, "beginning a transaction") from exc
            self._open = True
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
        """Serve delivery reports and collect a commit that has landed; a failure of either
        (fenced, say) raises TransactionFailed."""
        if self._committing is not None:
            self.finish_commit(block=False)
        if self._producer is not None and self._committing is None:
            self._poll(self._producer, 0)

    @staticmethod
    def _poll(producer: Producer, timeout_s: float) -> None:
        try:
            producer.poll(timeout_s)
        except KafkaException as exc:
            raise _classify(exc, "delivering") from exc

    def commit(self, offsets: Sequence[TopicPartition], group_metadata: Any) -> None:
        """Add the offsets and commit, once, and wait for it; raises TransactionFailed on any
        failure (of this commit, or of one begun before and not yet collected)."""
        self.begin_commit(offsets, group_metadata)
        self.finish_commit(block=True)

    def begin_commit(self, offsets: Sequence[TopicPartition], group_metadata: Any) -> bool:
        """Start adding the offsets and committing on the worker thread, and return at once
        (after collecting a commit still running, if any). False when nothing was open."""
        self.finish_commit(block=True)
        if not self._open:
            return False
        producer = self.producer
        offsets = list(offsets)

        def commit() -> None:
            if offsets:
                producer.send_offsets_to_transaction(offsets, group_metadata, ATTEMPT_TIMEOUT_S)
            producer.commit_transaction(ATTEMPT_TIMEOUT_S)

        self._committing = self._start(commit)
        return True

    def finish_commit(self, *, block: bool) -> bool:
        """Collect the running commit's outcome: True once none runs any more, False if it
        still does (only when not `block`ing). Past the commit, what was kept back opens the
        next transaction. Raises TransactionFailed if the commit failed, having dropped what
        was kept back."""
        call = self._committing
        if call is None:
            return True
        if not call.done.is_set():
            left = self._stuck_after_s - (time.monotonic() - call.started)
            if not block and left > 0:
                return False
            if left <= 0 or not call.done.wait(left):
                self._committing = None
                self._kept_back.clear()
                self._open = False
                stuck = CallStuck(
                    "a transactional call to Kafka did not return within "
                    f"{self._stuck_after_s:.0f} s"
                )
                self._outage.down(str(stuck))
                raise ProducerLost(f"{stuck}; its outcome is settled by a new producer")
        self._committing = None
        ok, value = call.outcome[0]
        if not ok:
            self._kept_back.clear()
            if not isinstance(value, KafkaException):
                self._open = False
                raise value
            failure = _classify(value, "committing")
            if isinstance(failure, TransactionAborted):
                self.abort()
            else:
                self._open = False
                if _transient(value):
                    self._outage.down(str(value.args[0].str()))
            raise failure from value
        self._outage.up()
        self._open = False
        self.last_commit_s = call.finished - call.started
        kept, self._kept_back = self._kept_back, []
        for record in kept:
            self._produce(*record)
        return True

    def abort(self) -> None:
        """Abort the open transaction (after a commit still running has ended, whichever way,
        and with what was kept back dropped); a producer that cannot is replaced (`reset`)."""
        self._kept_back.clear()
        if self._committing is not None:
            try:
                self.finish_commit(block=True)
            except ProducerLost:
                self.reset()
                return
            except TransactionFailed:
                return  # aborted already
        if not self._open:
            return
        producer = self.producer
        try:
            self._bounded(lambda: producer.abort_transaction(ATTEMPT_TIMEOUT_S))
        except (KafkaException, CallStuck) as exc:
            log.debug("abort failed (%s); starting a new producer instead", _text(exc))
            self.reset()
            return
        self._open = False

    def reset(self) -> None:
        """Replace the producer by a new one under the same transactional id.

        Its `init_transactions` waits until the broker has completed or aborted whatever the
        old one left open (a commit still running on it included), so afterwards the committed
        state is settled.
        """
        old, self._producer = self._producer, None
        self._open = False
        self._committing = None
        self._kept_back.clear()
        if old is not None:
            self.replaced += 1
            _retire(old)
        self.start()

    def close(self) -> None:
        """Let a running commit end, abort what is open and let go of the producer (it may
        be unusable by now)."""
        self._kept_back.clear()
        if self._committing is not None:
            try:
                self.finish_commit(block=True)
            except TransactionFailed as exc:
                log.debug("commit on close: %s", exc)
        producer, self._producer = self._producer, None
        if producer is None:
            return
        if self._open:
            try:
                self._bounded(lambda: producer.abort_transaction(ATTEMPT_TIMEOUT_S))
            except (KafkaException, CallStuck) as exc:
                log.debug("abort on close: %s", _text(exc))
        self._open = False
        _retire(producer)

    def _start(self, call: Callable[[], object]) -> _Call:
        """Run a blocking producer call on a worker thread.

        The worker of a call that never returns keeps its producer alive until it does, if
        ever; the caller replaces the producer meanwhile.
        """
        running = _Call(time.monotonic())

        def run() -> None:
            try:
                running.outcome.append((True, call()))
            except BaseException as exc:  # handed over to the caller's thread
                running.outcome.append((False, exc))
            finally:
                running.finished = time.monotonic()
                running.done.set()

        threading.Thread(target=run, name="medrical-transaction", daemon=True).start()
        return running

    def _bounded(self, call: Callable[[], T]) -> T:
        """Run a blocking producer call on a worker thread; raise CallStuck past the deadline."""
        running = self._start(call)
        if not running.done.wait(self._stuck_after_s):
            raise CallStuck(
                f"a transactional call to Kafka did not return within {self._stuck_after_s:.0f} s"
            )
        ok, value = running.outcome[0]
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
