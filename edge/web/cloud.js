// The administrator's view of the uplink to the city/province tier (docs/sync.md): whether it is connected, what
// waits for the cloud's confirmation (and since when), what the disk budget dropped. Read from /api/health every few
// seconds; the section stays hidden for a hall without a cloud. It says what the gateway knows, nothing more: the
// records wait until the cloud has confirmed them, so "sent" is never shown as "arrived".
import { t } from "./i18n.js";
import { api, h, patch, dateTime, num } from "./ui.js";

const STREAMS = ["alerts", "tickets", "audit", "ratings", "decisions", "devices", "kpis", "telemetry"];

function age(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 90) return t("cdSeconds", { n: Math.round(seconds) });
  if (seconds < 5400) return t("cdMinutes", { n: Math.round(seconds / 60) });
  return t("cdHours", { n: num(seconds / 3600, 1) });
}

function kb(bytes) {
  return bytes < 1024 * 1024 ? t("cdKb", { n: Math.ceil(bytes / 1024) }) : t("cdMb", { n: num(bytes / 1048576, 1) });
}

function summary(c) {
  const line = c.connected
    ? t("cdConnected", { where: c.endpoint, since: dateTime(c.connected_since) })
    : t("cdNotConnected", { where: c.endpoint || "—" }) + (c.last_error ? t("cdBecause", { why: c.last_error }) : "");
  const waiting = c.backlog === 0 ? t("cdNothingWaits")
    : t("cdWaiting", { n: c.backlog, size: kb(c.backlog_bytes), budget: kb(c.budget_bytes), age: age(c.oldest_s) });
  const confirmed = c.last_confirmation_at ? t("cdLastConfirmed", { at: dateTime(c.last_confirmation_at) })
    : t("cdNeverConfirmed");
  return h("div", { class: "cloud-summary" },
    h("p", { class: c.connected ? "ok" : "bad", id: "cloud-link" }, line),
    h("p", { id: "cloud-backlog" }, waiting, " · ", confirmed),
    c.dropped > 0 ? h("p", { class: "bad", id: "cloud-dropped" }, t("cdDropped", { n: c.dropped })) : null);
}

function streamTable(c) {
  const rows = [...c.streams].sort((a, b) => STREAMS.indexOf(a.stream) - STREAMS.indexOf(b.stream));
  return h("table", { class: "grid", id: "cloud-streams" },
    h("thead", {}, h("tr", {}, ["cdStream", "cdHeld", "cdConfirmedUpTo", "cdOldest", "cdDroppedCol"].map(
      (k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, rows.map((s) => h("tr", {},
      h("th", { scope: "row" }, t(`cs_${s.stream}`)),
      h("td", {}, String(s.held)),
      h("td", {}, t("cdOf", { n: s.confirmed, last: s.last_seq })),
      h("td", {}, age(s.oldest_s)),
      h("td", {}, String(s.dropped))))));
}

// {root, refresh, stop}: root is hidden until the gateway says it has a cloud uplink.
export function cloudPanel() {
  const box = h("div", { "aria-live": "polite" });
  const root = h("section", { id: "admin-cloud", "aria-labelledby": "admin-cloud-h", hidden: true },
    h("h2", { id: "admin-cloud-h" }, t("cdTitle")), h("p", { class: "note" }, t("cdNote")), box);
  let last = null;
  async function refresh() {
    let health;
    try {
      health = await api("/api/health");
    } catch (err) {
      if (last) box.replaceChildren(h("p", { class: "bad" }, t("cdUnknown", { why: err.message })));
      delete box.dataset.sig;
      return;
    }
    const c = health.cloud;
    root.hidden = !c;
    if (!c) return;
    last = c;
    const sig = JSON.stringify([c.connected, c.endpoint, c.last_error, c.backlog, c.dropped, c.last_confirmation_at,
      c.streams.map((s) => [s.held, s.confirmed, s.last_seq, s.dropped, Math.round((s.oldest_s || 0) / 10)])]);
    patch(box, sig, () => [summary(c), streamTable(c)]);
  }
  const timer = setInterval(refresh, 5000);
  refresh();
  return { root, refresh, stop() { clearInterval(timer); } };
}
