"""The Avro schemas of Medrical's events (package data) and the pure mapping onto them."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from fastavro import parse_schema
from fastavro.validation import validate

from medrical.errors import InputError

BIOMETRICS_VALUE = "biometrics-value.avsc"
BIOMETRICS_VALUE_V1 = "biometrics-value-v1.avsc"
BIOMETRICS_KEY = "biometrics-key.avsc"

# The JDBC sink maps `biometrics_<name>` to a table of the same name: keep <name> to characters
# every database accepts in an identifier without quoting.
TOPIC_PATTERN = re.compile(r"^biometrics_([a-z0-9_]{1,40})$")
DEFAULT_TOPIC = "biometrics_default"

# What Confluent's registry defaults to: a new schema must read data written with the previous
# one, so an optional field with a default may be added, while a dropped or retyped field that
# every consumer and the sink's table rely on is refused.
COMPATIBILITY = "BACKWARD"


@cache
def schema_text(name: str) -> str:
    return (resources.files("medrical.schemas") / name).read_text(encoding="utf-8")


@cache
def parsed_schema(name: str) -> Any:
    return parse_schema(json.loads(schema_text(name)))


def field_names(name: str = BIOMETRICS_VALUE) -> list[str]:
    return [field["name"] for field in json.loads(schema_text(name))["fields"]]


def check_record(record: dict[str, Any], name: str = BIOMETRICS_VALUE) -> None:
    """Raise InputError when a record does not fit the schema."""
    try:
        validate(record, parsed_schema(name), raise_errors=True)
    except Exception as exc:  # fastavro raises ValidationError or ValueError subclasses
        raise InputError(f"record does not fit the {name} schema: {exc}") from exc


def check_topic(topic: str) -> str:
    """Accept a topic the sink can map to a table; raise InputError naming the rule otherwise."""
    if not TOPIC_PATTERN.fullmatch(topic):
        raise InputError(
            f"topic {topic!r} cannot be stored by the sink: it must match "
            "biometrics_<name>, where <name> is 1-40 lowercase letters, digits or underscores "
            "(it becomes the PostgreSQL table name).",
            hint="For example: --topic biometrics_ward_a",
        )
    return topic
