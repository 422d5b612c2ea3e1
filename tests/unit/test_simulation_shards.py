"""Shards of a ward: distinct patients, and together exactly the whole ward's stream."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable

import pytest

from medrical.errors import InputError
from medrical.simulation import Reading, Shard, Simulator

START_MS = 1_767_225_600_000


def ward_order(reading: Reading) -> tuple[int, str]:
    return reading.event_time, reading.patient_id


def rounds(simulator: Simulator, count: int) -> list[Reading]:
    """`count` rounds of readings: one reading per patient of the simulator in each."""
    return list(itertools.islice(simulator.readings(), count * len(simulator.patients)))


def merged(streams: Iterable[list[Reading]]) -> list[Reading]:
    return list(heapq.merge(*streams, key=ward_order))


@pytest.mark.parametrize(("text", "shard"), [("1/1", Shard(1, 1)), (" 2 / 4 ", Shard(2, 4))])
def test_shard_parses_k_of_n(text: str, shard: Shard) -> None:
    assert Shard.parse(text) == shard
    assert str(shard) == text.replace(" ", "")


@pytest.mark.parametrize("text", ["", "2", "0/3", "4/3", "1/0", "-1/2", "a/b", "1/2/3", "1.5/2"])
def test_bad_shards_are_input_errors(text: str) -> None:
    with pytest.raises(InputError, match="K/N"):
        Shard.parse(text)


def test_shards_deal_patients_out_like_cards() -> None:
    assert list(Shard(1, 3).numbers(10)) == [1, 4, 7, 10]
    assert list(Shard(3, 3).numbers(10)) == [3, 6, 9]
    parts = Shard(2, 3).split(2)
    assert parts == [Shard(2, 6), Shard(5, 6)]
    assert sorted(n for part in parts for n in part.numbers(20)) == list(Shard(2, 3).numbers(20))


@pytest.mark.parametrize("shards", [2, 3, 7])
@pytest.mark.parametrize(
    ("scenario", "cadence", "artifact_rate", "interval_s"),
    [("mix", "monitor", 0.0, 1.0), ("mix", "ward", 0.02, 60.0), ("sepsis", "monitor", 0.01, 0.005)],
)
def test_union_of_shards_is_the_whole_ward(
    shards: int, scenario: str, cadence: str, artifact_rate: float, interval_s: float
) -> None:
    def simulator(shard: Shard) -> Simulator:
        return Simulator(
            23,
            11,
            scenario,
            start_ms=START_MS,
            interval_s=interval_s,
            cadence="ward" if cadence == "ward" else "monitor",
            artifact_rate=artifact_rate,
            shard=shard,
        )

    whole = rounds(simulator(Shard()), 120)
    parts = [rounds(simulator(Shard(k, shards)), 120) for k in range(1, shards + 1)]
    ids = [{reading.patient_id for reading in part} for part in parts]
    assert sum(len(part_ids) for part_ids in ids) == len(set().union(*ids)) == 23
    for part in parts:
        assert part == sorted(part, key=ward_order)  # each shard in event-time order
    assert merged(parts) == whole


def test_a_shard_split_again_is_the_same_shard() -> None:
    def stream(shard: Shard) -> list[Reading]:
        simulator = Simulator(30, 2, "mix", start_ms=START_MS, shard=shard)
        return rounds(simulator, 50)

    assert merged(stream(part) for part in Shard(2, 3).split(4)) == stream(Shard(2, 3))


def test_a_patient_is_the_same_whoever_shares_its_process() -> None:
    whole = Simulator(12, 5, "mix", start_ms=START_MS)
    alone = Simulator(12, 5, "mix", start_ms=START_MS, shard=Shard(7, 12))
    assert alone.patients == (whole.patients[6],)
    assert rounds(alone, 300) == [r for r in rounds(whole, 300) if r.patient_id == "P-000007"]


def test_more_shards_than_patients_is_refused() -> None:
    with pytest.raises(InputError, match="cannot be split 5 ways"):
        Simulator(4, 1, shard=Shard(1, 5))
