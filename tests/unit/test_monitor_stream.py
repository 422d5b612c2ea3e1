"""The monitor's stream shell without a server: decoding, topic names, records, state, CLI."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro.validation import validate
from rich.console import Console

from medrical import schemas
from medrical.errors import ExitCode, InputError
from medrical.monitor import Alert, AlertEngine, AlertKind, LabelledReading, VitalsEvent, evaluate
from medrical.monitor.assessment import BoundaryReadings, simulate
from medrical.monitor.records import (
    ALERT_VALUE,
    alert_record,
    alerts_topic_for,
    changelog_topic_for,
    decode_state,
    encode_state,
)
from medrical.monitor.stream import MonitorOptions
from medrical.monitor.view import WardView
from medrical.news2 import ClinicalRisk
from medrical.schemas.wire import CachedAvroDecoder, WireFormatError, without_logical_types
from medrical.simulation import Simulator
from tests.unit.cli_harness import isolate_cli, run_cli

START_MS = 1_767_225_600_000
TOPIC = "biometrics_ward_a"


@pytest.fixture
def registry() -> Iterator[SchemaRegistryClient]:
    client = SchemaRegistryClient.new_client({"url": "mock://monitor-tests"})
    yield client
    client.close()


def _readings(scenario: str, patients: int, count: int, seed: int = 3) -> list[dict[str, Any]]:
    simulator = Simulator(patients, seed, scenario, interval_s=60, start_ms=START_MS)
    return [r.to_record() for r in itertools.islice(simulator.readings(), count)]


@pytest.mark.parametrize("schema_name", [schemas.BIOMETRICS_VALUE, schemas.BIOMETRICS_VALUE_V1])
def test_cached_reader_decodes_like_avro_deserializer(
    registry: SchemaRegistryClient, schema_name: str
) -> None:
    text = schemas.schema_text(schema_name)
    fields = set(schemas.field_names(schema_name))
    serialize = AvroSerializer(registry, text)
    deserialize = AvroDeserializer(registry)
    context = SerializationContext(TOPIC, MessageField.VALUE)
    fetched: list[int] = []

    def fetch(schema_id: int) -> str:
        fetched.append(schema_id)
        schema_text = registry.get_schema(schema_id).schema_str
        assert schema_text is not None
        return schema_text

    decoder = CachedAvroDecoder(fetch)
    records = _readings("sepsis", 3, 30)
    for record in records:
        payload = serialize({k: v for k, v in record.items() if k in fields}, context)
        assert payload is not None
        expected = deserialize(payload, context)
        assert isinstance(expected, dict)
        # AvroDeserializer turns timestamp-millis into a datetime; the fast path keeps the int.
        expected["event_time"] = round(expected["event_time"].timestamp() * 1000)
        if expected.get("onset_time") is not None:
            expected["onset_time"] = round(expected["onset_time"].timestamp() * 1000)
        assert decoder.decode(payload) == expected
    assert len(fetched) == 1  # one registry call per schema id, then the cache


def test_decoded_record_becomes_a_vitals_event(registry: SchemaRegistryClient) -> None:
    serialize = AvroSerializer(registry, schemas.schema_text(schemas.BIOMETRICS_VALUE))
    payload = serialize(
        _readings("stable", 1, 1)[0], SerializationContext(TOPIC, MessageField.VALUE)
    )
    assert payload is not None
    decoder = CachedAvroDecoder(lambda i: str(registry.get_schema(i).schema_str))
    event = VitalsEvent.from_mapping(decoder.decode(payload))
    assert event.event_time == START_MS
    assert event.scenario == "stable"


@pytest.mark.parametrize(
    ("payload", "message"),
    [(b"\x00\x00\x01", "shorter"), (b"\x01\x00\x00\x00\x01abc", "magic byte")],
)
def test_messages_without_the_header_are_wire_format_errors(payload: bytes, message: str) -> None:
    decoder = CachedAvroDecoder(lambda _: pytest.fail("no schema should be fetched"))
    with pytest.raises(WireFormatError, match=message):
        decoder.decode(payload)


def test_a_truncated_body_is_a_wire_format_error() -> None:
    decoder = CachedAvroDecoder(lambda _: schemas.schema_text(schemas.BIOMETRICS_VALUE))
    with pytest.raises(WireFormatError, match="does not decode"):
        decoder.decode(b"\x00\x00\x00\x00\x07\x10P-")


def test_logical_types_are_stripped_everywhere() -> None:
    schema = json.loads(schemas.schema_text(ALERT_VALUE))
    assert "logicalType" in json.dumps(schema)
    assert "logicalType" not in json.dumps(without_logical_types(schema))


@pytest.mark.parametrize(
    ("topic", "alerts"),
    [("biometrics_ward_a", "alerts_ward_a"), ("biometrics_x", "alerts_x")],
)
def test_alerts_topic_mapping(topic: str, alerts: str) -> None:
    assert alerts_topic_for(topic) == alerts


@pytest.mark.parametrize("topic", ["alerts_x", "biometrics_", "medrical_dead_letters"])
def test_only_biometrics_topics_map(topic: str) -> None:
    with pytest.raises(InputError):
        alerts_topic_for(topic)


def test_changelog_topic_is_per_group_and_input_and_outside_both_sinks() -> None:
    name = changelog_topic_for("ward-monitor", "biometrics_ward_a")
    assert name == "medrical_monitor_state.ward-monitor.ward_a"
    assert not name.startswith(("biometrics_", "alerts_"))
    with pytest.raises(InputError, match="group"):
        changelog_topic_for("a group/with slashes", "biometrics_ward_a")


def _sepsis_alerts() -> list[Alert]:
    engine = AlertEngine()
    alerts: list[Alert] = []
    for record in _readings("sepsis", 1, 13 * 60):
        outcome = engine.process(VitalsEvent.from_mapping(record), raised_at=record["event_time"])
        alerts.extend(outcome.alerts)
    return alerts


def test_alert_records_fit_the_alert_schema() -> None:
    alerts = _sepsis_alerts()
    assert {a.kind for a in alerts} >= {AlertKind.ESCALATION}
    incomplete = Alert(
        alert_id="x",
        patient_id="P-1",
        kind=AlertKind.SILENT,
        risk=ClinicalRisk.LOW,
        score=1,
        subscores={"heart_rate": 1, "spo2": None},
        event_time=START_MS,
        raised_at=START_MS + 1,
        message="no vital signs",
        scenario=None,
    )
    parsed = schemas.parsed_schema(ALERT_VALUE)
    for alert in [*alerts, incomplete]:
        record = alert_record(alert)
        assert validate(record, parsed, raise_errors=True)
        assert list(record) == schemas.field_names(ALERT_VALUE)
    record = alert_record(incomplete)
    assert record["heart_rate_score"] == 1
    assert record["spo2_score"] is None
    assert record["body_temperature_score"] is None


def test_alert_schema_is_flat_for_the_jdbc_sink() -> None:
    for field in json.loads(schemas.schema_text(ALERT_VALUE))["fields"]:
        types = field["type"] if isinstance(field["type"], list) else [field["type"]]
        for kind in types:
            assert not isinstance(kind, dict) or kind["type"] == "long", field["name"]


def test_state_round_trip_through_the_changelog_continues_identically() -> None:
    records = _readings("sepsis", 2, 2 * 13 * 60, seed=11)
    half = 2 * 4 * 60  # four hours in: before the first escalation
    uninterrupted, first = AlertEngine(), AlertEngine()
    for record in records[:half]:
        event = VitalsEvent.from_mapping(record)
        uninterrupted.process(event, raised_at=0)
        first.process(event, raised_at=0)
    restarted = AlertEngine()
    for patient in first.patients():
        restarted.restore_patient(decode_state(encode_state(first.export_patient(patient))))
    seen_a: list[str] = []
    seen_b: list[str] = []
    for record in records[half:]:
        event = VitalsEvent.from_mapping(record)
        seen_a.extend(a.alert_id for a in uninterrupted.process(event, raised_at=0).alerts)
        seen_b.extend(a.alert_id for a in restarted.process(event, raised_at=0).alerts)
    assert seen_a
    assert seen_a == seen_b
    for patient in uninterrupted.patients():
        assert restarted.export_patient(patient) == uninterrupted.export_patient(patient)


def test_state_records_must_be_objects() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        decode_state(b"[1, 2]")


def test_boundary_readings_evaluate_like_all_readings() -> None:
    simulator = Simulator(12, 5, "mix", interval_s=60, start_ms=START_MS)
    engine = AlertEngine()
    everything: list[LabelledReading] = []
    alerts: list[Alert] = []
    boundaries = BoundaryReadings()
    for reading in itertools.islice(simulator.readings(), 12 * 6 * 60):
        event = VitalsEvent.from_mapping(reading.to_record())
        alerts.extend(engine.process(event, raised_at=event.event_time).alerts)
        labelled = LabelledReading(event.patient_id, event.event_time, event.scenario)
        everything.append(labelled)
        boundaries.add(labelled)
    assert len(boundaries.readings()) < len(everything) / 50
    assert evaluate(boundaries.readings(), alerts) == evaluate(everything, alerts)


def test_simulated_assessment_finds_sepsis() -> None:
    simulator = Simulator(4, 2, "sepsis", interval_s=60, start_ms=START_MS)
    result = simulate(simulator, 12)
    report = result.reports["sepsis"]
    assert report.deteriorating == 4
    assert report.detected == 4
    assert result.readings == 4 * 12 * 60


def test_monitor_options_check_their_values() -> None:
    with pytest.raises(InputError):
        MonitorOptions(commit_interval_s=0)
    with pytest.raises(InputError):
        MonitorOptions(group="")
    with pytest.raises(InputError):
        MonitorOptions(instance_id="has space")


def test_ward_view_sorts_by_risk_and_shows_trend() -> None:
    view = WardView()
    engine = AlertEngine()
    for record in _readings("sepsis", 1, 8 * 60) + _readings("stable", 1, 8 * 60, seed=4):
        record = {**record, "patient_id": f"{record['scenario']}-1"}
        event = VitalsEvent.from_mapping(record)
        outcome = engine.process(event, raised_at=0)
        assert outcome.reading is not None
        view.reading(TOPIC, event, outcome.reading)
        for alert in outcome.alerts:
            view.alert(TOPIC, alert)
    console = Console(file=io.StringIO(), width=240, color_system=None)
    console.print(view)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert text.index("sepsis-1") < text.index("stable-1")
    assert "2 patients" in text
    sepsis_row = next(line for line in text.splitlines() if "sepsis-1" in line)
    assert "escalation" in sepsis_row or "red-score" in sepsis_row


# -- the command line ------------------------------------------------------------------------


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from isolate_cli(tmp_path, monkeypatch)


run = run_cli


@pytest.mark.usefixtures("isolated")
@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("monitor", "evaluate"), "either --topic"),
        (("monitor", "evaluate", "--simulate", "--topic", "biometrics_a"), "either --topic"),
        (("monitor", "evaluate", "--topic", "alerts_a"), "biometrics_<name>"),
        (("monitor", "evaluate", "--simulate", "--cadence", "hourly"), "cadence"),
        (("monitor", "evaluate", "--simulate", "--hours", "0"), "positive"),
        (("monitor", "--commit-interval", "0"), "commit-interval"),
        (("monitor", "--group", "no/slashes"), "group"),
        (("monitor", "--no-such-option"), "No such option"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], text: str) -> None:
    outcome = run(*args)
    assert outcome.code == ExitCode.USAGE
    assert text in outcome.stderr


@pytest.mark.usefixtures("isolated")
def test_evaluate_simulated_prints_json() -> None:
    outcome = run(
        "monitor", "evaluate", "--simulate", "--patients", "6", "--hours", "2",
        "--scenario", "sepsis", "--seed", "3", "--interval", "60", "--json",
    )  # fmt: skip
    assert outcome.code == ExitCode.OK, outcome.stderr
    document = json.loads(outcome.stdout)
    assert document["readings"] == 6 * 2 * 60
    (sepsis,) = document["scenarios"]
    assert sepsis["scenario"] == "sepsis"
    assert sepsis["patients"] == 6


@pytest.mark.usefixtures("isolated")
def test_evaluate_simulated_text_report() -> None:
    outcome = run(
        "monitor", "evaluate", "--simulate", "--patients", "20", "--hours", "1",
        "--interval", "60", "--ignore", "none",
    )  # fmt: skip
    assert outcome.code == ExitCode.OK, outcome.stderr
    assert outcome.stdout.startswith("Alert quality (simulated: 20 patients, 1 h")
    assert "stable" in outcome.stdout
    assert "not for clinical use" in outcome.stdout


def test_event_time_is_milliseconds_not_datetime(registry: SchemaRegistryClient) -> None:
    serialize = AvroSerializer(registry, schemas.schema_text(ALERT_VALUE))
    record = alert_record(_sepsis_alerts()[0])
    payload = serialize(record, SerializationContext("alerts_a", MessageField.VALUE))
    assert payload is not None
    decoded = CachedAvroDecoder(lambda i: str(registry.get_schema(i).schema_str)).decode(payload)
    assert decoded == record
    moment = dt.datetime.fromtimestamp(decoded["event_time"] / 1000, dt.UTC)
    assert moment.year == 2026
