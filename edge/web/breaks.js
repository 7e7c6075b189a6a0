// The staff's lunch breaks (错峰午休) on the floor view, for the hall manager: today's plan as it stands — who pauses
// when, which AB partner covers, and whether each break is to come, due, held back while its queue is long, under
// way or over — and tomorrow's, planned a day ahead. The gateway plans and keeps the breaks (GET /api/rota/breaks);
// this only shows them. A break due or held back comes on the live stream (`break`): the list reloads at once.
//
// Owns its section and its listener: floor.js places `breaksSection()` with one line and must not reach into it.
import { t, language } from "./i18n.js";
import { live, api, h, hhmm, patch, section, serviceName, windowName } from "./ui.js";

const state = { day: "today", data: null, at: 0, loading: false, asked: 0 };

async function load(force) {
  if (!live.me || (!force && (state.loading || Date.now() - state.at < 30_000))) return;
  const asked = ++state.asked;  // only the newest answer is shown (a day switched while one was on its way)
  state.loading = true;
  state.at = Date.now();
  try {
    const data = await api(`/api/rota/breaks?day=${state.day}`);
    if (asked === state.asked) state.data = data;
  } catch { /* the next change tries again */ } finally { if (asked === state.asked) state.loading = false; }
  render();
}

function name(row, key) {
  const en = language() === "en";
  const own = en ? row[`${key}_name_en`] || row[`${key}_name`] : row[`${key}_name`];
  return own || (key.endsWith("window") ? windowName(row[`${key}_id`]) : row[`${key}_id`]);
}

function stateWords(b) {
  if (b.state === "held" && !b.held_by.length) return t("brk_held_plain", { t: hhmm(b.start) });
  if (b.state === "held") {
    const why = b.held_by.map((x) => t("brkWaiting", {
      s: (language() === "en" ? x.name_en || x.name : x.name) || serviceName(x.service), n: x.waiting,
    })).join(language() === "en" ? "; " : "；");
    return t("brk_held", { t: hhmm(b.start), why });
  }
  if (b.state === "on_break") return t("brk_on_break", { t: hhmm(b.began || b.start) });
  return t(`brk_${b.state}`);
}

function row(b) {
  const cover = b.cover_window_id
    ? t("brkCover", { w: name(b, "cover_window"), p: b.cover_staff_id ? name(b, "cover_staff") : "—" }) : t("brkNoCover");
  const moved = b.start !== b.planned_start ? t("brkPlanned", { t: hhmm(b.planned_start) }) : "";
  return h("tr", { "data-window": b.window_id, "data-state": b.state },
    h("th", { scope: "row" }, name(b, "window")),
    h("td", {}, b.staff_id ? name(b, "staff") : "—"),
    h("td", { class: "num" }, `${hhmm(b.start)}–${hhmm(b.end)}`, moved ? h("small", {}, moved) : null),
    h("td", {}, cover),
    h("td", { class: `brk-state brk-${b.state}` }, stateWords(b)));
}

function body() {
  const d = state.data;
  const tabs = h("div", { class: "range-bar", role: "group", "aria-label": t("brkDay") },
    ["today", "tomorrow"].map((day) => h("button", {
      type: "button", "data-key": `brk-${day}`, "aria-pressed": String(state.day === day),
      onclick: () => { state.day = day; state.data = null; render(); load(true); },
    }, t(`brk_${day}`))));
  if (!d) return [tabs, h("p", { class: "empty", "aria-busy": "true" }, t("loading"))];
  if (!d.planned) {
    const why = d.problem === "failed" ? t("brkFailed", { why: d.detail || "" }) : t(`brkProblem_${d.problem}`);
    return [tabs, h("p", { class: "empty" }, why)];
  }
  const note = d.known_demand
    ? t("brkKnown", { n: Math.round(d.late_expected ?? 0) }) : t("brkUnknown");
  return [tabs,
    h("p", { class: "hint" }, note),
    h("table", { class: "breaks" },
      h("caption", { class: "sr-only" }, t("brkTitle")),
      h("thead", {}, h("tr", {}, ["brkWindow", "brkStaff", "brkWhen", "brkCoverH", "brkState"]
        .map((k) => h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, d.breaks.map(row)))];
}

let box = null;

function render() {
  if (!box?.isConnected) return;
  patch(box, JSON.stringify([state.day, state.data, language()]), body);
}

// The section for the floor view: the manager's and the administrator's (the technicians' work is the devices).
export function breaksSection() {
  if (live.me?.role === "technician") return null;
  box = h("div", { class: "part part-breaks", "aria-live": "polite" });
  const el = section("breaks", "brkTitle", box);
  const on = (what) => {
    if (!el.isConnected) { live.listeners.delete(on); return; }
    if (what === "breaks") load(true);
    else if (what === "hall") load(false);  // states move with the clock and the windows: at most every 30 s
    else if (what === "lang") render();
  };
  live.listeners.add(on);
  queueMicrotask(() => { render(); load(true); });
  return el;
}
