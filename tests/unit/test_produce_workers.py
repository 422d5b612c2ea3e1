"""`produce --workers` and `--shard` without a server: the split of a ward, the summary, the
refusals, and the union of shards through `--dry-run` output."""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from medrical.errors import ExitCode, InputError
from medrical.producing.plan import WardSpec, merge, plan, shares
from medrical.producing.run import Limits, Pacing, RunSummary
from medrical.producing.workers import WorkerFailedError, WorkerFailure, WorkersResult
from medrical.simulation import Shard
from tests.unit.cli_harness import closed_port, isolate_cli, run_cli

START_MS = 1_767_225_600_000
START = "2026-01-01T08:00:00Z"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from isolate_cli(tmp_path, monkeypatch)


def ward(patients: int = 10, shard: Shard | None = None) -> WardSpec:
    return WardSpec(patients, 3, "mix", START_MS, shard=shard or Shard())


# --- the split ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (10, [1, 1], [5, 5]),
        (11, [1, 1], [6, 5]),
        (10, [4, 3, 3], [4, 3, 3]),
        (7, [4, 3, 3], [3, 2, 2]),
        (100, [34, 33, 33], [34, 33, 33]),
    ],
)
def test_shares_add_up_in_proportion(total: int, weights: list[int], expected: list[int]) -> None:
    assert shares(total, weights) == expected
    assert sum(shares(total, weights)) == total


def test_plan_deals_the_ward_and_shares_count_and_rate() -> None:
    jobs = plan("biometrics_w", ward(10), 3, Pacing(rate=300.0), Limits(count=100))
    assert [job.shard for job in jobs] == [Shard(1, 3), Shard(2, 3), Shard(3, 3)]
    assert [job.number for job in jobs] == [1, 2, 3]
    # 4, 3 and 3 patients: the count and the rate follow the patients.
    assert [job.limits.count for job in jobs] == [40, 30, 30]
    assert [job.pacing.rate for job in jobs] == pytest.approx([120.0, 90.0, 90.0])
    assert {job.pacing.speed for job in jobs} == {None}


def test_plan_of_a_machines_shard_splits_that_shard() -> None:
    jobs = plan("biometrics_w", ward(20, Shard(2, 4)), 2, Pacing(), Limits(duration_s=5))
    assert [job.shard for job in jobs] == [Shard(2, 8), Shard(6, 8)]
    assert {job.limits.duration_s for job in jobs} == {5}
    held = sorted(n for job in jobs for n in job.shard.numbers(20))
    assert held == list(Shard(2, 4).numbers(20))


@pytest.mark.parametrize(
    ("workers", "spec", "limits", "message"),
    [
        (0, ward(), Limits(), "between 1 and 64"),
        (65, ward(100), Limits(), "between 1 and 64"),
        (11, ward(10), Limits(), "more than the 10 patient"),
        (3, ward(10, Shard(1, 5)), Limits(), "this shard holds"),
        (4, ward(10), Limits(count=3), "every worker needs at least one event"),
    ],
)
def test_bad_plans_are_input_errors(
    workers: int, spec: WardSpec, limits: Limits, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        plan("biometrics_w", spec, workers, Pacing(), limits)


def summary(sent: int, elapsed: float, reason: str, error: str | None = None) -> RunSummary:
    return RunSummary(sent, sent, 0, 0, elapsed, reason, error)


def test_one_summary_for_the_ward() -> None:
    merged = merge([summary(30, 2.0, "--count 30 reached"), summary(20, 2.5, "--count 20 reached")])
    assert (merged.sent, merged.delivered, merged.failed) == (50, 50, 0)
    assert merged.elapsed_s == 2.5
    assert merged.rate == 20
    assert merged.stopped_by == "--count 20 reached; --count 30 reached"
    assert merge([summary(1, 1, "x")], "stopped by SIGINT").stopped_by == "stopped by SIGINT"
    assert merge([summary(1, 1, "x"), summary(1, 1, "x", "timeout")]).first_error == "timeout"


def test_a_failed_worker_raises_with_its_exit_code() -> None:
    failure = WorkerFailure(2, ExitCode.UNAVAILABLE, "Kafka: no answer")
    result = WorkersResult(merge([]), 3, (failure,))
    with pytest.raises(WorkerFailedError, match="worker 2 of 3 failed: Kafka: no answer") as err:
        result.check()
    assert err.value.exit_code == ExitCode.UNAVAILABLE
    WorkersResult(merge([summary(1, 1, "x")]), 1).check()


# --- the command line --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--workers", "0"), "between 1 and 64"),
        (("--workers", "-2"), "between 1 and 64"),
        (("--workers", "65"), "between 1 and 64"),
        (("--workers", "two"), "Invalid value for '--workers'"),
        (("--workers", "11", "--seed", "1"), "more than the 10 patient"),
        (("--shard", "3/2", "--seed", "1"), "1 <= K <= N"),
        (("--shard", "2", "--seed", "1"), "K/N"),
        (("--shard", "0/3", "--seed", "1"), "1 <= K <= N"),
        (("--shard", "1/11", "--seed", "1"), "cannot be split 11 ways"),
        (("--shard", "1/2"), "--shard needs --seed"),
        (("--shard", "1/2", "--seed", "1", "--workers", "6"), "this shard holds"),
        (("--workers", "4", "--count", "2", "--seed", "1"), "at least one event"),
        (("--workers", "2", "--patients", "0"), "patients"),
    ],
)
def test_bad_workers_and_shards_exit_2_with_one_line(flags: tuple[str, ...], message: str) -> None:
    # No broker at all: every refusal comes before any connection.
    env = {"MEDRICAL_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}"}
    outcome = run_cli("produce", "--topic", "biometrics_unit", *flags, env=env)
    assert outcome.code == ExitCode.USAGE, outcome.stderr
    assert message in outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert outcome.stdout == ""


def test_workers_with_a_dry_run_or_a_replay_are_refused(tmp_path: Path) -> None:
    dry = run_cli("produce", "--dry-run", "--workers", "2", "--count", "4")
    assert dry.code == ExitCode.USAGE
    assert "drop --workers" in dry.stderr
    recording = tmp_path / "r.csv"
    recording.write_text("patient_id,event_time\nP-1,0\n", encoding="utf-8")
    for flag in (("--workers", "2"), ("--shard", "1/2")):
        replayed = run_cli("produce", "--dry-run", "--replay", str(recording), *flag)
        assert replayed.code == ExitCode.USAGE
        assert flag[0] in replayed.stderr


def test_unreachable_kafka_with_workers_exits_69_before_any_worker() -> None:
    env = {"MEDRICAL_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}"}
    outcome = run_cli("produce", "--topic", "biometrics_unit", "--workers", "2", env=env)
    assert outcome.code == ExitCode.UNAVAILABLE
    assert "Kafka" in outcome.stderr


@pytest.mark.parametrize(("cadence", "shards"), [("monitor", 2), ("ward", 3), ("monitor", 13)])
def test_dry_run_shards_together_print_the_unsharded_stream(cadence: str, shards: int) -> None:
    patients, rounds = 13, 40

    def lines(*flags: str) -> list[str]:
        outcome = run_cli(
            "produce", "--dry-run", "--seed", "21", "--start", START, "--patients",
            str(patients), "--cadence", cadence, "--artifact-rate", "0.01", *flags,
        )  # fmt: skip
        assert outcome.code == 0, outcome.stderr
        return outcome.stdout.splitlines()

    whole = lines("--count", str(patients * rounds))
    parts = []
    for index in range(1, shards + 1):
        held = len(Shard(index, shards).numbers(patients))
        parts.append(lines("--shard", f"{index}/{shards}", "--count", str(held * rounds)))
    ids = [{json.loads(line)["patient_id"] for line in part} for part in parts]
    assert sum(map(len, ids)) == len(set().union(*ids)) == patients

    def order(line: str) -> tuple[str, str]:
        event = json.loads(line)
        return event["event_time"], event["patient_id"]

    assert list(heapq.merge(*parts, key=order)) == whole


def test_each_worker_serves_its_metrics_on_a_port_of_its_own() -> None:
    jobs = plan("biometrics_w", ward(10), 3, Pacing(), Limits(), metrics_port=18881)
    assert [job.metrics_port for job in jobs] == [18881, 18882, 18883]
    free = plan("biometrics_w", ward(10), 2, Pacing(), Limits(), metrics_port=0)
    assert [job.metrics_port for job in free] == [0, 0]
    assert {job.metrics_port for job in plan("biometrics_w", ward(10), 2, Pacing(), Limits())} == {
        None
    }
    with pytest.raises(InputError, match="past 65535"):
        plan("biometrics_w", ward(10), 3, Pacing(), Limits(), metrics_port=65534)
