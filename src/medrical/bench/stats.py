"""Confidence intervals for the small counts a ward gives: a handful of deteriorations per
scenario, a few false alarms per thousand patient-hours.

- A proportion (sensitivity): Wilson's score interval, which stays inside 0..1 and is honest
  at 0 of n and n of n, where the normal approximation collapses.
- A rate (alerts per patient-hour): the exact Poisson interval on the count, in Byar's
  approximation (its upper bound within a percent of the exact one from a count of 0, its
  lower bound on the cautious side for counts below 5), divided by the exposure.
"""

from __future__ import annotations

import math
import statistics

Z_95 = 1.959963984540054
"""The standard normal quantile of 0.975: two-sided 95 %."""


def wilson(successes: int, trials: int, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson's 95 % interval for successes/trials; None when there are no trials."""
    if trials == 0:
        return None
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def poisson_rate(count: int, exposure: float, z: float = Z_95) -> tuple[float, float] | None:
    """95 % interval of count/exposure for a Poisson count; None without exposure."""
    if exposure <= 0:
        return None
    return _byar_lower(count, z) / exposure, _byar_lower(count + 1, -z) / exposure


def _byar_lower(count: int, z: float) -> float:
    """Byar's bound: with z > 0 the lower bound of `count`; with -z and count + 1 the upper."""
    if count == 0:
        return 0.0
    return count * (1 - 1 / (9 * count) - z / (3 * math.sqrt(count))) ** 3


def percentile(values: list[float] | tuple[float, ...], share: float) -> float | None:
    """The `share` quantile (0..1) by linear interpolation between order statistics."""
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    if share <= 0:
        return float(min(values))
    if share >= 1:
        return float(max(values))
    return cuts[round(share * 100) - 1]
