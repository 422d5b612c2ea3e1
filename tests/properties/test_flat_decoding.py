"""The hand-written reader of flat Avro records against fastavro's schemaless reader: for any
flat schema and any bytes (well-formed bodies, their truncations and mutations, noise), both
give the same record or the same exception."""

from __future__ import annotations

import io
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from hypothesis import given
from hypothesis import strategies as st

from medrical.schemas.decoding import RecordDecoder, flat_fields

PRIMITIVES = ["null", "boolean", "int", "long", "float", "double", "string", "bytes"]
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(-(2**31), 2**31 - 1),
    "long": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(width=32),
    "double": st.floats(),
    "string": st.text(max_size=12),
    "bytes": st.binary(max_size=12),
}


@st.composite
def field_type(draw: st.DrawFn) -> Any:
    primitive = draw(st.sampled_from(PRIMITIVES))
    shape = draw(st.sampled_from(["plain", "wrapped", "null-first", "null-last"]))
    if shape == "wrapped":
        return {"type": primitive}
    if shape == "plain" or primitive == "null":
        return primitive
    return ["null", primitive] if shape == "null-first" else [primitive, "null"]


def branch_of(schema: Any) -> str:
    if isinstance(schema, dict):
        return str(schema["type"])
    return str(schema)


@st.composite
def schema_and_body(draw: st.DrawFn) -> tuple[dict[str, Any], bytes]:
    types = draw(st.lists(field_type(), max_size=8))
    schema = {
        "type": "record",
        "name": "Flat",
        "fields": [{"name": f"f{i}", "type": kind} for i, kind in enumerate(types)],
    }
    record = {}
    for i, kind in enumerate(types):
        if isinstance(kind, list):
            value = draw(st.one_of(st.none(), VALUES[next(k for k in kind if k != "null")]))
        else:
            value = draw(VALUES[branch_of(kind)])
        record[f"f{i}"] = value
    out = io.BytesIO()
    schemaless_writer(out, parse_schema(schema), record)
    body = out.getvalue()
    damage = draw(st.sampled_from(["none", "truncate", "flip", "append", "noise"]))
    if damage == "truncate" and body:
        body = body[: draw(st.integers(0, len(body) - 1))]
    elif damage == "flip" and body:
        at = draw(st.integers(0, len(body) - 1))
        body = body[:at] + bytes([draw(st.integers(0, 255))]) + body[at + 1 :]
    elif damage == "append":
        body += draw(st.binary(min_size=1, max_size=4))
    elif damage == "noise":
        body = draw(st.binary(max_size=40))
    return schema, body


def outcome(read: Any) -> tuple[str, str]:
    try:
        return "value", repr(read())  # repr: NaN equals itself there
    except Exception as exc:
        return "error", type(exc).__name__


@given(schema_and_body(), st.integers(0, 3))
def test_the_flat_reader_reads_what_fastavro_reads(case: tuple[Any, bytes], lead: int) -> None:
    schema, body = case
    payload = bytes(lead) + body  # the body need not start at 0, as after a wire header
    assert flat_fields(schema) is not None
    decoder = RecordDecoder(schema)

    def by_fastavro() -> Any:
        stream = io.BytesIO(payload)
        stream.seek(lead)
        return schemaless_reader(stream, parse_schema(schema), None)

    assert outcome(lambda: decoder.decode(payload, lead)) == outcome(by_fastavro)
