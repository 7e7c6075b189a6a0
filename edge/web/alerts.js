// The manager's alerts: alarms first, the info-level prompts folded under one line; acknowledge and silence.
import { t } from "./i18n.js";
import { live, api, h, hhmm, num, toast, refreshLater } from "./ui.js";
import { alertText, personName } from "./words.js";

// -- alerts -----------------------------------------------------------------------------------------------------

function alertItem(a) {
  const evidence = Object.entries(a.evidence || {}).slice(0, 6);
  const canAct = live.me.role === "manager" || live.me.role === "administrator";
  const form = h("form", { class: "silence", hidden: true },
    h("label", { for: `sil-m-${a.fingerprint}` }, t("silenceFor")),
    h("select", { id: `sil-m-${a.fingerprint}`, name: "minutes" },
      [30, 60, 120, 240].map((m) => h("option", { value: m }, t("minutes", { n: m })))),
    h("label", { for: `sil-c-${a.fingerprint}` }, t("silenceWhy")),
    h("input", { id: `sil-c-${a.fingerprint}`, name: "comment", required: true, maxlength: 500 }),
    h("button", { type: "submit", "data-key": `sil-ok-${a.fingerprint}` }, t("silenceOk")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    try {
      await api("/api/silences", { method: "POST", body: { rule: a.rule, labels: a.labels,
        minutes: Number(data.get("minutes")), comment: data.get("comment") } });
      refreshLater("alerts");
    } catch (err) { toast(err.message); }
  });
  return h("li", { class: `alert level-${a.severity}`, "data-fingerprint": a.fingerprint, "data-state": a.state },
    h("div", { class: "ahead" },
      h("span", { class: `sev sev-${a.severity}` }, t(`sev_${a.severity}`)),
      h("span", { class: "astate" }, t(`st_${a.state}`)),
      a.muted_by ? h("span", { class: "muted" }, t("muted")) : null,
      a.escalation_level ? h("span", { class: "esc" }, t("escalated", { n: a.escalation_level })) : null,
      h("time", {}, hhmm(a.fired_at || a.active_since))),
    h("p", { class: "reason" }, alertText(a)),
    evidence.length ? h("dl", { class: "evidence", "aria-label": t("evidence") },
      evidence.map(([k, v]) => [h("dt", {}, k), h("dd", {}, typeof v === "number" ? num(v, v % 1 ? 1 : 0) : String(v))]))
      : null,
    a.state === "acknowledged" ? h("p", { class: "acked" }, t("acked", { by: personName(a.acknowledged_by, a.names) })) : null,
    canAct ? h("div", { class: "actions" },
      a.state === "firing" ? h("button", { type: "button", class: "primary", "data-key": `ack-${a.fingerprint}`,
        onclick: async () => {
          try { await api(`/api/alerts/${a.fingerprint}/ack`, { method: "POST", body: {} }); refreshLater("alerts"); }
          catch (err) { toast(err.message); }
        } }, t("ack")) : null,
      h("button", { type: "button", "data-key": `sil-${a.fingerprint}`, "aria-expanded": "false",
        onclick: (e) => {
          form.hidden = !form.hidden;
          e.currentTarget.setAttribute("aria-expanded", String(!form.hidden));
          if (!form.hidden) form.querySelector("input").focus();
        } }, t("silence"))) : null,
    form);
}

let promptsOpen = false;  // the manager's choice survives the feed's refreshes

// Alarms first (critical → warning, newest first, acknowledged ones after); the info-level prompts (a bad rating, a
// help request, a missed number) are folded under one line, so a busy hour does not bury the alarms.
export function alertsFeed() {
  const rows = live.alerts.filter((a) => a.state !== "pending");
  if (!rows.length) return h("p", { class: "empty" }, t("noAlerts"));
  const order = { critical: 0, major: 1, warning: 2, info: 3 };
  rows.sort((a, b) => (a.state === "acknowledged") - (b.state === "acknowledged")
    || order[a.severity] - order[b.severity] || String(b.fired_at).localeCompare(String(a.fired_at)));
  const alarms = rows.filter((a) => a.severity !== "info");
  const prompts = rows.filter((a) => a.severity === "info");
  const folded = h("details", { class: "prompts", open: promptsOpen || null,
    ontoggle: (e) => { promptsOpen = e.currentTarget.open; } },
  h("summary", { "data-key": "prompts" }, t("prompts", { n: prompts.length })),
  h("ul", { class: "alerts" }, prompts.map(alertItem)));
  return [
    alarms.length ? h("ul", { class: "alerts" }, alarms.map(alertItem)) : h("p", { class: "empty" }, t("noAlarms")),
    prompts.length ? folded : null,
  ];
}
