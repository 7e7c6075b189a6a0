// Reports: the daily and hourly KPIs of one day, per hall and service; CSV downloads and a printable page.
import { t } from "./i18n.js";
import { live, api, h, section, pct, num, hhmm, serviceName, hallDay, slLabel } from "./ui.js";

const COLUMNS = [
  ["issued", (k) => k.issued], ["served", (k) => k.served], ["sl", (k) => pct(k.sl_pct)],
  ["waitMean", (k) => num(k.mean_wait_min)], ["p95", (k) => num(k.p95_wait_min)], ["waitMax", (k) => num(k.max_wait_min)],
  ["noShow", (k) => pct(k.no_show_pct)], ["cancelled", (k) => k.cancelled], ["util", (k) => pct(k.utilisation_pct)],
  ["kiosk", (k) => pct(k.kiosk_success_pct)], ["avail", (k) => pct(k.availability_pct)],
  ["satisfaction", (k) => pct(k.satisfaction_pct)],
];

function table(rows, first) {
  return h("table", { class: "report" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t(first)),
      COLUMNS.map(([key]) => h("th", { scope: "col", class: "num" }, key === "sl" ? slLabel() : t(key))))),
    h("tbody", {}, rows.map(([label, k]) => h("tr", {}, h("th", { scope: "row" }, label),
      COLUMNS.map(([, f]) => h("td", { class: "num" }, f(k)))))));
}

export function reportsView() {
  const root = h("div", { class: "view reports-view" });
  let day = hallDay(live.hall ? live.hall.at : new Date().toISOString());
  const body = h("div");
  async function load() {
    body.replaceChildren(h("p", { class: "loading" }, t("loading")));
    try {
      const r = await api(`/api/reports/${day}`);
      const hourRows = r.hours.map((k) => [`${hhmm(k.start)}–${hhmm(k.end)} ${k.service ? serviceName(k.service) : t("hall")}`, k]);
      body.replaceChildren(
        section("daily", "daily",
          h("p", { class: "actions no-print" },
            h("a", { href: `/api/reports/${day}/daily.csv`, download: `hallops-${day}-daily.csv` }, t("downloadCsv"))),
          table([[t("hall"), r.hall], ...r.services.map((k) => [serviceName(k.service), k])], "service")),
        section("hourly", "hourly",
          h("p", { class: "actions no-print" },
            h("a", { href: `/api/reports/${day}/hourly.csv`, download: `hallops-${day}-hourly.csv` }, t("downloadCsv"))),
          table(hourRows, "hour")));
    } catch (err) {
      body.replaceChildren(h("p", { class: "error" }, err.message));
    }
  }
  function build() {
    const input = h("input", { id: "report-day", type: "date", value: day });
    input.addEventListener("change", () => { day = input.value; load(); });
    root.replaceChildren(h("div", { class: "report-bar no-print" },
      h("label", { for: "report-day" }, t("day")), input,
      h("button", { type: "button", onclick: () => window.print() }, t("print"))),
    h("h2", { class: "print-only" }, `${t("reports")} ${day}`), body);
    load();
  }
  const on = (what) => (what === "lang" ? build() : null);
  live.listeners.add(on);
  build();
  return { root, stop() { live.listeners.delete(on); } };
}
