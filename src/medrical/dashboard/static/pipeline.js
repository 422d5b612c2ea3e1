// Medrical pipeline view: what flows in, what is stored, alerts, and each stage's lag, with
// sparklines over the last minutes. Polls /api/pipeline (the server measures while asked).
"use strict";

(() => {
  const M = Medrical;
  const statusNode = document.getElementById("status");
  const note = document.getElementById("pipeline-note");
  const idleNote = document.getElementById("idle-topics");
  const body = document.getElementById("stages");
  const RATES = [
    ["events_in_per_s", document.getElementById("rate-events")],
    ["rows_stored_per_s", document.getElementById("rate-stored")],
    ["alerts_per_s", document.getElementById("rate-alerts")],
  ];
  let pollMs = 2000;

  // The time a sparkline spans: the view's window, or less while the history is short (but
  // never under a minute, so that the first samples do not fill the line on their own).
  function span(times, windowMs) {
    if (!times.length) return windowMs;
    return Math.min(windowMs, Math.max(60000, times[times.length - 1] - times[0]));
  }

  // A sparkline's points over `windowMs`; null values (stage absent) break nothing.
  function points(times, values, width, height, windowMs) {
    const end = times.length ? times[times.length - 1] : 0;
    const start = end - windowMs;
    let top = 0;
    for (const v of values) if (typeof v === "number" && v > top) top = v;
    const out = [];
    values.forEach((v, i) => {
      if (typeof v !== "number") return;
      const x = ((times[i] - start) / windowMs) * width;
      const y = height - 2 - (top > 0 ? (v / top) * (height - 4) : 0);
      out.push(x.toFixed(1) + "," + y.toFixed(1));
    });
    return out.join(" ");
  }

  function figure(value, digits) {
    if (typeof value !== "number") return "\u2013";
    return value.toLocaleString([], { maximumFractionDigits: digits, minimumFractionDigits: digits });
  }

  function sparkline(times, values, windowMs, cls) {
    const spark = M.svg("svg", { class: "spark", viewBox: "0 0 300 24", preserveAspectRatio: "none" });
    spark.append(M.svg("polyline", { class: cls, points: points(times, values, 300, 24, windowMs) }));
    return spark;
  }

  function render(view) {
    const windowMs = span(view.times, view.window_s * 1000);
    const now = view.now || {};
    for (const [key, node] of RATES) {
      node.querySelector(".value").textContent = figure(now[key], key === "alerts_per_s" ? 2 : 1);
      node.querySelector("polyline").setAttribute("points", points(view.times, view.series[key], 300, 40, windowMs));
    }
    if (view.error) {
      note.textContent = "Kafka does not answer since " + M.clockTime(view.error_at) + ": " + view.error
        + " (the figures are those of " + M.clockTime(view.sampled_at) + ")";
      note.className = "feed-note warning";
    } else {
      note.textContent = view.sampled_at
        ? "Rates over the last " + view.rate_over_s + " s; lag as medrical stack status measures it, every " + view.interval_s + " s."
        : "First measurement under way\u2026";
      note.className = "feed-note";
    }
    const rows = [];
    const idle = [];
    for (const topic of view.topics) {
      if (!topic.active) {
        idle.push(topic.topic);
        continue;
      }
      const stages = topic.stages.length ? topic.stages : [null];
      stages.forEach((stage, index) => {
        const row = M.el("tr", stage && stage.lag_readings > 0 ? "lagging" : "");
        row.dataset.topic = topic.topic;
        if (index === 0) {
          const name = M.el("td", "topic", topic.topic);
          const rate = M.el("td", "num in-rate", figure(topic.input_per_s, 1));
          name.rowSpan = rate.rowSpan = stages.length;
          row.append(name, rate);
        }
        if (stage === null) {
          row.append(M.el("td", "muted", "no consumer group"), M.el("td"), M.el("td"), M.el("td"), M.el("td"));
        } else {
          row.dataset.stage = stage.stage;
          const spark = M.el("td", "spark-cell");
          spark.append(sparkline(view.times, stage.series_readings, windowMs, "lag-line"));
          row.append(
            M.el("td", "stage", stage.stage),
            M.el("td", "group", stage.group),
            M.el("td", "num lag-readings", figure(stage.lag_readings, 0)),
            M.el("td", "num lag-seconds", figure(stage.lag_seconds, 1)),
            spark,
          );
        }
        rows.push(row);
      });
    }
    body.replaceChildren(...rows);
    idleNote.textContent = idle.length
      ? idle.length + " idle topic(s), nothing in and nobody behind: " + idle.join(", ")
      : "";
  }

  async function poll() {
    try {
      const response = await fetch("/api/pipeline", { credentials: "same-origin" });
      if (response.status === 401) {
        window.location.href = "/login";
        return;
      }
      if (!response.ok) throw new Error("HTTP " + response.status);
      const view = await response.json();
      pollMs = Math.max(1000, (view.interval_s || 2) * 1000);
      render(view);
      statusNode.textContent = view.error ? "Kafka unreachable" : "live";
      statusNode.className = view.error ? "reconnecting" : "live";
    } catch (error) {
      statusNode.textContent = "offline";
      statusNode.className = "offline";
    }
    setTimeout(poll, pollMs);
  }
  poll();
})();
