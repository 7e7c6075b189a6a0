// The hall manager's view: the floor, queues, KPIs and trends, with the alerts (alerts.js), the tidal
// recommendations (tidal.js) and the rectification tickets (rectify.js) beside them. The wall screen is wall.js.
import { t, language } from "./i18n.js";
import { live, h, patch, section, minutes, sinceMin, pct, num, serviceName, slLabel } from "./ui.js";
import { kpiTrends } from "./trends.js";
import { rectifySection } from "./rectify.js";
import { alertsFeed } from "./alerts.js";
import { problemWords, zoneName } from "./words.js";
import { recsList } from "./tidal.js";
import { breaksSection } from "./breaks.js";
import { bookingsSection } from "./bookings.js";
import { guidesSection } from "./guides.js";
import { historySection } from "./history.js";

// -- what a window tile shows --------------------------------------------------------------------------------------

export function windowState(w, waiting) {
  if (w.status === "offline" || w.online === false) return "offline";
  if (w.status === "closed") return "closed";
  if (w.status === "paused") return "paused";
  if (w.staff_present === false) return "nostaff";
  if (w.current_ticket) return "serving";
  return w.services.some((s) => (waiting[s] || 0) > 0) ? "idle_waiting" : "idle";
}
const STATES = ["serving", "idle_waiting", "idle", "paused", "nostaff", "offline", "closed"];

function waitingByService(hall) {
  return Object.fromEntries(hall.services.map((s) => [s.code, s.waiting]));
}

function areaOf(location) {  // 1F-A-03 → 1F-A: the row of windows it stands in
  if (!location) return null;
  const parts = location.split("-");
  return parts.length > 2 ? parts.slice(0, -1).join("-") : location;
}

function tile(w, state, now) {
  // serving: since the service started, or since the call while the person walks up (never the window's opening)
  const clock = state === "serving" ? sinceMin(w.serving_since || w.calling_since || w.last_call_at, now)
    : state === "paused" ? sinceMin(w.paused_since, now)
      : state.startsWith("idle") ? sinceMin(w.idle_since, now) : null;
  const en = language() === "en";
  const name = (en ? w.name_en || w.name : w.name || w.name_en) || w.window_id;
  const staff = (en ? w.staff_name_en || w.staff_name : w.staff_name) || w.staff_id;  // the roster's name (staff:)
  const label = `${name}: ${t(`ws_${state}`)}${w.current_number ? ` ${w.current_number}` : ""}`;
  return h("li", { class: `win ws-${state}`, "aria-label": label, "data-window": w.window_id, "data-state": state },
    h("b", {}, name),
    h("span", { class: "state" }, t(`ws_${state}`)),
    h("span", { class: "number" }, w.current_number || ""),
    clock !== null ? h("span", { class: "clock" }, t("forMin", { n: clock })) : null,
    staff ? h("span", { class: "staff", title: staff === w.staff_id ? null : w.staff_id }, staff) : null);
}

export function floorMap(hall) {
  const waiting = waitingByService(hall);
  const where = Object.fromEntries(hall.devices.map((d) => [d.device_id, d.location]));
  const areas = new Map();
  for (const w of hall.windows) {
    const area = areaOf(where[w.window_id]) || t("otherArea");
    if (!areas.has(area)) areas.set(area, []);
    areas.get(area).push(w);
  }
  const legend = h("ul", { class: "legend", "aria-label": t("legend") },
    STATES.map((s) => h("li", {}, h("span", { class: `swatch ws-${s}`, "aria-hidden": "true" }), t(`ws_${s}`))));
  const groups = [...areas.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([area, ws]) =>
    h("div", { class: "area" }, h("h3", {}, area),
      h("ul", { class: "tiles" }, ws.map((w) => tile(w, windowState(w, waiting), hall.at)))));
  return [legend, ...groups];
}

export function queuesTable(hall) {
  const target = (live.kpi?.target_wait_min || 15) * 60;
  const rows = [...hall.services].sort((a, b) => b.waiting - a.waiting || a.code.localeCompare(b.code));
  return h("table", { class: "queues" },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, t("service")), h("th", { scope: "col", class: "num" }, t("waiting")),
      h("th", { scope: "col", class: "num" }, t("longest")), h("th", { scope: "col", class: "num" }, t("projected")),
      h("th", { scope: "col", class: "num" }, t("capable")), h("th", { scope: "col", class: "num" }, t("arrivals15")))),
    h("tbody", {}, rows.map((s) => h("tr", { "data-service": s.code },
      h("th", { scope: "row" }, serviceName(s.code)),
      h("td", { class: "num waiting" }, s.waiting),
      h("td", { class: `num${(s.longest_wait_s || 0) > target ? " late" : ""}` }, minutes(s.longest_wait_s)),
      h("td", { class: `num${(s.projected_wait_s || 0) > target ? " late" : ""}` },
        s.projected_wait_s === null ? (s.waiting ? t("noWindow") : "—") : minutes(s.projected_wait_s)),
      h("td", { class: "num" }, s.capable_windows),
      h("td", { class: "num" }, s.arrivals_15m)))));
}

function zonesList(hall) {
  // staff-seat zones answer "is someone at the window" (shown on the tiles), not crowding
  const zones = hall.zones.filter((z) => !z.zone_id.startsWith("seat")).sort((a, b) => b.count - a.count);
  if (!zones.length) return h("p", { class: "empty" }, t("noZones"));
  const max = Math.max(...zones.map((z) => z.count), 1);
  return h("ul", { class: "zones" }, zones.map((z) => h("li", {},
    h("span", { class: "zname" }, zoneName(z.zone_id)),
    h("span", { class: "zbar", vars: { "--w": `${(100 * z.count) / max}%` }, "aria-hidden": "true" }),
    h("b", {}, `${z.count} ${language() === "en" ? "" : "人"}`.trim()))));
}

function devicesList(hall) {
  const bad = hall.devices.filter((d) => d.health !== "ok");
  const ok = hall.devices.length - bad.length;
  return [
    h("p", { class: "summary" }, t("deviceHealthy", { ok, n: hall.devices.length })),
    bad.length ? h("ul", { class: "devices" }, bad.map((d) => h("li", {},
      h("span", { class: `pill h-${d.health}` }, t(`h_${d.health}`)),
      ` ${d.name || d.device_id} · ${t(`dt_${d.device_type}`)}${d.location ? ` · ${d.location}` : ""}`,
      d.problems.length ? h("small", {}, " — ", ...d.problems.flatMap((p, i) =>
        [i ? t("tk_comma") : null, h("span", { title: p }, problemWords(p))])) : null))) : null,
  ];
}

// -- KPIs and trends ------------------------------------------------------------------------------------------------

function kpiTiles(k, hall) {
  const d = k?.hall;
  const tiles = [
    ["waitingNow", hall?.totals.waiting ?? "—", hall ? minutes(hall.totals.longest_wait_s) : ""],
    ["sl", pct(d?.sl_pct), `${t("issued")} ${d?.issued ?? 0} · ${t("served")} ${d?.served ?? 0}`],
    ["p95", d?.p95_wait_min === null || d?.p95_wait_min === undefined ? "—" : t("minutes", { n: num(d.p95_wait_min) }),
      ""],
    ["noShow", pct(d?.no_show_pct), ""],
    ["util", pct(d?.utilisation_pct), ""],
    ["kiosk", pct(d?.kiosk_success_pct), t("kioskSessions", { n: d?.kiosk_sessions ?? 0, pct: pct(d?.kiosk_success_pct) })],
    ["avail", pct(d?.availability_pct), ""],
    ["satisfaction", pct(d?.satisfaction_pct), t("ratings", { n: d?.ratings ?? 0 })],
  ];
  return h("ul", { class: "kpis" }, tiles.map(([key, value, sub]) =>
    h("li", { class: "kpi", "data-kpi": key }, h("span", { class: "label" }, key === "sl" ? slLabel() : t(key)),
      h("b", {}, value),
      sub ? h("small", {}, sub) : null)));
}

// -- the views ----------------------------------------------------------------------------------------------------

export function floorView() {
  const root = h("div", { class: "view floor-view" });
  const parts = {};
  function build() {
    for (const k of ["kpi", "floor", "queues", "alerts", "recs", "zones", "devices", "charts"]) {
      parts[k] = h("div", { class: `part part-${k}` });
    }
    root.replaceChildren(
      section("kpi", "kpis", parts.kpi),
      h("div", { class: "cols" },
        h("div", { class: "col-main" }, section("floor", "floor", parts.floor), section("queues", "queues", parts.queues)),
        h("div", { class: "col-side" }, section("tidal", "tidal", parts.recs), breaksSection(), guidesSection(), bookingsSection(),
          section("alerts", "alerts", parts.alerts),
          rectifySection(), section("zones", "zones", parts.zones), section("devices", "devices", parts.devices))),
      section("charts", "charts", parts.charts),
      historySection());
    update("all");
  }
  function update(what) {
    const hall = live.hall;
    const all = what === "all";
    if (hall && (all || what === "hall")) {
      const sig = JSON.stringify([hall.windows, hall.services, hall.devices.map((d) => d.health)]);
      patch(parts.floor, sig, () => floorMap(hall));
      patch(parts.queues, JSON.stringify(hall.services), () => queuesTable(hall));
      patch(parts.zones, JSON.stringify(hall.zones.map((z) => [z.zone_id, z.count])), () => zonesList(hall));
      patch(parts.devices, JSON.stringify(hall.devices.map((d) => [d.device_id, d.health, d.problems])),
        () => devicesList(hall));
    }
    if (all || what === "hall" || what === "kpi") {
      patch(parts.kpi, JSON.stringify([live.kpi?.hall, hall?.totals]), () => kpiTiles(live.kpi, hall));
    }
    if (all || what === "alerts") patch(parts.alerts, JSON.stringify(live.alerts), alertsFeed);
    if (all || what === "recs" || what === "hall") patch(parts.recs, JSON.stringify(live.recs), recsList);
    if (all || what === "kpi") patch(parts.charts, JSON.stringify(live.kpi), () => kpiTrends(live.kpi));
    if (hall && live.kpi && !performance.getEntriesByName("hallops:floor-ready").length) {
      performance.mark("hallops:floor-ready");  // the floor, queues, KPIs and charts are on screen (bench/webui)
    }
  }
  const on = (what) => (what === "lang" ? build() : update(what));
  live.listeners.add(on);
  build();
  return { root, stop() { live.listeners.delete(on); } };
}
