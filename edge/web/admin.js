// The administrator's view: the device registry with health, the rules in force with their YAML and a checker
// that shows each problem beside its line, and the users.
import { t } from "./i18n.js";
import { live, api, h, patch, section, dateTime } from "./ui.js";

function devicesTable(hall) {
  const rows = [...hall.devices].sort((a, b) => a.device_type.localeCompare(b.device_type)
    || a.device_id.localeCompare(b.device_id));
  return h("table", { class: "registry" },
    h("thead", {}, h("tr", {}, ["device", "type", "location", "health", "lastSeen", "problems"].map((k) =>
      h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, rows.map((d) => h("tr", { "data-device": d.device_id },
      h("th", { scope: "row" }, d.name ? `${d.name} (${d.device_id})` : d.device_id),
      h("td", {}, t(`dt_${d.device_type}`)), h("td", {}, d.location || "—"),
      h("td", {}, h("span", { class: `pill h-${d.health}` }, t(`h_${d.health}`))),
      h("td", {}, dateTime(d.last_seen)), h("td", {}, d.problems.join(", "))))));
}

function rulesTable(rules) {
  return h("table", { class: "rules" },
    h("thead", {}, h("tr", {}, ["adminRules", "severity", "kind", "subject", "enabled", "description"].map((k) =>
      h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, rules.map((r) => h("tr", {},
      h("th", { scope: "row" }, h("code", {}, r.id)), h("td", {}, t(`sev_${r.severity}`)), h("td", {}, r.kind),
      h("td", {}, r.subject), h("td", {}, r.enabled ? "✓" : "—"), h("td", {}, r.description)))));
}

function ruleEditor(source) {
  const area = h("textarea", { id: "rule-yaml", class: "yaml", rows: 24, spellcheck: "false",
    "aria-describedby": "rule-problems" });
  area.value = source;
  const gutter = h("ol", { class: "problems", id: "rule-problems", "aria-live": "polite" });
  const status = h("p", { class: "check-status", role: "status" });
  const check = async () => {
    try {
      const r = await api("/api/rules/check", { method: "POST", text: area.value });
      status.textContent = r.ok ? t("valid", { n: r.rules }) : t("invalid", { n: r.problems.length });
      status.className = `check-status ${r.ok ? "ok" : "bad"}`;
      gutter.replaceChildren(...r.problems.map((p) => h("li", { "data-line": p.line ?? "" },
        h("button", { type: "button", class: "link", onclick: () => jump(area, p.line) },
          p.line ? t("line", { n: p.line }) : "—"),
        " ", h("code", {}, p.path || "/"), " ", p.message)));
    } catch (err) {
      status.textContent = err.message;
    }
  };
  return h("div", { class: "editor" },
    h("label", { for: "rule-yaml" }, t("ruleFileToCheck")), area,
    h("div", { class: "actions" }, h("button", { type: "button", class: "primary", onclick: check }, t("validate")), status),
    gutter,
    h("p", { class: "note" }, t("rulesNote")));
}

function jump(area, line) {
  if (!line) return;
  const lines = area.value.split("\n");
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  area.focus();
  area.setSelectionRange(start, start + (lines[line - 1] || "").length);
  area.scrollTop = Math.max(0, (line - 5) * 18);
}

async function loadAudit(into) {
  try {
    const log = await api("/api/audit?limit=50");
    into.replaceChildren(
      h("p", { class: log.intact ? "check-status ok" : "check-status bad", role: "status" },
        log.intact ? t("auditIntact") : t("auditBroken", { n: log.findings.length })),
      log.findings.length ? h("ul", { class: "problems" }, log.findings.map((f) => h("li", {}, f))) : null,
      h("table", { class: "audit" },
        h("thead", {}, h("tr", {}, ["auditWhen", "user", "auditAction", "auditSubject", "details"].map((k) =>
          h("th", { scope: "col" }, t(k))))),
        h("tbody", {}, log.entries.map((e) => h("tr", {},
          h("td", {}, dateTime(e.at)), h("td", {}, e.actor), h("td", {}, h("code", {}, e.action)),
          h("td", {}, e.subject), h("td", {}, h("code", {}, JSON.stringify(e.detail))))))));
  } catch (err) {
    into.textContent = err.message;
  }
}

export function adminView() {
  const root = h("div", { class: "view admin-view" });
  const devices = h("div");
  const rules = h("div");
  const editor = h("div");
  const users = h("div");
  const audit = h("div");
  async function build() {
    root.replaceChildren(section("admin-devices", "adminDevices", devices), section("admin-rules", "rulesInForce", rules),
      section("admin-yaml", "ruleYaml", editor), section("admin-users", "adminUsers", users),
      section("admin-audit", "auditLog", audit));
    delete devices.dataset.sig;
    update();
    try {
      const [list, source, people] = await Promise.all([api("/api/rules"), api("/api/rules/source"), api("/api/users")]);
      rules.replaceChildren(rulesTable(list));
      editor.replaceChildren(ruleEditor(source));
      users.replaceChildren(
        h("table", {}, h("thead", {}, h("tr", {}, ["user", "name", "role", "userSource"].map((k) =>
          h("th", { scope: "col" }, t(k))))),
        h("tbody", {}, people.map((u) => h("tr", {}, h("th", { scope: "row" }, u.user), h("td", {}, u.name || "—"),
          h("td", {}, t(`role_${u.role}`)), h("td", {}, t(`source_${u.source}`)))))),
        h("p", { class: "note" }, t("usersNote")));
    } catch (err) {
      rules.textContent = err.message;
    }
    loadAudit(audit);
  }
  function update() {
    if (live.hall) {
      patch(devices, JSON.stringify(live.hall.devices.map((d) => [d.device_id, d.health, d.last_seen?.slice(0, 16)])),
        () => devicesTable(live.hall));
    }
  }
  const on = (what) => (what === "lang" ? build() : what === "hall" ? update() : null);
  live.listeners.add(on);
  build();
  return { root, stop() { live.listeners.delete(on); } };
}
