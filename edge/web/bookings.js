// Today's appointments (预约) on the floor view, for the hall manager: per service, how many are booked, have come,
// are still to come (and within the next hour), and did not come — the known arrivals the tidal sizing counts
// (GET /api/rota/appointments). When the queue system publishes no bookings, it says so: the sizing then leans on
// the recorded demand for the booked people too.
//
// Owns its section and its listener: floor.js places `bookingsSection()` with one line and must not reach into it.
import { t, language } from "./i18n.js";
import { live, api, h, patch, section, serviceName } from "./ui.js";

const state = { data: null, at: 0, loading: false };

async function load(force) {
  if (!live.me || (!force && (state.loading || Date.now() - state.at < 60_000))) return;
  state.loading = true;
  state.at = Date.now();
  try { state.data = await api("/api/rota/appointments"); } catch { /* the next change tries again */ } finally {
    state.loading = false;
  }
  render();
}

function name(s) {
  return (language() === "en" ? s.name_en || s.name : s.name) || serviceName(s.service);
}

function body() {
  const d = state.data;
  if (!d) return [h("p", { class: "empty", "aria-busy": "true" }, t("loading"))];
  const refused = Object.values(d.refused).reduce((a, b) => a + b, 0);
  const notes = [h("p", { class: "hint" }, d.known
    ? t(d.early_min < -0.5 ? "bkKnownLate" : "bkKnown",
      { pct: Math.round(d.show_share * 100), early: Math.abs(Math.round(d.early_min)) })
    : t("bkUnknown"))];
  if (refused) notes.push(h("p", { class: "hint warn" }, t("bkRefused", { n: refused })));
  if (!d.services.length) return [...notes, h("p", { class: "empty" }, t("bkNone"))];
  const cols = ["booked", "arrived", "waiting", "next_hour", "no_show"];
  return [...notes,
    h("table", { class: "bookings" },
      h("caption", { class: "sr-only" }, t("bkTitle")),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("bkService")),
        cols.map((k) => h("th", { scope: "col", class: "num" }, t(`bk_${k}`))))),
      h("tbody", {}, d.services.map((s) => h("tr", { "data-service": s.service },
        h("th", { scope: "row" }, name(s)),
        cols.map((k) => h("td", { class: "num", "data-col": k }, String(s[k])))))))];
}

let box = null;

function render() {
  if (!box?.isConnected) return;
  patch(box, JSON.stringify([state.data, language()]), body);
}

// The section for the floor view: the manager's and the administrator's.
export function bookingsSection() {
  if (live.me?.role === "technician") return null;
  box = h("div", { class: "part part-bookings", "aria-live": "polite" });
  const el = section("bookings", "bkTitle", box);
  const on = (what) => {
    if (!el.isConnected) { live.listeners.delete(on); return; }
    if (what === "hall") load(false);  // bookings and arrivals move with the hall: at most every minute
    else if (what === "lang") render();
  };
  live.listeners.add(on);
  queueMicrotask(() => { render(); load(true); });
  return el;
}
