// The KPI trends under the manager's floor: today (people waiting, tickets against the forecast, waits per service),
// or the last 7 or 30 days, a bar per day (tickets issued and served, SL against its target, P95 wait); a day opens
// its hours. Reads GET /api/kpi/today (live.kpi), /api/kpi/range and /api/kpi/hours/{day}; draws with charts.js.
import { t, language } from "./i18n.js";
import { live, api, h, hhmm, serviceName } from "./ui.js";
import { slotChart, stackedBars } from "./charts.js";

const RANGES = ["today", 7, 30];
const FRESH_MS = 60_000;   // a range or a day's hours older than this is asked for again when shown
const PENDING_MS = 2_000;  // days still being rebuilt on the gateway: ask again after this
const SLOT_MS = 15 * 60_000;

// The manager's choice survives the live refreshes, a language switch and leaving the view.
let range = "today";
let drill = null;  // a day (YYYY-MM-DD) of the range whose hours are shown
const got = new Map();  // "range-7", "hours-2026-11-23" → { at, answer } | { at, error }
const asking = new Set();
let panel = null;  // the panel on the page: drawn again in place when an answer comes

export function kpiTrends(k) {
  panel = h("div", { class: "trends" });
  draw(k);
  return panel;
}

function draw(k = live.kpi) {
  if (!panel) return;
  const focused = panel.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  const body = range === "today" ? todayCharts(k) : drill ? hoursView(drill) : daysView(range);
  panel.replaceChildren(rangeBar(), body);
  if (focused) panel.querySelector(`[data-key="${CSS.escape(focused)}"]`)?.focus();
}

function rangeBar() {
  return h("div", { class: "range-bar", role: "group", "aria-label": t("trRange") },
    RANGES.map((r) => h("button", { type: "button", "aria-pressed": String(range === r), "data-key": `range-${r}`,
      onclick: () => { range = r; drill = null; draw(); } }, r === "today" ? t("trToday") : t("trDays", { n: r }))));
}

// -- asking the gateway ---------------------------------------------------------------------------------------------

function answer(key, path) {
  const have = got.get(key);
  if ((!have || Date.now() - have.at > FRESH_MS) && !asking.has(key)) {
    asking.add(key);
    api(path).then((a) => {
      got.set(key, { at: Date.now(), answer: a });
      if (a.pending?.length) setTimeout(() => { got.get(key).at = 0; if (panel?.isConnected) draw(); }, PENDING_MS);
    }, (err) => got.set(key, { at: Date.now(), error: err.message }))
      .finally(() => { asking.delete(key); if (panel?.isConnected) draw(); });
  }
  return have;
}

function waitingFor(have) {
  return have?.error ? h("p", { class: "error" }, have.error) : h("p", { class: "loading" }, t("loading"));
}

// -- words ------------------------------------------------------------------------------------------------------------

function dayFormat(day, opts) {  // a hall day (YYYY-MM-DD) as the calendar date it is, in the UI's language
  return new Intl.DateTimeFormat(language() === "en" ? "en-GB" : "zh-CN", { timeZone: "UTC", ...opts })
    .format(new Date(`${day}T00:00:00Z`));
}
const dayShort = (day) => dayFormat(day, { month: "numeric", day: "numeric" });
const dayLong = (day) => dayFormat(day, { weekday: "short", month: "long", day: "numeric" });
const n1 = (v) => Number(v).toFixed(1);
const slot = (ms, len) => `${hhmm(new Date(ms).toISOString())}–${hhmm(new Date(ms + len).toISOString())}`;

function figure(title, chart, ...keys) {
  return h("figure", {}, h("figcaption", {}, title, ...keys), chart);
}

// -- today --------------------------------------------------------------------------------------------------------

function bucketLabels(bounds) {
  return bounds.map((b, i) => (b === null ? t("bucketOver", { n: bounds[i - 1] }) : t("bucketUpTo", { n: b })));
}

function todayCharts(k) {
  if (!k || !k.waiting.length) return h("p", { class: "empty" }, t("noData"));
  const waiting = k.waiting.map(([at, n]) => ({
    key: at, axis: at.slice(14, 16) === "00" ? hhmm(at) : null, line: n, tip: t("tipWaiting", { t: hhmm(at), n }),
  }));
  const peak = k.waiting.reduce((a, b) => (b[1] > a[1] ? b : a));
  const issued = new Map(k.arrivals.map(([at, n]) => [Date.parse(at), n]));
  const expected = new Map(k.forecast.map(([at, n]) => [Date.parse(at), n]));
  // from the first ticket or expected ticket to now or the last expected one: not the night's empty forecast slots
  const times = [...issued.keys(), ...[...expected].filter(([, n]) => n > 0).map(([ms]) => ms)];
  const slots = [];
  for (let ms = Math.min(...times); ms <= Math.max(...times); ms += SLOT_MS) slots.push(ms);
  const arrivals = slots.map((ms) => {
    const n = issued.get(ms), f = expected.get(ms);
    const parts = [n === undefined ? null : t("tipIssued", { n }), f === undefined ? null : t("tipForecast", { n: n1(f) })];
    const iso = new Date(ms).toISOString();
    return { key: ms, axis: new Date(ms).getUTCMinutes() === 0 ? hhmm(iso) : null, bar: n ?? null, line: f ?? null,
      tip: t("tipSlot", { slot: slot(ms, SLOT_MS), what: parts.filter(Boolean).join(t("tipAnd")) || t("noData") }) };
  });
  const buckets = bucketLabels(k.buckets);
  const hist = Object.entries(k.wait_histogram).filter(([, c]) => c.some((x) => x > 0)).map(([code, counts]) => {
    const total = counts.reduce((a, b) => a + b, 0);
    const name = serviceName(code);
    return { key: code, label: name, counts, tips: counts.map((n, b) => t("tipWaits",
      { service: name, bucket: buckets[b], n, pct: n1((100 * n) / total) })) };
  });
  return h("div", { class: "charts" },
    figure(t("chWaiting"), slotChart(waiting, { id: "waiting", integer: true,
      label: t("sumWaiting", { title: t("chWaiting"), n: peak[1], t: hhmm(peak[0]) }) })),
    figure(t("chArrivals"), slotChart(arrivals, { id: "arrivals", integer: true, lineClass: "forecast",
      label: t("sumArrivals", { title: t("chArrivals"), n: k.hall.issued }) }),
    h("span", { class: "key bar" }, t("actual")), h("span", { class: "key forecast" }, t("forecast"))),
    h("figure", { class: "wide" }, h("figcaption", {}, t("chWaits")),
      hist.length ? stackedBars(hist, buckets, { id: "waits", label: t("chWaits") }) : h("p", { class: "empty" }, t("noData"))));
}

// -- a range of days, a day's hours ----------------------------------------------------------------------------------

// rows: [{ key, axis, when (words), k (the hall's Kpis, or null), pending }] → the three charts of those periods
function kpiCharts(rows, { id, target, waitMin, pick }) {
  const none = (r) => (r.pending ? t("tipPending", { when: r.when }) : t("tipNone", { when: r.when }));
  const item = (r, bar, tip, extra) => ({ key: r.key, axis: r.axis, bar: r.k ? bar(r.k) : null, pick,
    tip: r.k && bar(r.k) !== null ? tip(r.k) : none(r), ...(r.k ? extra?.(r.k) : {}) });
  const miss = (k) => k.sl_pct !== null && k.sl_pct < target;
  const sl = t("trSl", { n: waitMin });
  const done = rows.filter((r) => r.k);
  const missed = done.filter((r) => miss(r.k)).length;
  return [
    figure(t(`${id}Issued`), slotChart(rows.map((r) => item(r, (k) => k.issued,
      (k) => t("tipIssuedServed", { when: r.when, i: k.issued, s: k.served }), (k) => ({ line: k.served }))),
    { id: `${id}-issued`, integer: true, lineClass: "served", onPick: pickDay,
      label: t("sumIssued", { title: t(`${id}Issued`), i: done.reduce((a, r) => a + r.k.issued, 0),
        s: done.reduce((a, r) => a + r.k.served, 0) }) }),
    h("span", { class: "key bar" }, t("issued")), h("span", { class: "key served" }, t("served"))),
    figure(sl, slotChart(rows.map((r) => item(r, (k) => k.sl_pct,
      (k) => t(miss(k) ? "tipSlMiss" : "tipSl", { when: r.when, v: n1(k.sl_pct), target }), (k) => ({ miss: miss(k) }))),
    { id: `${id}-sl`, top: 100, target: { value: target, text: t("trTarget", { n: target }) }, onPick: pickDay,
      label: t("sumSl", { title: sl, target, n: missed }) }),
    h("span", { class: "key target" }, t("trTarget", { n: target })),
    missed ? h("span", { class: "key miss" }, t("trMissed", { n: missed })) : null),
    figure(t("trP95"), slotChart(rows.map((r) => item(r, (k) => k.p95_wait_min,
      (k) => t("tipP95", { when: r.when, v: n1(k.p95_wait_min) }))),
    { id: `${id}-p95`, onPick: pickDay, label: t("trP95") })),
  ];
}

function pickDay(day) {
  if (range === "today" || drill) return;
  drill = day;
  draw();
  panel?.querySelector(".drill-bar button")?.focus();
}

function daysView(days) {
  const have = answer(`range-${days}`, `/api/kpi/range?days=${days}`);
  if (!have?.answer) return waitingFor(have);
  const r = have.answer;
  const rows = r.days.map((d) => ({ key: d.day, axis: dayShort(d.day), when: dayLong(d.day), k: d.hall,
    pending: r.pending.includes(d.day) }));
  return h("div", {},
    r.pending.length ? h("p", { class: "note", role: "status" }, t("trPending", { n: r.pending.length })) : null,
    h("p", { class: "note" }, t("trPick")),
    h("div", { class: "charts" },
      kpiCharts(rows, { id: "days", target: r.targets.sl_pct, waitMin: r.target_wait_min, pick: true })));
}

function hoursView(day) {
  const back = h("button", { type: "button", "data-key": "drill-back", onclick: () => { drill = null; draw(); } },
    t("trBack", { range: t("trDays", { n: range }) }));
  const head = h("div", { class: "drill-bar" }, back, h("h3", {}, t("trHoursOf", { day: dayLong(day) })));
  const have = answer(`hours-${day}`, `/api/kpi/hours/${day}`);
  if (!have?.answer) return h("div", {}, head, waitingFor(have));
  const r = have.answer;
  if (!r.hours.length) return h("div", {}, head, h("p", { class: "empty" }, t("noData")));
  const by = new Map(r.hours.map((k) => [Date.parse(k.start), k]));
  const first = Math.min(...by.keys()), last = Math.max(...by.keys());
  const rows = [];
  for (let ms = first; ms <= last; ms += 3_600_000) {
    const iso = new Date(ms).toISOString();
    rows.push({ key: iso, axis: hhmm(iso), when: slot(ms, 3_600_000), k: by.get(ms) || null });
  }
  return h("div", {}, head,
    h("div", { class: "charts" },
      kpiCharts(rows, { id: "hours", target: r.targets.sl_pct, waitMin: r.target_wait_min, pick: false })));
}
