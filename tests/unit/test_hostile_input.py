"""Inputs an adversarial user tried, each of which ended in a traceback, a wrong answer or an
unbounded allocation: now one clear line and exit 2, or the row skipped with its line number."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from medrical.dashboard.routes.stream import parse_last_event_id
from medrical.errors import ExitCode, InputError
from medrical.monitor.records import check_group
from medrical.schemas import check_topic
from medrical.simulation import CsvReplay
from medrical.simulation.reading import format_event_time
from tests.unit.cli_harness import Outcome, isolate_cli, run_cli

HEADER = "patient_id,event_time,heart_rate\n"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from isolate_cli(tmp_path, monkeypatch)


def refused(outcome: Outcome, *words: str) -> str:
    """The run ended with exit 2 and exactly one error line, holding `words`, no traceback."""
    assert outcome.code == ExitCode.USAGE, outcome.stdout + outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert len(outcome.errors) == 1, outcome.stderr
    for word in words:
        assert word in outcome.errors[0], outcome.errors[0]
    return outcome.errors[0]


def dry_replay(path: Path, *flags: str) -> Outcome:
    return run_cli("produce", "--dry-run", "--replay", str(path), *flags)


def emitted(outcome: Outcome) -> list[dict[str, object]]:
    return [json.loads(line) for line in outcome.stdout.splitlines()]


# --- item 3: event times ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event_time",
    ["--5", "²", "-", "1" * 5000, "99999999999999999999", "253402300800000", "10000-01-01"],
)
def test_a_bad_replay_event_time_skips_its_row(tmp_path: Path, event_time: str) -> None:
    path = tmp_path / "v.csv"
    path.write_text(f"{HEADER}P-1,1000,70\nP-1,{event_time},71\nP-1,3000,72\n", encoding="utf-8")
    outcome = dry_replay(path)
    assert outcome.code == 0, outcome.stderr
    assert [e["heart_rate"] for e in emitted(outcome)] == [70, 72]
    assert "skipped line 3: event_time" in outcome.stderr
    assert "Traceback" not in outcome.stderr


def test_event_times_at_the_ends_of_the_calendar_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text(
        f"{HEADER}P-1,0001-01-01T00:00:00Z,70\nP-1,9999-12-31T23:59:59.999Z,71\n"
        "P-1,0001-01-01T00:00:00+01:00,72\n",
        encoding="utf-8",
    )
    outcome = dry_replay(path)
    assert [e["event_time"] for e in emitted(outcome)] == [
        "0001-01-01T00:00:00.000Z",
        "9999-12-31T23:59:59.999Z",
    ]
    assert "skipped line 4: event_time '0001-01-01T00:00:00+01:00' lies outside" in outcome.stderr


def test_rebasing_past_year_9999_skips_the_rows_that_would_fall_beyond(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text(f"{HEADER}P-1,0,70\nP-1,1000,71\nP-1,5000,72\n", encoding="utf-8")
    outcome = dry_replay(path, "--rebase", "--start", "9999-12-31T23:59:58Z")
    assert outcome.code == 0, outcome.stderr
    assert [e["heart_rate"] for e in emitted(outcome)] == [70, 71]
    assert "skipped line 4: event_time re-based lies outside years 1 to 9999" in outcome.stderr


@pytest.mark.parametrize(
    "start", ["0001-01-01T00:00:00+01:00", "10000-01-01T00:00:00Z", "9999-12-31T23:59:59.5Z"]
)
def test_a_start_beyond_the_calendar_is_refused(start: str) -> None:
    refused(run_cli("produce", "--dry-run", "--count", "1", "--start", start), "--start")


def test_a_simulated_stream_ends_with_the_calendar() -> None:
    outcome = run_cli(
        *("produce", "--dry-run", "--count", "5", "--patients", "1", "--seed", "1"),
        *("--start", "9999-12-31T23:59:58Z"),
    )
    assert outcome.code == 0, outcome.stderr
    assert [e["event_time"] for e in emitted(outcome)] == [
        "9999-12-31T23:59:58.000Z",
        "9999-12-31T23:59:59.000Z",
    ]


@pytest.mark.parametrize("start", ["0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z"])
def test_onsets_beyond_the_calendar_are_written_at_its_edge(start: str) -> None:
    # Patients admitted past their onset meet it before the start; slow ones, long after.
    outcome = run_cli(
        *("produce", "--dry-run", "--count", "40", "--patients", "20", "--seed", "1"),
        *("--start", start),
    )
    assert outcome.code == 0, outcome.stderr
    onsets = {e["onset_time"] for e in emitted(outcome)} - {None}
    assert onsets, "some scenario of the mix deteriorates"
    assert all("0001-01-01T" <= str(onset) <= "9999-12-31T23:59:59.999Z" for onset in onsets)


@pytest.mark.parametrize("interval", ["1e15", "86401", "inf", "nan"])
def test_an_interval_beyond_a_day_is_refused(interval: str) -> None:
    refused(run_cli("produce", "--dry-run", "--count", "3", "--interval", interval), "interval")


def test_a_directory_as_the_replay_file_is_refused(tmp_path: Path) -> None:
    refused(dry_replay(tmp_path), "is a directory")


@pytest.mark.parametrize("hours", ["nan", "inf", "-inf", "0", "1e9"])
def test_evaluate_refuses_hours_that_cannot_be_simulated(hours: str) -> None:
    outcome = run_cli("monitor", "evaluate", "--simulate", "--patients", "2", "--hours", hours)
    refused(outcome, "simulated time")


# --- item 4: unbounded resources --------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_trillion_patients_are_refused_before_any_is_drawn() -> None:
    outcome = run_cli("produce", "--dry-run", "--patients", "1000000000000", "--count", "1")
    refused(outcome, "1,000,000,000,000 patients", "1,000,000")


# --- item 5: the NEWS2 calculator ---------------------------------------------------------------

NORMAL = {
    "--respiratory-rate": "14",
    "--spo2": "97",
    "--systolic-bp": "120",
    "--heart-rate": "70",
    "--consciousness": "A",
    "--body-temperature": "36.8",
}


def news2(**changes: str) -> Outcome:
    flags = {**NORMAL, **{f"--{k.replace('_', '-')}": v for k, v in changes.items()}}
    return run_cli("news2", "--json", *[part for pair in flags.items() for part in pair])


def test_the_impossible_is_refused_not_scored_high() -> None:
    outcome = news2(heart_rate="0", systolic_bp="0", respiratory_rate="0", spo2="0")
    refused(outcome, "implausible")


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("heart_rate", "19"),
        ("heart_rate", "251"),
        ("systolic_bp", "49"),
        ("respiratory_rate", "3"),
        ("respiratory_rate", "61"),
        ("spo2", "49"),
        ("body_temperature", "31.9"),
        ("body_temperature", "42.6"),
        ("body_temperature", "nan"),
    ],
)
def test_each_vital_outside_survivable_bounds_is_refused(flag: str, value: str) -> None:
    refused(news2(**{flag: value}), flag)


def test_the_temperature_scores_as_it_is_shown() -> None:
    for shown_as_35 in ("35.0", "35.04"):
        result = json.loads(news2(body_temperature=shown_as_35).stdout)
        assert result["subscores"]["body_temperature"] == 3, shown_as_35
    flags = {**NORMAL, "--body-temperature": "35.04"}
    text = run_cli("news2", *[part for pair in flags.items() for part in pair])
    assert "35.0 °C            3" in text.stdout


# --- item 6: names with a trailing newline ----------------------------------------------------


@pytest.mark.parametrize("check", [check_topic, check_group])
def test_a_trailing_newline_is_no_valid_name(check: object) -> None:
    name = "biometrics_ward\n" if check is check_topic else "ward-monitor\n"
    with pytest.raises(InputError):
        check(name)  # type: ignore[operator]


def test_produce_refuses_a_topic_with_a_trailing_newline() -> None:
    refused(run_cli("produce", "--dry-run", "--count", "1", "--topic", "biometrics_a\n"), "topic")


def test_the_dashboard_reads_no_table_with_a_trailing_newline() -> None:
    from medrical.dashboard.store import ALERT_TABLE_PATTERN
    from medrical.schemas import TOPIC_PATTERN

    assert TOPIC_PATTERN.fullmatch("biometrics_a\n") is None
    assert ALERT_TABLE_PATTERN.fullmatch("alerts_a\n") is None


# --- item 8: replay robustness ------------------------------------------------------------------


def test_a_byte_order_mark_before_the_header_is_read_past(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"{HEADER}P-1,1000,70\r\n".encode())
    outcome = dry_replay(path)
    assert outcome.code == 0, outcome.stderr
    assert [e["heart_rate"] for e in emitted(outcome)] == [70]


@pytest.mark.parametrize(
    ("bad_row", "why"),
    [
        (b"P-1,2000," + b"9" * 200_000, "longer than"),
        (b'P-1,2000,"' + b"9" * 200_000 + b'"', "longer than"),
        (b"P-\xff\xfe,2000,71", "not UTF-8"),
        (b"P-1,99999999999999999,71", "outside years 1 to 9999"),
    ],
)
def test_one_bad_row_is_skipped_and_the_replay_goes_on(
    tmp_path: Path, bad_row: bytes, why: str
) -> None:
    path = tmp_path / "v.csv"
    path.write_bytes(HEADER.encode() + b"P-1,1000,70\n" + bad_row + b"\nP-1,3000,72\n")
    outcome = dry_replay(path)
    assert outcome.code == 0, outcome.stderr
    assert [e["heart_rate"] for e in emitted(outcome)] == [70, 72]
    skipped = [line for line in outcome.stderr.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 1, outcome.stderr
    assert skipped[0].startswith("skipped line 3: "), skipped[0]
    assert why in skipped[0]
    assert len(skipped[0]) < 300, "the message does not echo the oversized field"


def test_line_numbers_hold_after_a_skipped_multiline_row(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_bytes(
        HEADER.encode() + b'P-1,1000,"7\n0"\nP-\xff,2000,71\nP-1,3000,x\nP-1,4000,73\n'
    )
    replay = CsvReplay(path)
    assert [r.heart_rate for r in replay] == [73]
    assert [(p.line, p.message.split()[0]) for p in replay.problems] == [
        (3, "heart_rate"),
        (4, "is"),
        (5, "heart_rate"),
    ]


# --- item 10: smaller ---------------------------------------------------------------------------


def test_years_before_1000_have_four_digits() -> None:
    assert format_event_time(-62_135_596_800_000) == "0001-01-01T00:00:00.000Z"
    assert format_event_time(-30_610_310_400_000) == "0999-12-31T00:00:00.000Z"


def test_evaluate_refuses_a_scenario_to_ignore_that_does_not_exist() -> None:
    outcome = run_cli(
        *("monitor", "evaluate", "--simulate", "--patients", "2", "--hours", "0.1"),
        *("--ignore", "bogus"),
    )
    refused(outcome, "'bogus'")


def test_evaluate_still_ignores_a_built_in_scenario() -> None:
    outcome = run_cli(
        *("monitor", "evaluate", "--simulate", "--patients", "2", "--hours", "0.1"),
        *("--ignore", "sepsis", "--json"),
    )
    assert outcome.code == 0, outcome.stderr


# --- digits that are not ASCII -----------------------------------------------------------------


@pytest.mark.parametrize("answer", ["²", "٣", "9" * 5000])
def test_a_port_answered_in_other_digits_is_asked_again(answer: str) -> None:
    # Kafka (2), registry (2) and Connect (2) questions, the PostgreSQL host, then its port.
    outcome = run_cli(
        "configure", "--interactive", input="\n" * 7 + f"{answer}\n5433\n" + "\n" * 10
    )
    assert outcome.code == 0, outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert "Please answer a port number between 1 and 65535." in outcome.stderr
    shown = run_cli("config", "show", "--json")
    assert json.loads(shown.stdout)["settings"]["postgres.port"]["value"] == 5433


@pytest.mark.parametrize("seq", ["²", "٣", "9" * 5000, "", "-1"])
def test_a_resumed_stream_from_an_id_in_other_digits_starts_afresh(seq: str) -> None:
    assert parse_last_event_id(f"abc-{seq}", "abc") is None
