// The fleet view (hallops cloud serve): every hall of the city or province, worst first, and one hall in detail.
// It reads /api/fleet/halls every few seconds (the server says how often). A hall's figures are its newest status's:
// when that status is old the hall is shown cut off (失联) with the time since, never as live, and the age of its
// backlog keeps growing. When the page itself cannot read, it says since when its figures are.
import { t, setLanguage, language, named } from "./i18n.js";
import { api, h, patch, toast, clockText, hhmm, dateTime, ApiError } from "./ui.js";

const state = { me: null, fleet: null, detail: null, readAt: null, failed: null, filter: "" };
let timer = null;

// -- words ---------------------------------------------------------------------------------------------------

function span(seconds) {  // a duration, to the second below an hour: a cut-off hall's silence visibly grows
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return t("fl_s", { s });
  if (s < 3600) return t("fl_ms", { m: Math.floor(s / 60), s: s % 60 });
  if (s < 86400) return t("fl_hm", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
  return t("fl_dh", { d: Math.floor(s / 86400), h: Math.floor((s % 86400) / 3600) });
}

function hallName(row) {
  return named({ name: row.name, name_en: row.name_en }, row.hall);
}

function known(key, fallback) {  // a word for a code the hall sent, or the code itself when we have none
  const text = t(key);
  return text === key ? fallback : text;
}

function words(w) {
  return w ? (language() === "en" ? w.en : w.zh) : null;
}

function fixed(v, digits = 1) {
  return v === null || v === undefined ? "—" : Number(v).toFixed(digits);
}

function linkWords(row) {
  if (row.link === "live") return row.backlog > 0 ? t("fl_catchingUp") : t("fl_live");
  return t(`fl_link_${row.link}`);
}

function backlogText(row) {
  if (row.backlog === null || row.backlog === undefined) return "—";
  if (row.backlog === 0) return row.link === "live" ? t("fl_synced") : t("fl_syncedAsOf");  // not heard: as of then
  const n = row.link === "live" ? t("fl_records", { n: row.backlog }) : t("fl_recordsAtLeast", { n: row.backlog });
  return `${n} · ${t("fl_oldest", { d: span(row.backlog_age_s) })}`;
}

function alertsText(a) {
  const parts = ["critical", "major", "warning", "info"].filter((s) => a[s] > 0)
    .map((s) => t("fl_sevCount", { sev: t(`sev_${s}`), n: a[s] }));
  return parts.length ? parts.join(t("fl_comma")) : t("fl_none");
}

// -- the overview ----------------------------------------------------------------------------------------------

function summary(halls) {
  const count = (link) => halls.filter((r) => r.link === link).length;
  return t("fl_summary", { n: halls.length, live: count("live"), stale: count("stale"),
    offline: count("offline") + count("silent") });
}

function stateCell(row) {
  const cut = row.link !== "live";
  return h("td", { class: `fl-state fl-${row.link}` },
    h("span", { class: `pill fl-pill-${row.link}${row.link === "live" && row.backlog > 0 ? " fl-pill-catching" : ""}` },
      linkWords(row)),
    cut && row.status_at
      ? h("div", { class: "fl-silent" }, t("fl_silentFor", { d: span(row.silent_s) }))
      : null,
    cut && row.status_at ? h("div", { class: "note" }, t("fl_asOf", { t: dateTime(row.status_at) })) : null,
    cut && !row.status_at ? h("div", { class: "note" }, t("fl_neverStatus")) : null);
}

function overviewRow(row) {
  const a = row.alerts;
  const today = row.today;
  return h("tr", { class: `fl-row fl-${row.link}${a.critical ? " fl-critical" : ""}`, "data-hall": row.hall },
    h("th", { scope: "row" }, h("a", { href: `#/hall/${encodeURIComponent(row.hall)}` }, hallName(row))),
    stateCell(row),
    h("td", { class: "fl-backlog" }, backlogText(row)),
    // data-label: a phone shows each row as a card, every figure after its name (app.css)
    h("td", { class: "num", "data-label": t("fl_sl") }, today.sl_pct === null ? "—" : `${fixed(today.sl_pct)}%`),
    h("td", { class: "num", "data-label": t("fl_p95") }, fixed(today.p95_wait_min)),
    h("td", { class: "num", "data-label": t("fl_max") }, fixed(today.max_wait_min)),
    h("td", { class: a.critical ? "fl-alerts late" : "fl-alerts", "data-label": t("fl_alerts") }, alertsText(a)),
    h("td", { class: "num", "data-label": t("fl_devicesDown") }, String(row.devices_down)),
    h("td", { class: row.tickets_overdue ? "num late" : "num", "data-label": t("fl_overdue") },
      String(row.tickets_overdue)),
    h("td", { class: "num", "data-label": t("fl_rules") }, row.rule_version === null ? "—" : `v${row.rule_version}`));
}

const OVERVIEW_COLS = ["fl_hall", "fl_state", "fl_backlog", "fl_sl", "fl_p95", "fl_max", "fl_alerts", "fl_devicesDown",
  "fl_overdue", "fl_rules"];
const TEXT_COLS = new Set(["fl_hall", "fl_state", "fl_backlog", "fl_alerts", "fl_hour"]);

function heads(keys) {
  return h("thead", {}, h("tr", {}, keys.map((k) => h("th", { scope: "col", class: TEXT_COLS.has(k) ? null : "num" },
    t(k)))));
}

function overview() {
  const root = h("div", { class: "fleet-view" });
  const head = h("div", { class: "fl-bar" });
  const search = h("input", { id: "fl-filter", type: "search", value: state.filter, "aria-label": t("fl_filter"),
    placeholder: t("fl_filterHint") });
  search.addEventListener("input", () => { state.filter = search.value.trim().toLowerCase(); draw(); });
  const list = h("div", { class: "fl-list" });
  root.append(h("section", { id: "fleet", "aria-labelledby": "fleet-h" },
    h("h2", { id: "fleet-h" }, t("fl_halls")), head, h("div", { class: "fl-tools" }, search), list));

  function draw() {
    const f = state.fleet;
    if (!f) { patch(list, "none", () => h("p", { class: "empty" }, t("loading"))); return; }
    const halls = f.halls.filter((r) => !state.filter
      || r.hall.toLowerCase().includes(state.filter) || hallName(r).toLowerCase().includes(state.filter));
    patch(head, `${language()}|${summary(f.halls)}|${stale()}`, () => [
      h("p", { class: "summary", id: "fl-summary" }, summary(f.halls)),
      h("p", { class: "note" }, t("fl_order", { d: span(f.stale_after_s) })),
      staleBanner()]);
    patch(list, `${language()}|${JSON.stringify(halls)}`, () => halls.length === 0
      ? h("p", { class: "empty" }, f.halls.length ? t("fl_noMatch") : t("fl_noHalls"))
      : h("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": t("fl_hallsTable") },
        h("table", { class: "fl-table" },
          heads(OVERVIEW_COLS),
          h("tbody", {}, halls.map(overviewRow)))));
  }
  return { root, draw };
}

// -- one hall ------------------------------------------------------------------------------------------------

function facts(row) {
  const pairs = [
    ["fl_state", linkWords(row)],
    ["fl_lastStatus", row.status_at ? `${dateTime(row.status_at)} · ${t("fl_ago", { d: span(row.silent_s) })}`
      : t("fl_neverStatus")],
    ["fl_backlog", backlogText(row)],
    ["fl_sl", row.today.sl_pct === null ? "—" : `${fixed(row.today.sl_pct)}%`],
    ["fl_p95", fixed(row.today.p95_wait_min)],
    ["fl_max", fixed(row.today.max_wait_min)],
    ["fl_rules", row.rule_version === null ? "—" : `v${row.rule_version}`],
  ];
  return h("dl", { class: "facts" }, pairs.map(([k, v]) => [h("dt", {}, t(k)), h("dd", { class: `fl-fact-${k}` }, v)]));
}

function hoursTable(hours) {
  if (!hours.length) return h("p", { class: "empty" }, t("fl_noHours"));
  const cols = ["fl_hour", "fl_issued", "fl_served", "fl_sl", "fl_p95", "fl_mean", "fl_max", "fl_satisfaction"];
  return h("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": t("fl_hours") },
    h("table", { class: "fl-hours" },
      heads(cols),
      h("tbody", {}, hours.map((x) => h("tr", {},
        h("th", { scope: "row" }, hhmm(x.start)),
        h("td", { class: "num" }, x.issued ?? "—"),
        h("td", { class: "num" }, x.served ?? "—"),
        h("td", { class: "num" }, x.sl_pct === null ? "—" : `${fixed(x.sl_pct)}%`),
        h("td", { class: "num" }, fixed(x.p95_wait_min)),
        h("td", { class: "num" }, fixed(x.mean_wait_min)),
        h("td", { class: "num" }, fixed(x.max_wait_min)),
        h("td", { class: "num" }, x.satisfaction_pct === null ? "—" : `${fixed(x.satisfaction_pct)}%`))))));
}

function alertTitle(a) {
  return words(a.text) || words(a.title) || t("fl_alertOf", { rule: a.rule || "—" });
}

function alertItem(a) {
  const sev = a.severity || "info";
  return h("li", { class: `alert level-${sev}`, "data-state": a.state },
    h("div", { class: "ahead" },
      h("span", { class: `sev sev-${sev}` }, t(`sev_${sev}`)),
      h("span", {}, known(`st_${a.state}`, a.state)),
      h("time", {}, a.since ? t("fl_since", { t: dateTime(a.since) }) : dateTime(a.at))),
    h("p", { class: "reason" }, alertTitle(a)));
}

function historyList(items) {
  if (!items.length) return h("p", { class: "empty" }, t("noAlerts"));
  return h("ul", { class: "history" }, items.map((a) => h("li", {},
    h("time", { class: "ago" }, dateTime(a.at)), " ",
    h("span", { class: `sev sev-${a.severity || "info"}` }, t(`sev_${a.severity || "info"}`)), " ",
    h("b", {}, known(`st_${a.state}`, a.state)), " · ", words(a.title) || alertTitle(a))));
}

function ticketList(items) {
  if (!items.length) return h("p", { class: "empty" }, t("noTickets"));
  return h("ul", { class: "tickets" }, items.map((x) => h("li", {
    class: `ticket${x.priority ? ` prio-${x.priority}` : ""}${x.overdue ? " overdue" : ""}` },
  h("div", { class: "thead" },
    h("span", { class: "prio" }, x.priority || ""),
    h("span", {}, known(`t_${x.status}`, x.status)),
    x.overdue ? h("span", { class: "late" }, t("overdue")) : null,
    h("span", { class: "tmeta" }, x.opened_at ? t("opened", { t: dateTime(x.opened_at) }) : "")),
  h("p", {}, words(x.text) || x.id),
  x.resolve_due ? h("p", { class: "due" }, t("resolveDue", { t: dateTime(x.resolve_due) })) : null)));
}

function devicesList(items) {
  if (!items.length) return h("p", { class: "empty" }, t("allHealthy"));
  return h("ul", { class: "devices" }, items.map((d) => h("li", {},
    h("b", {}, d.device), " ", d.device_type ? known(`dt_${d.device_type}`, d.device_type) : "",
    d.since ? h("span", { class: "ago" }, ` · ${t("fl_downSince", { t: dateTime(d.since) })}`) : null,
    d.reason ? h("span", { class: "note" }, ` · ${d.reason}`) : null)));
}

function hallView(id) {
  const root = h("div", { class: "fleet-hall" });
  const body = h("div", {});
  root.append(h("p", {}, h("a", { href: "#/", id: "fl-back" }, t("fl_back"))), body);

  function draw() {
    const d = state.detail;
    if (!d || d.hall.hall !== id) {
      patch(body, `loading|${language()}|${state.missing}`, () =>
        h("p", { class: "empty" }, state.missing === id ? t("fl_unknownHall") : t("loading")));
      return;
    }
    patch(body, `${language()}|${JSON.stringify(d)}|${stale()}`, () => [
      h("section", { id: "fl-hall", "aria-labelledby": "fl-hall-h" },
        h("h2", { id: "fl-hall-h" }, hallName(d.hall)), staleBanner(), facts(d.hall),
        h("p", { class: "note" }, t("fl_counts", { alerts: alertsText(d.hall.alerts), down: d.hall.devices_down,
          overdue: d.hall.tickets_overdue }))),
      h("section", { id: "fl-hours", "aria-labelledby": "fl-hours-h" },
        h("h2", { id: "fl-hours-h" }, t("fl_hoursOf", { day: d.day })), hoursTable(d.hours)),
      h("div", { class: "two" },
        h("section", { id: "fl-open", "aria-labelledby": "fl-open-h" },
          h("h2", { id: "fl-open-h" }, t("fl_openAlerts")),
          d.alerts.length ? h("ul", { class: "alerts" }, d.alerts.map(alertItem)) : h("p", { class: "empty" }, t("noAlerts"))),
        h("section", { id: "fl-history", "aria-labelledby": "fl-history-h" },
          h("h2", { id: "fl-history-h" }, t("fl_history")), historyList(d.history))),
      h("div", { class: "two" },
        h("section", { id: "fl-tickets", "aria-labelledby": "fl-tickets-h" },
          h("h2", { id: "fl-tickets-h" }, t("fl_tickets")), ticketList(d.tickets)),
        h("section", { id: "fl-devices", "aria-labelledby": "fl-devices-h" },
          h("h2", { id: "fl-devices-h" }, t("fl_devices")), devicesList(d.devices_down))),
    ]);
  }
  return { root, draw };
}

// -- reading -------------------------------------------------------------------------------------------------

function stale() {  // the page could not read at its last try: its figures are as of `readAt`
  return state.failed ? `${state.failed}|${state.readAt}` : "";
}

function staleBanner() {
  if (!state.failed) return null;
  return h("p", { class: "fl-banner", role: "status" },
    t("fl_readFailed", { t: state.readAt ? clockText(state.readAt) : "—", why: state.failed }));
}

function route() {
  const m = location.hash.match(/^#\/hall\/(.+)$/);
  return m ? decodeURIComponent(m[1]) : null;
}

let view = null;

async function poll() {
  if (!state.me) return;
  const id = route();
  try {
    state.fleet = await api("/api/fleet/halls");
    if (id) {
      try {
        state.detail = await api(`/api/fleet/halls/${encodeURIComponent(id)}`);
        state.missing = null;
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) state.missing = id; else throw err;
      }
    }
    state.readAt = state.fleet.at;
    state.failed = null;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    state.failed = !(err instanceof ApiError) ? t("fl_whyServer")
      : err.status === 403 ? t("forbidden") : err.status === 503 ? t("fl_whyDatabase") : `HTTP ${err.status}`;
  }
  renderLive();
  view?.draw();
}

function renderLive() {
  const el = document.getElementById("live");
  if (!state.me) { el.textContent = ""; el.className = ""; return; }
  el.textContent = state.failed ? t("fl_notReading") : t("fl_reading");
  el.className = state.failed ? "off" : "on";
  document.getElementById("clock").textContent = state.readAt ? clockText(state.readAt) : "";
}

function show() {
  const id = route();
  view = id ? hallView(id) : overview();
  if (id && state.detail?.hall.hall !== id) state.detail = null;
  document.getElementById("main").replaceChildren(view.root);
  view.draw();
  if (id && !state.detail) poll();
}

// -- the shell -----------------------------------------------------------------------------------------------

function translateStatic() {
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  document.getElementById("lang").textContent = language() === "en" ? "中文" : "English";
  document.title = t("fl_title");
  const who = document.getElementById("who");
  who.textContent = state.me ? `${state.me.name || state.me.user} · ${t(`role_${state.me.role}`)}` : "";
  document.getElementById("logout").hidden = !state.me;
  renderLive();
}

async function start() {
  try {
    state.me = await api("/api/fleet/session");
  } catch {
    state.me = null;
  }
  translateStatic();
  clearInterval(timer);
  if (!state.me) { loginForm(); return; }
  if (state.me.role === "technician") {
    document.getElementById("main").replaceChildren(h("p", { class: "empty" }, t("forbidden")));
    return;
  }
  show();
  await poll();
  timer = setInterval(poll, Math.max(1, state.me.poll_s) * 1000);
}

function loginForm() {
  const main = document.getElementById("main");
  const error = h("p", { class: "error", role: "alert", id: "login-error" });
  const form = h("form", { class: "login", "aria-labelledby": "login-h" },
    h("h2", { id: "login-h" }, t("fl_signInTitle")),
    h("label", { for: "login-user" }, t("user")),
    h("input", { id: "login-user", name: "user", autocomplete: "username", required: true }),
    h("label", { for: "login-password" }, t("password")),
    h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password",
      required: true }),
    h("button", { type: "submit", class: "primary" }, t("signIn")),
    error);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    try {
      await api("/api/fleet/session", { method: "POST",
        body: { user: data.get("user"), password: data.get("password") } });
      await start();
    } catch (err) {
      error.textContent = err instanceof ApiError && err.status === 401 ? t("wrongLogin") : String(err.message);
    }
  });
  main.replaceChildren(form);
  form.querySelector("input").focus();
}

document.getElementById("lang").addEventListener("click", () => {
  setLanguage(language() === "en" ? "zh" : "en");
  translateStatic();
  if (state.me) show(); else loginForm();
});
document.getElementById("logout").addEventListener("click", async () => {
  await api("/api/fleet/session", { method: "DELETE" }).catch(() => null);
  state.me = null;
  clearInterval(timer);
  translateStatic();
  loginForm();
});
window.addEventListener("hashchange", () => { if (state.me) show(); });
window.addEventListener("hallops:signed-out", () => {
  if (!state.me) return;
  state.me = null;
  clearInterval(timer);
  toast(t("fl_signInTitle"));
  translateStatic();
  loginForm();
});

setLanguage(language());
start();
