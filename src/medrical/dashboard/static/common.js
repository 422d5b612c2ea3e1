// Medrical dashboard: helpers shared by the ward and patient pages.
// Data is only ever put into the page with textContent or attributes, never as HTML.
"use strict";

const Medrical = (() => {
  const RISKS = ["low", "low-medium", "medium", "high"];

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    return node;
  }

  function riskClass(risk) {
    return RISKS.includes(risk) ? "risk-" + risk : "risk-none";
  }

  function clockTime(ms) {
    if (typeof ms !== "number") return "";
    return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function patientUrl(patientId) {
    return "/patient?id=" + encodeURIComponent(patientId);
  }

  function ackName() {
    return localStorage.getItem("medrical.ackName") || "";
  }

  function bindAckName(input) {
    input.value = ackName();
    input.addEventListener("change", () => localStorage.setItem("medrical.ackName", input.value.trim()));
  }

  async function acknowledge(alertId) {
    const response = await fetch("/api/alerts/" + encodeURIComponent(alertId) + "/ack", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ acknowledged_by: ackName() || null }),
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error("acknowledgement failed: HTTP " + response.status);
    return response.json();
  }

  // One alert as a card, on the ward feed and the patient page alike. Fills `options.node` in
  // place when given (the ward keeps one node per alert), else a new <li>. `options.time` is the
  // moment to show; `options.onAcknowledged` runs once the server has stored an acknowledgement.
  function alertCard(a, options) {
    const node = options.node || el("li");
    node.replaceChildren();
    node.className = "alert " + riskClass(a.risk) + (a.acknowledged ? " acknowledged" : "");
    node.dataset.alertId = a.alert_id;
    const head = el("div", "alert-head");
    head.append(el("span", "alert-kind", a.kind || "alert"));
    if (options.linkPatient) {
      const link = el("a", "alert-patient", a.patient_id);
      link.href = patientUrl(a.patient_id);
      head.append(link);
    }
    if (a.score !== null && a.score !== undefined) head.append(el("span", "alert-score", "NEWS2 " + a.score));
    head.append(el("span", "alert-time", clockTime(options.time)));
    node.append(head);
    if (a.message) node.append(el("div", "alert-message", a.message));
    const foot = el("div", "alert-foot");
    foot.append(el("span", "source", a.source === "dashboard" ? "dashboard notice" : "monitor"));
    if (a.acknowledged) {
      foot.append(el("span", "ack-state",
        "acknowledged by " + a.acknowledged.acknowledged_by + " at " + clockTime(a.acknowledged.acknowledged_at)));
    } else {
      const button = el("button", "ack", "Acknowledge");
      button.type = "button";
      button.addEventListener("click", async () => {
        button.disabled = true;
        try {
          const result = await acknowledge(a.alert_id);
          a.acknowledged = result.acknowledged;
          options.onAcknowledged();
        } catch (error) {
          button.disabled = false;
          button.textContent = "Retry acknowledge";
          button.title = String(error);
        }
      });
      foot.append(button);
    }
    node.append(foot);
    return node;
  }

  // Follows /api/stream. EventSource reconnects by itself and sends Last-Event-ID, so the
  // server replays what was missed or sends a fresh snapshot; if the browser gives up (the
  // server was gone for long), a new EventSource is opened after a pause. The server also
  // says (`feed` events) when its own Kafka consumer has lost every broker and is
  // reconnecting: the stream is up, but no reading can arrive until Kafka is back.
  function follow(url, handlers) {
    let source = null;
    let stream = "connecting";
    let kafka = "live";
    function show() {
      if (stream === "live" && kafka !== "live") {
        handlers.status("reconnecting", "reconnecting to Kafka\u2026");
      } else {
        handlers.status(stream, stream);
      }
    }
    function open() {
      source = new EventSource(url);
      source.addEventListener("snapshot", (event) => handlers.snapshot(JSON.parse(event.data)));
      source.addEventListener("batch", (event) => handlers.batch(JSON.parse(event.data)));
      source.addEventListener("feed", (event) => {
        kafka = JSON.parse(event.data).kafka;
        show();
      });
      source.onopen = () => {
        stream = "live";
        show();
      };
      source.onerror = () => {
        if (source.readyState === EventSource.CLOSED) {
          stream = "offline";
          setTimeout(open, 3000);
        } else {
          stream = "reconnecting";
        }
        show();
      };
    }
    open();
    return () => source && source.close();
  }

  // Delay from a reading's event time to the moment it is on screen, kept for measurements.
  const stats = { received: 0, rendered: 0, delays: [], snapshots: 0 };
  function recordDelay(eventTime) {
    stats.rendered += 1;
    stats.delays.push(Date.now() - eventTime);
    if (stats.delays.length > 200000) stats.delays.splice(0, stats.delays.length - 200000);
  }
  window.medricalStats = stats;

  return {
    el, svg, riskClass, clockTime, patientUrl, bindAckName, acknowledge, alertCard, follow, stats, recordDelay,
  };
})();
