"""The alert engine under plug-in policies: the same confirmation rules as NEWS2, the policy's
bands and trigger, history for policies that ask for it, and alerts that name their policy;
and `monitor evaluate` comparing policies, the docs' example included."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from medrical.monitor import Alert, AlertEngine, AlertKind, AlertPolicy, VitalsEvent, alert_id
from medrical.news2 import ClinicalRisk, Consciousness
from medrical.policies import MEWS, QSOFA, Observation, Policy, Verdict, load_policy
from tests.unit.cli_harness import isolate_cli, run_cli
from tests.unit.test_policies import doc_policy_module

T0 = 1_767_225_600_000
NORMAL: dict[str, object] = {
    "respiratory_rate": 12,
    "spo2": 97,
    "on_oxygen": False,
    "systolic_bp": 120,
    "heart_rate": 70,
    "consciousness": Consciousness.ALERT,
    "body_temperature": 36.8,
}
MEWS_4 = {**NORMAL, "systolic_bp": 70, "heart_rate": 101}  # 3 + 1: medium
MEWS_5 = {**NORMAL, "systolic_bp": 70, "heart_rate": 111}  # 3 + 2: high


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from isolate_cli(tmp_path, monkeypatch)


def feed(policy: Policy, *vitals: dict[str, object], step_s: int = 30) -> list[Alert]:
    engine = AlertEngine(AlertPolicy(scoring=policy))
    alerts: list[Alert] = []
    for i, values in enumerate(vitals):
        event = VitalsEvent(
            patient_id="P-1", event_time=T0 + i * step_s * 1000, scenario="sepsis",
            **values,  # type: ignore[arg-type]
        )  # fmt: skip
        alerts.extend(engine.process(event, raised_at=event.event_time).alerts)
    return alerts


def test_a_policy_band_escalates_after_the_usual_confirmation() -> None:
    assert feed(MEWS, NORMAL, MEWS_4, MEWS_4) == [], "3 readings and 60 s are needed"
    alerts = feed(MEWS, NORMAL, MEWS_4, MEWS_4, MEWS_4, MEWS_5, MEWS_5, MEWS_5)
    assert [(a.kind, a.risk) for a in alerts] == [
        (AlertKind.ESCALATION, ClinicalRisk.MEDIUM),
        (AlertKind.ESCALATION, ClinicalRisk.HIGH),
    ]
    first = alerts[0]
    assert first.policy == "mews"
    assert first.score == 4
    assert "MEWS escalated from low to medium (score 4" in first.message
    assert "systolic_bp 70: 3" in first.message
    assert first.alert_id == alert_id("P-1", AlertKind.ESCALATION, first.event_time, "mews")
    assert set(first.subscores.values()) == {None}, "NEWS2 sub-scores are not this policy's"


def test_a_policy_de_escalates_once_the_lower_band_persists() -> None:
    # 5 readings spanning 5 minutes: one a minute, the sixth confirms it.
    alerts = feed(MEWS, *[MEWS_4] * 3, *[NORMAL] * 6, step_s=60)
    assert [a.kind for a in alerts] == [AlertKind.ESCALATION, AlertKind.DE_ESCALATION]
    assert alerts[1].risk is ClinicalRisk.LOW


def test_a_trigger_raises_its_own_alert_once_per_episode() -> None:
    def red(observation: Observation) -> Verdict:
        hot = (observation.vitals.body_temperature or 0) > 39
        return Verdict(score=int(hot), risk=ClinicalRisk.LOW, reasons=("hot",), trigger=hot)

    policy = Policy(name="hot", assess=red)
    fever = {**NORMAL, "body_temperature": 39.5}
    alerts = feed(policy, NORMAL, *[fever] * 6)
    assert [(a.kind, a.risk, a.policy) for a in alerts] == [
        (AlertKind.RED_SCORE, ClinicalRisk.LOW_MEDIUM, "hot")
    ]
    assert "hot trigger; score 1, low-medium risk: hot" in alerts[0].message


def test_an_incomplete_verdict_moves_no_band() -> None:
    no_consciousness = {**MEWS_5, "consciousness": None}
    alerts = feed(QSOFA, *[{**no_consciousness, "respiratory_rate": 30}] * 6, step_s=30)
    # Pressure and respiration meet two criteria but ACVPU was never measured.
    assert alerts == []


def test_history_reaches_a_policy_that_asks_for_it() -> None:
    seen: list[int] = []

    def count(observation: Observation) -> Verdict:
        seen.append(len(observation.history))
        return Verdict(score=0, risk=ClinicalRisk.LOW)

    feed(Policy(name="counter", assess=count, history_s=60), *[NORMAL] * 5)
    # One reading every 30 s: up to the two earlier within a minute.
    assert seen == [0, 1, 2, 2, 2]
    seen.clear()
    feed(Policy(name="counter", assess=count), *[NORMAL] * 3)
    assert seen == [0, 0, 0]


def test_a_policy_engine_still_answers_with_the_news2_score() -> None:
    engine = AlertEngine(AlertPolicy(scoring=MEWS))
    event = VitalsEvent(patient_id="P-1", event_time=T0, **MEWS_5)  # type: ignore[arg-type]
    outcome = engine.process(event, raised_at=T0)
    assert outcome.reading is not None
    assert outcome.reading.score.score == 5  # NEWS2: systolic 70 -> 3, heart rate 111 -> 2


def test_news2_alerts_name_news2_and_keep_their_ids() -> None:
    seven = {**NORMAL, "respiratory_rate": 25, "heart_rate": 131, "spo2": 95}
    alerts = feed(load_policy("news2"), *[seven] * 3)
    assert alerts
    assert {a.policy for a in alerts} == {"news2"}
    assert alerts[0].alert_id == alert_id("P-1", alerts[0].kind, alerts[0].event_time)


ARGS = ("monitor", "evaluate", "--simulate", "--patients", "12", "--hours", "2", "--interval", "60")


def test_evaluate_compares_policies_as_a_table_and_json() -> None:
    outcome = run_cli(*ARGS, "--policy", "news2", "--policy", "qsofa", "--seeds", "2", "--json")
    assert outcome.code == 0, outcome.stderr
    document = json.loads(outcome.stdout)
    assert document["seeds"] == [1, 2]
    assert [p["name"] for p in document["policies"]] == ["news2", "qsofa"]
    ward = [r for r in document["rows"] if r["scenario"] == "(ward)"]
    assert [r["policy"] for r in ward] == ["news2", "qsofa"]
    assert ward[0]["patients"] == ward[1]["patients"]
    text = run_cli(*ARGS, "--policy", "mews")
    assert text.code == 0, text.stderr
    assert text.stdout.startswith("Policies compared (simulated: 12 patients, 2 h")


def test_evaluate_with_news2_alone_is_the_default_report() -> None:
    default = run_cli(*ARGS, "--json")
    compared = run_cli(*ARGS, "--policy", "news2", "--json")
    assert default.code == compared.code == 0
    rows = {r["scenario"]: r for r in json.loads(default.stdout)["scenarios"]}
    for row in json.loads(compared.stdout)["rows"]:
        if row["scenario"] in rows:
            same = rows[row["scenario"]]
            assert (row["detected"], row["false_alerts"]) == (
                same["detected"],
                same["false_alerts"],
            )
            assert row["median_delay_s"] == same["median_delay_s"]


def test_the_docs_example_policy_runs_through_evaluate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = doc_policy_module(tmp_path, monkeypatch)
    outcome = run_cli(*ARGS, "--policy", f"{module}:shock_index", "--report", str(tmp_path / "r"))
    assert outcome.code == 0, outcome.stderr
    assert "shock-index" in outcome.stdout
    assert "`medrical monitor evaluate --simulate" in (tmp_path / "r" / "report.md").read_text()
    assert "myscores" in sys.modules


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--policy", "nope"), "Unknown policy 'nope'"),
        (("--seeds", "0"), "--seeds must lie in 1..100"),
        (("--policy", "mews", "--patients-per-nurse", "0"), "patients per nurse"),
    ],
)
def test_bad_bench_options_are_one_line_errors(extra: tuple[str, ...], message: str) -> None:
    outcome = run_cli(*ARGS, *extra)
    assert outcome.code == 2
    assert len(outcome.errors) == 1
    assert message in outcome.errors[0]
    assert "Traceback" not in outcome.stderr


def test_seeds_in_processes_of_their_own_give_the_same_figures() -> None:
    one = run_cli(*ARGS, "--policy", "mews", "--seeds", "2", "--json")
    two = run_cli(*ARGS, "--policy", "mews", "--seeds", "2", "--jobs", "2", "--json")
    assert one.code == two.code == 0, two.stderr
    assert json.loads(one.stdout) == json.loads(two.stdout)
