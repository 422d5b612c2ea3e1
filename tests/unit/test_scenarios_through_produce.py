"""Scenarios driven through `medrical produce --dry-run`, scored with NEWS2 as a ward would."""

from __future__ import annotations

import json
from typing import Any

import pytest

from medrical.cli import _run
from medrical.news2 import ClinicalRisk, Consciousness, SpO2Scale, Vitals, score


def _dry_run(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    code = _run(["produce", "--dry-run", "--start", "2026-01-01T00:00:00Z", *args])
    assert code == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _news2(event: dict[str, Any]) -> tuple[int, ClinicalRisk]:
    result = score(
        Vitals(
            respiratory_rate=event["respiratory_rate"],
            spo2=event["spo2"],
            on_oxygen=event["on_oxygen"],
            systolic_bp=event["systolic_bp"],
            heart_rate=event["heart_rate"],
            consciousness=Consciousness(event["consciousness"]),
            body_temperature=event["body_temperature"],
            spo2_scale=SpO2Scale(event["spo2_scale"] or 1),
        )
    )
    return result.score, result.risk


def test_a_sepsis_patient_starts_low_and_reaches_high(capsys: pytest.CaptureFixture[str]) -> None:
    # One reading every 10 minutes for 14 hours of event time.
    events = _dry_run(
        capsys, "--patients", "1", "--scenario", "sepsis", "--interval", "600",
        "--count", "84", "--seed", "11",
    )  # fmt: skip
    scores = [_news2(event) for event in events]
    first_hour = scores[:6]
    assert all(risk is ClinicalRisk.LOW for _, risk in first_hour)
    reached_high = [i for i, (_, risk) in enumerate(scores) if risk is ClinicalRisk.HIGH]
    assert reached_high, "sepsis never reached a high NEWS2"
    assert reached_high[0] * 600 / 3600 <= 12, "high risk came later than the scenario's 12 h"


def test_stable_patients_stay_low(capsys: pytest.CaptureFixture[str]) -> None:
    events = _dry_run(
        capsys, "--patients", "20", "--scenario", "stable", "--interval", "300",
        "--count", "1440", "--seed", "5",
    )  # fmt: skip
    risks = [_news2(event)[1] for event in events]
    assert ClinicalRisk.HIGH not in risks
    low_share = sum(risk is ClinicalRisk.LOW for risk in risks) / len(risks)
    assert low_share >= 0.99


def test_a_copd_patient_on_oxygen_sits_at_88_to_92(capsys: pytest.CaptureFixture[str]) -> None:
    events = _dry_run(
        capsys, "--patients", "5", "--scenario", "copd", "--interval", "60",
        "--count", "1500", "--seed", "9",
    )  # fmt: skip
    on_oxygen = [event for event in events if event["on_oxygen"]]
    assert len(on_oxygen) >= len(events) * 0.8
    assert {event["spo2_scale"] for event in events} == {2}
    in_target = sum(88 <= event["spo2"] <= 92 for event in on_oxygen) / len(on_oxygen)
    assert in_target >= 0.8
