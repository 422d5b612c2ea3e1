"""Avro binary bodies of flat records read by hand, exactly as fastavro's schemaless reader does.

Medrical's events are flat records of primitives and of unions of null with one primitive. For
those, a loop over the fields that reads each value straight from the bytes is several times
faster than fastavro's generic reader (no stream object, no per-type dispatch through the schema
tree; see benchmarks/bench_monitor_latency.py). The fast path only ever returns what fastavro
would: whatever it does not read itself (a truncated body, a union index written in a
non-canonical form, a boolean byte other than 0 or 1, text that is not UTF-8) is read again by
fastavro, whose result or error stands. Any other schema goes to fastavro whole.

The schema given is the writer schema as parsed JSON, logical types already stripped (see
`wire.without_logical_types`): a `timestamp-millis` is read as the long it is written as.
"""

from __future__ import annotations

import io
import struct
from typing import Any, Final

from fastavro import parse_schema, schemaless_reader

# Kinds of field value the fast path reads; the first three start with a varint.
_LONG: Final = 0  # int and long: both are zig-zag varints
_STRING: Final = 1
_BYTES: Final = 2
_FLOAT: Final = 3
_DOUBLE: Final = 4
_BOOLEAN: Final = 5
_NULL: Final = 6
_KINDS: Final = {
    "null": _NULL,
    "boolean": _BOOLEAN,
    "int": _LONG,
    "long": _LONG,
    "float": _FLOAT,
    "double": _DOUBLE,
    "string": _STRING,
    "bytes": _BYTES,
}
_UNFIT: Final = -1
"""A union branch byte that is neither of the two canonical one-byte indexes."""

_FLOAT_AT = struct.Struct("<f").unpack_from
_DOUBLE_AT = struct.Struct("<d").unpack_from

Field = tuple[str, int, int, int]
"""name, kind, and for a union of null with one primitive the byte that announces null and the
byte that announces a value (both _UNFIT for a plain field)."""


def _kind(schema: Any) -> int | None:
    if isinstance(schema, dict) and set(schema) <= {"type"}:
        schema = schema.get("type")
    return _KINDS.get(schema) if isinstance(schema, str) else None


def _field(field: Any) -> Field | None:
    if not isinstance(field, dict) or not isinstance(field.get("name"), str):
        return None
    schema = field.get("type")
    if isinstance(schema, list):
        if len(schema) != 2 or "null" not in schema or schema[0] == schema[1]:
            return None
        null_index = schema.index("null")
        kind = _kind(schema[1 - null_index])
        if kind is None or kind == _NULL:
            return None
        # A union index is a zig-zag varint: index 0 is the byte 0, index 1 the byte 2.
        return field["name"], kind, 2 * null_index, 2 * (1 - null_index)
    kind = _kind(schema)
    return None if kind is None else (field["name"], kind, _UNFIT, _UNFIT)


def flat_fields(schema: Any) -> list[Field] | None:
    """The fast path's plan for a record schema, or None when it has none for this schema."""
    if not isinstance(schema, dict) or schema.get("type") != "record":
        return None
    fields = schema.get("fields")
    if not isinstance(fields, list):
        return None
    plan = [_field(field) for field in fields]
    if any(step is None for step in plan):
        return None
    return [step for step in plan if step is not None]


class _Unfit(Exception):
    """Bytes the fast path leaves to fastavro."""


class RecordDecoder:
    """Read Avro bodies of one writer schema into dicts, as `schemaless_reader` would."""

    def __init__(self, schema: Any) -> None:
        self.parsed = parse_schema(schema)
        self._fields = flat_fields(schema)

    def decode(self, payload: bytes, start: int = 0) -> Any:
        """The value whose body starts at `payload[start]`; raises what fastavro raises."""
        fields = self._fields
        if fields is not None:
            try:
                return _read_flat(fields, payload, start)
            except (_Unfit, IndexError, struct.error, UnicodeDecodeError):
                pass
        stream = io.BytesIO(payload)
        stream.seek(start)
        return schemaless_reader(stream, self.parsed, None)


def _read_flat(fields: list[Field], buf: bytes, pos: int) -> dict[str, Any]:
    # One loop, the reads inline: a function call per field would cost as much as the read.
    record: dict[str, Any] = {}
    for name, kind, null_byte, value_byte in fields:
        if value_byte != _UNFIT:
            branch = buf[pos]
            pos += 1
            if branch == null_byte:
                record[name] = None
                continue
            if branch != value_byte:
                raise _Unfit
        if kind <= _BYTES:
            byte = buf[pos]
            pos += 1
            number = byte & 0x7F
            shift = 7
            while byte & 0x80:
                byte = buf[pos]
                pos += 1
                number |= (byte & 0x7F) << shift
                shift += 7
            if shift > 63:  # 10 bytes or more: past 64 bits, where fastavro's C long wraps
                raise _Unfit
            number = (number >> 1) ^ -(number & 1)
            if kind == _LONG:
                record[name] = number
                continue
            if number < 0 or pos + number > len(buf):
                raise _Unfit
            end = pos + number
            record[name] = buf[pos:end].decode() if kind == _STRING else buf[pos:end]
            pos = end
        elif kind == _FLOAT:
            record[name] = _FLOAT_AT(buf, pos)[0]
            pos += 4
        elif kind == _DOUBLE:
            record[name] = _DOUBLE_AT(buf, pos)[0]
            pos += 8
        elif kind == _BOOLEAN:
            byte = buf[pos]
            pos += 1
            if byte > 1:
                raise _Unfit
            record[name] = byte == 1
        else:  # _NULL
            record[name] = None
    return record
