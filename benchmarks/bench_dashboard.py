"""Dashboard under load: N patients at one reading a second each, a browser on the ward view.

Starts `medrical dashboard --metrics` (its own process, so its CPU can be read from /proc),
streams simulated patients into a fresh `biometrics_*` topic of the configured stack, and, as
`medrical demo` runs them, the JDBC sink connector on that topic and `medrical monitor` over
it (with its metrics; `--no-sink`, `--no-monitor` leave them out), opens the ward page in
headless Chromium and reports, over the measuring window:

- the dashboard server's CPU (user + system seconds per wall second, 1.0 = one core), and
  the monitor's,
- readings applied per second by the server (all biometrics_* topics, not only ours),
- the delay from a reading's event time to its tile being updated on screen, p50/p99/max,
  as recorded by the page itself (event time is set by the producer at send time),
- and the server's share of it: the delay from the Kafka record's timestamp to the push to
  the page (`medrical_dashboard_push_delay_seconds`), p50/p99 as the histogram's bucket
  bounds over the window.

Usage: python benchmarks/bench_dashboard.py [--patients 1000] [--seconds 60] [--warmup 20]
       [--no-sink] [--no-monitor] [--screenshot docs/dashboard-ward.png] [--profile FILE]
Needs the `dashboard` extra, selenium, and Debian's chromium + chromium-driver.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka.admin import AdminClient
from prometheus_client.parser import text_string_to_metric_families

from medrical.config import MedricalConfig, load_config
from medrical.kafka_clients import client_conf
from medrical.producing import BiometricsProducer
from medrical.producing.topics import ensure_topic
from medrical.simulation import Simulator
from medrical.sink import ConnectClient
from medrical.sink.deploy import connector_config, deploy_connector

FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1440,900",
)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def push_delays(url: str) -> dict[float, float]:
    """The push-delay histogram's cumulative bucket counts, by upper bound (s)."""
    text = httpx.get(f"{url}metrics", timeout=10).text
    buckets = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "medrical_dashboard_push_delay_seconds_bucket":
                buckets[float(sample.labels["le"])] = sample.value
    return buckets


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The upper bound of the bucket holding the q-quantile of what was observed between two
    scrapes."""
    bounds = sorted(after)
    total = after[bounds[-1]] - before.get(bounds[-1], 0.0)
    for bound in bounds:
        if after[bound] - before.get(bound, 0.0) >= q * total:
            return bound
    return bounds[-1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Stream(threading.Thread):
    def __init__(self, config: MedricalConfig, topic: str, patients: int) -> None:
        super().__init__(daemon=True)
        self.config, self.topic, self.patients = config, topic, patients
        self.halt = threading.Event()
        self.sent = 0

    def run(self) -> None:
        simulator = Simulator(self.patients, 3, "mix", interval_s=1.0)
        overrides: dict[str, Any] = {"linger.ms": 5}
        with BiometricsProducer(self.config, self.topic, **overrides) as producer:
            for reading in simulator.readings():
                if self.halt.is_set():
                    break
                due = reading.event_time / 1000 - time.time()
                if due > 0:
                    producer.poll(due)
                # Event time is the moment of sending, so page delay is end to end.
                producer.send({**reading.to_record(), "event_time": int(time.time() * 1000)})
                self.sent += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--screenshot", type=Path, default=None)
    parser.add_argument("--no-sink", dest="sink", action="store_false")
    parser.add_argument("--no-monitor", dest="monitor", action="store_false")
    parser.add_argument(
        "--profile", type=Path, default=None, help="Run the server under cProfile, stats here."
    )
    args = parser.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    config = load_config()
    run_id = uuid.uuid4().hex[:8]
    topic = f"biometrics_bench_dash_{run_id}"
    connector = f"bench-dash-{run_id}"
    medrical = str(Path(sys.executable).parent / "medrical")
    # Created before the connector starts, as the demo does, so the sink stores every event.
    ensure_topic(config, topic)
    own_connector = False
    already: list[str] = []
    if args.sink:
        with ConnectClient(config.connect) as client:
            # A sink that `demo` applied already stores every biometrics_* topic: a second one
            # would store each reading twice and double the sink's share of the machine.
            already = client.storing(topic)
            if already:
                print(f"sink: {', '.join(already)}, already applied", file=sys.stderr)
            else:
                deploy_connector(client, connector, connector_config(config, topics_regex=topic))
                own_connector = True
    work = Path(tempfile.mkdtemp(prefix="medrical-bench-dash-"))
    monitor: subprocess.Popen[bytes] | None = None
    if args.monitor:
        with (work / "monitor.log").open("wb") as log:
            monitor = subprocess.Popen(
                [
                    medrical,
                    "monitor",
                    "--topics",
                    f"^{topic}$",
                    "--group",
                    f"medrical-monitor-bench-{run_id}",
                    "--metrics-port",
                    "0",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    command = [medrical, "dashboard", "--port", "0", "--metrics"]
    if args.profile is not None:
        command = [sys.executable, "-m", "cProfile", "-o", str(args.profile), "-m", "medrical",
                   *command[1:]]  # fmt: skip
    server = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    stream = Stream(config, topic, args.patients)
    profile = tempfile.mkdtemp(prefix="medrical-bench-chromium-")
    driver: Any = None
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split(" on ", 1)[1].split()[0]
        stream.start()
        time.sleep(8)  # the dashboard finds the new topic on its metadata refresh
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        driver.get(url)
        time.sleep(args.warmup)

        driver.execute_script("window.medricalStats.delays.length = 0;")
        health0 = httpx.get(f"{url}api/health", timeout=10).json()
        pushed0 = push_delays(url)
        monitor_cpu0 = cpu_seconds(monitor.pid) if monitor is not None else 0.0
        cpu0, wall0, sent0 = cpu_seconds(server.pid), time.monotonic(), stream.sent
        time.sleep(args.seconds)
        cpu1, wall1, sent1 = cpu_seconds(server.pid), time.monotonic(), stream.sent
        monitor_cpu1 = cpu_seconds(monitor.pid) if monitor is not None else 0.0
        health1 = httpx.get(f"{url}api/health", timeout=10).json()
        pushed1 = push_delays(url)
        delays: list[float] = driver.execute_script("return window.medricalStats.delays.slice();")
        if args.screenshot is not None:
            args.screenshot.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(args.screenshot))
        wall = wall1 - wall0
        result = {
            "patients": args.patients,
            "sink": args.sink,
            "sink_connector": connector if own_connector else ", ".join(already) or None,
            "monitor": args.monitor,
            "seconds": round(wall, 1),
            "produced_per_s": round((sent1 - sent0) / wall, 1),
            "applied_per_s": round(
                (health1["readings_applied"] - health0["readings_applied"]) / wall, 1
            ),
            "patients_on_server": health1["patients"],
            "server_cpu_cores": round((cpu1 - cpu0) / wall, 3),
            "monitor_cpu_cores": round((monitor_cpu1 - monitor_cpu0) / wall, 3)
            if monitor is not None
            else None,
            "screen_updates": len(delays),
            "delay_ms_p50": round(statistics.median(delays)) if delays else None,
            "delay_ms_p99": round(percentile(delays, 0.99)) if delays else None,
            "delay_ms_max": round(max(delays)) if delays else None,
            "push_delay_s_p50_at_most": bucket_quantile(pushed0, pushed1, 0.5),
            "push_delay_s_p99_at_most": bucket_quantile(pushed0, pushed1, 0.99),
        }
        print(json.dumps(result, indent=2))
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        stream.halt.set()
        stream.join(timeout=60)
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()
        if monitor is not None:
            stop(monitor)
        shutil.rmtree(work, ignore_errors=True)
        if own_connector:
            with ConnectClient(config.connect) as client:
                client.delete(connector)
        AdminClient(client_conf(config)).delete_topics([topic])


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
