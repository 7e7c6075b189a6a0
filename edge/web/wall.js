// The wall screen (大屏) for the public and the floor staff: the hall's headline figures, the serious alerts in
// public wording, the services with the longest waits and the floor, readable from across the hall. It fits one
// screen whatever the hall's size (1920×1080 or 3840×2160; the CSS scales the type with the viewport): the alerts and
// the worst waits are always in view — only as many services as fit are listed, longest wait first, and the floor is
// paged, a page of windows every ROTATE_S seconds with a "page 2/3" indicator. Nothing on it names a person, a device
// or a rating: windows by their names, alerts only in their public words (words.js `publicText`).
import { t, language } from "./i18n.js";
import { live, h, patch, minutes, pct, num, slLabel, serviceName } from "./ui.js";
import { windowState } from "./floor.js";
import { publicText } from "./words.js";

const ROTATE_S = 12;      // seconds a page of windows stays up (`#/wall?rotate=N` changes it, at least MIN_ROTATE_S)
const MIN_ROTATE_S = 3;
const ALERTS_SHOWN = 3;   // alerts on the strip at once; more are counted ("+2")
const SERIOUS = ["critical", "major"];
const STATES = ["serving", "idle_waiting", "idle", "paused", "nostaff", "offline", "closed"];

function rotateSeconds() {
  const query = new URLSearchParams(location.hash.split("?")[1] || "");
  const n = Number(query.get("rotate"));
  return Number.isFinite(n) && n > 0 ? Math.max(MIN_ROTATE_S, n) : ROTATE_S;
}

// -- what each part shows ------------------------------------------------------------------------------------------

function kpiList(hall, k) {
  const open = hall.windows.filter((w) => w.status === "open").length;
  const items = [
    ["waiting", t("wallWaiting"), hall.totals.waiting],
    ["longest", t("longestNow"), minutes(hall.totals.longest_wait_s)],
    ["open", t("wallOpen"), `${open}/${hall.windows.length}`],
    ["sl", slLabel(), pct(k?.sl_pct)],
    ["p95", t("p95"), k?.p95_wait_min == null ? "—" : t("minutes", { n: num(k.p95_wait_min) })],
    ["satisfaction", t("satisfaction"), pct(k?.satisfaction_pct)],
  ];
  return h("ul", { class: "wall-kpis" }, items.map(([key, label, value]) =>
    h("li", { "data-kpi": key }, h("span", {}, label), h("b", {}, value))));
}

// The serious alerts that have public words, most severe and newest first.
function publicAlerts() {
  return live.alerts
    .filter((a) => a.state === "firing" && SERIOUS.includes(a.severity) && publicText(a))
    .sort((a, b) => SERIOUS.indexOf(a.severity) - SERIOUS.indexOf(b.severity)
      || String(b.fired_at || b.active_since || "").localeCompare(String(a.fired_at || a.active_since || "")));
}

function alertStrip(firing) {
  const head = h("h2", { id: "wall-alerts-h" }, t("wallNotices"));
  if (!firing.length) return [head, h("p", { class: "wall-none" }, t("wallNoNotices"))];
  const more = firing.length - ALERTS_SHOWN;
  return [head, h("ul", { class: "wall-alerts-list" },
    firing.slice(0, ALERTS_SHOWN).map((a) => h("li", { class: `level-${a.severity}` },
      h("span", { class: `sev sev-${a.severity}` }, t(`sev_${a.severity}`)), " ",
      h("span", { class: "words" }, publicText(a)))),
    more > 0 ? h("li", { class: "wall-more" }, t("wallMoreNotices", { n: more })) : null)];
}

// The services where people wait, by longest wait (then most waiting, then projected wait): the worst first.
function worstFirst(services) {
  const key = (s) => [s.longest_wait_s ?? -1, s.waiting, s.projected_wait_s ?? 0];
  return services.filter((s) => s.waiting > 0).sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    return y[0] - x[0] || y[1] - x[1] || y[2] - x[2] || a.code.localeCompare(b.code);
  });
}

function waitsTable(rows, hidden) {
  const target = (live.kpi?.target_wait_min || 15) * 60;
  const heading = h("h2", { id: "wall-waits-h" }, t("wallWorstWaits"));
  if (!rows.length) return [heading, h("p", { class: "wall-none" }, t("wallNobodyWaits"))];
  return [
    heading,
    h("table", { class: "wall-waits" },
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, t("service")), h("th", { scope: "col", class: "num" }, t("waiting")),
        h("th", { scope: "col", class: "num" }, t("longest")),
        h("th", { scope: "col", class: "num" }, t("projected")))),
      h("tbody", {}, rows.map((s) => h("tr", { "data-service": s.code },
        h("th", { scope: "row" }, serviceName(s.code)),
        h("td", { class: "num waiting" }, s.waiting),
        h("td", { class: `num longest${(s.longest_wait_s || 0) > target ? " late" : ""}` }, minutes(s.longest_wait_s)),
        h("td", { class: `num${(s.projected_wait_s || 0) > target ? " late" : ""}` },
          s.projected_wait_s === null ? (s.waiting ? t("noWindow") : "—") : minutes(s.projected_wait_s)))))),
    hidden > 0 ? h("p", { class: "wall-more" }, t("wallMoreServices", { n: hidden })) : null,
  ];
}

function areaOf(location) {  // 1F-A-03 → 1F-A
  if (!location) return null;
  const parts = location.split("-");
  return parts.length > 2 ? parts.slice(0, -1).join("-") : location;
}

// The windows in floor order (area, then place in the row), each with its area and a public name: its own name, or
// its number in the row (1F-A-13 → 13 号窗) — never its device id.
function floorOrder(hall) {
  const where = Object.fromEntries(hall.devices.map((d) => [d.device_id, d.location]));
  return hall.windows.map((w) => {
    const location = where[w.window_id] || "";
    const seat = location.split("-").at(-1);
    const name = w.name || (/^\d+$/.test(seat) ? t("wallWindowNo", { n: Number(seat) }) : t("wallWindow"));
    return { w, name, area: areaOf(location) || t("otherArea"), location };
  }).sort((a, b) => a.area.localeCompare(b.area) || a.location.localeCompare(b.location, undefined, { numeric: true }));
}

function wallTile({ w, name }, state) {
  const label = `${name}: ${t(`ws_${state}`)}${w.current_number ? ` ${w.current_number}` : ""}`;
  return h("li", { class: `win ws-${state}`, "aria-label": label, "data-window": w.window_id, "data-state": state },
    h("b", { class: "name" }, name),
    h("span", { class: "state" }, t(`ws_${state}`)),
    h("span", { class: "number" }, w.current_number || ""));
}

// -- the view -------------------------------------------------------------------------------------------------------

export function wallView() {
  const root = h("div", { class: "view wall-view" });
  const head = h("div", { class: "wall-head" });
  const alerts = h("section", { class: "wall-alerts", "aria-labelledby": "wall-alerts-h" });
  const queues = h("section", { class: "wall-queues", "aria-labelledby": "wall-waits-h" });
  const legend = h("div", { class: "wall-floor-head" });
  const tiles = h("ul", { class: "tiles wall-tiles" });
  const floor = h("section", { class: "wall-floor", "aria-labelledby": "wall-floor-h" }, legend, tiles);
  const fit = { services: null, perPage: null, key: "" };  // how much fits, measured for the screen's size (key)
  let page = 0;
  let shownFrom = 0;     // the first window (in floor order) of the page up now, and how many a page held then
  let shownPer = null;
  let timer = null;
  let observer = null;

  function build() {
    root.replaceChildren(h("h2", { class: "sr-only" }, t("wallTitle")), head, alerts,
      h("div", { class: "wall-cols" }, queues, floor));
    for (const el of [head, alerts, queues, legend, tiles]) delete el.dataset.sig;
    update("all");
  }

  function sizeKey() {
    return [queues.clientWidth, queues.clientHeight, tiles.clientWidth, tiles.clientHeight,
      getComputedStyle(document.documentElement).fontSize, language()].join(" ");
  }

  // How many service rows fit in the box: render every service once, then drop rows from the end while it overflows.
  function measureServices(hall) {
    const all = hall.services;
    queues.replaceChildren(...waitsTable(all, 0).filter(Boolean));
    let n = all.length;
    while (n > 1 && queues.scrollHeight > queues.clientHeight + 1) {
      n -= 1;
      queues.replaceChildren(...waitsTable(all.slice(0, n), all.length - n).filter(Boolean));
    }
    delete queues.dataset.sig;
    return n;
  }

  // How many tiles a page holds: the grid's columns times the rows of tiles that fit in its height.
  function measureTiles(hall) {
    const [first] = floorOrder(hall);
    if (!first) return 1;  // a hall without windows (yet)
    tiles.replaceChildren(wallTile(first, "idle"));
    const style = getComputedStyle(tiles);
    const cols = Math.max(1, style.gridTemplateColumns.split(" ").filter(Boolean).length);
    const gap = parseFloat(style.rowGap) || 0;
    const tileH = tiles.firstChild.getBoundingClientRect().height;
    const rows = tileH > 0 ? Math.max(1, Math.floor((tiles.clientHeight + gap) / (tileH + gap))) : 1;
    delete tiles.dataset.sig;
    return cols * rows;
  }

  function measure(hall) {
    const key = sizeKey();
    if (key === fit.key && fit.services !== null) return;
    fit.services = measureServices(hall);
    fit.perPage = measureTiles(hall);
    fit.key = sizeKey();
  }

  function update() {
    const hall = live.hall;
    if (!hall || !root.isConnected) return;  // measured on screen: the resize observer calls again once it is
    const k = live.kpi?.hall;
    patch(head, JSON.stringify([hall.totals, hall.windows.map((w) => w.status), k, language()]),
      () => kpiList(hall, k));
    const firing = publicAlerts();
    patch(alerts, JSON.stringify([firing.map((a) => [a.fingerprint, publicText(a)]), language()]),
      () => alertStrip(firing));
    measure(hall);

    const worst = worstFirst(hall.services);
    for (;;) {  // names that wrap make rows taller than the measured ones: one row fewer until it fits
      const shown = worst.slice(0, fit.services);
      patch(queues, JSON.stringify([shown, worst.length, live.kpi?.target_wait_min, language()]),
        () => waitsTable(shown, worst.length - shown.length));
      if (fit.services <= 1 || queues.scrollHeight <= queues.clientHeight + 1) break;
      fit.services -= 1;
    }

    const order = floorOrder(hall);
    const pages = Math.max(1, Math.ceil(order.length / fit.perPage));
    if (fit.perPage !== shownPer) {  // a new size (a banner came, the screen turned): stay with the windows shown
      page = Math.floor(shownFrom / fit.perPage);
      shownPer = fit.perPage;
    }
    page %= pages;
    shownFrom = page * fit.perPage;
    const onPage = order.slice(page * fit.perPage, (page + 1) * fit.perPage);
    const waiting = Object.fromEntries(hall.services.map((s) => [s.code, s.waiting]));
    const states = onPage.map((x) => windowState(x.w, waiting));
    const areas = [...new Set(onPage.map((x) => x.area))];
    patch(legend, JSON.stringify([page, pages, areas, language()]), () => [
      h("h2", { id: "wall-floor-h" }, t("wallFloor"), " ",
        h("span", { class: "wall-areas" }, areas.join(" · "))),
      pages > 1 ? h("p", { class: "wall-page", "data-page": page + 1, "data-pages": pages },
        t("wallPage", { n: page + 1, of: pages })) : null,
      h("ul", { class: "legend", "aria-label": t("legend") },
        STATES.map((s) => h("li", {}, h("span", { class: `swatch ws-${s}`, "aria-hidden": "true" }), t(`ws_${s}`)))),
    ]);
    patch(tiles, JSON.stringify([onPage.map((x) => [x.w.window_id, x.name, x.w.current_number]), states, language()]),
      () => onPage.map((x, i) => wallTile(x, states[i])));
    // the hall, the KPIs and the worst waits are on screen (bench/webui measures the wall's load by this mark)
    if (live.kpi && !performance.getEntriesByName("hallops:wall-ready").length) performance.mark("hallops:wall-ready");
  }

  function turn() {
    page += 1;
    update("page");
  }

  const on = (what) => (what === "lang" ? build() : update(what));
  live.listeners.add(on);
  build();
  timer = setInterval(turn, rotateSeconds() * 1000);
  observer = new ResizeObserver(() => { if (sizeKey() !== fit.key) update("size"); });
  observer.observe(queues);
  observer.observe(tiles);
  return {
    root,
    stop() {
      live.listeners.delete(on);
      clearInterval(timer);
      observer.disconnect();
    },
  };
}
