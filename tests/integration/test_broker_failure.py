"""A broker crash on the real stack: what it leaves behind, and how the monitor rides it out.

Each test here kills the local stack's Kafka with SIGKILL (by its PID file) and brings it back
the way a user would (`medrical stack up`).
"""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from medrical.config import MedricalConfig
from medrical.kafka_clients import client_conf
from tests.integration.helpers import hanging_partitions, kill_service, restart_stack, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_transaction_open_at_a_broker_kill_is_aborted_not_left_hanging(
    live_config: MedricalConfig,
) -> None:
    # A single KRaft node restarted after SIGKILL must not skip the abort markers of the
    # transactions that time out while it re-registers with its own controller: a partition
    # left with an open transaction blocks every read_committed reader for ever. The outage
    # outlasts the transaction's timeout, so the broker aborts it as soon as it is back.
    topic = f"it_txn_{uuid.uuid4().hex[:10]}"
    admin = AdminClient(client_conf(live_config))
    for future in admin.create_topics([NewTopic(topic, num_partitions=6)]).values():
        future.result(timeout=30)
    producer = Producer(
        client_conf(
            live_config,
            **{"transactional.id": f"it-{topic}", "transaction.timeout.ms": 5_000},
        )
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    for partition in range(6):
        producer.produce(topic, value=b"never committed", partition=partition)
    assert producer.flush(30) == 0
    kill_service(live_config, "kafka")
    time.sleep(6)  # the outage itself: longer than the transaction timeout
    restart_stack(live_config)
    wait_for(
        lambda: True if hanging_partitions(live_config, topic) == [] else None,
        timeout_s=60,
        what="the broker to abort the transaction on every partition",
    )
