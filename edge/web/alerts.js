// The manager's alerts: alarms first, the info-level prompts folded under one line; acknowledge and silence.
import { t } from "./i18n.js";
import { live, api, h, dateTime, toast, refreshLater } from "./ui.js";
import { alertFacts, alertText, personName } from "./words.js";
import { agoSpan, refreshAges, when } from "./tech.js";

// how long each alert has been going ("12 分钟前"), kept true on every hall update without rebuilding the feed
live.listeners.add((what) => {
  if (what === "hall") for (const el of document.querySelectorAll("ul.alerts")) refreshAges(el);
});

// when it began: the time (the date too on another day), its age beside it, the full moment in the tooltip
function began(a) {
  const iso = a.fired_at || a.active_since;
  if (!iso) return null;
  return h("span", { class: "began", title: t("alertBegan", { t: dateTime(iso) }) },
    h("time", { datetime: iso }, when(iso)), " · ", agoSpan(iso));
}

// -- alerts -----------------------------------------------------------------------------------------------------

function alertItem(a) {
  const facts = alertFacts(a).slice(0, 6);  // the values behind it in words, never the raw metric names
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
      began(a)),
    h("p", { class: "reason" }, alertText(a)),
    facts.length ? h("ul", { class: "alert-facts", "aria-label": t("evidence") }, facts.map((f) => h("li", {}, f))) : null,
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
