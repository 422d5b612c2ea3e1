"""The monitor's checkpoint unit and outage clock without a server: how each failure of a
transaction is classified, what is (not) retried, and when the monitor gives up on Kafka."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from medrical.errors import ServiceUnavailableError
from medrical.monitor.outage import Outage, StopWaiting, transient
from medrical.monitor.transactions import (
    ProducerLost,
    TransactionAborted,
    TransactionalOutput,
)


def kafka_error(code: int, *, retriable: bool = False, abortable: bool = False) -> KafkaException:
    return KafkaException(
        KafkaError(code, "injected", retriable=retriable, txn_requires_abort=abortable)
    )


class FakeProducer:
    """The transactional calls of a producer, each failing as a test tells it."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail: dict[str, list[BaseException]] = {}
        self.block: dict[str, threading.Event] = {}

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.block:
            self.block[name].wait()
        failures = self.fail.get(name)
        if failures:
            raise failures.pop(0)

    def init_transactions(self, _timeout: float) -> None:
        self._call("init")

    def begin_transaction(self) -> None:
        self._call("begin")

    def produce(self, topic: str, **_kwargs: Any) -> None:
        self._call(f"produce {topic}")

    def send_offsets_to_transaction(self, *_args: Any) -> None:
        self._call("send_offsets")

    def commit_transaction(self, _timeout: float) -> None:
        self._call("commit")

    def abort_transaction(self, _timeout: float) -> None:
        self._call("abort")

    def poll(self, _timeout: float) -> int:
        return 0

    def purge(self) -> None:
        self.calls.append("purge")

    def flush(self, _timeout: float) -> int:
        return 0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def output_with(
    producers: list[FakeProducer], *, limit_s: float = 60.0, stuck_after_s: float = 5.0
) -> tuple[TransactionalOutput, Outage]:
    clock = Clock()
    outage = Outage(limit_s, clock=clock, sleep=clock.sleep)
    queue = list(producers)

    def make() -> Producer:
        return queue.pop(0)  # type: ignore[return-value]

    return TransactionalOutput(make, outage, stuck_after_s=stuck_after_s), outage


OFFSETS = [TopicPartition("biometrics_a", 0, 10)]


def test_a_commit_sends_the_offsets_then_commits_once() -> None:
    producer = FakeProducer()
    output, _ = output_with([producer])
    output.start()
    output.produce("alerts_a", b"v", b"k")
    output.commit(OFFSETS, object())
    assert producer.calls == ["init", "begin", "produce alerts_a", "send_offsets", "commit"]
    assert not output.in_transaction


def commit_running(
    producer: FakeProducer,
) -> tuple[TransactionalOutput, threading.Event]:
    """An output whose commit of one record is running (held until the event is set), with a
    second record produced meanwhile."""
    producer.block["commit"] = release = threading.Event()
    output, _ = output_with([producer])
    output.start()
    output.produce("alerts_a", b"1", b"k")
    assert output.begin_commit(OFFSETS, object())
    output.produce("alerts_a", b"2", b"k")
    return output, release


def test_what_is_produced_while_a_commit_runs_opens_the_next_transaction() -> None:
    producer = FakeProducer()
    output, release = commit_running(producer)
    assert output.committing
    assert output.in_transaction
    assert not output.finish_commit(block=False)
    release.set()
    assert output.finish_commit(block=True)
    assert producer.calls == [
        "init",
        "begin",
        "produce alerts_a",
        "send_offsets",
        "commit",
        "begin",
        "produce alerts_a",
    ]
    assert not output.committing
    assert output.in_transaction
    output.commit(OFFSETS, object())
    assert producer.calls[-2:] == ["send_offsets", "commit"]
    assert not output.in_transaction


def test_a_failed_background_commit_drops_what_was_kept_back() -> None:
    producer = FakeProducer()
    producer.fail["commit"] = [kafka_error(KafkaError._STATE, abortable=True)]
    output, release = commit_running(producer)
    release.set()

    def loop() -> None:  # the loop's calls: a failure shows at the first one past the commit
        while True:
            output.poll()

    with pytest.raises(TransactionAborted):
        loop()
    assert producer.calls[-2:] == ["commit", "abort"]
    assert producer.calls.count("produce alerts_a") == 1
    assert not output.in_transaction
    assert not output.committing


def test_a_background_commit_that_never_returns_loses_the_producer() -> None:
    producer = FakeProducer()
    producer.block["commit"] = threading.Event()  # never set
    output, outage = output_with([producer], stuck_after_s=0.2)
    output.start()
    output.produce("alerts_a", b"1", b"k")
    output.begin_commit(OFFSETS, object())
    assert not output.finish_commit(block=False)
    with pytest.raises(ProducerLost, match="did not return"):
        output.finish_commit(block=True)
    assert outage.ongoing


def test_a_commit_running_when_the_output_aborts_is_let_end_first() -> None:
    producer = FakeProducer()
    output, release = commit_running(producer)
    threading.Timer(0.1, release.set).start()
    output.abort()  # the commit landed; what was kept back is dropped, nothing is open
    assert producer.calls[-1] == "commit"
    assert not output.in_transaction
    assert not output.committing


def test_an_abortable_failure_aborts_and_keeps_the_producer() -> None:
    producer = FakeProducer()
    producer.fail["commit"] = [kafka_error(KafkaError._STATE, abortable=True)]
    output, _ = output_with([producer])
    output.start()
    output.produce("alerts_a", b"v", b"k")
    with pytest.raises(TransactionAborted):
        output.commit(OFFSETS, object())
    assert producer.calls[-1] == "abort"
    assert output.replaced == 0


def test_a_fenced_producer_is_lost_and_reset_starts_a_new_one() -> None:
    old, new = FakeProducer(), FakeProducer()
    old.fail["send_offsets"] = [kafka_error(KafkaError._FENCED)]
    output, _ = output_with([old, new])
    output.start()
    output.produce("alerts_a", b"v", b"k")
    with pytest.raises(ProducerLost, match="failed while committing"):
        output.commit(OFFSETS, object())
    output.reset()
    assert output.producer is new  # type: ignore[comparison-overlap]
    assert new.calls == ["init"]  # which settles what the old one left open
    assert output.replaced == 1


def test_a_timed_out_offset_commit_is_never_retried_on_the_same_producer() -> None:
    # librdkafka would accept the retry, but with the group coordinator away the retried call
    # can wait on the first one for ever: the transaction is given up as uncertain instead.
    producer = FakeProducer()
    producer.fail["send_offsets"] = [kafka_error(KafkaError._TIMED_OUT, retriable=True)]
    output, outage = output_with([producer])
    output.start()
    output.produce("alerts_a", b"v", b"k")
    with pytest.raises(ProducerLost):
        output.commit(OFFSETS, object())
    assert producer.calls.count("send_offsets") == 1
    assert "commit" not in producer.calls
    assert outage.ongoing  # the outage clock runs from here


def test_a_call_that_never_returns_is_given_up_and_its_producer_replaced() -> None:
    stuck, fresh = FakeProducer(), FakeProducer()
    release = stuck.block["send_offsets"] = threading.Event()
    output, _ = output_with([stuck, fresh], stuck_after_s=0.2)
    output.start()
    output.produce("alerts_a", b"v", b"k")
    try:
        with pytest.raises(ProducerLost, match="did not return within"):
            output.commit(OFFSETS, object())
        output.reset()
        output.produce("alerts_a", b"v", b"k")
        output.commit(OFFSETS, object())
        assert fresh.calls[-1] == "commit"
    finally:
        release.set()


def test_init_transactions_that_times_out_is_resumed_on_the_same_producer() -> None:
    # A second producer would race the first one's registration and be fenced by it.
    first, second = FakeProducer(), FakeProducer()
    first.fail["init"] = [kafka_error(KafkaError._TIMED_OUT, retriable=True)]
    output, outage = output_with([first, second])
    output.start()
    assert output.producer is first  # type: ignore[comparison-overlap]
    assert first.calls == ["init", "init"]
    assert not outage.ongoing


def test_init_transactions_that_never_returns_is_given_up_for_a_new_producer() -> None:
    stuck, fresh = FakeProducer(), FakeProducer()
    release = stuck.block["init"] = threading.Event()
    output, _ = output_with([stuck, fresh], stuck_after_s=0.2)
    try:
        output.start()
        assert output.producer is fresh  # type: ignore[comparison-overlap]
    finally:
        release.set()


def test_starting_gives_up_past_the_outage_limit() -> None:
    producer = FakeProducer()
    producer.fail["init"] = [kafka_error(KafkaError._TRANSPORT, retriable=True)] * 100
    output, _ = output_with([producer], limit_s=3)
    with pytest.raises(ServiceUnavailableError, match="Kafka: unreachable for"):
        output.start()


def test_a_fatal_error_served_by_poll_is_a_lost_producer() -> None:
    producer = FakeProducer()
    output, _ = output_with([producer])
    output.start()

    def fenced(_timeout: float) -> int:
        raise kafka_error(KafkaError._FENCED)

    producer.poll = fenced  # type: ignore[method-assign]
    with pytest.raises(ProducerLost, match="while delivering"):
        output.poll()


def test_a_lost_producer_that_cannot_abort_is_replaced() -> None:
    old, new = FakeProducer(), FakeProducer()
    old.fail["abort"] = [kafka_error(KafkaError._FENCED)]
    output, _ = output_with([old, new])
    output.start()
    output.produce("alerts_a", b"v", b"k")
    output.abort()
    assert output.producer is new  # type: ignore[comparison-overlap]
    assert not output.in_transaction


def test_the_outage_account_is_one_line_down_and_one_line_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    outage = Outage(60, clock=clock, sleep=clock.sleep)
    attempts = iter([kafka_error(KafkaError._TRANSPORT, retriable=True)] * 8 + [None])

    def action() -> str:
        failure = next(attempts)
        if failure is not None:
            raise failure
        return "done"

    with caplog.at_level(logging.WARNING, logger="medrical.monitor"):
        assert outage.retry("reading", action) == "done"
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("Kafka does not answer (reading: injected)")
    assert lines[1].startswith("Kafka answers again, after")


def test_a_short_failure_goes_unreported(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outage = Outage(60, clock=clock, sleep=clock.sleep)
    failures = [kafka_error(KafkaError.LEADER_NOT_AVAILABLE)]

    def action() -> int:
        if failures:
            raise failures.pop()
        return 1

    with caplog.at_level(logging.WARNING, logger="medrical.monitor"):
        outage.retry("creating topics", action)
    assert caplog.records == []


def test_waiting_for_kafka_stops_when_told() -> None:
    clock = Clock()
    outage = Outage(60, clock=clock, sleep=clock.sleep)
    outage.stopping = lambda: True
    failing: Callable[[], None] = lambda: (_ for _ in ()).throw(  # noqa: E731
        kafka_error(KafkaError._TRANSPORT, retriable=True)
    )
    with pytest.raises(StopWaiting):
        outage.retry("reading", failing)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (kafka_error(KafkaError._TRANSPORT), True),
        (kafka_error(KafkaError.FENCED_LEADER_EPOCH), True),
        (kafka_error(KafkaError.NOT_COORDINATOR), True),
        (kafka_error(KafkaError._FENCED), False),
        (kafka_error(KafkaError._STATE, abortable=True), False),
        (kafka_error(KafkaError.TOPIC_AUTHORIZATION_FAILED), False),
        (ValueError("not Kafka"), False),
    ],
)
def test_which_failures_are_transient(error: BaseException, expected: bool) -> None:
    assert transient(error) is expected
