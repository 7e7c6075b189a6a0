// The alert history (GET /api/alerts/history): every alert of a period from its start to its end, filtered by state,
// severity, rule, whom it is about and time, searched by its words, in pages. The floor view mounts historySection().
import { t, language } from "./i18n.js";
import { live, api, h, hallDay, dateTime, serviceName, windowName, toast } from "./ui.js";
import { alertText, personName } from "./words.js";
import { agoSpan, refreshAges, span, when } from "./tech.js";

const PAGE = 25;
const STATES = ["", "active", "firing", "acknowledged", "resolved"];
const SEVERITIES = ["", "critical", "major", "warning", "info"];
const RANGES = { today: 0, week: 6, month: 29 };  // days before today's hall day

// the manager's filters survive the view's rebuilds (a language switch) and the feed's refreshes
const filters = { state: "", severity: "", rule: "", subject: "", range: "today", q: "" };
const ruleTitles = new Map();  // rule id → {zh, en}, from the alerts seen, for the rule filter's words
let current = null;  // the mounted panel: { body, count, more, items, next }

function pick(words) {
  return words ? words[language()] || words.zh || words.en || "" : "";
}

function ruleName(id) {
  return pick(ruleTitles.get(id)) || id;
}

function learnRules(items) {
  for (const a of items) if (a.title && !ruleTitles.has(a.rule)) ruleTitles.set(a.rule, a.title);
  for (const a of live.alerts) if (a.title && !ruleTitles.has(a.rule)) ruleTitles.set(a.rule, a.title);
}

function since(range) {
  const at = live.hall?.at;
  if (!at) return null;
  const day = new Date(new Date(at).getTime() - RANGES[range] * 86400000).toISOString();
  return `${hallDay(day)}T00:00:00`;  // the hall's midnight: the gateway reads a time without zone in the hall's
}

function query(before) {
  const p = new URLSearchParams({ limit: String(PAGE) });
  if (filters.state) p.set("state", filters.state);
  if (filters.severity) p.set("severity", filters.severity);
  if (filters.rule) p.set("rule", filters.rule);
  if (filters.subject) {
    const [kind, id] = filters.subject.split(":");
    p.set(kind, id);
  }
  // both ends from the hall's clock, never one from the browser's and one from the gateway's: a hall that has not
  // yet played (a demo starting) or a gateway clock behind the browser's must not make an empty or refused range
  const from = since(filters.range);
  if (from) {
    p.set("from", from);
    p.set("to", `${hallDay(new Date(new Date(live.hall.at).getTime() + 86400000).toISOString())}T00:00:00`);
  }
  if (filters.q.trim()) p.set("q", filters.q.trim());
  if (before) p.set("before", before);
  return `/api/alerts/history?${p}`;
}

// Only the newest request is shown: a filter changed, a search sent and the feed's refresh may all be in flight, and
// an older answer arriving last must not put back rows the manager has since filtered away. The rows say aria-busy
// until the newest answer is in.
async function load(more = false) {
  const panel = current;
  if (!panel || (more && panel.body.getAttribute("aria-busy") === "true")) return;
  const seq = ++panel.seq;
  panel.body.setAttribute("aria-busy", "true");
  try {
    const page = await api(query(more ? panel.next : null));
    if (panel !== current || seq !== panel.seq) return;  // the view was rebuilt, or a newer request was sent
    learnRules(page.items);
    panel.items = more ? [...panel.items, ...page.items] : page.items;
    panel.next = page.next;
    panel.total = page.total;
    render(panel);
  } catch (err) {
    if (seq === panel.seq) toast(err.message);
  } finally {
    if (seq === panel.seq) panel.body.setAttribute("aria-busy", "false");
  }
}

function row(a) {
  const by = a.acknowledged_by ? personName(a.acknowledged_by, a.names) : "";
  return h("tr", { "data-fingerprint": a.fingerprint, "data-severity": a.severity, "data-state": a.state },
    h("td", { class: "words" }, alertText(a)),
    h("td", {}, h("span", { class: `sev sev-${a.severity}` }, t(`sev_${a.severity}`))),
    h("td", {}, h("time", { datetime: a.started_at, title: dateTime(a.started_at) }, when(a.started_at)),
      h("br", {}), agoSpan(a.started_at)),
    h("td", {}, a.ended_at ? h("time", { datetime: a.ended_at, title: dateTime(a.ended_at) }, when(a.ended_at))
      : t(`st_${a.state}`)),
    h("td", { class: "num" }, a.duration_s < 60 ? t("ah_underMin") : span(a.duration_s / 60)),
    h("td", {}, by ? t("ah_by", { by, t: when(a.acknowledged_at) }) : "—"));
}

function render(panel) {
  panel.count.textContent = t("ah_count", { n: panel.total ?? 0, shown: panel.items.length });
  panel.body.replaceChildren(panel.items.length
    ? h("table", { class: "alert-history" },
      h("caption", { class: "sr-only" }, t("ah_title")),
      h("thead", {}, h("tr", {}, ["ah_alert", "ah_severity", "ah_start", "ah_end", "ah_duration", "ah_ackedBy"]
        .map((k) => h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, panel.items.map(row)))
    : h("p", { class: "empty" }, t("ah_none")));
  panel.more.hidden = !panel.next;
}

function select(id, key, options, label) {
  return [h("label", { for: id }, t(label)),
    h("select", { id, name: key, "data-key": id,
      onchange: (e) => { filters[key] = e.currentTarget.value; load(); } },
    options.map(([value, text]) => h("option", { value, selected: filters[key] === value || null }, text)))];
}

function subjects() {
  const hall = live.hall;
  if (!hall) return [];
  return [
    ...hall.windows.map((w) => [`window:${w.window_id}`, windowName(w.window_id)]),
    ...hall.services.map((s) => [`service:${s.code}`, serviceName(s.code)]),
    ...hall.devices.filter((d) => d.device_type !== "window")
      .map((d) => [`device:${d.device_id}`, `${d.name || d.device_id} · ${t(`dt_${d.device_type}`)}`]),
  ];
}

function rules() {
  learnRules([]);
  const ids = new Set([...ruleTitles.keys(), ...live.alerts.map((a) => a.rule)]);
  if (filters.rule) ids.add(filters.rule);
  return [...ids].map((id) => [id, ruleName(id)]).sort((a, b) => a[1].localeCompare(b[1]));
}

// The panel: the filters, the search box, the rows and "more".
export function historySection() {
  // (a box that scrolls sideways on a narrow desk: a keyboard user reaches it by its tab stop, axe
  // scrollable-region-focusable)
  const body = h("div", { class: "history-rows", "aria-live": "polite", role: "region", tabindex: "0",
    "aria-label": t("scanHistoryRows") });
  const count = h("p", { class: "history-count" });
  const more = h("button", { type: "button", "data-key": "ah-more", hidden: true, onclick: () => load(true) },
    t("ah_more"));
  const search = h("input", { id: "ah-q", type: "search", name: "q", value: filters.q, maxlength: 100,
    placeholder: t("ah_searchHint") });
  const form = h("form", { class: "history-filters", role: "search", onsubmit: (e) => {
    e.preventDefault();
    filters.q = search.value;
    load();
  } },
  select("ah-range", "range", Object.keys(RANGES).map((r) => [r, t(`ah_range_${r}`)]), "ah_range"),
  select("ah-state", "state", STATES.map((s) => [s, s ? t(s === "active" ? "ah_active" : `st_${s}`) : t("ah_any")]),
    "ah_state"),
  select("ah-severity", "severity", SEVERITIES.map((s) => [s, s ? t(`sev_${s}`) : t("ah_any")]), "ah_severity"),
  select("ah-rule", "rule", [["", t("ah_any")], ...rules()], "ah_rule"),
  select("ah-subject", "subject", [["", t("ah_anySubject")], ...subjects()], "ah_subject"),
  h("label", { for: "ah-q" }, t("ah_search")), search,
  h("button", { type: "submit", class: "primary", "data-key": "ah-go" }, t("ah_go")));
  current = { body, count, more, items: [], next: null, total: 0, seq: 0 };
  load();
  return h("section", { id: "alert-history", "aria-labelledby": "alert-history-h" },
    h("h2", { id: "alert-history-h" }, t("ah_title")), form, count, body, more);
}

// ages stay true; a new or ended alert re-reads the first page (a manager paging back keeps the pages read)
let waiting = null;
live.listeners.add((what) => {
  if (!current || !current.body.isConnected) return;
  if (what === "hall") refreshAges(current.body);
  if (what === "alerts" && current.items.length <= PAGE && !waiting) {
    waiting = setTimeout(() => { waiting = null; load(); }, 1000);
  }
});
