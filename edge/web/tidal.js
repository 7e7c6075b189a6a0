// Tidal-window recommendations (潮汐窗口): what the recommender offers, approve or reject.
import { t, language } from "./i18n.js";
import { live, api, h, hhmm, toast, serviceName, windowName, refreshLater } from "./ui.js";

// -- tidal recommendations ------------------------------------------------------------------------------------------

function recCard(r) {
  const canAct = live.me.role === "manager" || live.me.role === "administrator";
  const open = r.kind === "open";
  const wait = (m) => (m === null || m === undefined ? "∞" : t("minutes", { n: Math.round(m) }));
  return h("li", { class: "rec", "data-rec": r.id },
    h("h3", {}, open ? t("rec_open", { n: r.n }) : t("rec_close"), " — ", r.services.map(serviceName).join("、")),
    h("p", {}, language() === "en" ? r.reason_en : r.reason_zh),
    h("ul", { class: "numbers" },
      h("li", {}, t("recNow", { w: r.backlog, p: wait(r.projected_wait_min) }), " → ", wait(r.projected_wait_after_min)),
      h("li", {}, t("recLate", { a: r.late, b: r.late_after })),
      h("li", {}, t("recErlang", { n: r.erlang_servers, model: r.model })),
      r.windows.length ? h("li", {}, `${t("windowsList")}: ${r.windows.map(windowName).join("、")}`) : null,
      r.staff.length ? h("li", {}, `${t("staffList")}: ${r.staff.join("、")}`) : null,
      open && r.serves.length ? h("li", {}, `${t("serves")}: ${r.serves.map(serviceName).join("、")}`) : null,
      h("li", {}, t("recExpires", { t: hhmm(r.expires_at) }))),
    canAct ? h("div", { class: "actions" },
      h("button", { type: "button", class: "primary", "data-key": `approve-${r.id}`, onclick: () => decide(r, "approve") },
        t("approve")),
      h("button", { type: "button", "data-key": `reject-${r.id}`, onclick: () => decide(r, "reject") }, t("reject")))
      : null);
}

async function decide(r, decision) {
  let reason = "";
  if (decision === "reject") {
    reason = window.prompt(t("rejectWhy")) ?? null;
    if (reason === null) return;
  }
  try {
    await api(`/api/recommendations/${r.id}/${decision}`, { method: "POST", body: { reason } });
    toast(t(decision === "approve" ? "approved" : "rejected"));
    refreshLater("recs");
  } catch (err) { toast(err.message); }
}

export function recsList() {
  if (!live.recs.length) return h("p", { class: "empty" }, t("noRecs"));
  return h("ul", { class: "recs" }, live.recs.map(recCard));
}
