"""The alerting bench on the real engines: `medrical monitor --policy` with the docs' own
example policy on a live stream (its alerts name it), and `monitor evaluate --topic --policy`
scoring what the sink stored, onsets included."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from medrical.config import MedricalConfig
from medrical.monitor.records import alerts_topic_for
from tests.integration.helpers import (
    apply_connector,
    caught_up,
    cli_env,
    monitor_process,
    produce,
    read_alerts,
    readings_sink_conf,
    stop_process,
    unique_topic,
    wait_for,
    wait_for_rows,
    ward,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MEDRICAL = Path(sys.executable).with_name("medrical")


def docs_policy(folder: Path) -> Path:
    """docs/alerting-bench.md's example policy, written as the module it says it is."""
    doc = (ROOT / "docs" / "alerting-bench.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(# myscores\.py\n.*?)```", doc, re.S)
    assert block is not None
    (folder / "myscores.py").write_text(block.group(1), encoding="utf-8")
    return folder


def test_a_docs_policy_runs_live_and_stored_readings_are_scored_anew(
    live_config: MedricalConfig,
    connectors: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic = unique_topic("bench")
    # Two bleeding patients, whose shock index climbs, beside four stable ones.
    records = ward({"H": ("haemorrhage", 2), "T": ("stable", 4)}, hours=8, interval_s=60)
    produce(live_config, [topic], records)

    name = f"it-{topic}"
    connectors.append(name)
    apply_connector(live_config, name, readings_sink_conf(live_config, topic))

    group = f"it-{uuid.uuid4().hex[:10]}"
    # The user's module is found as any module would be: on the child's PYTHONPATH.
    monkeypatch.setenv(
        "PYTHONPATH",
        os.pathsep.join([str(docs_policy(tmp_path)), os.environ.get("PYTHONPATH", "")]),
    )
    monitor = monitor_process(
        live_config, topic, group, f"{group}-1", "--policy", "myscores:shock_index"
    )
    try:
        wait_for(
            lambda: caught_up(live_config, group, topic),
            timeout_s=180,
            what="the shock-index monitor to commit every reading",
        )
    finally:
        code, output = stop_process(monitor)
    assert code == 0, output
    alerts = read_alerts(live_config, alerts_topic_for(topic))
    assert alerts, output
    assert {a["policy"] for a in alerts} == {"shock-index"}
    assert {a["patient_id"] for a in alerts} <= {"HP-000001", "HP-000002"}
    assert any(a["kind"] == "escalation" for a in alerts)
    assert all("shock index" in a["message"] for a in alerts if a["kind"] == "escalation")

    wait_for_rows(live_config, topic, len(records), timeout_s=120)
    with psycopg.connect(**live_config.postgres.connect_kwargs()) as conn:
        query = sql.SQL("SELECT count(onset_time) FROM {}").format(sql.Identifier(topic))
        row = conn.execute(query).fetchone()
    assert row is not None
    assert row[0] == sum(1 for r in records if r["onset_time"] is not None) > 0

    evaluated = subprocess.run(
        [str(MEDRICAL), "monitor", "evaluate", "--topic", topic, "--policy", "news2",
         "--policy", "mews", "--json"],
        env=cli_env(live_config), capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    document = json.loads(evaluated.stdout)
    rows = {(r["policy"], r["scenario"]): r for r in document["rows"]}
    for policy in ("news2", "mews"):
        bleeding = rows[policy, "haemorrhage"]
        assert (bleeding["patients"], bleeding["deteriorating"]) == (2, 2)
        assert rows[policy, "stable"]["patients"] == 4
    # The onsets came from the table: the bleeding starts at the first reading (hour 0).
    assert rows["news2", "haemorrhage"]["detected"] >= 1
