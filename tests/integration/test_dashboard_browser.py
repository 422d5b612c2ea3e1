"""The dashboard in headless Chromium against the live stack, with patients streaming.

Needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver) and the
`dashboard` extra plus selenium. Without them the test fails and says what to install: a
browser test that silently skips would let a broken page through.

The dashboard runs with `--own-alerts always`, so its own NEWS2 notices serve as the alerts to
acknowledge whether or not a monitor is writing `alerts_*` topics at the same time.
"""

from __future__ import annotations

import collections
import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from confluent_kafka.admin import AdminClient

from medrical.config import MedricalConfig
from medrical.kafka_clients import client_conf
from medrical.producing import BiometricsProducer
from medrical.simulation import Simulator
from medrical.sink import ConnectClient, sink_config
from medrical.stack.layout import StackLayout
from tests.integration.helpers import (
    child_env,
    monitor_logging_to,
    running_dashboard,
    unique_topic,
    wait_for,
)

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_HINT = (
    "Install the browser: apt-get update && apt-get install -y chromium chromium-driver; "
    "and the Python side: pip install 'medrical[dashboard]' selenium"
)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
HOSTILE_ID = '<img src=x onerror="window.pwned=1">'
ALERT_PATIENT = "P-ALERT-1"
CHROMIUM_FLAGS = (
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


def browser_or_fail() -> Any:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        from selenium import webdriver  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        pytest.fail(f"the browser test needs {', '.join(missing)}. {INSTALL_HINT}")
    from selenium import webdriver as driver_module

    return driver_module


@pytest.fixture
def dashboard_url(live_config: MedricalConfig) -> Iterator[str]:
    with running_dashboard(child_env(live_config.stack), "--own-alerts", "always") as url:
        yield url


class Stream:
    """Patients streaming at one reading a second each, in a thread of its own."""

    def __init__(self, config: MedricalConfig, topic: str, patients: int) -> None:
        self.stop = threading.Event()
        self.error: BaseException | None = None
        # When each record was sent: on a busy machine the stream falls behind and catches up,
        # so what it sends in a given moment is read here, not assumed.
        self.sent_at: collections.deque[float] = collections.deque(maxlen=100_000)
        self._thread = threading.Thread(target=self._run, args=(config, topic, patients))
        self._thread.start()

    def _run(self, config: MedricalConfig, topic: str, patients: int) -> None:
        try:
            simulator = Simulator(patients, 11, "mix", interval_s=1.0)
            with BiometricsProducer(config, topic) as producer:
                for reading in simulator.readings():
                    if self.stop.is_set():
                        break
                    due = reading.event_time / 1000 - time.time()
                    if due > 0:
                        producer.poll(due)
                    record = reading.to_record()
                    if record["patient_id"] == "P-000001":
                        producer.send({**record, "patient_id": HOSTILE_ID})
                        self.sent_at.append(time.time())
                    producer.send(record)
                    self.sent_at.append(time.time())
        except BaseException as exc:
            self.error = exc

    def close(self) -> None:
        self.stop.set()
        self._thread.join(timeout=60)

    def rate(self, seconds: float) -> float:
        """Records sent per second over the last `seconds`."""
        since = time.time() - seconds
        return sum(1 for at in list(self.sent_at) if at >= since) / seconds


def send_deterioration(config: MedricalConfig, topic: str) -> None:
    """90 s of a high NEWS2 ending now: enough for the engine to confirm an escalation."""
    now = int(time.time() * 1000)
    with BiometricsProducer(config, topic) as producer:
        for second in range(90, -1, -1):
            producer.send(
                {
                    "patient_id": ALERT_PATIENT,
                    "event_time": now - second * 1000,
                    "heart_rate": 138,
                    "systolic_bp": 95,
                    "diastolic_bp": 60,
                    "body_temperature": 39.4,
                    "spo2": 91,
                    "respiratory_rate": 27,
                    "consciousness": "A",
                    "on_oxygen": False,
                    "scenario": "sepsis",
                    "spo2_scale": 1,
                }
            )


def tile_texts(driver: Any) -> dict[str, str]:
    texts: dict[str, str] = driver.execute_script(
        "const out = {};"
        "for (const t of document.querySelectorAll('.tile')) {"
        "  out[t.querySelector('.tile-id').textContent] = t.querySelector('.vitals').textContent;"
        "}"
        "return out;"
    )
    return texts


def test_ward_dashboard_in_a_browser(live_config: MedricalConfig, dashboard_url: str) -> None:
    webdriver = browser_or_fail()
    from selenium.webdriver.common.by import By

    topic = unique_topic("dashboard")
    stream = Stream(live_config, topic, patients=12)
    connector = f"it-{topic}"
    profile = tempfile.mkdtemp(prefix="medrical-chromium-")
    driver = open_browser(webdriver, profile)
    try:
        # The history charts read what the sink stores; subscribe it once the topic exists.
        sink_once_it_exists(live_config, topic, connector)

        driver.get(dashboard_url)
        wait_for(
            lambda: True if len(tile_texts(driver)) >= 12 else None,
            timeout_s=45,
            what="a tile for each streaming patient",
        )
        before = tile_texts(driver)
        wait_for(
            lambda: (
                True
                if sum(tile_texts(driver).get(k) != v for k, v in before.items()) >= 3
                else None
            ),
            timeout_s=8,
            interval_s=0.5,
            what="vital signs on the tiles to change",
        )

        # A hostile id is shown as text, and nothing it holds runs.
        assert HOSTILE_ID in tile_texts(driver)
        assert driver.execute_script("return window.pwned === undefined")
        assert not driver.find_elements(By.CSS_SELECTOR, ".tiles img")

        send_deterioration(live_config, topic)
        selector = ".alert .alert-patient"
        alert_id = wait_for(
            lambda: driver.execute_script(
                "for (const a of document.querySelectorAll(arguments[0])) {"
                "  if (a.textContent === arguments[1]) return a.closest('.alert').dataset.alertId;"
                "} return null;",
                selector,
                ALERT_PATIENT,
            ),
            timeout_s=30,
            what=f"an alert for {ALERT_PATIENT} in the feed",
        )
        button = driver.find_element(
            By.CSS_SELECTOR, f'.alert[data-alert-id="{alert_id}"] button.ack'
        )
        button.click()
        wait_for(
            lambda: True if _acknowledged_in_page(driver, alert_id) else None,
            timeout_s=10,
            what="the alert to show as acknowledged",
        )

        driver.refresh()
        wait_for(
            lambda: True if _acknowledged_in_page(driver, alert_id) else None,
            timeout_s=20,
            what="the acknowledgement to survive a reload",
        )
        with psycopg.connect(**live_config.postgres.connect_kwargs()) as conn:
            row = conn.execute(
                "SELECT acknowledged_by FROM medrical_alert_acks WHERE alert_id = %s", (alert_id,)
            ).fetchone()
        assert row == ("ward",)

        ARTIFACTS.mkdir(exist_ok=True)
        # Let the trend lines grow a little for the picture.
        time.sleep(3)
        driver.save_screenshot(str(ARTIFACTS / "dashboard-ward.png"))

        # The patient view: history from PostgreSQL, continued live.
        def stored_points() -> int | None:
            response = httpx.get(
                f"{dashboard_url}api/patients/{ALERT_PATIENT}/readings",
                params={"window": 3600},
                timeout=10,
            )
            points = response.json()["points"]
            return len(points) if len(points) >= 30 else None

        wait_for(stored_points, timeout_s=120, interval_s=2, what="the sink to store readings")
        driver.get(f"{dashboard_url}patient?id={ALERT_PATIENT}")
        wait_for(
            lambda: (
                True
                if driver.find_elements(By.CSS_SELECTOR, ".chart polyline.series")
                and driver.find_elements(By.CSS_SELECTOR, ".chart line.alert-mark")
                else None
            ),
            timeout_s=20,
            what="charts with the alert marked",
        )
        # The same alert card as on the ward, under the charts, acknowledged there too.
        wait_for(
            lambda: True if _acknowledged_in_page(driver, alert_id) else None,
            timeout_s=10,
            what="the acknowledged alert listed on the patient page",
        )
        driver.save_screenshot(str(ARTIFACTS / "dashboard-patient.png"))
        assert stream.error is None, stream.error
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        stream.close()
        with ConnectClient(live_config.connect) as client:
            client.delete(connector)


def sink_once_it_exists(config: MedricalConfig, topic: str, connector: str) -> None:
    """Apply a biometrics sink for `topic` alone, once the stream has created the topic."""
    wait_for(
        lambda: True if _topic_exists(config, topic) else None,
        timeout_s=30,
        what=f"topic {topic}",
    )
    with ConnectClient(config.connect) as client:
        client.apply(
            connector,
            sink_config(
                config,
                topics_regex=topic,
                password_file=StackLayout.of(config.stack).connect_secrets_file,
            ),
        )


def open_browser(webdriver: Any, profile: str) -> Any:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def pipeline_row(driver: Any, topic: str, stage: str) -> dict[str, Any] | None:
    """A stage's figures as the pipeline page shows them, with its topic's input rate."""
    found: dict[str, Any] | None = driver.execute_script(
        "const rows = [...document.querySelectorAll('#stages tr')]"
        "  .filter(r => r.dataset.topic === arguments[0]);"
        "const row = rows.find(r => r.dataset.stage === arguments[1]);"
        "if (!row) return null;"
        "const number = (node) => Number(node.textContent.replace(/[^0-9.]/g, ''));"
        "return {"
        "  input: number(rows[0].querySelector('.in-rate')),"
        "  readings: number(row.querySelector('.lag-readings')),"
        "  seconds: number(row.querySelector('.lag-seconds')),"
        "  sparkline: row.querySelector('polyline.lag-line').getAttribute('points'),"
        "  eventsIn: number(document.querySelector('#rate-events .value')),"
        "  rowsStored: number(document.querySelector('#rate-stored .value')),"
        "};",
        topic,
        stage,
    )
    return found


def test_pipeline_view_shows_the_flow_and_a_stopped_sink_as_it_happens(
    live_config: MedricalConfig, dashboard_url: str, tmp_path: Path
) -> None:
    """The pipeline page with patients streaming through a sink and a monitor: events in, rows
    stored, each stage's lag; a paused sink's lag grows on the page and falls once resumed."""
    webdriver = browser_or_fail()
    topic = unique_topic("pipeline")
    connector = f"it-{topic}"
    group = f"medrical-monitor-{topic}"
    stream = Stream(live_config, topic, patients=20)
    profile = tempfile.mkdtemp(prefix="medrical-chromium-")
    driver = open_browser(webdriver, profile)
    connect = httpx.Client(base_url=str(live_config.connect.url), timeout=15)
    try:
        sink_once_it_exists(live_config, topic, connector)
        with (
            monitor_logging_to(live_config, topic, group, tmp_path / "monitor.log"),
            _page_shown_on_failure(driver, dashboard_url, topic),
        ):
            driver.get(f"{dashboard_url}pipeline")
            # 20 patients at a reading a second each (and the hostile id's copy): about 21
            # events/s in (more while the stream catches up on a busy machine), stored as they
            # come. The page's rate is over its last 10 s, as the stream's is here.
            flowing = wait_for(
                lambda: (
                    (
                        (row := pipeline_row(driver, topic, "sink"))
                        and pipeline_row(driver, topic, "monitor")
                        and 0.7 <= row["input"] / max(1.0, stream.rate(12)) <= 1.4
                        and row["rowsStored"] >= 10
                        and row
                    )
                    or None
                ),
                timeout_s=90,
                interval_s=1,
                what="the topic's input rate, the sink and the monitor on the pipeline page",
            )
            assert flowing["eventsIn"] >= flowing["input"]

            connect.put(f"/connectors/{connector}/pause").raise_for_status()
            try:
                behind = wait_for(
                    lambda: (
                        (
                            (row := pipeline_row(driver, topic, "sink"))
                            and row["readings"] >= 200
                            and row["seconds"] >= 8
                            and row
                        )
                        or None
                    ),
                    timeout_s=60,
                    interval_s=1,
                    what="the paused sink's lag to grow on the page",
                )
                monitor = pipeline_row(driver, topic, "monitor")
                assert monitor is not None
                assert monitor["readings"] < behind["readings"], "the monitor kept up"
            finally:
                connect.put(f"/connectors/{connector}/resume").raise_for_status()
            wait_for(
                lambda: (
                    (
                        (row := pipeline_row(driver, topic, "sink"))
                        and row["readings"] < behind["readings"] / 4
                        and row
                    )
                    or None
                ),
                timeout_s=90,
                interval_s=1,
                what="the resumed sink's lag to fall back on the page",
            )
            time.sleep(4)  # one more measurement, for the picture
            ARTIFACTS.mkdir(exist_ok=True)
            driver.save_screenshot(str(ARTIFACTS / "dashboard-pipeline.png"))
        assert stream.error is None, stream.error
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        stream.close()
        connect.close()
        with ConnectClient(live_config.connect) as client:
            client.delete(connector)


@contextlib.contextmanager
def _page_shown_on_failure(driver: Any, dashboard_url: str, topic: str) -> Iterator[None]:
    """A failed check says what the pipeline view held for the topic, and keeps a picture."""
    try:
        yield
    except AssertionError as exc:
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "dashboard-pipeline-failed.png"))
        view = httpx.get(f"{dashboard_url}api/pipeline", timeout=10).json()
        shown = [t for t in view["topics"] if t["topic"] == topic]
        raise AssertionError(f"{exc}; the view's figures: {view['now']}, {shown}") from exc


def _acknowledged_in_page(driver: Any, alert_id: str) -> bool:
    found: bool = driver.execute_script(
        'const node = document.querySelector(`.alert[data-alert-id="${arguments[0]}"]`);'
        "return !!node && node.classList.contains('acknowledged');",
        alert_id,
    )
    return found


def _topic_exists(config: MedricalConfig, topic: str) -> bool:
    metadata = AdminClient(client_conf(config)).list_topics(timeout=5)
    return topic in metadata.topics
