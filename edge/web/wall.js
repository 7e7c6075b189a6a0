// The wall screen (大屏) for the public and the floor staff: the hall's headline figures, the queues, the floor and
// the serious alerts, readable from across the hall.
import { t } from "./i18n.js";
import { live, h, patch, minutes, pct, num, slLabel } from "./ui.js";
import { floorMap, queuesTable } from "./floor.js";
import { publicText } from "./words.js";

export function wallView() {
  const root = h("div", { class: "view wall-view" });
  const head = h("div", { class: "wall-head" });
  const queues = h("div", { class: "wall-queues" });
  const floor = h("div", { class: "wall-floor" });
  const alerts = h("div", { class: "wall-alerts" });
  function build() {
    root.replaceChildren(h("h2", { class: "sr-only" }, t("wallTitle")), head, h("div", { class: "wall-cols" }, queues, floor),
      alerts);
    update("all");
  }
  function update() {
    const hall = live.hall;
    if (!hall) return;
    const k = live.kpi?.hall;
    const open = hall.windows.filter((w) => w.status === "open").length;
    patch(head, JSON.stringify([hall.totals, k]), () => h("ul", { class: "wall-kpis" },
      h("li", {}, h("span", {}, t("wallWaiting")), h("b", {}, hall.totals.waiting)),
      h("li", {}, h("span", {}, t("longestNow")), h("b", {}, minutes(hall.totals.longest_wait_s))),
      h("li", {}, h("span", {}, t("wallOpen")), h("b", {}, `${open}/${hall.windows.length}`)),
      h("li", {}, h("span", {}, slLabel()), h("b", {}, pct(k?.sl_pct))),
      h("li", {}, h("span", {}, t("p95")), h("b", {}, k?.p95_wait_min == null ? "—" : t("minutes", { n: num(k.p95_wait_min) }))),
      h("li", {}, h("span", {}, t("satisfaction")), h("b", {}, pct(k?.satisfaction_pct)))));
    patch(queues, JSON.stringify(hall.services), () => queuesTable(hall));
    patch(floor, JSON.stringify(hall.windows), () => floorMap(hall));
    const firing = live.alerts.filter((a) => a.state === "firing" && ["critical", "major"].includes(a.severity) && publicText(a));
    patch(alerts, JSON.stringify(firing.map((a) => a.fingerprint)), () => firing.length
      ? h("ul", { class: "wall-alerts-list", "aria-label": t("alerts") },
        firing.slice(0, 4).map((a) => h("li", { class: `level-${a.severity}` }, h("span", { class: `sev sev-${a.severity}` },
          t(`sev_${a.severity}`)), ` ${publicText(a)}`)))
      : null);
  }
  const on = (what) => (what === "lang" ? build() : update(what));
  live.listeners.add(on);
  build();
  return { root, stop() { live.listeners.delete(on); } };
}
