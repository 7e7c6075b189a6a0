// The mobile post (流动岗) on the floor view, for the hall manager: when arrivals jump the gateway proposes sending a
// mobile-post person to the queue area as a guide (self-service, documents checked before people queue); the
// manager sends them or not, and calls a guide back (the gateway also says when arrivals are back to usual).
// GET /api/rota/guides; POST /api/rota/guides/{staff}/{post|decline|recall}. The live stream's `guide` reloads it.
//
// Owns its section and its listener: floor.js places `guidesSection()` with one line and must not reach into it.
import { t, language } from "./i18n.js";
import { live, api, h, hhmm, patch, section, toast } from "./ui.js";

const state = { data: null, at: 0, loading: false, busy: false };

async function load(force) {
  if (!live.me || (!force && (state.loading || Date.now() - state.at < 30_000))) return;
  state.loading = true;
  state.at = Date.now();
  try { state.data = await api("/api/rota/guides"); } catch { /* the next change tries again */ } finally {
    state.loading = false;
  }
  render();
}

async function act(staff, action) {
  if (state.busy) return;
  state.busy = true;
  try {
    await api(`/api/rota/guides/${encodeURIComponent(staff)}/${action}`, { method: "POST" });
    toast(t(`gd_done_${action}`));
  } catch (e) { toast(t("gdFailed", { why: e.message || "" })); } finally { state.busy = false; }
  load(true);
}

function who(g) {
  return (language() === "en" ? g.staff_name_en || g.staff_name : g.staff_name) || g.staff_id;
}

function where(g) {
  return (language() === "en" ? g.zone_name_en || g.zone_name : g.zone_name) || t("gdQueueArea");
}

function body() {
  const d = state.data;
  if (!d) return [h("p", { class: "empty", "aria-busy": "true" }, t("loading"))];
  const manager = ["manager", "administrator"].includes(live.me?.role);  // the technician does not see it
  const out = [];
  if (d.proposed) {
    const p = d.proposed;
    out.push(h("div", { class: "guide-offer", "data-staff": p.staff_id },
      h("p", {}, language() === "en" ? p.text_en : p.text_zh),
      manager ? h("div", { class: "actions" },
        h("button", { type: "button", class: "primary", onclick: () => act(p.staff_id, "post") }, t("gdPost")),
        h("button", { type: "button", onclick: () => act(p.staff_id, "decline") }, t("gdDecline"))) : null));
  }
  if (d.posted.length) {
    out.push(h("ul", { class: "guides" }, d.posted.map((g) => h("li", { "data-staff": g.staff_id },
      h("span", {}, t("gdPosted", { who: who(g), where: where(g), t: hhmm(g.since) })),
      manager ? h("button", { type: "button", onclick: () => act(g.staff_id, "recall") }, t("gdRecall")) : null))));
  }
  if (!out.length) out.push(h("p", { class: "empty" }, t("gdNone")));
  return out;
}

let box = null;

function render() {
  if (!box?.isConnected) return;
  box.closest("section").hidden = state.data?.enabled === false;  // no mobile post in the roster: nothing to show
  patch(box, JSON.stringify([state.data, language(), live.me?.role]), body);
}

// The section for the floor view (the manager's and the administrator's); hidden when the roster has no mobile post.
export function guidesSection() {
  if (live.me?.role === "technician") return null;
  box = h("div", { class: "part part-guides", "aria-live": "polite" });
  const el = section("guides", "gdTitle", box);
  const on = (what) => {
    if (!el.isConnected) { live.listeners.delete(on); return; }
    if (what === "guides") load(true);
    else if (what === "hall") load(false);
    else if (what === "lang") render();
  };
  live.listeners.add(on);
  queueMicrotask(() => { render(); load(true); });
  return el;
}
