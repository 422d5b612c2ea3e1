"""What a living patient's vital signs can be: the bounds that no simulated value ever leaves,
that replayed files are held to, and that `medrical news2` checks its input against. Kept apart
from the simulation, so that a command which only needs the bounds does not import it."""

from __future__ import annotations

from typing import Final

# Survivable bounds: no generated value ever leaves them, whatever a scenario asks for.
SURVIVABLE_BOUNDS: Final[dict[str, tuple[float, float]]] = {
    "heart_rate": (20, 250),
    "systolic_bp": (50, 260),
    "diastolic_bp": (25, 160),
    "body_temperature": (32.0, 42.5),
    "spo2": (50, 100),
    "respiratory_rate": (4, 60),
}
