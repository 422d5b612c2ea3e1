"""The built-in early-warning policies against their published charts, band edge by band edge,
and how policies are found: built-in names, limits files, module:callable, entry points."""

from __future__ import annotations

import re
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from medrical import news2
from medrical.errors import ExitCode
from medrical.news2 import ClinicalRisk, Consciousness, Vitals
from medrical.policies import (
    MEWS,
    NEWS2,
    QSOFA,
    Observation,
    Policy,
    PolicyError,
    Snapshot,
    Verdict,
    builtin_limits,
    load_policies,
    load_policy,
    loading,
    mews,
    parse_limits,
    qsofa,
)

ROOT = Path(__file__).resolve().parents[2]
LOW, MEDIUM, HIGH = ClinicalRisk.LOW, ClinicalRisk.MEDIUM, ClinicalRisk.HIGH

# A patient whose every parameter scores 0 on every chart here.
NORMAL = {
    "respiratory_rate": 12,
    "spo2": 97,
    "on_oxygen": False,
    "systolic_bp": 120,
    "heart_rate": 70,
    "consciousness": Consciousness.ALERT,
    "body_temperature": 36.8,
}


def observe(**changes: object) -> Observation:
    values = {**NORMAL, **changes}
    return Observation("P-000001", 0, Vitals(**values))  # type: ignore[arg-type]


# Subbe et al. 2001, Table 1, systolic BP: <=70: 3 | 71-80: 2 | 81-100: 1 | 101-199: 0 | >=200: 2
MEWS_SYSTOLIC = [(40, 3), (70, 3), (71, 2), (80, 2), (81, 1), (100, 1), (101, 0), (199, 0),
                 (200, 2), (300, 2)]  # fmt: skip
# heart rate: <=40: 2 | 41-50: 1 | 51-100: 0 | 101-110: 1 | 111-129: 2 | >=130: 3
MEWS_HEART_RATE = [(20, 2), (40, 2), (41, 1), (50, 1), (51, 0), (100, 0), (101, 1), (110, 1),
                   (111, 2), (129, 2), (130, 3), (200, 3)]  # fmt: skip
# respiratory rate: <9: 2 | 9-14: 0 | 15-20: 1 | 21-29: 2 | >=30: 3
MEWS_RESPIRATORY_RATE = [(4, 2), (8, 2), (9, 0), (14, 0), (15, 1), (20, 1), (21, 2), (29, 2),
                         (30, 3), (50, 3)]  # fmt: skip
# temperature: <35.0: 2 | 35.0-38.4: 0 | >=38.5: 2
MEWS_TEMPERATURE = [(33.0, 2), (34.9, 2), (35.0, 0), (38.4, 0), (38.5, 2), (41.0, 2)]
# AVPU: A 0 | V 1 | P 2 | U 3; new confusion scores like V
MEWS_AVPU = [("A", 0), ("C", 1), ("V", 1), ("P", 2), ("U", 3)]


@pytest.mark.parametrize(("mmhg", "points"), MEWS_SYSTOLIC)
def test_mews_systolic_bp(mmhg: int, points: int) -> None:
    assert mews.score_systolic_bp(mmhg) == points
    assert MEWS.assess(observe(systolic_bp=mmhg)).score == points


@pytest.mark.parametrize(("bpm", "points"), MEWS_HEART_RATE)
def test_mews_heart_rate(bpm: int, points: int) -> None:
    assert mews.score_heart_rate(bpm) == points
    assert MEWS.assess(observe(heart_rate=bpm)).score == points


@pytest.mark.parametrize(("rate", "points"), MEWS_RESPIRATORY_RATE)
def test_mews_respiratory_rate(rate: int, points: int) -> None:
    # 12/min scores 0 in MEWS as in NEWS2, so the baseline patient adds nothing.
    assert mews.score_respiratory_rate(rate) == points
    assert MEWS.assess(observe(respiratory_rate=rate)).score == points


@pytest.mark.parametrize(("celsius", "points"), MEWS_TEMPERATURE)
def test_mews_temperature(celsius: float, points: int) -> None:
    assert mews.score_body_temperature(celsius) == points
    assert MEWS.assess(observe(body_temperature=celsius)).score == points


@pytest.mark.parametrize(("level", "points"), MEWS_AVPU)
def test_mews_avpu(level: str, points: int) -> None:
    assert MEWS.assess(observe(consciousness=Consciousness(level))).score == points


# Bands: 0-3 low, 4 medium, 5+ high.
@pytest.mark.parametrize(
    ("changes", "total", "risk"),
    [
        ({}, 0, LOW),
        ({"systolic_bp": 70}, 3, LOW),
        ({"systolic_bp": 70, "heart_rate": 101}, 4, MEDIUM),
        ({"systolic_bp": 70, "heart_rate": 111}, 5, HIGH),
        ({"systolic_bp": 70, "heart_rate": 130, "respiratory_rate": 30,
          "body_temperature": 39.0, "consciousness": Consciousness.UNRESPONSIVE}, 14, HIGH),
    ],
)  # fmt: skip
def test_mews_bands(changes: dict[str, object], total: int, risk: ClinicalRisk) -> None:
    verdict = MEWS.assess(observe(**changes))
    assert (verdict.score, verdict.risk, verdict.complete, verdict.trigger) == (
        total,
        risk,
        True,
        False,
    )
    assert len(verdict.reasons) == len(changes)


def test_mews_without_a_parameter_is_incomplete() -> None:
    verdict = MEWS.assess(Observation("P-1", 0, Vitals(heart_rate=130, systolic_bp=70)))
    assert verdict.score == 6
    assert not verdict.complete
    # SpO2 and oxygen are not in MEWS: their absence leaves it complete.
    assert MEWS.assess(observe(spo2=None, on_oxygen=None)).complete


# Sepsis-3: respiratory rate >= 22, systolic <= 100, altered mentation; 2+ positive.
@pytest.mark.parametrize(
    ("changes", "total", "risk"),
    [
        ({"respiratory_rate": 21, "systolic_bp": 101}, 0, LOW),
        ({"respiratory_rate": 22, "systolic_bp": 101}, 1, LOW),
        ({"respiratory_rate": 21, "systolic_bp": 100}, 1, LOW),
        ({"consciousness": Consciousness.CONFUSION}, 1, LOW),
        ({"respiratory_rate": 22, "systolic_bp": 100}, 2, HIGH),
        ({"respiratory_rate": 22, "consciousness": Consciousness.VOICE}, 2, HIGH),
        ({"systolic_bp": 100, "consciousness": Consciousness.UNRESPONSIVE}, 2, HIGH),
        ({"respiratory_rate": 40, "systolic_bp": 60, "consciousness": Consciousness.PAIN}, 3, HIGH),
    ],
)
def test_qsofa_criteria_and_bands(
    changes: dict[str, object], total: int, risk: ClinicalRisk
) -> None:
    verdict = QSOFA.assess(observe(**changes))
    assert (verdict.score, verdict.risk, verdict.complete) == (total, risk, True)
    assert len(verdict.reasons) == total
    assert qsofa.POSITIVE_FROM == 2


def test_qsofa_needs_all_three_criteria_to_be_complete() -> None:
    verdict = QSOFA.assess(Observation("P-1", 0, Vitals(respiratory_rate=30, systolic_bp=90)))
    assert (verdict.score, verdict.risk, verdict.complete) == (2, HIGH, False)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"respiratory_rate": 25},
        {"spo2": 91, "on_oxygen": True},
        {"systolic_bp": 101, "heart_rate": 111, "body_temperature": 39.1},
        {"consciousness": Consciousness.CONFUSION, "respiratory_rate": 21},
        {"heart_rate": None},
    ],
)
def test_news2_policy_is_the_project_news2(changes: dict[str, object]) -> None:
    observation = observe(**changes)
    result = news2.score(observation.vitals)
    verdict = NEWS2.assess(observation)
    assert verdict.score == result.score
    assert verdict.trigger == result.red_flag
    assert verdict.complete == result.complete
    assert verdict.risk == news2.clinical_risk(result.score, red_flag=False)
    assert len(verdict.reasons) == sum(1 for p in result.subscores.values() if p)


@pytest.mark.parametrize(
    ("aggregate", "risk"), [(0, LOW), (4, LOW), (5, MEDIUM), (6, MEDIUM), (7, HIGH), (20, HIGH)]
)
def test_news2_policy_bands_are_chart_4(aggregate: int, risk: ClinicalRisk) -> None:
    assert news2.clinical_risk(aggregate, red_flag=False) is risk


def test_news2_red_score_is_a_trigger_not_a_band() -> None:
    verdict = NEWS2.assess(observe(respiratory_rate=25))
    assert (verdict.score, verdict.risk, verdict.trigger) == (3, LOW, True)


# The built-in limits: heart rate 50-120, SpO2 >= 90 (high priority), respiration 8-30,
# systolic 90-180, temperature 35.0-38.5; a value on a limit is within it.
@pytest.mark.parametrize(
    ("changes", "risk", "breaches"),
    [
        ({"heart_rate": 50}, LOW, 0),
        ({"heart_rate": 49}, MEDIUM, 1),
        ({"heart_rate": 120}, LOW, 0),
        ({"heart_rate": 121}, MEDIUM, 1),
        ({"spo2": 90}, LOW, 0),
        ({"spo2": 89}, HIGH, 1),
        ({"respiratory_rate": 8}, LOW, 0),
        ({"respiratory_rate": 7}, MEDIUM, 1),
        ({"respiratory_rate": 30}, LOW, 0),
        ({"respiratory_rate": 31}, MEDIUM, 1),
        ({"systolic_bp": 90}, LOW, 0),
        ({"systolic_bp": 89}, MEDIUM, 1),
        ({"systolic_bp": 180}, LOW, 0),
        ({"systolic_bp": 181}, MEDIUM, 1),
        ({"body_temperature": 35.0}, LOW, 0),
        ({"body_temperature": 34.9}, MEDIUM, 1),
        ({"body_temperature": 38.5}, LOW, 0),
        ({"body_temperature": 38.6}, MEDIUM, 1),
        ({"heart_rate": 130, "spo2": 85, "systolic_bp": 80}, HIGH, 3),
    ],
)
def test_builtin_limits_at_every_edge(
    changes: dict[str, object], risk: ClinicalRisk, breaches: int
) -> None:
    verdict = builtin_limits().assess(observe(**changes))
    assert (verdict.risk, verdict.score, len(verdict.reasons)) == (risk, breaches, breaches)
    assert not verdict.trigger


def test_the_builtin_limits_file_is_the_one_the_docs_show() -> None:
    doc = (ROOT / "docs" / "alerting-bench.md").read_text(encoding="utf-8")
    shown = re.search(r"```toml\n(.*?)```", doc, re.S)
    assert shown is not None
    from_doc = parse_limits(shown.group(1), source="docs", stem="limits")
    assert from_doc.policy("docs").name == builtin_limits().name
    packaged = (ROOT / "src/medrical/policies/default-limits.toml").read_text(encoding="utf-8")
    assert from_doc == parse_limits(packaged, source="packaged", stem="limits")


def test_a_limits_file_is_loaded_by_its_path(tmp_path: Path) -> None:
    file = tmp_path / "icu.toml"
    file.write_text('[heart_rate]\nhigh = 100\npriority = "high"\n', encoding="utf-8")
    policy = load_policy(str(file))
    assert policy.name == "icu"
    assert policy.assess(observe(heart_rate=101)).risk is HIGH
    assert policy.assess(observe(heart_rate=100)).risk is LOW
    assert policy.assess(observe(systolic_bp=None)).complete


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[heart_rat]\nhigh = 1\n", "did you mean 'heart_rate'"),
        ("[heart_rate]\n", "needs low, high or both"),
        ("[heart_rate]\nlow = 100\nhigh = 90\n", "must lie below high"),
        ("[heart_rate]\nhigh = 'x'\n", "must be a number"),
        ("[heart_rate]\nhigh = 1\npriority = 'urgent'\n", "priority must be medium or high"),
        ("[heart_rate]\nhigh = 1\nlimit = 3\n", "unknown key 'limit'"),
        ('name = "x"\n', "sets no limit"),
        ("[heart_rate\n", "not valid TOML"),
    ],
)
def test_a_bad_limits_file_says_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "bad.toml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match=re.escape(message)) as caught:
        load_policy(str(file))
    assert caught.value.exit_code == ExitCode.USAGE
    assert str(file) in str(caught.value)


def test_builtin_names_and_the_default() -> None:
    assert [p.name for p in load_policies(None)] == ["news2"]
    names = [p.name for p in load_policies(["news2", "mews", "qsofa", "limits"])]
    assert names == ["news2", "mews", "qsofa", "limits"]
    assert all(p.source for p in load_policies(["news2", "mews", "qsofa", "limits"]))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nonsense", "Unknown policy 'nonsense'"),
        ("no_such_module_here:x", "Cannot import 'no_such_module_here'"),
        ("medrical.policies:nothing", "has no 'nothing'"),
        ("medrical.policies:BANDS", "neither a Policy nor a function"),
        (":x", "not of the form module:callable"),
        ("missing.toml", "does not exist"),
    ],
)
def test_unknown_policies_are_refused_in_one_line(spec: str, message: str) -> None:
    with pytest.raises(PolicyError, match=re.escape(message)) as caught:
        load_policy(spec)
    assert "\n" not in str(caught.value)


def test_the_same_policy_twice_is_refused() -> None:
    with pytest.raises(PolicyError, match="Two policies are named 'mews'"):
        load_policies(["mews", "mews"])


def test_a_plain_function_becomes_a_policy_named_after_it() -> None:
    policy = load_policy("tests.unit.test_policies:always_high")
    assert policy.name == "always-high"
    assert policy.assess(observe()).risk is HIGH


def always_high(observation: Observation) -> Verdict:
    return Verdict(score=1, risk=HIGH, reasons=(observation.patient_id,))


def test_an_entry_point_names_a_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = EntryPoint(
        name="always", value="tests.unit.test_policies:always_high", group=loading.ENTRY_POINT_GROUP
    )
    broken = EntryPoint(name="broken", value="no_such_module_here:x", group=plugin.group)

    def entry_points(*, group: str) -> list[EntryPoint]:
        assert group == loading.ENTRY_POINT_GROUP
        return [plugin, broken]

    monkeypatch.setattr(loading, "entry_points", entry_points)
    policy = load_policy("always")
    assert policy.name == "always"
    assert policy.assess(observe()).risk is HIGH
    with pytest.raises(PolicyError, match="failed to load"):
        load_policy("broken")
    with pytest.raises(PolicyError, match="always, broken"):
        load_policy("other")


def test_a_verdict_names_a_band_not_low_medium() -> None:
    with pytest.raises(ValueError, match="trigger=True"):
        Verdict(score=3, risk=ClinicalRisk.LOW_MEDIUM)


def doc_policy_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Write the docs' example policy where Python finds it; return its module name."""
    doc = (ROOT / "docs" / "alerting-bench.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(# myscores\.py\n.*?)```", doc, re.S)
    assert block is not None, "docs/alerting-bench.md lost its example policy"
    (tmp_path / "myscores.py").write_text(block.group(1), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "myscores", raising=False)
    return "myscores"


def test_the_docs_example_policy_loads_and_scores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = doc_policy_module(tmp_path, monkeypatch)
    policy = load_policy(f"{module}:shock_index")
    assert isinstance(policy, Policy)
    assert (policy.name, policy.history_s) == ("shock-index", 1800)
    assert policy.assess(observe(heart_rate=60, systolic_bp=120)).risk is LOW
    assert policy.assess(observe(heart_rate=108, systolic_bp=120)).risk is MEDIUM
    shocked = policy.assess(observe(heart_rate=121, systolic_bp=110))
    assert (shocked.risk, shocked.score) == (HIGH, 1.1)
    earlier = observe(heart_rate=60, systolic_bp=120)
    rising = Observation(
        "P-000001",
        1_800_000,
        Vitals(**{**NORMAL, "heart_rate": 96, "systolic_bp": 120}),  # type: ignore[arg-type]
        history=(Snapshot(earlier.event_time, earlier.vitals),),
    )
    verdict = policy.assess(rising)
    assert verdict.risk is MEDIUM
    assert any("rising" in reason for reason in verdict.reasons)
    assert not policy.assess(observe(heart_rate=None)).complete


def test_alert_ids_keep_news2_and_set_other_policies_apart() -> None:
    from medrical.monitor import AlertKind, alert_id

    news2_id = alert_id("P-1", AlertKind.ESCALATION, 1000)
    assert alert_id("P-1", AlertKind.ESCALATION, 1000, "news2") == news2_id
    assert alert_id("P-1", AlertKind.ESCALATION, 1000, "mews") != news2_id
    assert alert_id("P-1", AlertKind.ESCALATION, 1000, "mews") != alert_id(
        "P-1", AlertKind.ESCALATION, 1000, "qsofa"
    )
