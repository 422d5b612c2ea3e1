// Medrical patient view: every vital and NEWS2 over a window from PostgreSQL, continued live.
"use strict";

(() => {
  const M = Medrical;
  const patientId = new URLSearchParams(window.location.search).get("id") || "";
  document.getElementById("patient-title").textContent = patientId || "(no patient id)";
  document.title = "Medrical patient " + patientId;
  M.bindAckName(document.getElementById("ack-name"));
  const scoreNode = document.getElementById("patient-score");
  const riskNode = document.getElementById("patient-risk");
  const noteNode = document.getElementById("history-note");
  const statusNode = document.getElementById("status");
  const alertsRoot = document.getElementById("patient-alerts");
  const chartsRoot = document.getElementById("charts");

  // Shaded ranges are the bands where NEWS2 gives a parameter 0 points (RCP 2017, Chart 1).
  const CHARTS = [
    { key: "score", title: "NEWS2 score", unit: "", series: [(p) => p.score], floor: 0, ceiling: 8,
      bands: [{ lo: 0, hi: 4.5, cls: "normal" }, { lo: 4.5, hi: 6.5, cls: "band-medium" }, { lo: 6.5, hi: 20, cls: "band-high" }] },
    { key: "heart_rate", title: "Heart rate", unit: "/min", series: [(p) => p.heart_rate], normal: [51, 90] },
    { key: "bp", title: "Blood pressure, systolic and diastolic", unit: "mmHg",
      series: [(p) => p.systolic_bp, (p) => p.diastolic_bp], normal: [111, 219] },
    { key: "respiratory_rate", title: "Respiration rate", unit: "/min", series: [(p) => p.respiratory_rate], normal: [12, 20] },
    { key: "spo2", title: "SpO\u2082", unit: "%", series: [(p) => p.spo2], normal: [96, 100], ceiling: 100 },
    { key: "body_temperature", title: "Temperature", unit: "\u00b0C", series: [(p) => p.body_temperature], normal: [36.1, 38.0] },
  ];

  const svgs = {};
  for (const chart of CHARTS) {
    const box = M.el("section", "chart");
    const heading = M.el("h3", null, chart.title + " ");
    if (chart.unit) heading.append(M.el("span", "unit", "(" + chart.unit + ")"));
    const svgNode = M.svg("svg", { role: "img", "aria-label": chart.title });
    box.append(heading, svgNode);
    chartsRoot.append(box);
    svgs[chart.key] = svgNode;
  }

  let windowS = 3600;
  let points = [];
  let alerts = new Map();
  let bucketS = 0;
  let spo2Scale = 1;
  let clockOffset = 0;
  let drawScheduled = false;
  let loadToken = 0;

  function now() { return Date.now() + clockOffset; }

  function redraw() {
    if (drawScheduled) return;
    drawScheduled = true;
    setTimeout(() => {
      drawScheduled = false;
      const end = now();
      const start = end - windowS * 1000;
      points = points.filter((p) => p.event_time >= start);
      const marks = [...alerts.values()].map((a) => ({
        t: a.event_time ?? a.raised_at,
        acknowledged: !!a.acknowledged,
        label: (a.kind || "alert") + (a.score != null ? " (NEWS2 " + a.score + ")" : "") + (a.message ? ": " + a.message : ""),
      }));
      const gapMs = Math.max(120000, bucketS * 3000);
      for (const chart of CHARTS) {
        const normal = chart.key === "spo2" && spo2Scale === 2 ? [88, 92] : chart.normal;
        MedricalCharts.draw(svgs[chart.key], {
          start, end, normal, bands: chart.bands, floor: chart.floor, ceiling: chart.ceiling,
          series: chart.series.map((pick) => points.map((p) => [p.event_time, pick(p)])),
          alerts: marks, gapMs,
        });
      }
      renderAlerts();
    }, 250);
  }

  function renderAlerts() {
    const ordered = [...alerts.values()].sort((a, b) => (b.event_time ?? 0) - (a.event_time ?? 0));
    alertsRoot.replaceChildren(...ordered.map((a) =>
      M.alertCard(a, { time: a.event_time ?? a.raised_at, linkPatient: false, onAcknowledged: redraw })));
    if (!ordered.length) alertsRoot.append(M.el("li", "history-note", "None."));
  }

  function showLatest(p) {
    scoreNode.textContent = p.score === null ? "\u2013" : String(p.score);
    scoreNode.className = "score " + M.riskClass(p.risk) + (p.complete ? "" : " incomplete");
    riskNode.textContent = p.risk + " risk";
    spo2Scale = p.spo2_scale || 1;
  }

  // A live update carries the latest value of every vital; only those measured in this very
  // reading are new points.
  function livePoint(p) {
    const point = { event_time: p.event_time, score: p.score };
    for (const [name, value] of Object.entries(p.vitals)) {
      point[name] = p.measured_at[name] === p.event_time ? value : null;
    }
    const last = points[points.length - 1];
    if (!last || last.event_time < p.event_time) points.push(point);
  }

  async function load() {
    const token = ++loadToken;
    noteNode.textContent = "Loading history\u2026";
    const url = "/api/patients/" + encodeURIComponent(patientId) + "/readings?window=" + windowS;
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      const body = await response.json();
      if (token !== loadToken) return;
      if (!response.ok) {
        noteNode.textContent = "History unavailable: " + (body.detail || response.status);
        noteNode.className = "history-note error";
        return;
      }
      const live = points.filter((p) => p.event_time >= body.until);
      points = body.points.concat(live);
      bucketS = body.bucket_s;
      for (const a of body.alerts) alerts.set(a.alert_id, a);
      noteNode.className = "history-note";
      noteNode.textContent = body.points.length + " points from the database" +
        (bucketS ? ", each the average of " + bucketS + " s" : "") + (body.truncated ? " (truncated)" : "") +
        "; continuing live.";
      redraw();
    } catch (error) {
      noteNode.textContent = "History unavailable: " + error;
      noteNode.className = "history-note error";
    }
  }

  for (const button of document.querySelectorAll("[data-window]")) {
    button.addEventListener("click", () => {
      for (const other of document.querySelectorAll("[data-window]")) other.classList.toggle("active", other === button);
      windowS = Number(button.dataset.window);
      load();
    });
  }

  M.follow("/api/stream?patient_id=" + encodeURIComponent(patientId), {
    snapshot(snap) {
      clockOffset = snap.server_time - Date.now();
      if (snap.patients.length) showLatest(snap.patients[0]);
      for (const a of snap.alerts) alerts.set(a.alert_id, a);
      redraw();
    },
    batch(items) {
      for (const item of items) {
        if (item.type === "patient") {
          M.stats.received += 1;
          showLatest(item.patient);
          livePoint(item.patient);
          M.recordDelay(item.patient.event_time);
        } else if (item.type === "alert") {
          alerts.set(item.alert.alert_id, item.alert);
        } else if (item.type === "ack" && alerts.has(item.alert_id)) {
          alerts.get(item.alert_id).acknowledged = item.acknowledged;
        }
      }
      redraw();
    },
    status(state, label) {
      statusNode.textContent = label;
      statusNode.className = state;
    },
  });
  load();
  setInterval(redraw, 5000);
  window.addEventListener("resize", redraw);
})();
