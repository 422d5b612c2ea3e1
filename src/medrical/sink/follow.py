"""Keeping connectors in step with the stack they run on (pure core, thin shell).

A connector's configuration holds the transport of every service it reaches: the database URL
(with or without SSL) and the registry's URL, credentials and CA. After `stack up --tls` (or
back), a connector applied before would keep the other mode's settings, fail to reach
anything, and look RUNNING. `follow_stack` re-applies each of the stack's sink connectors with
the settings of the mode the stack now runs in, keeping everything else (topics, keys, tuning).
"""

from __future__ import annotations

from collections.abc import Callable

from medrical.config import MedricalConfig
from medrical.sink.client import ConnectClient
from medrical.sink.connector import COPY_SINK_CLASS, DEBEZIUM_SINK_CLASS, Flavor
from medrical.sink.deploy import connector_config

# The stack's own sinks, by connector class.
_FLAVORS: dict[str, Flavor] = {COPY_SINK_CLASS: "copy", DEBEZIUM_SINK_CLASS: "debezium"}
# Settings that depend on how the services are reached, and only those.
TRANSPORT_PREFIXES = ("connection.", "key.converter", "value.converter")


def _is_transport(key: str) -> bool:
    return key.startswith(TRANSPORT_PREFIXES)


def rebased(existing: dict[str, str], fresh: dict[str, str]) -> dict[str, str] | None:
    """`existing` with its transport settings replaced by `fresh`'s; None when they match."""
    result = {key: value for key, value in existing.items() if not _is_transport(key)}
    result |= {key: value for key, value in fresh.items() if _is_transport(key)}
    return None if result == existing else result


def follow_stack(
    client: ConnectClient, config: MedricalConfig, report: Callable[[str], None]
) -> list[str]:
    """Re-apply every COPY or Debezium sink connector whose transport settings are not this
    configuration's; return their names."""
    followed = []
    for name in sorted(client.connectors()):
        existing = client.config(name)
        flavor = _FLAVORS.get((existing or {}).get("connector.class", ""))
        if existing is None or flavor is None:
            continue
        existing = {key: value for key, value in existing.items() if key != "name"}
        regex = existing.get("topics.regex", "")
        fresh = connector_config(config, flavor=flavor, topics_regex=regex)
        updated = rebased(existing, fresh)
        if updated is None:
            continue
        client.apply(name, updated)
        # Tasks that failed under the old settings are restarted under the new ones.
        client.restart(name)
        report(f"connector {name} re-applied with the settings of the stack as it runs now")
        followed.append(name)
    return followed
