"""The demo's companions: which sub-commands run beside the producer, and where they log."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from medrical.config import MedricalConfig, StackSettings
from medrical.demo import companions, start_companions, stop_companions
from medrical.stack import process


def test_the_monitor_and_the_dashboard_join_by_default() -> None:
    chosen = companions(monitor=True, dashboard=True, dashboard_port=18880)
    assert [c.args for c in chosen] == [("monitor",), ("dashboard", "--port", "18880")]
    assert companions(monitor=False, dashboard=False, dashboard_port=1) == []


def test_companions_are_started_and_stopped_by_their_pid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = MedricalConfig(stack=StackSettings(home=tmp_path))
    chosen = companions(monitor=False, dashboard=True, dashboard_port=1)
    # Stand in for `python -m medrical dashboard`: a process that waits to be stopped.
    sleeper = tmp_path / "bin" / "python"
    sleeper.parent.mkdir()
    sleeper.write_text("#!/bin/sh\nexec sleep 60\n")
    sleeper.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(sleeper))
    start_companions(config, chosen)
    tracked = process.running(chosen[0].pid_file(config))
    assert tracked is not None
    stop_companions(config, chosen)
    assert not tracked.alive()
    assert not chosen[0].pid_file(config).exists()
