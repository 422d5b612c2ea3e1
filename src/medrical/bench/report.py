"""The comparison as a terminal table, one JSON document, or a Markdown report with plots.

The plots are drawn with matplotlib (the `report` extra), imported only when a report is
written, so that the table and the JSON cost no plotting import.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medrical.bench.compare import WARD, Row, Staffing
from medrical.errors import InputError

NOTE = "Synthetic data; not for clinical use."
DELAYS_PNG = "detection-delays.png"
TRADE_OFF_PNG = "false-alerts-vs-sensitivity.png"


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    name: str
    title: str
    source: str


@dataclass(frozen=True, slots=True)
class Comparison:
    """Everything a report says: where the ward came from, which policies, and the rows."""

    source: str
    seeds: tuple[int, ...]
    policies: tuple[PolicyInfo, ...]
    staffing: Staffing
    rows: tuple[Row, ...]
    readings: int


def _interval(ci: tuple[float, float] | None, scale: float, digits: int) -> str:
    if ci is None:
        return ""
    return f" [{ci[0] * scale:.{digits}f}-{ci[1] * scale:.{digits}f}]"


def _number(value: float | None, scale: float = 1.0, digits: int = 0) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


def cells(row: Row, staffing: Staffing) -> list[str]:
    """One row as the table shows it: delays in minutes, sensitivity in percent."""
    return [
        row.policy,
        row.scenario,
        str(row.patients),
        str(row.deteriorating),
        str(row.detected),
        _number(row.sensitivity, 100) + _interval(row.sensitivity_ci, 100, 0),
        _number(row.median_delay_s, 1 / 60, 0),
        _number(row.p90_delay_s, 1 / 60, 0),
        str(row.false_alerts),
        _number(row.false_per_hour, 1, 4) + _interval(row.false_per_hour_ci, 1, 4),
        _number(row.load(staffing), 1, 2) + _interval(row.load_ci(staffing), 1, 2),
    ]


HEADER = [
    "policy",
    "scenario",
    "patients",
    "deterio",
    "detected",
    "sensitivity % [95% CI]",
    "median min",
    "p90 min",
    "false",
    "false/stable h [95% CI]",
    "alerts/nurse-shift [95% CI]",
]


def legend(comparison: Comparison) -> str:
    staffing = comparison.staffing
    return (
        "Delays: event time from the deterioration's onset (or the patient's first reading, if "
        "later) to the first medium or high alert. False: escalation or red-score alerts while "
        f"stable. Alert load: every such alert, for one nurse with "
        f"{staffing.patients_per_nurse:g} patients over a {staffing.shift_hours:g} h shift. "
        + (
            f"Counts pooled over seeds {', '.join(map(str, comparison.seeds))}. "
            if comparison.seeds
            else ""
        )
        + NOTE
    )


def as_text(comparison: Comparison) -> str:
    table = [HEADER, *(cells(row, comparison.staffing) for row in comparison.rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    lines = [f"Policies compared ({comparison.source}; {comparison.readings} readings)"]
    for number, line in enumerate(table):
        if number > 1 and line[0] != table[number - 1][0]:
            lines.append("")
        lines.append(
            " ".join(
                cell.ljust(width) if i < 2 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
        )
    lines.append(legend(comparison))
    return "\n".join(lines)


def _ci(pair: tuple[float, float] | None) -> list[float] | None:
    return None if pair is None else [round(pair[0], 6), round(pair[1], 6)]


def row_dict(row: Row, staffing: Staffing) -> dict[str, Any]:
    return {
        "policy": row.policy,
        "scenario": row.scenario,
        "seeds": row.seeds,
        "patients": row.patients,
        "deteriorating": row.deteriorating,
        "detected": row.detected,
        "sensitivity": row.sensitivity,
        "sensitivity_ci95": _ci(row.sensitivity_ci),
        "sensitivity_by_seed": list(row.sensitivity_by_seed),
        "median_delay_s": row.median_delay_s,
        "p90_delay_s": row.p90_delay_s,
        "detection_delays_s": list(row.delays_s),
        "false_alerts": row.false_alerts,
        "stable_patient_hours": round(row.stable_hours, 3),
        "false_alerts_per_patient_hour": row.false_per_hour,
        "false_alerts_per_patient_hour_ci95": _ci(row.false_per_hour_ci),
        "alerts": row.alarms,
        "patient_hours": round(row.patient_hours, 3),
        "alerts_per_nurse_shift": row.load(staffing),
        "alerts_per_nurse_shift_ci95": _ci(row.load_ci(staffing)),
    }


def as_json(comparison: Comparison) -> str:
    staffing = comparison.staffing
    return json.dumps(
        {
            "source": comparison.source,
            "seeds": list(comparison.seeds),
            "readings": comparison.readings,
            "policies": [
                {"name": p.name, "title": p.title, "source": p.source} for p in comparison.policies
            ],
            "staffing": {
                "patients_per_nurse": staffing.patients_per_nurse,
                "shift_hours": staffing.shift_hours,
            },
            "rows": [row_dict(row, staffing) for row in comparison.rows],
            "note": NOTE,
        },
        indent=2,
    )


def as_markdown(comparison: Comparison, command: str) -> str:
    staffing = comparison.staffing
    lines = [
        "# Alerting bench report",
        "",
        f"Made by `{command}` ({comparison.source}; {comparison.readings} readings).",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    for row in comparison.rows:
        line = cells(row, staffing)
        if row.scenario == WARD:
            line = [f"**{cell}**" for cell in line]
        lines.append("| " + " | ".join(line) + " |")
    lines += [
        "",
        legend(comparison),
        "",
        f"![Detection delay from onset, per scenario and policy]({DELAYS_PNG})",
        "",
        f"![False alerts per stable patient-hour against sensitivity, per policy]({TRADE_OFF_PNG})",
        "",
        "Policies: "
        + "; ".join(f"`{p.name}`: {(p.source or p.title).rstrip('.')}" for p in comparison.policies)
        + ".",
        "",
    ]
    return "\n".join(lines)


def write_report(directory: Path, comparison: Comparison, command: str) -> list[Path]:
    """Write report.md and its two plots into `directory`; return the files written."""
    try:
        import matplotlib
    except ImportError:
        raise InputError(
            "Writing a report needs matplotlib.",
            hint="Install the report extra: pip install 'medrical[report]'.",
        ) from None
    matplotlib.use("Agg")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"Cannot create the report folder {directory}: {exc}") from None
    written = [
        _plot_delays(directory / DELAYS_PNG, comparison),
        _plot_trade_off(directory / TRADE_OFF_PNG, comparison),
    ]
    markdown = directory / "report.md"
    markdown.write_text(as_markdown(comparison, command), encoding="utf-8")
    return [markdown, *written]


def _by_policy(comparison: Comparison) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = {p.name: [] for p in comparison.policies}
    for row in comparison.rows:
        grouped[row.policy].append(row)
    return grouped


def _plot_delays(path: Path, comparison: Comparison) -> Path:
    import matplotlib.pyplot as plt

    grouped = _by_policy(comparison)
    scenarios = sorted(
        {r.scenario for r in comparison.rows if r.deteriorating and r.scenario != WARD}
    )
    names = list(grouped)
    width = 0.8 / max(1, len(names))
    figure, axes = plt.subplots(figsize=(max(6.0, 1.6 * len(scenarios) + 2), 4.5))
    colours = plt.get_cmap("tab10")
    for j, name in enumerate(names):
        rows = {r.scenario: r for r in grouped[name]}
        data: Sequence[list[float]] = [
            [d / 60 for d in rows[s].delays_s] if s in rows else [] for s in scenarios
        ]
        positions = [i + (j - (len(names) - 1) / 2) * width for i in range(len(scenarios))]
        boxes = axes.boxplot(
            [values or [float("nan")] for values in data],
            positions=positions,
            widths=width * 0.9,
            patch_artist=True,
            showfliers=True,
            manage_ticks=False,
        )
        for patch in boxes["boxes"]:
            patch.set_facecolor(colours(j))
            patch.set_alpha(0.6)
        axes.plot([], [], color=colours(j), linewidth=8, alpha=0.6, label=name)
    axes.set_xticks(range(len(scenarios)), scenarios, rotation=15)
    axes.set_ylabel("detection delay from onset (min)")
    axes.set_title("Detection delay per scenario (detected deteriorations, all seeds)")
    axes.legend(loc="upper right")
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(figure)
    return path


def _plot_trade_off(path: Path, comparison: Comparison) -> Path:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.5, 4.5))
    colours = plt.get_cmap("tab10")
    for j, (name, rows) in enumerate(_by_policy(comparison).items()):
        ward = next(r for r in rows if r.scenario == WARD)
        x, y = ward.false_per_hour, ward.sensitivity
        if x is None or y is None:
            continue
        x_ci, y_ci = ward.false_per_hour_ci, ward.sensitivity_ci
        axes.errorbar(
            [x],
            [y * 100],
            xerr=None if x_ci is None else [[x - x_ci[0]], [x_ci[1] - x]],
            yerr=None if y_ci is None else [[(y - y_ci[0]) * 100], [(y_ci[1] - y) * 100]],
            fmt="o",
            color=colours(j),
            capsize=4,
            label=name,
        )
        axes.annotate(name, (x, y * 100), textcoords="offset points", xytext=(6, 6))
    axes.set_xlabel("false alerts per stable patient-hour")
    axes.set_ylabel("sensitivity (%)")
    axes.set_ylim(0, 105)
    axes.set_xlim(left=0)
    axes.set_title("False alerts against sensitivity (whole ward, 95 % CIs)")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(figure)
    return path
