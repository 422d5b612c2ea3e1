"""Shards of a ward: which patients one process (or one machine) simulates.

Shard K of N holds the patients whose number n has (n - 1) mod N == K - 1: patients 1, N + 1,
2N + 1, ... for shard 1. Dealing patients out like cards spreads every shard evenly over the
interval in which a ward's readings are staggered, so each shard sends at an even pace, and a
shard split again (several processes on one machine) is still a shard of the same ward.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from medrical.errors import InputError

_SHARD_TEXT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `count` shards of one ward."""

    index: int = 1
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.index <= self.count:
            raise InputError(
                f"A shard is K/N with 1 <= K <= N, not {self.index}/{self.count}.",
                hint="For example: --shard 2/4 for the second of four machines.",
            )

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`K/N`, as given to `--shard`."""
        match = _SHARD_TEXT.match(text)
        if match is None:
            raise InputError(
                f"--shard takes K/N (this machine's share of N), not {text!r}.",
                hint="For example: --shard 2/4 for the second of four machines.",
            )
        return cls(int(match[1]), int(match[2]))

    @property
    def whole(self) -> bool:
        return self.count == 1

    def numbers(self, patients: int) -> range:
        """The numbers (1-based) of this shard's patients in a ward of `patients`."""
        return range(self.index, patients + 1, self.count)

    def split(self, parts: int) -> list[Shard]:
        """This shard dealt out again into `parts` shards that together hold the same patients."""
        if parts < 1:
            raise InputError(f"A shard splits into at least 1 part, not {parts}.")
        return [Shard(self.index + self.count * part, self.count * parts) for part in range(parts)]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


WHOLE_WARD = Shard()
