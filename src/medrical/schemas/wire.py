"""The Confluent wire format, for every consumer of Medrical's topics.

A framed value is one magic byte (0), the writer schema's registry id as a 4-byte big-endian
integer, then the Avro binary body. confluent-kafka's AvroDeserializer reads it too, but does a
registry-cache lookup, a schema resolution and a logical-type conversion for every message;
here the parsed writer schema is cached per id and the body read with fastavro's schemaless
reader, several times faster (see benchmarks/bench_monitor_latency.py).

Logical types are stripped from the cached schema, so a `timestamp-millis` field comes back as
the int of milliseconds the events carry rather than a datetime: consumers want the int, and
not building datetimes is part of the speed-up.
"""

from __future__ import annotations

import io
import json
import struct
import threading
from collections.abc import Callable
from typing import Any

from fastavro import parse_schema, schemaless_reader

from medrical.errors import InputError

MAGIC_BYTE = 0
HEADER_SIZE = 5
_HEADER = struct.Struct(">bI")

SchemaFetcher = Callable[[int], str]
"""Returns the schema text registered under an id (e.g. via SchemaRegistryClient.get_schema)."""


class WireFormatError(InputError):
    """A value that is not a Confluent-framed Avro record, or whose body does not decode."""


def without_logical_types(schema: Any) -> Any:
    """A copy of a parsed-JSON Avro schema with every `logicalType` annotation removed."""
    if isinstance(schema, dict):
        return {
            key: without_logical_types(value)
            for key, value in schema.items()
            if key != "logicalType"
        }
    if isinstance(schema, list):
        return [without_logical_types(item) for item in schema]
    return schema


def is_framed(payload: bytes) -> bool:
    """Whether `payload` starts like a Confluent-framed value."""
    return len(payload) >= HEADER_SIZE and payload[0] == MAGIC_BYTE


def schema_id_of(payload: bytes) -> int:
    """The writer schema id from the 5-byte header; WireFormatError if there is none."""
    if len(payload) < HEADER_SIZE:
        raise WireFormatError(f"value of {len(payload)} bytes is shorter than the Avro header")
    magic, schema_id = _HEADER.unpack_from(payload)
    if magic != MAGIC_BYTE:
        raise WireFormatError(f"unknown magic byte {magic} (expected {MAGIC_BYTE})")
    return int(schema_id)


class CachedAvroDecoder:
    """Decode Confluent-framed Avro records with one parsed writer schema per schema id.

    Records are returned as written (no resolution against a reader schema): fields a newer
    writer added are present, fields an older writer lacked are absent, and consumers read
    them with `.get()`. Each id is fetched at most once, also when several threads decode.
    """

    def __init__(self, fetch_schema: SchemaFetcher) -> None:
        self._fetch_schema = fetch_schema
        self._schemas: dict[int, Any] = {}
        self._lock = threading.Lock()
        self.fetches = 0

    def writer_schema(self, schema_id: int) -> Any:
        schema = self._schemas.get(schema_id)
        if schema is not None:
            return schema
        with self._lock:
            schema = self._schemas.get(schema_id)
            if schema is None:
                self.fetches += 1
                text = self._fetch_schema(schema_id)
                try:
                    schema = parse_schema(without_logical_types(json.loads(text)))
                except Exception as exc:  # not JSON, or JSON that is not an Avro schema
                    raise WireFormatError(
                        f"schema {schema_id} is not a usable Avro schema"
                    ) from exc
                self._schemas[schema_id] = schema
        return schema

    def decode(self, payload: bytes) -> dict[str, Any]:
        schema = self.writer_schema(schema_id_of(payload))
        stream = io.BytesIO(payload)
        stream.seek(HEADER_SIZE)
        try:
            record = schemaless_reader(stream, schema, None)
        except Exception as exc:  # fastavro raises EOFError, ValueError, ... on a bad body
            raise WireFormatError(f"Avro body does not decode: {exc}") from exc
        if not isinstance(record, dict):
            raise WireFormatError("the writer schema is not a record")
        return record
