// Shared by every view: the live data, the API call, element building, formatting in the hall's time zone.
import { t, language } from "./i18n.js";

export const live = {
  me: null,            // GET /api/session
  hall: null,          // the latest snapshot (SSE `hall`, or GET /api/hall)
  alerts: [],
  recs: [],
  tickets: [],
  commands: [],        // device commands and their acknowledgements (GET /api/commands), newest first
  kpi: null,
  listeners: new Set(),  // (what) => void, what: "hall" | "alerts" | "recs" | "tickets" | "commands" | "kpi" | "lang"
};

export function changed(what) {
  for (const fn of live.listeners) fn(what);
}

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export async function api(path, { method = "GET", body, text } = {}) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  } else if (text !== undefined) {
    init.headers["content-type"] = "application/yaml";
    init.body = text;
  }
  const r = await fetch(path, init);
  if (r.status === 401 && path !== "/api/session") window.dispatchEvent(new CustomEvent("hallops:signed-out"));
  if (!r.ok) {
    let message = `${r.status}`;
    try {
      const j = await r.json();
      message = typeof j.detail === "string" ? j.detail
        : Array.isArray(j.detail) ? j.detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ") : message;
    } catch { /* not JSON */ }
    throw new ApiError(r.status, message);
  }
  if (r.status === 204) return null;
  const type = r.headers.get("content-type") || "";
  return type.includes("json") ? r.json() : r.text();
}

// h("div", {class: "x", onclick}, child, ...) — children may be strings, nodes, arrays, null.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k === "vars") for (const [name, value] of Object.entries(v)) el.style.setProperty(name, value);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// Replace a container's content only when its data changed, keeping keyboard focus on the same control
// (controls carry data-key): a once-a-second refresh must not pull focus away from someone tabbing.
export function patch(container, signature, build) {
  if (container.dataset.sig === signature) return;
  const focused = document.activeElement;
  const key = focused && container.contains(focused) ? focused.dataset.key : null;
  container.replaceChildren(...[build()].flat().filter(Boolean));
  container.dataset.sig = signature;
  if (key) container.querySelector(`[data-key="${CSS.escape(key)}"]`)?.focus();
}

export function tz() { return live.me?.timezone || "Asia/Shanghai"; }

const formats = new Map();
function format(opts) {
  const key = language() + tz() + JSON.stringify(opts);
  if (!formats.has(key)) {
    formats.set(key, new Intl.DateTimeFormat(language() === "en" ? "en-GB" : "zh-CN", { timeZone: tz(), ...opts }));
  }
  return formats.get(key);
}

export function hhmm(iso) {
  if (!iso) return "—";
  return format({ hour: "2-digit", minute: "2-digit", hour12: false }).format(new Date(iso));
}

export function dateTime(iso) {
  if (!iso) return "—";
  return format({ month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false })
    .format(new Date(iso));
}

export function clockText(iso) {
  return format({ weekday: "short", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit", second: "2-digit", hour12: false }).format(new Date(iso));
}

export function hallDay(iso) {  // YYYY-MM-DD in the hall's zone
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: tz(), year: "numeric", month: "2-digit", day: "2-digit" })
    .format(new Date(iso));
  return parts;
}

export function minutes(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  return t("minutes", { n: Math.round(seconds / 60) });
}

export function sinceMin(iso, nowIso) {
  if (!iso || !nowIso) return null;
  return Math.max(0, Math.round((new Date(nowIso) - new Date(iso)) / 60000));
}

export function pct(v) {
  return v === null || v === undefined ? "—" : `${v.toFixed(1)}%`;
}

export function num(v, digits = 1) {
  return v === null || v === undefined ? "—" : Number(v).toFixed(digits);
}

export function toast(message) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.classList.add("show");
  clearTimeout(el._timer);
  el._timer = setTimeout(() => el.classList.remove("show"), 5000);
}

export function section(id, titleKey, ...body) {
  return h("section", { id, "aria-labelledby": `${id}-h` }, h("h2", { id: `${id}-h` }, t(titleKey)), ...body);
}

// "SL15" named after the hall's own target (tidal.target_wait_min), which the KPI report carries.
export function slLabel() {
  return t("sl", { n: live.kpi?.target_wait_min ?? 15 });
}

export function serviceName(code) {
  const s = live.hall?.services.find((x) => x.code === code);
  if (!s) return code;
  return (language() === "en" ? s.name_en || s.name : s.name || s.name_en) || code;
}

export function windowName(id) {
  const w = live.hall?.windows.find((x) => x.window_id === id);
  return (language() === "en" ? w?.name_en || w?.name : w?.name || w?.name_en) || id;
}

// Re-read part of the live data now (after an action), instead of waiting for the stream to say it changed.
export function refreshLater(what) {
  live.refresh?.(what);
}
