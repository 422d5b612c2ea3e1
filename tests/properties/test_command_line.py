"""Any value of any flag of `produce`, `news2` and `monitor evaluate`: a documented exit, no
traceback, one clear line; and what is accepted is right (the score matches the chart)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medrical import schemas
from medrical.news2 import Consciousness, SpO2Scale, Vitals, score
from medrical.simulation import SURVIVABLE_BOUNDS
from tests.properties.invariants import assert_clean
from tests.unit.cli_harness import isolate_cli, run_cli


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from isolate_cli(tmp_path, monkeypatch)


# Text a user might type or a script might pass: numbers of every shape, dates, junk.
value = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        [
            *("", " ", "-", "--5", "²", "1e15", "1e400", "max", "0", "-0", "0x10", "1_000", "٣"),
            *("9999-12-31T23:59:59Z", "0001-01-01T00:00:00+01:00", "2026-01-01", "none", "mix"),
        ]
    ),
    st.text(
        alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
        max_size=20,
    ),
)

PRODUCE_FLAGS = (
    "--patients",
    "--seed",
    "--interval",
    "--start",
    "--speed",
    "--rate",
    "--artifact-rate",
    "--cadence",
    "--scenario",
    "--topic",
    "--duration",
)


@given(flags=st.dictionaries(st.sampled_from(PRODUCE_FLAGS), value, max_size=4))
def test_produce_flags(flags: dict[str, str]) -> None:
    args = ["produce", "--dry-run", "--count", "3"]
    if "--patients" not in flags:
        args += ["--patients", "2"]  # a ward of the default size is slower to draw
    if "--speed" not in flags:
        args += ["--speed", "max"]
    for flag, text in flags.items():
        if (
            flag == "--patients"
            and text.strip().isascii()
            and text.strip().isdigit()
            and int(text) > 50
        ):
            text = "50"  # drawing many patients is slow, not hostile; see the next property
        args += [flag, text]
    outcome = run_cli(*args)
    assert_clean(outcome)
    if outcome.code == 0:
        for line in outcome.stdout.splitlines():
            event = json.loads(line)
            assert len(event["event_time"]) == len("2026-01-01T00:00:00.000Z")


@given(count=st.one_of(st.integers(-5, 30), st.integers(1_000_001, 10**15)))
def test_any_number_of_patients_is_drawn_or_refused_at_once(count: int) -> None:
    outcome = run_cli(
        "produce", "--dry-run", "--count", "1", "--speed", "max", "--patients", str(count)
    )
    assert_clean(outcome)
    assert (outcome.code == 0) == (1 <= count <= 1_000_000), outcome.stderr


NEWS2_FLAGS = {
    "--respiratory-rate": st.integers(-10, 400),
    "--spo2": st.integers(-10, 400),
    "--systolic-bp": st.integers(-10, 400),
    "--heart-rate": st.integers(-10, 400),
    "--body-temperature": st.floats(allow_nan=True, allow_infinity=True, width=32),
}


@given(
    numbers=st.fixed_dictionaries(NEWS2_FLAGS),
    consciousness=st.sampled_from(["A", "c", "V", "P", "U", "X", ""]),
    scale=st.sampled_from(["1", "2", "3"]),
    oxygen=st.booleans(),
)
def test_news2_scores_what_it_shows_or_refuses(
    numbers: dict[str, float], consciousness: str, scale: str, oxygen: bool
) -> None:
    args = ["news2", "--json", "--consciousness", consciousness, "--spo2-scale", scale]
    for flag, number in numbers.items():
        args += [flag, repr(number) if isinstance(number, float) else str(number)]
    if oxygen:
        args.append("--on-oxygen")
    outcome = run_cli(*args)
    assert_clean(outcome, frozenset({0, 2}))
    survivable = all(
        SURVIVABLE_BOUNDS[flag[2:].replace("-", "_")][0]
        <= number
        <= SURVIVABLE_BOUNDS[flag[2:].replace("-", "_")][1]
        for flag, number in numbers.items()
    )
    valid = survivable and consciousness.upper() in "ACVPU" and consciousness and scale != "3"
    assert (outcome.code == 0) == bool(valid), outcome.stderr
    if outcome.code == 0:
        temperature = numbers["--body-temperature"]
        shown = float(f"{temperature:.1f}")
        expected = score(
            Vitals(
                respiratory_rate=int(numbers["--respiratory-rate"]),
                spo2=int(numbers["--spo2"]),
                on_oxygen=oxygen,
                systolic_bp=int(numbers["--systolic-bp"]),
                heart_rate=int(numbers["--heart-rate"]),
                consciousness=Consciousness.parse(consciousness),
                body_temperature=shown,
                spo2_scale=SpO2Scale.parse(scale),
            )
        )
        assert json.loads(outcome.stdout)["score"] == expected.score


# Hours a user may type; valid ones are kept short, since a long simulation is slow, not hostile.
hours_text = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "0", "-1", "1e9", "8785", "", "x", "--5", "²", "1e400"]),
    st.floats(min_value=0.001, max_value=0.2).map(repr),
)


@given(
    hours=hours_text,
    ignore=st.lists(st.sampled_from(["none", "recovery", "sepsis", "bogus", "", "stable\n"])),
)
def test_monitor_evaluate_flags(hours: str, ignore: list[str]) -> None:
    args = ["monitor", "evaluate", "--simulate", "--patients", "2", "--interval", "60"]
    args += ["--hours", hours]
    for name in ignore:
        args += ["--ignore", name]
    outcome = run_cli(*args)
    assert_clean(outcome, frozenset({0, 2}))


def test_the_schema_of_a_dry_run_is_checked() -> None:
    # A guard for test_produce_flags: its accepted events are the schema's.
    outcome = run_cli("produce", "--dry-run", "--count", "1", "--patients", "1")
    assert outcome.code == 0
    event = json.loads(outcome.stdout)
    assert list(event) == schemas.field_names()
