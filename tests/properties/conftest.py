"""Hypothesis profiles for the property-based suite over every input surface.

- `ci` (the default): a fixed seed (derandomized), a bounded number of cases per property,
  so that CI runs the same cases every time, within about a minute.
- `deep`: many more cases from a fresh random seed each run, for a deliberate hunt:
  `MEDRICAL_HYPOTHESIS_PROFILE=deep .venv/bin/pytest tests/properties --hypothesis-show-statistics`

Neither keeps an example database: the suite leaves no files behind.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
}
settings.register_profile("ci", max_examples=60, derandomize=True, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("deep", max_examples=2000, **_COMMON)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("MEDRICAL_HYPOTHESIS_PROFILE", "ci"))
