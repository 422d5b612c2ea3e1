"""The lag of a stage and a topic's input rate, from offsets alone."""

from __future__ import annotations

import pytest

from medrical.lag import (
    Partition,
    StageLag,
    TopicFlow,
    Unread,
    input_rate,
    stage_lag,
    stage_of,
    unread_points,
)

NOW = 1_767_225_600_000


def test_groups_are_told_apart_by_their_names() -> None:
    assert stage_of("connect-medrical-biometrics-sink") == "sink"
    assert stage_of("medrical-monitor") == "monitor"
    assert stage_of("medrical-monitor-ward2") == "monitor"
    assert stage_of("medrical-monitor.restore") is None
    assert stage_of("medrical-dashboard-0123456789ab") is None


def test_lag_counts_what_lies_past_the_committed_offsets() -> None:
    partitions = {0: Partition(0, 100, 40), 1: Partition(10, 50, 50), 2: Partition(0, 7, 0)}
    committed = {0: 90, 1: 50}
    # Partition 1 is caught up; partition 2 was never committed on, so all of it is unread.
    assert unread_points(partitions, committed) == {(0, 90), (2, 0)}
    found = {(0, 90): Unread(NOW - 4000), (2, 0): Unread(NOW - 9500)}
    lag = stage_lag("sink", "connect-x", partitions, committed, found, NOW)
    assert lag == StageLag("sink", "connect-x", readings=17, seconds=9.5)


def test_a_caught_up_stage_lags_zero_seconds() -> None:
    partitions = {0: Partition(0, 100, 100)}
    assert unread_points(partitions, {0: 100}) == set()
    lag = stage_lag("monitor", "medrical-monitor", partitions, {0: 100}, {}, NOW)
    assert (lag.readings, lag.seconds) == (0, 0.0)


def test_an_offset_below_the_retained_start_counts_from_the_start() -> None:
    partitions = {0: Partition(60, 100, 100)}
    assert unread_points(partitions, {0: 5}) == {(0, 60)}
    lag = stage_lag("sink", "connect-x", partitions, {0: 5}, {(0, 60): Unread(NOW)}, NOW)
    assert lag.readings == 40


def test_nothing_but_transaction_markers_past_the_offset_is_no_lag() -> None:
    # A read_committed consumer stops before a commit marker; the end offset lies past it.
    partitions = {0: Partition(0, 31, 31), 1: Partition(0, 12, 12)}
    found = {(0, 30): Unread(None, records=False), (1, 2): Unread(NOW - 2000)}
    lag = stage_lag("monitor", "medrical-monitor", partitions, {0: 30, 1: 2}, found, NOW)
    assert (lag.readings, lag.seconds) == (10, 2.0)


def test_a_partition_not_read_in_time_is_behind_with_its_age_unknown() -> None:
    partitions = {0: Partition(0, 50, 50), 1: Partition(0, 20, 20)}
    found = {(1, 10): Unread(NOW - 3000)}
    lag = stage_lag("sink", "connect-x", partitions, {0: 40, 1: 10}, found, NOW)
    assert (lag.readings, lag.seconds) == (20, 3.0)


def test_input_rate_is_what_came_in_over_the_window() -> None:
    assert input_rate([Partition(0, 100, 40), Partition(0, 50, 50)], window_s=60) == 1.0


def test_a_flow_as_json_and_as_a_line() -> None:
    flow = TopicFlow(
        "biometrics_a", 500, 8.34, (StageLag("sink", "connect-x", 300, 12.345),), dead_letters=2
    )
    assert flow.as_json() == {
        "topic": "biometrics_a",
        "records": 500,
        "input_per_s": 8.3,
        "stages": [
            {"stage": "sink", "group": "connect-x", "lag_readings": 300, "lag_seconds": 12.3}
        ],
        "dead_letters": 2,
    }
    assert "sink 300 behind (12.3 s)" in flow.describe()
    assert "2 dead letter(s)" in flow.describe()
    assert pytest.approx(8.34) == flow.input_per_s


def test_committed_offsets_of_several_groups_are_asked_one_group_at_a_time() -> None:
    # librdkafka refuses a ListConsumerGroupOffsets of several groups; a stack with two sinks
    # and a monitor has three.
    from confluent_kafka.admin import AdminClient

    from medrical.lag import _Reader

    reader = _Reader.__new__(_Reader)
    reader.admin = AdminClient({"test.mock.num.brokers": 1})
    committed = reader.committed(["connect-a", "connect-b", "medrical-monitor"])
    assert committed == {"connect-a": {}, "connect-b": {}, "medrical-monitor": {}}
