// Reports: the daily and hourly KPIs of one day, per hall and service; CSV downloads and a printable page.
// The column headers are the CSV's (rules/kpi.py CSV_HEADERS), with their units, so the cells are plain numbers. A
// figure below its target (GET /api/reports/{day} `targets`) says so in words as well as in colour; a day row that
// served more tickets than it issued says why, in one line under the table.
import { t, language } from "./i18n.js";
import { live, api, h, section, hhmm, serviceName, hallDay } from "./ui.js";

const whole = (v) => (v === null || v === undefined ? "—" : String(v));
const one = (v) => (v === null || v === undefined ? "—" : Number(v).toFixed(1));
const COLUMNS = [  // [rc_ key, the figure, how it is written, its target's name in `targets`]
  ["issued", "issued", whole], ["served", "served", whole], ["sl", "sl_pct", one, "sl_pct"],
  ["waitMean", "mean_wait_min", one], ["p95", "p95_wait_min", one], ["waitMax", "max_wait_min", one],
  ["noShow", "no_show_pct", one], ["cancelled", "cancelled", whole], ["util", "utilisation_pct", one],
  ["kiosk", "kiosk_success_pct", one], ["avail", "availability_pct", one], ["satisfaction", "satisfaction_pct", one],
];

const below = (k, name, targets) => targets[name] !== undefined && k[name] !== null && k[name] < targets[name];

function table(id, rows, first, r, notes) {
  const heads = COLUMNS.map(([key]) => h("th", { scope: "col", class: "num" }, t(`rc_${key}`, { n: r.target_wait_min })));
  // wide: it scrolls sideways on a phone (a region with a name and a tab stop, so the keyboard scrolls it too)
  return h("div", { class: "table-scroll", role: "region", tabindex: "0", "aria-label": t("rpTable", { what: t(id) }) }, h("table", { class: "report" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t(first)), heads)),
    h("tbody", {}, rows.map(({ label, k }, i) => h("tr", {}, h("th", { scope: "row" }, label),
      COLUMNS.map(([key, name, write, target]) => {
        if (target && below(k, target, r.targets)) {
          return h("td", { class: "num miss", "data-kpi": key }, write(k[name]), " ",
            h("span", { class: "miss-word" }, t("rpMiss")));
        }
        const note = key === "served" ? notes?.get(i) : null;
        return h("td", { class: "num", "data-kpi": key, "aria-describedby": note ? note.id : null },
          write(k[name]), note ? h("sup", { "aria-hidden": "true" }, note.mark) : null);
      }))))));
}

function misses(rows, r) {
  const missed = rows.filter(({ k }) => below(k, "sl_pct", r.targets)).map(({ label }) => label);
  return h("p", { class: missed.length ? "misses" : "note" },
    missed.length ? t("rpMissed", { list: missed.join(language() === "en" ? ", " : "、") }) : t("rpNoMiss"));
}

// Day rows that served more than they issued, and why: rules/kpi.py counts a ticket as issued on its day and for
// its service of issue, and as served when and for the service it was completed in.
function servedNotes(rows) {
  const notes = new Map();
  rows.forEach(({ k }, i) => {
    if (k.served <= k.issued) return;
    const words = k.service === null ? t("rpHallMore", { s: k.served, i: k.issued })
      : t("rpServiceMore", { service: serviceName(k.service), s: k.served, i: k.issued });
    notes.set(i, { id: `served-note-${i}`, mark: `${notes.size + 1}`, words });
  });
  return notes;
}

export function reportsView() {
  const root = h("div", { class: "view reports-view" });
  let day = hallDay(live.hall ? live.hall.at : new Date().toISOString());
  const body = h("div");
  async function load() {
    body.replaceChildren(h("p", { class: "loading" }, t("loading")));
    try {
      const r = await api(`/api/reports/${day}`);
      const days = [{ label: t("hall"), k: r.hall }, ...r.services.map((k) => ({ label: serviceName(k.service), k }))];
      const hours = r.hours.map((k) => ({ label: `${hhmm(k.start)}–${hhmm(k.end)} ${k.service ? serviceName(k.service) : t("hall")}`, k }));
      const notes = servedNotes(days);
      const csv = (kind) => h("p", { class: "actions no-print" },
        h("a", { href: `/api/reports/${day}/${kind}.csv?lang=${language()}`, download: `hallops-${day}-${kind}.csv` },
          t("downloadCsv")));
      body.replaceChildren(
        h("p", { class: "note target-note" }, t("rpTarget", { target: r.targets.sl_pct, n: r.target_wait_min })),
        section("daily", "daily", csv("daily"), misses(days, r), table("daily", days, "service", r, notes),
          notes.size ? h("ol", { class: "notes" }, [...notes.values()].map((n) => h("li", { id: n.id }, n.words)))
            : null),
        section("hourly", "hourly", csv("hourly"), misses(hours, r), h("p", { class: "note" }, t("rpHourly")),
          table("hourly", hours, "hour", r)));
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
