"""`medrical news2`, as people and scripts call it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from medrical.cli import _run, app
from medrical.errors import ExitCode

FLAGS = {
    "--respiratory-rate": "24",
    "--spo2": "93",
    "--systolic-bp": "105",
    "--heart-rate": "115",
    "--consciousness": "A",
    "--body-temperature": "38.5",
}


def _args(*extra: str, **overrides: str) -> list[str]:
    flags = dict(FLAGS)
    for key, value in overrides.items():
        flags["--" + key.replace("_", "-")] = value
    return ["news2", *[part for item in flags.items() for part in item], *extra]


def test_json_has_exactly_the_documented_keys_and_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _run(_args("--json")) == ExitCode.OK
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out) == {
        "score": 8,
        "risk": "high",
        "red_flag": False,
        "subscores": {
            "respiratory_rate": 2,
            "spo2": 2,
            "on_oxygen": 0,
            "systolic_bp": 1,
            "heart_rate": 2,
            "consciousness": 0,
            "body_temperature": 1,
        },
    }


def test_json_types(capsys: pytest.CaptureFixture[str]) -> None:
    args = _args(
        "--json", consciousness="V", heart_rate="70", respiratory_rate="16", body_temperature="37"
    )
    assert _run(args) == ExitCode.OK
    document = json.loads(capsys.readouterr().out)
    assert type(document["score"]) is int
    assert document["red_flag"] is True
    assert (document["score"], document["risk"]) == (6, "medium")  # SpO2 2, BP 1, voice 3
    assert all(type(points) is int for points in document["subscores"].values())


def test_scale_2_on_oxygen(capsys: pytest.CaptureFixture[str]) -> None:
    args = _args(
        "--json",
        "--on-oxygen",
        "--spo2-scale",
        "2",
        spo2="97",
        respiratory_rate="16",
        systolic_bp="120",
        heart_rate="70",
        body_temperature="37.0",
    )
    assert _run(args) == ExitCode.OK
    document = json.loads(capsys.readouterr().out)
    assert document["subscores"]["spo2"] == 3
    assert document["subscores"]["on_oxygen"] == 2
    assert (document["score"], document["risk"], document["red_flag"]) == (5, "medium", True)


def test_default_is_air_and_scale_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(_args("--json", spo2="97")) == ExitCode.OK
    document = json.loads(capsys.readouterr().out)
    assert document["subscores"]["on_oxygen"] == 0
    assert document["subscores"]["spo2"] == 0


def test_human_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(_args(consciousness="c")) == ExitCode.OK
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "NEWS2 11: high clinical risk (red score: consciousness)"
    assert any(line.split() == ["spo2", "93", "%", "(Scale", "1)", "2"] for line in lines)
    assert any(line.split() == ["on_oxygen", "air", "0"] for line in lines)
    assert any(line.split() == ["body_temperature", "38.5", "°C", "1"] for line in lines)
    assert "not a medical device" in out


@pytest.mark.parametrize("missing", list(FLAGS))
def test_each_vital_is_required(missing: str) -> None:
    args = [part for flag, value in FLAGS.items() if flag != missing for part in (flag, value)]
    result = CliRunner().invoke(app, ["news2", *args])
    assert result.exit_code == ExitCode.USAGE
    assert f"'{missing}'" in result.output


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"spo2": "101"}, "spo2 101 % is implausible"),
        ({"heart_rate": "-5"}, "heart_rate -5 /min is implausible"),
        ({"body_temperature": "98.6"}, "not Fahrenheit"),
        ({"consciousness": "X"}, "one of A, C, V, P, U"),
        ({"spo2_scale": "3"}, "SpO2 scale must be 1 or 2"),
    ],
)
def test_bad_values_are_usage_errors(
    capsys: pytest.CaptureFixture[str], override: dict[str, str], expected: str
) -> None:
    assert _run(_args(**override)) == ExitCode.USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert expected in captured.err


def test_non_numeric_value_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, _args(heart_rate="fast"))
    assert result.exit_code == ExitCode.USAGE
    assert "--heart-rate" in result.output
