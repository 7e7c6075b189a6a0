// Small SVG charts for the manager's trends: no library, no network, readable on a wall screen.
// Each chart is an <svg role="img"> with a text summary as its label, so a screen reader gets the gist.
import { hhmm } from "./ui.js";

const NS = "http://www.w3.org/2000/svg";
const W = 640, H = 200, L = 40, R = 10, T = 10, B = 26;

function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function frame(label) {
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, class: "chart" });
  return svg;
}

function niceMax(v) {
  if (v <= 5) return 5;
  const p = 10 ** Math.floor(Math.log10(v));
  return Math.ceil(v / p) * p;
}

function axes(svg, x0, x1, ymax, times) {
  for (let i = 0; i <= 4; i++) {
    const y = T + (H - T - B) * (1 - i / 4);
    svg.append(el("line", { x1: L, x2: W - R, y1: y, y2: y, class: "grid" }));
    svg.append(el("text", { x: L - 4, y: y + 4, "text-anchor": "end", class: "tick" }, Math.round(ymax * i / 4)));
  }
  const span = x1 - x0 || 1;
  const step = Math.max(1, Math.ceil(times.length / 8));
  times.forEach((tm, i) => {
    if (i % step) return;
    const x = L + (W - L - R) * ((new Date(tm) - x0) / span);
    svg.append(el("text", { x, y: H - 8, "text-anchor": "middle", class: "tick" }, hhmm(tm)));
  });
}

// points: [[iso, value], ...]
export function lineChart(points, label) {
  const svg = frame(label);
  if (!points.length) return svg;
  const x0 = new Date(points[0][0]), x1 = new Date(points[points.length - 1][0]);
  const ymax = niceMax(Math.max(...points.map((p) => p[1]), 1));
  axes(svg, x0, x1, ymax, points.map((p) => p[0]));
  const span = x1 - x0 || 1;
  const d = points.map(([tm, v], i) => {
    const x = L + (W - L - R) * ((new Date(tm) - x0) / span);
    const y = T + (H - T - B) * (1 - v / ymax);
    return `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`;
  }).join("");
  svg.append(el("path", { d, class: "line actual" }));
  return svg;
}

// bars: [[iso, n]], line: [[iso, x]] on the same slots
export function barsWithLine(bars, line, label) {
  const svg = frame(label);
  if (!bars.length) return svg;
  const times = [...bars.map((b) => b[0]), ...line.map((p) => p[0])].sort();
  const x0 = new Date(times[0]), x1 = new Date(times[times.length - 1]);
  const ymax = niceMax(Math.max(...bars.map((b) => b[1]), ...line.map((p) => p[1]), 1));
  axes(svg, x0, x1, ymax, [...new Set(times)]);
  const span = x1 - x0 || 1;
  const bw = Math.max(2, (W - L - R) / ((span / 900000) + 1) - 2);  // one bar per 15-min slot of the span
  const xAt = (tm) => L + (W - L - R) * ((new Date(tm) - x0) / span);
  const yAt = (v) => T + (H - T - B) * (1 - v / ymax);
  for (const [tm, v] of bars) {
    svg.append(el("rect", { x: xAt(tm) - bw / 2, y: yAt(v), width: bw, height: Math.max(0, yAt(0) - yAt(v)),
      class: "bar" }));
  }
  if (line.length) {
    const d = line.map(([tm, v], i) => `${i ? "L" : "M"}${xAt(tm).toFixed(1)},${yAt(v).toFixed(1)}`).join("");
    svg.append(el("path", { d, class: "line forecast" }));
  }
  return svg;
}

// rows: [{label, counts: [..per bucket..]}], buckets: labels; one stacked horizontal bar per row (shares).
export function stackedBars(rows, buckets, label) {
  const rowH = 22, wide = 2 * W;
  const height = T + rows.length * rowH + 30;
  const svg = el("svg", { viewBox: `0 0 ${wide} ${height}`, role: "img", "aria-label": label, class: "chart" });
  const left = 280, width = wide - left - R;  // room for the longest English service name
  rows.forEach((row, i) => {
    const total = row.counts.reduce((a, b) => a + b, 0) || 1;
    const y = T + i * rowH;
    svg.append(el("text", { x: left - 6, y: y + 14, "text-anchor": "end", class: "tick" }, row.label));
    let x = left;
    row.counts.forEach((c, b) => {
      const w = (width * c) / total;
      if (w > 0) svg.append(el("rect", { x, y: y + 2, width: w, height: rowH - 6, class: `seg seg${b}` }));
      x += w;
    });
  });
  const ly = T + rows.length * rowH + 14;
  let lx = left;
  buckets.forEach((b, i) => {
    svg.append(el("rect", { x: lx, y: ly - 9, width: 10, height: 10, class: `seg seg${i}` }));
    svg.append(el("text", { x: lx + 14, y: ly, class: "tick" }, b));
    lx += 14 + b.length * 8 + 14;
  });
  return svg;
}
