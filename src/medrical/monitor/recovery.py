"""Recovery of newly assigned (or rewound) partitions, run from the monitor's loop.

The rebalance callback only pauses a new partition and marks it not ready; the loop then calls
`recover`: create its output topics if new, read its committed offset, rebuild its patients'
state from the changelog as of that offset, seek it there and resume it. Nothing of this runs
inside a rebalance callback, so a slow restore cannot stall the group's protocol.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from medrical.monitor.options import MonitorError
from medrical.monitor.outage import Outage
from medrical.monitor.policy import AlertPolicy
from medrical.monitor.store import ChangelogStore, PartitionState, StateMismatch
from medrical.monitor.topics import TopicAdmin

log = logging.getLogger(__name__)

KAFKA_TIMEOUT_S = 30.0
_MISMATCH_RETRIES = 5


def recover(
    parts: list[PartitionState],
    consumer: Consumer,
    store: ChangelogStore,
    topics: TopicAdmin,
    outage: Outage,
    policy: AlertPolicy,
) -> int:
    """Make `parts` ready at their committed offsets; returns the state records restored."""
    outage.retry(
        "creating the alerts and state topics",
        lambda: topics.ensure_outputs({p.topic for p in parts}),
    )
    tps = [TopicPartition(p.topic, p.partition) for p in parts]
    for attempt in range(_MISMATCH_RETRIES):
        # read_committed: this waits for offsets still pending in a transaction; the
        # changelog written beside them settles with them.
        committed = outage.retry(
            "reading the committed offsets",
            lambda: consumer.committed(tps, timeout=KAFKA_TIMEOUT_S),
        )
        offsets = {(tp.topic, tp.partition): tp.offset for tp in committed}
        for part in parts:
            part.reset(policy)
        try:
            restored = outage.retry(
                "restoring patient state",
                lambda offsets=offsets: store.restore(parts, offsets),  # type: ignore[misc]
            )
            break
        except StateMismatch as exc:
            if attempt == _MISMATCH_RETRIES - 1:
                raise MonitorError(
                    f"patient state and committed offsets disagree: {exc}",
                    hint="Stop every monitor of this group and start again; if it stays, "
                    "start a new group (--group) to rebuild the state from the readings.",
                ) from exc
            log.info("%s; reading it again", exc)
            time.sleep(1.0)
    for tp in committed:
        offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
        _seek(consumer, TopicPartition(tp.topic, tp.partition, offset))
    for part in parts:
        part.ready = True
    consumer.resume(tps)
    return int(restored)


def _seek(consumer: Consumer, tp: TopicPartition) -> None:
    try:
        consumer.seek(tp)
    except KafkaException as exc:
        # A partition not yet fetched has no position to move: it starts from the committed
        # offset (or the reset policy) when resumed, which is where we are.
        if exc.args[0].code() != KafkaError._STATE:
            raise
