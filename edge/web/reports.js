// Reports: the daily and hourly KPIs of one day, per hall and service; per window and per staff member (served,
// average handling time, idle time, pauses, ratings: GET /api/reports/{day}/windows, /staff); CSV downloads and a
// printable page. The column headers are the CSV's (rules/kpi.py CSV_HEADERS, PEOPLE_HEADERS), with their units, so
// the cells are plain numbers. A figure below its target (`targets`; for windows and staff the AHT far above their
// median and the satisfaction target) says so in words as well as in colour; a day row whose served and issued count
// different tickets says which, in a numbered note under the table (GET /api/reports/{day}/served).
import { t, language } from "./i18n.js";
import { live, api, h, section, hhmm, serviceName, windowName, hallDay } from "./ui.js";

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

// Day rows that served more than they issued, and why: rules/kpi.py counts a ticket as issued on its day and for its
// service of issue, and as served when and for the service it was completed in. `why` (GET /api/reports/{day}/served)
// says how many of the row's tickets were issued before the day and how many moved between services.
function servedNotes(rows, why) {
  const notes = new Map();
  const sep = language() === "en" ? "; " : "；";
  rows.forEach(({ k }, i) => {
    if (k.served <= k.issued) return;
    const w = why.find((x) => x.service === k.service);
    const parts = w ? [
      w.before ? t("rpWhyBefore", { n: w.before }) : null,
      w.transferred_in ? t("rpWhyIn", { n: w.transferred_in }) : null,
      w.transferred_out ? t("rpWhyOut", { n: w.transferred_out }) : null,
    ].filter(Boolean) : [];
    const words = k.service === null ? t("rpHallMore", { s: k.served, i: k.issued })
      : t("rpServiceMore", { service: serviceName(k.service), s: k.served, i: k.issued });
    notes.set(i, { id: `served-note-${i}`, mark: `${notes.size + 1}`,
      words: parts.length ? `${words} ${t("rpWhyDay", { list: parts.join(sep) })}` : words });
  });
  return notes;
}

// ------------------------------------------------------------------ per window and per staff member

const minutes1 = (v) => (v === null || v === undefined ? "—" : Number(v).toFixed(1));
const PEOPLE = [  // [pc_ key, the figure, how it is written, the miss that marks it]
  ["served", "served", whole], ["aht", "aht_min", minutes1, "aht"], ["idle", "idle_min", minutes1],
  ["pauses", "pauses", whole], ["pauseMin", "pause_min", minutes1], ["open", "open_min", minutes1],
  ["ratings", "ratings", whole], ["satisfaction", "satisfaction_pct", one, "satisfaction"],
];

function missWords(code, p) {
  const m = p.aht_median_min === null ? "—" : Number(p.aht_median_min).toFixed(1);
  return code === "aht" ? t("rpMissAht", { m, f: p.aht_miss_factor }) : t("rpMissSat", { n: p.satisfaction_target_pct });
}

// kind "windows": a row per window (its name, the staff who signed in there); "staff": per staff member (their name,
// the windows they worked at). Rows sort by any column (a button in its header; again: the other way).
function peopleTable(kind, p) {
  const staffName = (id) => (id === null ? t("rpNoStaff") : p.staff_names[id] || id);
  const winName = (id) => p.window_names[id] || windowName(id);
  const label = (r) => (kind === "windows" ? winName(r.id) : staffName(r.id));
  const other = (r) => (kind === "windows" ? r.staff.map(staffName) : r.windows.map(winName))
    .join(language() === "en" ? ", " : "、");
  const value = (r, name) => (name === "name" ? label(r) : name === "other" ? other(r) : r[name]);
  let by = "name";
  let dir = 1;
  const wrap = h("div", { class: "table-scroll", role: "region", tabindex: "0",
    "aria-label": t("rpTable", { what: t(kind === "windows" ? "rpWindows" : "rpStaff") }) });
  function sorted() {
    return [...p.rows].sort((a, b) => {
      const x = value(a, by);
      const y = value(b, by);
      if (x === null || x === undefined) return y === null || y === undefined ? 0 : 1;  // nothing to count: last
      if (y === null || y === undefined) return -1;
      return (typeof x === "number" ? x - y : String(x).localeCompare(String(y), language() === "en" ? "en" : "zh")) * dir;
    });
  }
  function head(key, name, text, num) {
    const sort = by === name ? (dir > 0 ? "ascending" : "descending") : null;
    return h("th", { scope: "col", class: num ? "num" : null, "aria-sort": sort },
      h("button", { type: "button", class: "sort", "data-sort": name, title: t("rpSortBy", { col: text }),
        onclick: () => {
          if (by === name) dir = -dir;
          else { by = name; dir = num ? -1 : 1; }  // numbers: the largest first
          draw();
          wrap.querySelector(`button[data-sort="${name}"]`)?.focus();
        } }, text, h("span", { class: "sort-mark", "aria-hidden": "true" }, sort ? (dir > 0 ? " ▲" : " ▼") : "")));
  }
  function draw() {
    const first = kind === "windows" ? t("pc_window") : t("pc_staff");
    const second = kind === "windows" ? t("pc_staff") : t("pc_windows");
    wrap.replaceChildren(h("table", { class: "report people", "data-table": kind },
      h("thead", {}, h("tr", {}, head("name", "name", first, false), head("other", "other", second, false),
        PEOPLE.map(([key, name]) => head(key, name, t(`pc_${key}`), true)))),
      h("tbody", {}, sorted().map((r) => h("tr", { "data-id": r.id ?? "" },
        h("th", { scope: "row" }, label(r)), h("td", {}, other(r) || "—"),
        PEOPLE.map(([key, name, write, miss]) => (miss && r.misses.includes(miss)
          ? h("td", { class: "num miss", "data-kpi": key, title: missWords(miss, p) }, write(r[name]), " ",
            h("span", { class: "miss-word" }, t("rpOffTarget")))
          : h("td", { class: "num", "data-kpi": key }, write(r[name])))))))));
  }
  draw();
  return wrap;
}

function peopleMisses(kind, p) {
  const staffName = (id) => (id === null ? t("rpNoStaff") : p.staff_names[id] || id);
  const label = (r) => (kind === "windows" ? p.window_names[r.id] || windowName(r.id) : staffName(r.id));
  const missed = p.rows.filter((r) => r.misses.length)
    .map((r) => `${label(r)}（${r.misses.map((m) => missWords(m, p)).join(language() === "en" ? ", " : "，")}）`);
  const list = language() === "en" ? missed.join("; ").replaceAll("（", " (").replaceAll("）", ")") : missed.join("；");
  return h("p", { class: missed.length ? "misses" : "note" }, missed.length ? t("rpOffList", { list }) : t("rpNoMiss"));
}

function peopleSection(kind, p, csv) {
  const median = p.aht_median_min === null ? "—" : Number(p.aht_median_min).toFixed(1);
  return section(`report-${kind}`, kind === "windows" ? "rpWindows" : "rpStaff", csv(kind),
    h("p", { class: "note" }, t(kind === "windows" ? "rpWindowsNote" : "rpStaffNote",
      { m: median, f: p.aht_miss_factor, n: p.satisfaction_target_pct })),
    peopleMisses(kind, p), p.rows.length ? peopleTable(kind, p) : h("p", { class: "note" }, t("rpNoPeople")));
}

export function reportsView() {
  const root = h("div", { class: "view reports-view" });
  let day = hallDay(live.hall ? live.hall.at : new Date().toISOString());
  const body = h("div");
  async function load() {
    body.replaceChildren(h("p", { class: "loading" }, t("loading")));
    try {
      const [r, windows, staff, served] = await Promise.all([`/api/reports/${day}`, `/api/reports/${day}/windows`,
        `/api/reports/${day}/staff`, `/api/reports/${day}/served`].map((path) => api(path)));
      const days = [{ label: t("hall"), k: r.hall }, ...r.services.map((k) => ({ label: serviceName(k.service), k }))];
      const hours = r.hours.map((k) => ({ label: `${hhmm(k.start)}–${hhmm(k.end)} ${k.service ? serviceName(k.service) : t("hall")}`, k }));
      const notes = servedNotes(days, served.rows);
      const csv = (kind) => h("p", { class: "actions no-print" },
        h("a", { href: `/api/reports/${day}/${kind}.csv?lang=${language()}`, download: `hallops-${day}-${kind}.csv` },
          t("downloadCsv")));
      body.replaceChildren(
        h("p", { class: "note target-note" }, t("rpTarget", { target: r.targets.sl_pct, n: r.target_wait_min })),
        section("daily", "daily", csv("daily"), misses(days, r), table("daily", days, "service", r, notes),
          notes.size ? h("ol", { class: "notes" }, [...notes.values()].map((n) => h("li", { id: n.id }, n.words)))
            : null),
        peopleSection("windows", windows, csv), peopleSection("staff", staff, csv),
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
