"""The monitor's state store: one alert engine per assigned input partition, backed by the group's
changelog topic (see `changelog` for its records).

Writing: at each commit the states of the patients the transaction touched, and one checkpoint
per partition whose input offset advances, go into the transaction (`flush`). Restoring: a
partition's changelog is read from its beginning to its stable end with `read_committed`,
which yields exactly the state of the last committed transaction, and the checkpoint found
there must name the very offset the consumer group has committed; otherwise the restore is
refused (`StateMismatch`) rather than resuming from state that belongs to other offsets.

The stable end is where no transaction is open any more (the last stable offset has reached
the end of the log). A transaction can be open there for a moment after a crash or a
rebalance, until its owner or the broker ends it; the restore waits for that, for a bounded
time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from medrical.errors import MedricalError
from medrical.monitor.changelog import (
    CHECKPOINT_KEY,
    ChangelogError,
    decode_checkpoint,
    decode_patient,
    encode_checkpoint,
    encode_patient,
)
from medrical.monitor.engine import AlertEngine
from medrical.monitor.policy import AlertPolicy
from medrical.monitor.records import alerts_topic_for, changelog_topic_for
from medrical.monitor.transactions import TransactionalOutput
from medrical.waiting import poll

log = logging.getLogger(__name__)

_SAY_WAITING_AFTER_S = 5.0


class StateMismatch(MedricalError):
    """The restored state does not belong to the committed offsets (yet)."""


class HangingTransaction(MedricalError):
    """A changelog partition keeps a transaction open far past any transaction's timeout."""


@dataclass
class PartitionState:
    """An assigned input partition: its engine, its progress, and what the open transaction
    changed."""

    topic: str
    partition: int
    engine: AlertEngine
    alerts_topic: str
    changelog_topic: str
    watermark: int | None = None
    next_offset: int | None = None
    committed_offset: int | None = None
    dirty: set[str] = field(default_factory=set)
    ready: bool = False

    @classmethod
    def assigned(
        cls, topic: str, partition: int, group: str, policy: AlertPolicy
    ) -> PartitionState:
        return cls(
            topic,
            partition,
            AlertEngine(policy),
            alerts_topic_for(topic),
            changelog_topic_for(group, topic),
        )

    def reset(self, policy: AlertPolicy) -> None:
        """Forget everything not committed: the partition is to be restored again."""
        self.engine = AlertEngine(policy)
        self.watermark = None
        self.next_offset = None
        self.dirty.clear()
        self.ready = False


class ChangelogStore:
    """Flushes partition state into transactions and restores it; see the module docstring."""

    def __init__(
        self,
        restorer: Consumer,
        make_admin: Callable[[], AdminClient],
        *,
        timeout_s: float,
        settle_s: float,
    ) -> None:
        self._restorer = restorer
        self._make_admin = make_admin
        self._admin = make_admin()
        self._timeout_s = timeout_s
        self._settle_s = settle_s

    def flush(self, part: PartitionState, output: TransactionalOutput) -> TopicPartition | None:
        """Write the partition's changed patients and its checkpoint; the offset to commit."""
        engine = part.engine
        for patient_id in part.dirty:
            output.produce(
                part.changelog_topic,
                encode_patient(engine.state(patient_id)),
                patient_id.encode(),
                part.partition,
            )
        part.dirty.clear()
        if part.next_offset is None or part.next_offset == part.committed_offset:
            return None
        output.produce(
            part.changelog_topic,
            encode_checkpoint(part.next_offset, part.watermark),
            CHECKPOINT_KEY,
            part.partition,
        )
        return TopicPartition(part.topic, part.partition, part.next_offset)

    def committed(self, part: PartitionState, offset: int) -> None:
        """The transaction holding the partition's checkpoint at `offset` committed."""
        part.committed_offset = offset

    def restore(
        self, parts: Sequence[PartitionState], committed: dict[tuple[str, int], int]
    ) -> int:
        """Rebuild each partition's engine from its changelog; the number of patient records.

        `committed` holds the consumer group's committed offset per input partition (negative:
        none). Raises StateMismatch if a checkpoint names another offset, HangingTransaction if
        a changelog partition never settles, KafkaException if Kafka cannot be asked.
        """
        ends = self._stable_ends([TopicPartition(p.changelog_topic, p.partition) for p in parts])
        by_changelog = {(p.changelog_topic, p.partition): p for p in parts}
        checkpoints: dict[tuple[str, int], tuple[int, int | None]] = {}
        pending = {key for key, end in ends.items() if end > 0}
        records = 0
        if pending:
            self._restorer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in pending])
            deadline = time.monotonic() + self._timeout_s
            try:
                while pending:
                    if time.monotonic() > deadline:
                        raise KafkaException(
                            KafkaError(KafkaError._TIMED_OUT, "reading the changelog timed out")
                        )
                    for message in self._restorer.consume(1000, timeout=0.2):
                        key = (message.topic() or "", message.partition() or 0)
                        error = message.error()
                        if error is not None:
                            if error.code() == KafkaError._PARTITION_EOF:
                                pending.discard(key)
                                continue
                            raise KafkaException(error)
                        part = by_changelog.get(key)
                        if part is None:
                            continue
                        records += _apply(part, message.key() or b"", message.value(), checkpoints)
                        if (message.offset() or 0) + 1 >= ends[key]:
                            pending.discard(key)
            finally:
                self._restorer.unassign()
        for key, part in by_changelog.items():
            _settle(part, committed.get((part.topic, part.partition), -1), checkpoints.get(key))
        return records

    def close(self) -> None:
        self._restorer.close()

    def _stable_ends(self, tps: Sequence[TopicPartition]) -> dict[tuple[str, int], int]:
        """End offsets once no transaction is open on any of `tps` (waits, bounded)."""

        started = time.monotonic()
        told = False

        def ends() -> tuple[dict[tuple[str, int], int], list[tuple[str, int]]]:
            nonlocal told
            stable = self._end_offsets(tps, IsolationLevel.READ_COMMITTED)
            end = self._end_offsets(tps, IsolationLevel.READ_UNCOMMITTED)
            open_ = sorted(key for key in end if stable[key] < end[key])
            if open_ and not told and time.monotonic() - started >= _SAY_WAITING_AFTER_S:
                told = True  # once: a restore that waits should say on what
                log.info(
                    "restore waits for an open transaction on %s to settle (up to %.0f s)",
                    ", ".join(f"{t}[{p}]" for t, p in open_),
                    self._settle_s,
                )
            return end, open_

        end, open_ = poll(ends, timeout_s=self._settle_s, interval_s=0.2, done=lambda r: not r[1])
        if open_:
            names = ", ".join(f"{t}[{p}]" for t, p in open_)
            raise HangingTransaction(
                f"a transaction on {names} has stayed open for more than "
                f"{self._settle_s:.0f} s, longer than any transaction may last.",
                hint="The broker lost track of it (a hanging transaction): abort it with "
                "Kafka's `kafka-transactions.sh find-hanging` and `abort`, then restart.",
            )
        return end

    def _end_offsets(
        self, tps: Sequence[TopicPartition], isolation: IsolationLevel
    ) -> dict[tuple[str, int], int]:
        futures = self._admin.list_offsets(
            {tp: OffsetSpec.latest() for tp in tps},  # type: ignore[no-untyped-call]
            isolation_level=isolation,
            request_timeout=self._timeout_s,
        )
        try:
            return {(tp.topic, tp.partition): int(f.result().offset) for tp, f in futures.items()}
        except KafkaException:
            # After a broker restart the admin client can keep asking with the leader epochs
            # it knew before (FENCED_LEADER_EPOCH on every retry): the next try gets a new one.
            self._admin = self._make_admin()
            raise


def _apply(
    part: PartitionState,
    key: bytes,
    value: bytes | None,
    checkpoints: dict[tuple[str, int], tuple[int, int | None]],
) -> int:
    if key == CHECKPOINT_KEY:
        if value is not None:
            checkpoints[(part.changelog_topic, part.partition)] = decode_checkpoint(value)
        return 0
    if value is None:
        part.engine.forget_patient(key.decode(errors="replace"))
        return 0
    try:
        part.engine.adopt(decode_patient(key, value))
    except ChangelogError as exc:
        raise StateMismatch(
            f"{part.changelog_topic}[{part.partition}] holds a record this version cannot "
            f"read ({exc})."
        ) from exc
    return 1


def _settle(
    part: PartitionState, committed: int, checkpoint: tuple[int, int | None] | None
) -> None:
    """Check the restored state against the committed offset, and take its watermark."""
    where = f"{part.topic}[{part.partition}]"
    if checkpoint is None:
        if committed >= 0 and any(True for _ in part.engine.patients()):
            # Written by a version without checkpoints: trust the transactions alone.
            log.info("%s: patient state without a checkpoint (older version)", where)
        part.watermark = _newest_reading(part.engine)
    else:
        offset, watermark = checkpoint
        if offset != committed:
            raise StateMismatch(
                f"{where}: the restored state is of offset {offset}, the committed offset is "
                f"{committed}."
            )
        part.watermark = watermark
    part.committed_offset = committed if committed >= 0 else None
    part.next_offset = part.committed_offset


def _newest_reading(engine: AlertEngine) -> int | None:
    times = [engine.state(p).last_event_time for p in engine.patients()]
    known = [t for t in times if t is not None]
    return max(known) if known else None
