"""Reading Kafka record values: the Confluent wire format (a zero magic byte, a 4-byte
big-endian schema id, then Avro binary) with one parsed reader per schema id, fetched once from
the registry; alert values that are plain JSON are accepted too."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from fastavro import parse_schema, schemaless_reader

from medrical.errors import InputError

MAGIC_BYTE = 0
HEADER_BYTES = 5


class WireFormatError(InputError):
    """A record value that is neither Confluent-framed Avro nor (for alerts) a JSON object."""


def _raw_times(schema: Any) -> Any:
    """The schema without logical types, so timestamps decode as the ms the events carry
    rather than as datetimes that would need converting back."""
    if isinstance(schema, dict):
        return {k: _raw_times(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_raw_times(item) for item in schema]
    return schema


class SchemaCache:
    """Parsed writer schemas by registry id; each id is fetched at most once."""

    def __init__(self, fetch_schema_text: Callable[[int], str]) -> None:
        self._fetch = fetch_schema_text
        self._parsed: dict[int, Any] = {}
        self._lock = threading.Lock()
        self.fetches = 0

    def reader(self, schema_id: int) -> Any:
        parsed = self._parsed.get(schema_id)
        if parsed is not None:
            return parsed
        with self._lock:
            parsed = self._parsed.get(schema_id)
            if parsed is None:
                self.fetches += 1
                text = self._fetch(schema_id)
                parsed = parse_schema(_raw_times(json.loads(text)))
                self._parsed[schema_id] = parsed
        return parsed


def schema_id_of(value: bytes) -> int | None:
    """The schema id of a Confluent-framed value, or None if it is not framed."""
    if len(value) < HEADER_BYTES or value[0] != MAGIC_BYTE:
        return None
    return int.from_bytes(value[1:HEADER_BYTES], "big")


def decode_avro(value: bytes, schemas: SchemaCache) -> dict[str, Any]:
    schema_id = schema_id_of(value)
    if schema_id is None:
        raise WireFormatError("value is not in the Confluent wire format (no magic byte)")
    try:
        record = schemaless_reader(io.BytesIO(value[HEADER_BYTES:]), schemas.reader(schema_id))
    except (EOFError, ValueError, IndexError, TypeError) as exc:
        raise WireFormatError(f"value does not decode with schema {schema_id}: {exc}") from exc
    if not isinstance(record, dict):
        raise WireFormatError(f"schema {schema_id} does not describe a record")
    return record


def decode_alert(value: bytes, schemas: SchemaCache) -> Mapping[str, Any]:
    """An alert value: Confluent-framed Avro, or a JSON object."""
    if schema_id_of(value) is not None:
        return decode_avro(value, schemas)
    try:
        record = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireFormatError(f"alert value is neither Avro nor JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise WireFormatError("alert value is JSON but not an object")
    return record
