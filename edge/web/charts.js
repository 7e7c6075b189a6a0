// Small SVG charts for the KPI trends: no library, no network, readable from a phone to a wall screen.
// A chart is drawn at its box's own width in CSS pixels (and drawn again when the box is resized), so its type stays
// 12 px and nothing it draws falls outside the box. The value axis counts from 0 in "nice" steps (1, 2 or 5 × 10^k),
// each label on its gridline. Every bar, point and segment is a mark whose label is its exact value with its unit and
// its time slot: a tooltip on hover and on keyboard focus, and what a screen reader reads. A chart is one tab stop;
// the arrow keys move between its marks (Home, End: the first, the last), and Enter or a click picks a mark where
// the chart offers that (a day → its hours).
import { h } from "./ui.js";

const NS = "http://www.w3.org/2000/svg";
const FONT = 12;        // px: .chart text in app.css
const FIRST_W = 640;    // the width drawn before the box is laid out
const GAP = 10;         // px kept between two axis labels
const T = 12, R = 10, B = 24;  // margins above the plot (half a label over the top tick), right, and for the time axis

function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// The width a label will take, before it is on the page to be measured: a Chinese character is 1 em, anything else
// at most about 2/3 em in the UI's fonts. `fit` corrects what this gets wrong once the chart is on the page.
export function textWidth(text, size = FONT) {
  let w = 0;
  for (const ch of String(text)) w += ch.codePointAt(0) >= 0x2e80 ? size : size * 0.66;
  return w;
}

// Ticks for a value axis from 0 that covers `max`: at most `most` steps of 1, 2 or 5 × 10^k (whole steps for
// counts), labelled with whole numbers, or one decimal when the step is below 1.
export function niceTicks(max, { integer = false, most = 5 } = {}) {
  const want = Number.isFinite(max) && max > 0 ? max : 1;
  const p = 10 ** Math.floor(Math.log10(want / most));
  let step = [1, 2, 5, 10].map((f) => f * p).find((s) => want / s <= most + 1e-9);
  step = Math.max(step, integer ? 1 : 0.1);
  const digits = step < 1 ? 1 : 0;
  const n = Math.max(1, Math.ceil(want / step - 1e-9));
  const ticks = Array.from({ length: n + 1 }, (_, i) => Number((i * step).toFixed(digits)));
  return { ticks, top: ticks[n], digits };
}

// -- the box: drawn at its width, marks with tooltips and keys -----------------------------------------------------

const drawers = new WeakMap();  // box → (width) => void
const sizes = new ResizeObserver((entries) => {
  for (const entry of entries) {
    if (!entry.target.isConnected) { sizes.unobserve(entry.target); continue; }
    const width = Math.floor(entry.contentRect.width);
    if (width > 0) drawers.get(entry.target)?.(width);
  }
});

// A label that came out wider than guessed (or than `data-room` allows) is moved back inside the chart or shortened
// with "…" (the mark labels still carry the whole name).
function fit(svg, width) {
  for (const text of svg.querySelectorAll("text")) {
    let box = text.getBBox();
    const room = Number(text.dataset.room || 0);
    if (room) {
      const whole = text.textContent;
      for (let n = whole.length - 1; box.width > room && n > 0; n--) {
        text.textContent = `${whole.slice(0, n)}…`;
        box = text.getBBox();
      }
    }
    const shift = box.x < 1 ? 1 - box.x : Math.min(0, width - 1 - (box.x + box.width));
    if (shift) text.setAttribute("x", Number(text.getAttribute("x")) + shift);
  }
}

function chartBox(draw, onPick) {
  const box = h("div", { class: "chart-box" });
  const tip = h("div", { class: "chart-tip", "aria-hidden": "true", hidden: true });
  let width = 0;
  let fitted = false;
  const marks = () => [...box.querySelectorAll(".mark")];

  function render(w) {
    if (w === width && (fitted || !box.isConnected)) return;
    const focused = box.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    width = w;
    const svg = draw(w);
    box.replaceChildren(svg, tip);
    tip.hidden = true;
    if (box.isConnected) { fit(svg, w); fitted = true; }
    marks().forEach((m, i) => m.setAttribute("tabindex", i ? "-1" : "0"));
    if (focused) box.querySelector(`.mark[data-key="${CSS.escape(focused)}"]`)?.focus();
  }

  function show(mark) {
    for (const m of box.querySelectorAll(".mark.on")) m.classList.remove("on");
    mark.classList.add("on");
    const cursor = box.querySelector(".cursor");
    if (cursor) {
      cursor.toggleAttribute("hidden", mark.dataset.y === undefined);
      if (mark.dataset.y !== undefined) { cursor.setAttribute("cx", mark.dataset.x); cursor.setAttribute("cy", mark.dataset.y); }
    }
    tip.textContent = mark.getAttribute("aria-label");
    tip.hidden = false;
    const b = box.getBoundingClientRect(), m = mark.getBoundingClientRect();
    const tw = tip.offsetWidth, th = tip.offsetHeight;
    const x = Number(mark.dataset.x ?? (m.left - b.left + m.width / 2));
    const left = Math.max(0, Math.min(x - tw / 2, b.width - tw));
    let top = Number(mark.dataset.top ?? (m.top - b.top)) - th - 6;
    if (top < 0) top = Math.min(m.bottom - b.top + 6, b.height - th);
    tip.style.left = `${left}px`;
    tip.style.top = `${Math.max(0, top)}px`;
  }

  function hide() {
    const focused = box.contains(document.activeElement) && document.activeElement.classList.contains("mark");
    if (focused) { show(document.activeElement); return; }
    tip.hidden = true;
    for (const m of box.querySelectorAll(".mark.on")) m.classList.remove("on");
    box.querySelector(".cursor")?.setAttribute("hidden", "");
  }

  box.addEventListener("focusin", (e) => {
    if (!e.target.classList?.contains("mark")) return;
    for (const m of marks()) m.setAttribute("tabindex", m === e.target ? "0" : "-1");
    show(e.target);
  });
  box.addEventListener("focusout", () => setTimeout(hide));
  box.addEventListener("pointermove", (e) => {
    const svg = box.querySelector("svg");
    let mark = e.target.closest?.(".mark");
    if (svg?.dataset.snap) {  // a slot chart: the slot under the pointer, also between thin bars
      const x = e.clientX - svg.getBoundingClientRect().left;
      mark = marks().find((m) => x >= Number(m.getAttribute("x")) && x < Number(m.getAttribute("x"))
        + Number(m.getAttribute("width"))) || mark;
    }
    if (mark) show(mark); else hide();
  });
  box.addEventListener("pointerleave", hide);
  box.addEventListener("keydown", (e) => {
    const all = marks();
    const i = all.indexOf(document.activeElement);
    if (i < 0) return;
    const to = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0, End: all.length - 1 }[e.key];
    if (to !== undefined) {
      e.preventDefault();
      all[Math.max(0, Math.min(to, all.length - 1))].focus();
    } else if ((e.key === "Enter" || e.key === " ") && all[i].dataset.pick && onPick) {
      e.preventDefault();
      onPick(all[i].dataset.pick);
    }
  });
  box.addEventListener("click", (e) => {
    const mark = e.target.closest?.(".mark[data-pick]");
    if (mark && onPick) onPick(mark.dataset.pick);
  });

  render(FIRST_W);
  drawers.set(box, render);
  sizes.observe(box);
  return box;
}

// -- the charts ----------------------------------------------------------------------------------------------------

// Values over regular slots (5 or 15 minutes, hours, days), as bars, a line, or both on one axis.
// items: [{ key, axis (the slot's label on the time axis, or null: none there), bar, line (numbers or null),
//           tip (what the slot's mark says: value, unit, slot), miss (below target), pick (Enter/click → onPick) }]
// A miss is drawn with a ▼ over its bar.
// opts: { id, label (the chart in one sentence), integer (counts), top (a fixed top, e.g. 100 for %),
//         target: { value, text } (a dashed line), lineClass, height, onPick }
export function slotChart(items, opts) {
  const height = opts.height ?? 220;
  const draw = (width) => {
    const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "group", "aria-label": opts.label,
      class: "chart", "data-snap": "x" });
    const values = items.flatMap((i) => [i.bar, i.line]).filter((v) => v !== null && v !== undefined);
    const { ticks, top, digits } = niceTicks(opts.top ?? Math.max(0, ...values, opts.target?.value ?? 0),
      { integer: opts.integer });
    const labels = ticks.map((v) => v.toFixed(digits));
    const L = Math.ceil(Math.max(...labels.map((s) => textWidth(s)))) + 10;
    const plotW = Math.max(1, width - L - R), plotH = height - T - B;
    const band = plotW / Math.max(1, items.length);
    const yAt = (v) => T + plotH * (1 - Math.min(v, top) / top);
    const xAt = (i) => L + (i + 0.5) * band;
    ticks.forEach((v, i) => {
      svg.append(el("line", { x1: L, x2: width - R, y1: yAt(v), y2: yAt(v), class: "grid" }));
      svg.append(el("text", { x: L - 6, y: yAt(v), "text-anchor": "end", "dominant-baseline": "central",
        class: "tick ytick", "data-value": v }, labels[i]));
    });
    items.forEach((it, i) => {
      if (it.bar === null || it.bar === undefined) return;
      const w = Math.max(1, band * 0.8);
      svg.append(el("rect", { x: xAt(i) - w / 2, y: yAt(it.bar), width: w, height: Math.max(0, yAt(0) - yAt(it.bar)),
        class: `bar${it.miss ? " miss" : ""}` }));
      // a miss is marked by a sign, not by colour alone: also a bar of 0 shows it
      if (it.miss) {
        svg.append(el("text", { x: xAt(i), y: yAt(it.bar) - 3, "text-anchor": "middle", class: "miss-flag" }, "▼"));
      }
    });
    let d = "";
    items.forEach((it, i) => {
      if (it.line === null || it.line === undefined) return;
      const prev = items[i - 1];
      d += `${i && prev.line !== null && prev.line !== undefined ? "L" : "M"}${xAt(i).toFixed(1)},${yAt(it.line).toFixed(1)}`;
    });
    if (d) svg.append(el("path", { d, class: `line ${opts.lineClass || "actual"}` }));
    if (opts.target) {
      const y = yAt(opts.target.value);
      svg.append(el("line", { x1: L, x2: width - R, y1: y, y2: y, class: "target" }));
      svg.append(el("text", { x: width - R, y: y - 4, "text-anchor": "end", class: "tick target-label" },
        opts.target.text));
    }
    let right = -Infinity;  // the time axis: the labels that fit, left to right
    items.forEach((it, i) => {
      if (!it.axis) return;
      const half = textWidth(it.axis) / 2;
      const x = Math.max(half + 1, Math.min(xAt(i), width - half - 1));
      if (x - half < right + GAP) return;
      svg.append(el("text", { x, y: height - 7, "text-anchor": "middle", class: "tick xtick" }, it.axis));
      right = x + half;
    });
    if (d) svg.append(el("circle", { r: 4, class: "cursor", hidden: "" }));
    items.forEach((it, i) => {
      const value = it.line ?? it.bar;
      const topY = it.bar !== null && it.bar !== undefined ? yAt(Math.max(it.bar, it.line ?? 0))
        : value !== null && value !== undefined ? yAt(value) : T + plotH;
      svg.append(el("rect", {
        x: L + i * band, y: T, width: band, height: plotH, class: "mark", role: it.pick ? "button" : "img",
        "aria-label": it.tip, "data-key": `${opts.id}-${it.key}`, "data-pick": it.pick ? it.key : null,
        "data-x": xAt(i).toFixed(1), "data-top": topY.toFixed(1),
        "data-y": it.line !== null && it.line !== undefined ? yAt(it.line).toFixed(1) : null,
      }));
    });
    return svg;
  };
  return chartBox(draw, opts.onPick);
}

// One horizontal bar per row, split into its shares of the buckets, with a legend under it.
// rows: [{ key, label, counts: [..per bucket..], tips: [..per bucket..] }]; buckets: their names.
export function stackedBars(rows, buckets, opts) {
  const rowH = 24, lineH = 18;
  const draw = (width) => {
    const room = Math.min(Math.max(...rows.map((r) => textWidth(r.label))), width * 0.35);
    const left = Math.ceil(room) + 12, plotW = Math.max(1, width - left - R);
    const legend = [];  // [x, line] per bucket, wrapped to the width
    let x = left, line = 0;
    for (const b of buckets) {
      const w = 14 + textWidth(b);
      if (x + w > width - R && x > left) { x = left; line += 1; }
      legend.push([x, line]);
      x += w + 14;
    }
    const legendTop = T + rows.length * rowH + 10;
    const height = legendTop + (line + 1) * lineH;
    const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "group", "aria-label": opts.label,
      class: "chart" });
    rows.forEach((row, i) => {
      const total = row.counts.reduce((a, b) => a + b, 0) || 1;
      const y = T + i * rowH;
      svg.append(el("text", { x: left - 6, y: y + rowH / 2 - 2, "text-anchor": "end", "dominant-baseline": "central",
        class: "tick", "data-room": Math.floor(left - 8) }, row.label));
      let at = left;
      row.counts.forEach((c, b) => {
        const w = (plotW * c) / total;
        if (w > 0) {
          svg.append(el("rect", { x: at, y: y + 2, width: w, height: rowH - 8, class: `mark seg seg${b}`, role: "img",
            "aria-label": row.tips[b], "data-key": `${opts.id}-${row.key}-${b}` }));
        }
        at += w;
      });
    });
    buckets.forEach((b, i) => {
      const [lx, ln] = legend[i];
      const y = legendTop + ln * lineH;
      svg.append(el("rect", { x: lx, y: y - 5, width: 10, height: 10, class: `seg seg${i}` }));
      svg.append(el("text", { x: lx + 14, y, "dominant-baseline": "central", class: "tick" }, b));
    });
    return svg;
  };
  return chartBox(draw);
}
