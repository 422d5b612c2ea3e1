"""`medrical news2`: a NEWS2 calculator for people and scripts (synthetic use only)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from medrical.news2 import (
    Consciousness,
    News2Score,
    Parameter,
    SpO2Scale,
    Vitals,
    check_plausible,
    score,
)
from medrical.vitals import SURVIVABLE_BOUNDS

_DISCLAIMER = "Medrical is not a medical device; this score is not for clinical use."


def news2(
    *,
    respiratory_rate: Annotated[
        int, typer.Option("--respiratory-rate", help="Breaths per minute.")
    ],
    spo2: Annotated[int, typer.Option("--spo2", help="Oxygen saturation, %.")],
    spo2_scale: Annotated[
        int,
        typer.Option(
            "--spo2-scale",
            help="SpO2 scale: 2 only for hypercapnic respiratory failure with a target of 88-92%.",
        ),
    ] = 1,
    on_oxygen: Annotated[
        bool, typer.Option("--on-oxygen", help="The patient breathes supplemental oxygen.")
    ] = False,
    systolic_bp: Annotated[
        int, typer.Option("--systolic-bp", help="Systolic blood pressure, mmHg.")
    ],
    heart_rate: Annotated[int, typer.Option("--heart-rate", help="Pulse, beats per minute.")],
    consciousness: Annotated[
        str,
        typer.Option("--consciousness", help="ACVPU: A (alert), or C (new confusion), V, P or U."),
    ],
    body_temperature: Annotated[
        float, typer.Option("--body-temperature", help="Temperature, degrees Celsius.")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of text.")
    ] = False,
) -> None:
    """Compute a NEWS2 score (RCP 2017) from one set of observations."""
    # What a living patient can show, as replayed files are held to; beyond it lies a typing
    # slip, which must not score as a very sick patient.
    survivable = {
        parameter: SURVIVABLE_BOUNDS[parameter.value]
        for parameter in Parameter
        if parameter.value in SURVIVABLE_BOUNDS
    }
    check_plausible(Parameter.RESPIRATORY_RATE, respiratory_rate, survivable)
    check_plausible(Parameter.SPO2, spo2, survivable)
    check_plausible(Parameter.SYSTOLIC_BP, systolic_bp, survivable)
    check_plausible(Parameter.HEART_RATE, heart_rate, survivable)
    check_plausible(Parameter.BODY_TEMPERATURE, body_temperature, survivable)
    vitals = Vitals(
        respiratory_rate=respiratory_rate,
        spo2=spo2,
        on_oxygen=on_oxygen,
        systolic_bp=systolic_bp,
        heart_rate=heart_rate,
        consciousness=Consciousness.parse(consciousness),
        body_temperature=body_temperature,
        spo2_scale=SpO2Scale.parse(spo2_scale),
    )
    result = score(vitals)
    if as_json:
        typer.echo(json.dumps(_as_json(result)))
    else:
        typer.echo(_as_text(vitals, result))


def _as_json(result: News2Score) -> dict[str, object]:
    return {
        "score": result.score,
        "risk": result.risk.value,
        "red_flag": result.red_flag,
        "subscores": {p.value: points for p, points in result.subscores.items()},
    }


def _as_text(vitals: Vitals, result: News2Score) -> str:
    shown: dict[Parameter, str] = {
        Parameter.RESPIRATORY_RATE: f"{vitals.respiratory_rate} /min",
        Parameter.SPO2: f"{vitals.spo2} % (Scale {int(vitals.spo2_scale)})",
        Parameter.ON_OXYGEN: "oxygen" if vitals.on_oxygen else "air",
        Parameter.SYSTOLIC_BP: f"{vitals.systolic_bp} mmHg",
        Parameter.HEART_RATE: f"{vitals.heart_rate} /min",
        Parameter.CONSCIOUSNESS: str(vitals.consciousness),
        Parameter.BODY_TEMPERATURE: f"{vitals.body_temperature:.1f} °C",
    }
    red = ", ".join(p.value for p in result.red_parameters)
    lines = [
        f"NEWS2 {result.score}: {result.risk.value} clinical risk"
        + (f" (red score: {red})" if red else ""),
    ]
    lines += [f"  {p.value:<17} {shown[p]:<18} {points}" for p, points in result.subscores.items()]
    lines.append(_DISCLAIMER)
    return "\n".join(lines)
