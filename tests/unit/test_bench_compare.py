"""The bench's statistics and pooling: intervals against textbook values, pooling over seeds,
and the alert load per nurse-shift."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medrical.bench.compare import WARD, Staffing, compare
from medrical.bench.report import (
    DELAYS_PNG,
    TRADE_OFF_PNG,
    Comparison,
    PolicyInfo,
    as_json,
    as_text,
    write_report,
)
from medrical.bench.stats import percentile, poisson_rate, wilson
from medrical.monitor.evaluation import ScenarioReport


def test_wilson_matches_published_values() -> None:
    # Newcombe (1998), Stat Med 17:857, Table I: 81/263 -> 0.2553-0.3662; 0/10 -> 0-0.2775.
    low, high = wilson(81, 263) or (0, 0)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson(3, 0) is None


def test_poisson_interval_is_close_to_the_exact_one() -> None:
    # Exact (Garwood) 95 % limits: 0 -> (0, 3.689), 10 -> (4.795, 18.39).
    assert poisson_rate(0, 1.0) == pytest.approx((0.0, 3.689), rel=0.01)
    low, high = poisson_rate(10, 2.0) or (0, 0)
    assert low == pytest.approx(4.795 / 2, rel=0.01)
    assert high == pytest.approx(18.39 / 2, rel=0.01)
    assert poisson_rate(1, 0.0) is None


def test_percentiles_interpolate() -> None:
    assert percentile(list(range(1, 11)), 0.9) == pytest.approx(9.1)
    assert percentile([4.0], 0.9) == 4.0
    assert percentile([], 0.5) is None


def report(scenario: str, **counts: object) -> ScenarioReport:
    base: dict[str, object] = {
        "patients": 10,
        "deteriorating": 0,
        "detected": 0,
        "missed": 0,
        "detection_delays_s": (),
        "false_alerts": 0,
        "stable_patient_hours": 240.0,
        "alarms": 0,
        "patient_hours": 240.0,
    }
    return ScenarioReport(scenario=scenario, **{**base, **counts})  # type: ignore[arg-type]


def test_seeds_are_pooled_per_policy_and_scenario_and_for_the_ward() -> None:
    seed_1 = {
        "p": {
            "sepsis": report(
                "sepsis", patients=2, deteriorating=2, detected=1, missed=1,
                detection_delays_s=(600.0,), stable_patient_hours=0.0, alarms=3,
                patient_hours=48.0,
            ),
            "stable": report("stable", false_alerts=2, alarms=2),
        }
    }  # fmt: skip
    seed_2 = {
        "p": {
            "sepsis": report(
                "sepsis", patients=1, deteriorating=1, detected=1, detection_delays_s=(1200.0,),
                stable_patient_hours=0.0, alarms=1, patient_hours=24.0,
            ),
            "stable": report("stable"),
        }
    }  # fmt: skip
    rows = {(r.policy, r.scenario): r for r in compare([seed_1, seed_2], ["p"])}
    assert list(rows) == [("p", "sepsis"), ("p", "stable"), ("p", WARD)]
    sepsis = rows["p", "sepsis"]
    assert (sepsis.patients, sepsis.deteriorating, sepsis.detected) == (3, 3, 2)
    assert sepsis.sensitivity == pytest.approx(2 / 3)
    assert sepsis.sensitivity_by_seed == (0.5, 1.0)
    assert sepsis.delays_s == (600.0, 1200.0)
    assert sepsis.median_delay_s == 900.0
    stable = rows["p", "stable"]
    assert stable.false_per_hour == pytest.approx(2 / 480)
    assert stable.sensitivity is None
    assert stable.sensitivity_by_seed == (None, None)
    ward = rows["p", WARD]
    assert (ward.patients, ward.alarms, ward.patient_hours) == (23, 6, 552.0)
    # 6 alerts over 552 patient-hours: 8 patients for 12 h see 6 / 552 * 96 of them.
    assert ward.load(Staffing()) == pytest.approx(6 / 552 * 96)
    low, high = ward.load_ci(Staffing()) or (0, 0)
    assert low < ward.load(Staffing()) < high  # type: ignore[operator]


def test_a_scenario_missing_from_one_seed_counts_as_absent_there() -> None:
    runs: list[dict[str, dict[str, ScenarioReport]]] = [
        {"p": {"copd": report("copd", deteriorating=1, detected=1)}},
        {"p": {}},
    ]
    row = compare(runs, ["p"])[0]
    assert (row.scenario, row.seeds, row.sensitivity_by_seed) == ("copd", 2, (1.0, None))


@pytest.mark.parametrize(("patients", "hours"), [(0, 12), (8, 0), (8, 25)])
def test_staffing_is_checked(patients: float, hours: float) -> None:
    with pytest.raises(ValueError, match=r"patients per nurse|shift"):
        Staffing(patients, hours)


def test_the_report_renders_as_a_table_json_and_markdown_with_plots(tmp_path: Path) -> None:
    runs = [
        {
            name: {
                "sepsis": report(
                    "sepsis", deteriorating=4, detected=detected, missed=4 - detected,
                    detection_delays_s=tuple(600.0 * (i + 1) for i in range(detected)),
                    stable_patient_hours=0.0, alarms=detected,
                ),
                "stable": report("stable", false_alerts=false, alarms=false),
            }
            for name, detected, false in (("news2", 4, 1), ("mews", 2, 5))
        }
    ]  # fmt: skip
    comparison = Comparison(
        source="simulated: test",
        seeds=(1,),
        policies=(PolicyInfo("news2", "NEWS2", "RCP 2017"), PolicyInfo("mews", "MEWS", "")),
        staffing=Staffing(),
        rows=tuple(compare(runs, ["news2", "mews"])),
        readings=1234,
    )
    text = as_text(comparison)
    assert text.splitlines()[0] == "Policies compared (simulated: test; 1234 readings)"
    news2_sepsis = next(line for line in text.splitlines() if line.startswith("news2  sepsis"))
    assert " 100 [51-100] " in news2_sepsis
    assert text.rstrip().endswith("not for clinical use.")
    document = json.loads(as_json(comparison))
    assert [p["name"] for p in document["policies"]] == ["news2", "mews"]
    first = document["rows"][0]
    assert (first["policy"], first["scenario"], first["detected"]) == ("news2", "sepsis", 4)
    assert first["p90_delay_s"] == pytest.approx(2220.0)
    files = write_report(tmp_path / "out", comparison, "medrical monitor evaluate ...")
    assert [f.name for f in files] == ["report.md", DELAYS_PNG, TRADE_OFF_PNG]
    for picture in files[1:]:
        assert picture.read_bytes().startswith(b"\x89PNG"), picture
    markdown = files[0].read_text(encoding="utf-8")
    assert "`medrical monitor evaluate ...`" in markdown
    assert f"]({DELAYS_PNG})" in markdown
    assert f"]({TRADE_OFF_PNG})" in markdown
    assert "| **mews** | **(ward)** |" in markdown
