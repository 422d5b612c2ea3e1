"""The topics the monitor writes: created before a new input is first processed.

For each input `biometrics_<name>` the monitor writes `alerts_<name>` and its group's compacted
changelog `medrical_monitor_state.<group>.<name>`, both with the input's partition count (a
patient's alerts and state use the partition number their readings arrive on). Replication
factor and `min.insync.replicas` are left to the cluster's defaults (`default.replication.factor`,
`min.insync.replicas`), so the same code serves a one-node stack and a replicated cluster.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from medrical.errors import ServiceUnavailableError
from medrical.monitor.records import alerts_topic_for, changelog_topic_for

_USE_BROKER_DEFAULT = -1


class TopicAdmin:
    """Creates the output topics of inputs not seen before; remembers the ones done."""

    def __init__(self, admin: AdminClient, group: str, *, timeout_s: float) -> None:
        self._admin = admin
        self._group = group
        self._timeout_s = timeout_s
        self._done: set[str] = set()

    def ensure_outputs(self, inputs: Iterable[str]) -> None:
        """Create `alerts_<name>` and the changelog of each new input; existing ones are fine.

        Raises KafkaException when Kafka cannot be asked, ServiceUnavailableError when it
        refuses a topic.
        """
        new = sorted(set(inputs) - self._done)
        if not new:
            return
        wanted = []
        for topic in new:
            metadata = self._admin.list_topics(topic, timeout=self._timeout_s)
            partitions = len(metadata.topics[topic].partitions)
            wanted.append(
                NewTopic(
                    alerts_topic_for(topic),
                    num_partitions=partitions,
                    replication_factor=_USE_BROKER_DEFAULT,
                )
            )
            wanted.append(
                NewTopic(
                    changelog_topic_for(self._group, topic),
                    num_partitions=partitions,
                    replication_factor=_USE_BROKER_DEFAULT,
                    config={"cleanup.policy": "compact"},
                )
            )
        futures = self._admin.create_topics(wanted, request_timeout=self._timeout_s)
        for name, future in futures.items():
            try:
                future.result()
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    continue
                if error.retriable():
                    raise
                raise ServiceUnavailableError(
                    "Kafka", f"cannot create topic {name}: {error}"
                ) from exc
        self._done.update(new)
