"""The Confluent wire format, for every consumer of Medrical's topics.

A framed value is one magic byte (0), the writer schema's registry id as a 4-byte big-endian
integer, then the Avro binary body. confluent-kafka's AvroDeserializer reads it too, but does a
registry-cache lookup, a schema resolution and a logical-type conversion for every message;
here the parsed writer schema is cached per id and the body read with fastavro's schemaless
reader, several times faster (see benchmarks/bench_monitor_latency.py).

Logical types are stripped from the cached schema, so a `timestamp-millis` field comes back as
the int of milliseconds the events carry rather than a datetime: consumers want the int, and
not building datetimes is part of the speed-up.

The encoding side registers a schema the way confluent-kafka's AvroSerializer does (the topic
name strategy, auto-registration at first use, the id cached) and writes the Avro body exactly
as fastavro's schemaless writer would, several times faster for the flat records Medrical
sends (see benchmarks/bench_producer.py).
"""

from __future__ import annotations

import io
import json
import struct
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

from fastavro import parse_schema, schemaless_writer

from medrical.errors import InputError
from medrical.schemas.decoding import RecordDecoder

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
    """Decode Confluent-framed Avro records with one decoder per writer schema id.

    Records are returned as written (no resolution against a reader schema): fields a newer
    writer added are present, fields an older writer lacked are absent, and consumers read
    them with `.get()`. Each id is fetched at most once, also when several threads decode.
    Bodies are read by `decoding.RecordDecoder`: by hand for flat records, by fastavro else.
    """

    def __init__(self, fetch_schema: SchemaFetcher) -> None:
        self._fetch_schema = fetch_schema
        self._decoders: dict[int, RecordDecoder] = {}
        self._lock = threading.Lock()
        self.fetches = 0

    def decoder(self, schema_id: int) -> RecordDecoder:
        """The decoder of bodies written with schema `schema_id`, fetching that schema once."""
        decoder = self._decoders.get(schema_id)
        if decoder is not None:
            return decoder
        with self._lock:
            decoder = self._decoders.get(schema_id)
            if decoder is None:
                self.fetches += 1
                text = self._fetch_schema(schema_id)
                try:
                    decoder = RecordDecoder(without_logical_types(json.loads(text)))
                except Exception as exc:  # not JSON, or JSON that is not an Avro schema
                    raise WireFormatError(
                        f"schema {schema_id} is not a usable Avro schema"
                    ) from exc
                self._decoders[schema_id] = decoder
        return decoder

    def decode(self, payload: bytes) -> dict[str, Any]:
        decoder = self.decoder(schema_id_of(payload))
        try:
            record = decoder.decode(payload, HEADER_SIZE)
        except Exception as exc:  # fastavro raises EOFError, ValueError, ... on a bad body
            raise WireFormatError(f"Avro body does not decode: {exc}") from exc
        if not isinstance(record, dict):
            raise WireFormatError("the writer schema is not a record")
        return record


# --- encoding ----------------------------------------------------------------------------------

SchemaRegistrar = Callable[[str, str], int]
"""Registers a schema text under a subject and returns its id (see schemas.registry)."""

MessageField = Literal["key", "value"]


def subject_name(topic: str, field: MessageField) -> str:
    """The subject of a topic's keys or values by the topic name strategy: `<topic>-value`."""
    return f"{topic}-{field}"


def registry_text(schema_text: str) -> str:
    """The schema text as AvroSerializer sends it to the registry: stripped, and a primitive
    declaration such as `"string"` wrapped as `{"type": "string"}`.

    The registry returns the id of the text it was given, so registering the same text as
    AvroSerializer does gives the same id under the same subject.
    """
    text = schema_text.strip()
    if not text.startswith(("{", "[")):
        text = '{"type":' + text + "}"
    return text


def header(schema_id: int) -> bytes:
    """The 5-byte Confluent header of a value written with schema `schema_id`."""
    return _HEADER.pack(MAGIC_BYTE, schema_id)


class FramedAvroEncoder:
    """Confluent-framed Avro records for one subject, registered like AvroSerializer does.

    With auto-registration and the topic name strategy, AvroSerializer registers its schema
    under the subject the first time it serializes for it and reuses the id it got back from
    then on; so does this encoder (also when several threads encode at once). The body is
    written by a `RecordEncoder`.
    """

    def __init__(self, schema_text: str, subject: str, register: SchemaRegistrar) -> None:
        self.subject = subject
        self.schema_text = registry_text(schema_text)
        self._register = register
        self._encoder = RecordEncoder(json.loads(self.schema_text))
        self._header: bytes | None = None
        self._schema_id: int | None = None
        self._lock = threading.Lock()

    @property
    def schema_id(self) -> int:
        """The registered id, registering the schema first if this encoder has not yet."""
        if self._schema_id is None:
            with self._lock:
                if self._schema_id is None:
                    schema_id = self._register(self.subject, self.schema_text)
                    self._header = header(schema_id)
                    self._schema_id = schema_id
        return self._schema_id

    def __call__(self, record: Mapping[str, Any]) -> bytes:
        framing = self._header
        if framing is None:
            self.schema_id  # noqa: B018 - registers, as AvroSerializer does at first use
            framing = self._header
            assert framing is not None
        return framing + self._encoder.encode(record)


class EncodeError(InputError):
    """A record that does not fit the schema it is written with."""


class _Unfit(Exception):
    """A value the fast path does not write itself; fastavro writes (or refuses) it."""


_Writer = Callable[[Any], bytes]

_INT_RANGE: Final = (-(1 << 31), (1 << 31) - 1)
_LONG_RANGE: Final = (-(1 << 63), (1 << 63) - 1)
# Logical types whose values may be the plain int they are written as; fastavro converts
# dates and times given as objects, and those go through fastavro.
_INT_LOGICAL_TYPES: Final = frozenset(
    {
        "date",
        "time-millis",
        "time-micros",
        "timestamp-millis",
        "timestamp-micros",
        "timestamp-nanos",
        "local-timestamp-millis",
        "local-timestamp-micros",
        "local-timestamp-nanos",
    }
)
_MEMO_LIMIT: Final = 1 << 17
"""Per field: enough for every patient id of a large ward, bounded for unique strings."""


def _varint(number: int) -> bytes:
    """Avro's zig-zag variable-length encoding of an int or long."""
    number = (number << 1) ^ (number >> 63)
    out = bytearray()
    while number > 0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _memoised_writer(kind: type, encode: Callable[[Any], bytes], null: bytes | None) -> _Writer:
    """A writer of values of exactly `kind` (not a subclass: True is not an int here), each
    value encoded once; `encode` raises _Unfit for a value it leaves to fastavro."""
    memo: dict[Any, bytes] = {}

    def write(value: Any) -> bytes:
        if type(value) is kind:
            encoded = memo.get(value)
            if encoded is None:
                encoded = encode(value)
                if len(memo) < _MEMO_LIMIT:
                    memo[value] = encoded
            return encoded
        if value is None and null is not None:
            return null
        raise _Unfit

    return write


def _integer_writer(bounds: tuple[int, int], prefix: bytes, null: bytes | None) -> _Writer:
    low, high = bounds

    def encode(value: int) -> bytes:
        if not low <= value <= high:
            raise _Unfit
        return prefix + _varint(value)

    return _memoised_writer(int, encode, null)


def _real_writer(fmt: str, prefix: bytes, null: bytes | None) -> _Writer:
    # No memo: 0.0 and -0.0 are equal keys with different encodings.
    pack = struct.Struct(fmt).pack

    def write(value: Any) -> bytes:
        if type(value) is float or type(value) is int:
            try:
                return prefix + pack(value)
            except OverflowError:
                raise _Unfit from None
        if value is None and null is not None:
            return null
        raise _Unfit

    return write


def _string_writer(prefix: bytes, null: bytes | None) -> _Writer:
    def encode(value: str) -> bytes:
        try:
            utf8 = value.encode()
        except UnicodeEncodeError:
            raise _Unfit from None
        return prefix + _varint(len(utf8)) + utf8

    return _memoised_writer(str, encode, null)


def _bytes_writer(prefix: bytes, null: bytes | None) -> _Writer:
    def write(value: Any) -> bytes:
        if type(value) is bytes:
            return prefix + _varint(len(value)) + value
        if value is None and null is not None:
            return null
        raise _Unfit

    return write


def _boolean_writer(prefix: bytes, null: bytes | None) -> _Writer:
    true, false = prefix + b"\x01", prefix + b"\x00"

    def write(value: Any) -> bytes:
        if value is True:
            return true
        if value is False:
            return false
        if value is None and null is not None:
            return null
        raise _Unfit

    return write


def _null_writer(value: Any) -> bytes:
    if value is None:
        return b""
    raise _Unfit


def _primitive(schema: Any) -> str | None:
    """The primitive type a field schema is written as, or None when the fast path has none."""
    if isinstance(schema, str):
        return schema
    if isinstance(schema, dict) and isinstance(schema.get("type"), str):
        logical = schema.get("logicalType")
        if logical is None or (logical in _INT_LOGICAL_TYPES and schema["type"] in ("int", "long")):
            return str(schema["type"])
    return None


def _writer_for(schema: Any) -> _Writer | None:
    """The fast writer of one field: a primitive, or a union of null and one primitive."""
    prefix, null = b"", None
    if isinstance(schema, list):
        if len(schema) != 2 or "null" not in schema:
            return None
        null_index = schema.index("null")
        null = _varint(null_index)
        prefix = _varint(1 - null_index)
        schema = schema[1 - null_index]
    primitive = _primitive(schema)
    if primitive == "int":
        return _integer_writer(_INT_RANGE, prefix, null)
    if primitive == "long":
        return _integer_writer(_LONG_RANGE, prefix, null)
    if primitive == "float":
        return _real_writer("<f", prefix, null)
    if primitive == "double":
        return _real_writer("<d", prefix, null)
    if primitive == "string":
        return _string_writer(prefix, null)
    if primitive == "bytes":
        return _bytes_writer(prefix, null)
    if primitive == "boolean":
        return _boolean_writer(prefix, null)
    if primitive == "null" and null is None:
        return _null_writer
    return None


class RecordEncoder:
    """Avro binary bodies of one schema, byte for byte what fastavro's schemaless writer writes.

    A flat record of primitives and of unions of null with one primitive (Medrical's events)
    is written field by field, with each field's recent encodings memoised: a ward repeats
    its patient ids, scenario names and most vital values. A value outside that fast path
    (another type, a missing field, a datetime for a timestamp) and any other schema are
    handed to fastavro, so what fastavro accepts, converts or refuses stays its decision.
    """

    def __init__(self, schema: Any) -> None:
        self._parsed = parse_schema(schema)
        self._fields: list[tuple[str, _Writer]] | None = None
        if isinstance(schema, dict) and schema.get("type") == "record":
            fields = [(field["name"], _writer_for(field["type"])) for field in schema["fields"]]
            if all(write is not None for _, write in fields):
                self._fields = [(name, write) for name, write in fields if write is not None]

    def encode(self, record: Mapping[str, Any]) -> bytes:
        fields = self._fields
        if fields is not None:
            try:
                return b"".join([write(record[name]) for name, write in fields])
            except (_Unfit, KeyError):
                pass
        buffer = io.BytesIO()
        try:
            schemaless_writer(buffer, self._parsed, record)
        except Exception as exc:  # fastavro raises ValueError, TypeError, ... on a bad record
            raise EncodeError(f"record does not fit the schema: {exc}") from exc
        return buffer.getvalue()
