// Medrical dashboard: small hand-written SVG time-series charts (no library, no network).
"use strict";

const MedricalCharts = (() => {
  const M = Medrical;
  const HEIGHT = 170;
  const LEFT = 40;
  const RIGHT = 10;
  const TOP = 8;
  const BOTTOM = 20;

  function niceStep(span, count) {
    const raw = span / count;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * power >= raw) return m * power;
    return 10 * power;
  }

  // spec: {start, end, series: [[[t, v], ...], ...], normal: [lo, hi] | null,
  //        bands: [{lo, hi, cls}], floor, ceiling, alerts: [{t, label, acknowledged}], gapMs}
  function draw(svgNode, spec) {
    const width = Math.max(200, Math.round(svgNode.getBoundingClientRect().width) || 600);
    svgNode.setAttribute("viewBox", "0 0 " + width + " " + HEIGHT);
    svgNode.replaceChildren();
    const values = [];
    for (const series of spec.series) for (const [, v] of series) if (v !== null && v !== undefined) values.push(v);
    let lo = Math.min(...values, ...(spec.normal || []));
    let hi = Math.max(...values, ...(spec.normal || []));
    if (spec.floor !== undefined) lo = Math.min(lo, spec.floor);
    if (spec.ceiling !== undefined) hi = Math.max(hi, spec.ceiling);
    if (!isFinite(lo) || !isFinite(hi)) { lo = 0; hi = 1; }
    if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
    const pad = (hi - lo) * 0.06;
    lo -= pad;
    hi += pad;
    if (spec.floor !== undefined) lo = Math.max(lo, spec.floor);
    const plotW = width - LEFT - RIGHT;
    const plotH = HEIGHT - TOP - BOTTOM;
    const x = (t) => LEFT + ((t - spec.start) / (spec.end - spec.start)) * plotW;
    const y = (v) => TOP + (1 - (v - lo) / (hi - lo)) * plotH;
    const clampY = (v) => Math.min(Math.max(v, lo), hi);

    for (const band of spec.bands || []) {
      const top = y(clampY(band.hi));
      const bottom = y(clampY(band.lo));
      if (bottom - top > 0) svgNode.append(M.svg("rect", { class: band.cls, x: LEFT, y: top, width: plotW, height: bottom - top }));
    }
    if (spec.normal) {
      const top = y(clampY(spec.normal[1]));
      const bottom = y(clampY(spec.normal[0]));
      const rect = M.svg("rect", { class: "normal", x: LEFT, y: top, width: plotW, height: Math.max(0, bottom - top) });
      const title = M.svg("title");
      title.textContent = "NEWS2 scores 0 in " + spec.normal[0] + "\u2013" + spec.normal[1];
      rect.append(title);
      svgNode.append(rect);
    }

    const axis = M.svg("g", { class: "axis" });
    const step = niceStep(hi - lo, 4);
    for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
      axis.append(M.svg("line", { x1: LEFT, x2: LEFT + plotW, y1: y(v), y2: y(v), "stroke-opacity": 0.5 }));
      const label = M.svg("text", { x: LEFT - 4, y: y(v) + 3, "text-anchor": "end" });
      label.textContent = Number(v.toFixed(2)).toString();
      axis.append(label);
    }
    const spanMs = spec.end - spec.start;
    const tickMs = [60e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3, 14400e3].find((s) => spanMs / s <= 7) || 14400e3;
    for (let t = Math.ceil(spec.start / tickMs) * tickMs; t <= spec.end; t += tickMs) {
      const label = M.svg("text", { x: x(t), y: HEIGHT - 5, "text-anchor": "middle" });
      label.textContent = new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      axis.append(label);
    }
    svgNode.append(axis);

    spec.series.forEach((series, index) => {
      let run = [];
      let previous = null;
      const flush = () => {
        if (run.length) svgNode.append(M.svg("polyline", { class: "series series-" + index, points: run.join(" ") }));
        run = [];
      };
      for (const [t, v] of series) {
        if (v === null || v === undefined || t < spec.start) continue;
        if (previous !== null && t - previous > spec.gapMs) flush();
        run.push(x(t).toFixed(1) + "," + y(v).toFixed(1));
        previous = t;
      }
      flush();
    });

    for (const alert of spec.alerts || []) {
      if (alert.t < spec.start || alert.t > spec.end) continue;
      const mark = M.svg("line", {
        class: "alert-mark" + (alert.acknowledged ? " acknowledged" : ""),
        x1: x(alert.t), x2: x(alert.t), y1: TOP, y2: TOP + plotH,
      });
      const title = M.svg("title");
      title.textContent = alert.label;
      mark.append(title);
      svgNode.append(mark);
    }
    if (!values.length) {
      const empty = M.svg("text", { class: "empty", x: LEFT + plotW / 2, y: TOP + plotH / 2, "text-anchor": "middle" });
      empty.textContent = "No readings in this window";
      svgNode.append(empty);
    }
  }

  return { draw };
})();
