// Medrical ward view: one tile per patient, highest risk first, and the alert feed.
"use strict";

(() => {
  const M = Medrical;
  const tilesRoot = document.getElementById("tiles");
  const feedRoot = document.getElementById("feed");
  const feedNote = document.getElementById("feed-note");
  const statusNode = document.getElementById("status");
  const summary = {
    patients: document.getElementById("count-patients"),
    high: document.getElementById("count-high"),
    medium: document.getElementById("count-medium"),
    lowMedium: document.getElementById("count-low-medium"),
    silent: document.getElementById("count-silent"),
    open: document.getElementById("count-open"),
  };
  M.bindAckName(document.getElementById("ack-name"));

  const TREND_BUCKET_MS = 10000;
  const TREND_WINDOW_MS = 5 * 60000;
  const MAX_FEED = 200;
  // [key in tile, label, unit, subscore parameter]
  const VITALS = [
    ["heart_rate", "HR", "/min", "heart_rate"],
    ["bp", "BP", "mmHg", "systolic_bp"],
    ["respiratory_rate", "RR", "/min", "respiratory_rate"],
    ["spo2", "SpO\u2082", "%", "spo2"],
    ["body_temperature", "Temp", "\u00b0C", "body_temperature"],
    ["consciousness", "ACVPU", "", "consciousness"],
  ];

  const tiles = new Map();
  const alerts = new Map();
  const dirty = new Set();
  let renderScheduled = false;
  let clockOffset = 0;
  let silentAfterMs = 30000;

  function makeTile(patientId) {
    const root = M.el("article", "tile");
    const head = M.el("div", "tile-head");
    const link = M.el("a", "tile-id", patientId);
    link.href = M.patientUrl(patientId);
    link.title = "Charts of " + patientId;
    const score = M.el("span", "score", "\u2013");
    score.title = "NEWS2 score";
    head.append(link, score);
    const vitals = M.el("div", "vitals");
    const values = {};
    for (const [key, label, unit] of VITALS) {
      const box = M.el("div", "vital");
      const name = M.el("span", "name", label);
      const line = M.el("span");
      const value = M.el("span", "value", "\u2013");
      const unitNode = M.el("span", "unit", unit);
      line.append(value, unitNode);
      box.append(name, line);
      vitals.append(box);
      values[key] = { box, value, unit: unitNode };
    }
    const spark = M.svg("svg", { class: "spark", viewBox: "0 0 300 28", preserveAspectRatio: "none" });
    const hrLine = M.svg("polyline", { class: "hr-line", points: "" });
    const scoreLine = M.svg("polyline", { class: "score-line", points: "" });
    spark.append(hrLine, scoreLine);
    const foot = M.el("div", "tile-foot");
    const risk = M.el("span", "risk");
    const age = M.el("span", "age");
    foot.append(risk, age);
    root.append(head, vitals, spark, foot);
    return { root, score, values, hrLine, scoreLine, risk, age, data: null, trend: [], order: -1 };
  }

  function addTrendPoint(tile, p) {
    const bucket = p.event_time - (p.event_time % TREND_BUCKET_MS);
    const point = [bucket, p.score, p.vitals.heart_rate ?? null, p.vitals.spo2 ?? null];
    const last = tile.trend[tile.trend.length - 1];
    if (last && last[0] === bucket) tile.trend[tile.trend.length - 1] = point;
    else if (!last || last[0] < bucket) tile.trend.push(point);
    while (tile.trend.length && tile.trend[0][0] < bucket - TREND_WINDOW_MS) tile.trend.shift();
  }

  function upsertPatient(p, trend) {
    let tile = tiles.get(p.patient_id);
    if (!tile) {
      tile = makeTile(p.patient_id);
      tiles.set(p.patient_id, tile);
      tilesRoot.append(tile.root);
    }
    tile.data = p;
    if (trend) tile.trend = trend.slice();
    else addTrendPoint(tile, p);
    dirty.add(p.patient_id);
    scheduleRender();
  }

  function vitalText(key, v) {
    if (key === "bp") {
      if (v.systolic_bp == null) return "\u2013";
      return v.systolic_bp + "/" + (v.diastolic_bp ?? "\u2013");
    }
    if (key === "body_temperature") return v.body_temperature == null ? "\u2013" : Number(v.body_temperature).toFixed(1);
    const value = v[key];
    return value == null ? "\u2013" : String(value);
  }

  function renderTile(tile) {
    const p = tile.data;
    const riskClass = M.riskClass(p.score === null ? null : p.risk);
    tile.root.className = "tile " + riskClass + (tile.root.classList.contains("silent") ? " silent" : "");
    tile.score.className = "score " + riskClass + (p.complete ? "" : " incomplete");
    tile.score.textContent = p.score === null ? "\u2013" : String(p.score);
    tile.score.title = p.complete ? "NEWS2 score" : "NEWS2 score (some parameters missing: a lower bound)";
    for (const [key, , , parameter] of VITALS) {
      const slot = tile.values[key];
      slot.value.textContent = vitalText(key, p.vitals);
      if (key === "spo2") slot.unit.textContent = p.vitals.on_oxygen ? "% O\u2082" : "%";
      const points = p.subscores[parameter];
      slot.box.className = "vital" + (points ? " scored-" + points : "");
    }
    tile.risk.textContent = p.red_flag && p.risk === "low-medium" ? "red score" : p.risk;
    drawSpark(tile);
    M.recordDelay(p.event_time);
  }

  function drawSpark(tile) {
    const end = Date.now() + clockOffset;
    const start = end - TREND_WINDOW_MS;
    const x = (t) => (((t - start) / TREND_WINDOW_MS) * 300).toFixed(1);
    const maxScore = Math.max(8, ...tile.trend.map((q) => q[1] ?? 0));
    const scorePts = [];
    const hrPts = [];
    for (const [t, score, hr] of tile.trend) {
      if (score != null) scorePts.push(x(t) + "," + (26 - (score / maxScore) * 24).toFixed(1));
      if (hr != null) hrPts.push(x(t) + "," + (26 - ((Math.min(Math.max(hr, 30), 180) - 30) / 150) * 24).toFixed(1));
    }
    tile.scoreLine.setAttribute("points", scorePts.join(" "));
    tile.hrLine.setAttribute("points", hrPts.join(" "));
  }

  function scheduleRender() {
    if (renderScheduled) return;
    renderScheduled = true;
    requestAnimationFrame(() => {
      renderScheduled = false;
      for (const id of dirty) {
        const tile = tiles.get(id);
        if (tile) renderTile(tile);
      }
      dirty.clear();
    });
  }

  // Once a second: ages, silence, order by risk, and the summary.
  function tick() {
    const now = Date.now() + clockOffset;
    let silent = 0;
    const counts = { high: 0, medium: 0, "low-medium": 0 };
    for (const tile of tiles.values()) {
      const p = tile.data;
      const ageMs = Math.max(0, now - p.event_time);
      const isSilent = ageMs > silentAfterMs;
      if (isSilent) silent += 1;
      tile.root.classList.toggle("silent", isSilent);
      tile.age.textContent = (isSilent ? "SILENT " : "") + Math.round(ageMs / 1000) + " s ago";
      if (p.risk in counts && p.score !== null) counts[p.risk] += 1;
    }
    const ordered = [...tiles.values()].sort((a, b) =>
      b.data.risk_rank - a.data.risk_rank ||
      (b.data.score ?? -1) - (a.data.score ?? -1) ||
      (a.data.patient_id < b.data.patient_id ? -1 : a.data.patient_id > b.data.patient_id ? 1 : 0));
    ordered.forEach((tile, index) => {
      if (tile.order !== index) {
        tile.order = index;
        tile.root.style.order = String(index);
      }
    });
    summary.patients.textContent = String(tiles.size);
    summary.high.textContent = String(counts.high);
    summary.medium.textContent = String(counts.medium);
    summary.lowMedium.textContent = String(counts["low-medium"]);
    summary.silent.textContent = String(silent);
    let open = 0;
    for (const a of alerts.values()) if (!a.data.acknowledged) open += 1;
    summary.open.textContent = String(open);
  }

  // --- alerts ---------------------------------------------------------------------------------

  function alertTime(a) {
    return a.raised_at ?? a.event_time ?? 0;
  }

  function renderAlert(entry) {
    entry.node = M.alertCard(entry.data, {
      node: entry.node,
      time: alertTime(entry.data),
      linkPatient: true,
      onAcknowledged() {
        renderAlert(entry);
        tick();
      },
    });
  }

  function upsertAlert(a) {
    const entry = alerts.get(a.alert_id) || { data: null, node: null };
    entry.data = a;
    alerts.set(a.alert_id, entry);
    renderAlert(entry);
  }

  function layoutFeed() {
    const ordered = [...alerts.values()].sort((x, y) => alertTime(y.data) - alertTime(x.data));
    for (const stale of ordered.slice(MAX_FEED)) alerts.delete(stale.data.alert_id);
    feedRoot.replaceChildren(...ordered.slice(0, MAX_FEED).map((e) => e.node));
  }

  function noteSource(monitorSeen) {
    feedNote.textContent = monitorSeen
      ? "Alerts from the monitor (alerts_* topics)."
      : "No monitor alerts seen: showing the dashboard's own NEWS2 notices.";
  }

  // --- live stream ----------------------------------------------------------------------------

  M.follow("/api/stream", {
    snapshot(snap) {
      M.stats.snapshots += 1;
      clockOffset = snap.server_time - Date.now();
      silentAfterMs = snap.silent_after_s * 1000;
      tiles.clear();
      tilesRoot.replaceChildren();
      for (const p of snap.patients) upsertPatient(p, p.trend || []);
      alerts.clear();
      for (const a of snap.alerts) upsertAlert(a);
      layoutFeed();
      noteSource(snap.monitor_alerts_seen);
      tick();
    },
    batch(items) {
      let feedChanged = false;
      for (const item of items) {
        if (item.type === "patient") {
          M.stats.received += 1;
          upsertPatient(item.patient, null);
        } else if (item.type === "alert") {
          upsertAlert(item.alert);
          if (item.alert.source === "monitor") noteSource(true);
          feedChanged = true;
        } else if (item.type === "ack") {
          const entry = alerts.get(item.alert_id);
          if (entry) {
            entry.data.acknowledged = item.acknowledged;
            renderAlert(entry);
            feedChanged = true;
          }
        }
      }
      if (feedChanged) layoutFeed();
    },
    status(state, label) {
      statusNode.textContent = label;
      statusNode.className = state;
    },
  });
  setInterval(tick, 1000);
})();
