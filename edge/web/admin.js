// The administrator's view: the device registry with health, the rules in force, their versions (diff, activate,
// roll back, run in shadow, backtest over the recorded events), the YAML with a checker that shows each problem
// beside its line, and the users.
import { t } from "./i18n.js";
import { live, api, h, patch, section, dateTime, hallDay, num, ApiError } from "./ui.js";

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

// A JSON call whose 422 carries problems ({message, problems: [{path, message, line}]}): api() keeps only a string.
class Refused extends ApiError {
  constructor(status, message, problems) { super(status, message); this.problems = problems; }
}

async function send(path, body) {
  const r = await fetch(path, { method: "POST", credentials: "same-origin",
    headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (r.status === 401) window.dispatchEvent(new CustomEvent("hallops:signed-out"));
  const data = await r.json().catch(() => null);
  if (!r.ok) {
    const d = data?.detail;
    const message = typeof d === "string" ? d : d?.message
      || (Array.isArray(d) ? d.map((x) => `${(x.loc || []).join(".")}: ${x.msg}`).join("; ") : `${r.status}`);
    throw new Refused(r.status, message, d?.problems || []);
  }
  return data;
}

const fromUnix = (s) => (s === null || s === undefined ? null : new Date(s * 1000).toISOString());

function problemList(list, problems, area) {
  list.replaceChildren(...problems.map((p) => h("li", { "data-line": p.line ?? "" },
    h("button", { type: "button", class: "link", onclick: () => jump(area, p.line) },
      p.line ? t("line", { n: p.line }) : "—"),
    " ", h("code", {}, p.path || "/"), " ", p.message)));
}

function ruleEditor(source, onSaved) {
  const area = h("textarea", { id: "rule-yaml", class: "yaml", rows: 24, spellcheck: "false",
    "aria-describedby": "rule-problems" });
  area.value = source;
  const gutter = h("ol", { class: "problems", id: "rule-problems", "aria-live": "polite" });
  const status = h("p", { class: "check-status", role: "status" });
  const comment = h("input", { id: "rule-version-comment", type: "text", maxlength: 500, size: 40 });
  const say = (text, ok) => { status.textContent = text; status.className = `check-status ${ok ? "ok" : "bad"}`; };
  const check = async () => {
    try {
      const r = await api("/api/rules/check", { method: "POST", text: area.value });
      say(r.ok ? t("valid", { n: r.rules }) : t("invalid", { n: r.problems.length }), r.ok);
      problemList(gutter, r.problems, area);
    } catch (err) {
      status.textContent = err.message;
    }
  };
  const save = async () => {
    try {
      const v = await send("/api/rules/versions", { source: area.value, comment: comment.value.trim() });
      gutter.replaceChildren();
      say(v.created ? t("versionSaved", { n: v.number }) : t("versionExists", { n: v.number }), true);
      if (v.created) comment.value = "";
      onSaved(v);
    } catch (err) {
      if (err.status === 422 && err.problems?.length) {
        say(t("notSaved", { n: err.problems.length }), false);
        problemList(gutter, err.problems, area);
      } else {
        say(err.message, false);
      }
    }
  };
  return h("div", { class: "editor" },
    h("label", { for: "rule-yaml" }, t("ruleFileToCheck")), area,
    h("div", { class: "actions" }, h("button", { type: "button", class: "primary", onclick: check }, t("validate")),
      h("label", { for: "rule-version-comment" }, t("versionComment")), comment,
      h("button", { type: "button", onclick: save }, t("saveVersion")), status),
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

// -- rule versions -----------------------------------------------------------------------------------------------

function badges(v, list) {
  return [v.number === list.active ? h("span", { class: "badge b-active" }, t("vActive")) : null,
    v.number === list.shadow ? h("span", { class: "badge b-shadow" }, t("vShadow")) : null];
}

function versionsTable(list, act) {
  return h("table", { class: "versions", id: "versions-table" },
    h("caption", { class: "sr-only" }, t("ruleVersions")),
    h("thead", {}, h("tr", {}, ["vNumber", "vCreated", "vAuthor", "vComment", "vRules", "vActions"].map((k) =>
      h("th", { scope: "col", class: k === "vRules" ? "num" : null }, t(k))))),
    h("tbody", {}, list.versions.map((v) => {
      const other = v.number !== list.active;
      const button = (key, fn, cls) => h("button", { type: "button", class: cls, "data-key": `${key}-${v.number}`,
        "aria-label": t(`${key}N`, { n: v.number }), onclick: () => fn(v) }, t(key));
      return h("tr", { "data-version": v.number, class: other ? null : "in-force" },
        h("th", { scope: "row" }, h("b", {}, `v${v.number}`), " ", badges(v, list)),
        h("td", {}, dateTime(fromUnix(v.created_at))), h("td", {}, v.author), h("td", {}, v.comment || "—"),
        h("td", { class: "num" }, v.rules),
        h("td", { class: "row-actions" }, other ? [
          button("vDiff", act.diff), button("vActivate", act.activate),
          v.number !== list.shadow ? button("vShadowRun", act.shadow) : null, button("vBacktest", act.backtest),
        ] : h("span", { class: "muted" }, t("inForce"))));
    })));
}

function activationsTable(list) {
  if (!list.activations.length) return h("p", { class: "empty" }, t("noActivations"));
  return h("table", { class: "activations", id: "activations-table" },
    h("caption", { class: "caption" }, t("activations")),
    h("thead", {}, h("tr", {}, ["auditWhen", "vKind", "vNumber", "vBy", "vComment"].map((k) =>
      h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, list.activations.map((a) => h("tr", { "data-kind": a.kind },
      h("td", {}, dateTime(fromUnix(a.at))), h("td", {}, t(`ak_${a.kind}`)),
      h("td", {}, a.kind === "shadow_off" ? "—" : `v${a.number}`), h("td", {}, a.by), h("td", {}, a.comment || "—")))));
}

function diffView(d) {
  const ids = (key, cls) => h("div", { class: `diff-ids ${cls}` }, h("span", { class: "label" }, t(key)),
    d[cls].length ? h("ul", { class: "idlist" }, d[cls].map((id) => h("li", {}, h("code", {}, id))))
      : h("span", {}, "—"));
  const lines = d.unified ? d.unified.replace(/\n$/, "").split("\n") : [];
  const cls = (l) => (l.startsWith("+++") || l.startsWith("---") ? "d-file" : l.startsWith("@@") ? "d-hunk"
    : l.startsWith("+") ? "d-add" : l.startsWith("-") ? "d-del" : null);
  return h("div", { class: "diff", id: "version-diff" },
    h("h3", {}, t("diffTitle", { new: d.new, old: d.old })),
    ids("dAdded", "added"), ids("dRemoved", "removed"), ids("dChanged", "changed"),
    d.settings_changed ? h("p", { class: "note" }, t("dSettings")) : null,
    lines.length
      ? h("pre", { class: "unified", tabindex: 0, role: "region", "aria-label": t("unifiedDiff") },
        lines.map((l) => h("span", { class: cls(l) }, `${l}\n`)))
      : h("p", { class: "empty" }, t("noDiff")));
}

function alertList(alerts, emptyKey) {
  if (!alerts.length) return h("p", { class: "empty" }, t(emptyKey));
  return h("ul", { class: "fired" }, alerts.map((a) => h("li", { "data-rule": a.rule },
    h("code", {}, a.rule), " ",
    h("span", { class: "labels" }, Object.entries(a.labels || {}).map(([k, v]) => `${k}=${v}`).join(", ") || "—"),
    " ", h("time", { datetime: a.fired_at }, dateTime(a.fired_at)))));
}

function shadowPanel(s, act) {
  const rules = [...new Set([...Object.keys(s.active_per_rule), ...Object.keys(s.shadow_per_rule),
    ...Object.keys(s.diff.per_rule)])].sort();
  const comment = h("input", { id: "promote-comment", type: "text", maxlength: 500, size: 30,
    "data-key": "promote-comment", oninput: () => { act.promoteComment = comment.value; } });
  comment.value = act.promoteComment || "";
  return h("div", { class: "shadow", "data-version": s.number },
    h("p", { class: "summary" }, t("shadowSince", { n: s.number, t: dateTime(s.started_at) }), " ",
      h("span", { class: s.diff.same ? "check-status ok" : "check-status bad" },
        s.diff.same ? t("shadowSame") : t("shadowDiffers"))),
    rules.length ? h("table", { class: "per-rule", id: "shadow-rules" },
      h("caption", { class: "caption" }, t("perRule")),
      h("thead", {}, h("tr", {}, ["ruleCol", "colActive", "colShadow"].map((k) =>
        h("th", { scope: "col", class: k === "ruleCol" ? null : "num" }, t(k))))),
      h("tbody", {}, rules.map((r) => h("tr", { "data-rule": r }, h("th", { scope: "row" }, h("code", {}, r)),
        h("td", { class: "num" }, s.active_per_rule[r] ?? 0), h("td", { class: "num" }, s.shadow_per_rule[r] ?? 0)))))
      : h("p", { class: "empty" }, t("noFirings")),
    h("div", { class: "two" },
      h("div", { id: "shadow-only-candidate" }, h("h3", {}, t("onlyShadow")), alertList(s.diff.only_candidate, "none")),
      h("div", { id: "shadow-only-active" }, h("h3", {}, t("onlyActive")), alertList(s.diff.only_active, "none"))),
    s.shadow_firing.length ? h("p", { class: "note" }, t("shadowFiring", { list: s.shadow_firing.join("; ") })) : null,
    h("div", { class: "actions" },
      h("label", { for: "promote-comment" }, t("promoteComment")), comment,
      h("button", { type: "button", class: "primary", onclick: () => act.promote(comment.value.trim()) }, t("promote")),
      h("button", { type: "button", onclick: act.stopShadow }, t("stopShadow"))));
}

// "YYYY-MM-DDT00:00" of the hall's day `days` from the hall's today.
function hallMidnight(days) {
  const now = live.hall?.at ? new Date(live.hall.at) : new Date();
  return `${hallDay(new Date(now.getTime() + days * 86400000).toISOString())}T00:00`;
}

function backtestForm(state, run) {
  const from = h("input", { id: "bt-from", type: "datetime-local", required: true, value: state.from });
  const to = h("input", { id: "bt-to", type: "datetime-local", required: true, value: state.to });
  const nonActive = state.list ? state.list.versions.filter((v) => v.number !== state.list.active) : [];
  if (!state.candidate) state.candidate = nonActive.length ? String(nonActive[0].number) : "editor";
  const select = h("select", { id: "bt-candidate" },
    (state.list?.versions || []).map((v) => h("option", { value: String(v.number) },
      v.number === state.list.active ? t("optActive", { n: v.number })
        : t("optVersion", { n: v.number, c: v.comment || "" }))),
    h("option", { value: "editor" }, t("optEditor")));
  select.value = state.candidate;
  if (select.value !== state.candidate) select.value = "editor";
  const remember = () => { state.from = from.value; state.to = to.value; state.candidate = select.value; };
  for (const el of [from, to, select]) {
    el.addEventListener("change", remember);
    el.addEventListener("input", remember);
  }
  const form = h("form", { class: "backtest-form", "aria-labelledby": "admin-backtest-h" },
    h("div", { class: "field" }, h("label", { for: "bt-from" }, t("btFrom")), from),
    h("div", { class: "field" }, h("label", { for: "bt-to" }, t("btTo")), to),
    h("div", { class: "field" }, h("label", { for: "bt-candidate" }, t("btCandidate")), select),
    h("button", { type: "submit", class: "primary", id: "bt-run", disabled: state.busy,
      "aria-describedby": "bt-status" }, state.busy ? t("btRunning") : t("btRun")));
  form.addEventListener("submit", (e) => { e.preventDefault(); remember(); run(); });
  return form;
}

function backtestResult(r) {
  const a = r.active, c = r.candidate, d = r.diff;
  const rules = [...new Set([...Object.keys(a.alerts_per_rule), ...Object.keys(c.alerts_per_rule),
    ...Object.keys(d.per_rule)])].sort();
  const cell = (v) => h("td", { class: "num" }, v ?? 0);
  return h("div", { class: "bt-result", id: "bt-result" },
    h("p", { class: "summary" }, t("btSummary", { from: dateTime(r.from), to: dateTime(r.to), events: r.events,
      s: num(r.seconds, 1), eps: r.events_per_s }), " ",
    h("span", { class: d.same ? "check-status ok" : "check-status bad" }, d.same ? t("btSame") : t("btDiffers"))),
    rules.length ? h("table", { class: "per-rule", id: "bt-rules" },
      h("caption", { class: "caption" }, t("perRule")),
      h("thead", {}, h("tr", {}, ["ruleCol", "colActive", "colCandidate", "colBoth", "colOnlyActive",
        "colOnlyCandidate"].map((k) => h("th", { scope: "col", class: k === "ruleCol" ? null : "num" }, t(k))))),
      h("tbody", {}, rules.map((rule) => h("tr", { "data-rule": rule },
        h("th", { scope: "row" }, h("code", {}, rule)), cell(a.alerts_per_rule[rule]), cell(c.alerts_per_rule[rule]),
        cell(d.per_rule[rule]?.both), cell(d.per_rule[rule]?.only_active), cell(d.per_rule[rule]?.only_candidate)))))
      : h("p", { class: "empty" }, t("noFirings")),
    h("table", { class: "per-rule bt-totals", id: "bt-totals" },
      h("caption", { class: "caption" }, t("btTotals")),
      h("thead", {}, h("tr", {}, h("td", {}), ["colActive", "colCandidate"].map((k) =>
        h("th", { scope: "col", class: "num" }, t(k))))),
      h("tbody", {},
        h("tr", { "data-total": "alerts" }, h("th", { scope: "row" }, t("btAlerts")), cell(a.alerts.length),
          cell(c.alerts.length)),
        h("tr", { "data-total": "tickets" }, h("th", { scope: "row" }, t("btTickets")), cell(a.tickets.length),
          cell(c.tickets.length)),
        h("tr", { "data-total": "recommendations" }, h("th", { scope: "row" }, t("btRecs")),
          cell(a.recommendations.length), cell(c.recommendations.length)))),
    h("div", { class: "two" },
      h("div", { id: "bt-only-candidate" }, h("h3", {}, t("onlyCandidate")), alertList(d.only_candidate, "none")),
      h("div", { id: "bt-only-active" }, h("h3", {}, t("onlyActive")), alertList(d.only_active, "none"))));
}

export function adminView() {
  const root = h("div", { class: "view admin-view" });
  const devices = h("div");
  const rules = h("div");
  const versions = h("div", { id: "versions" });
  const ask = h("div", { class: "ask-box" });
  const versionStatus = h("p", { class: "check-status", role: "status", id: "versions-status" });
  const diffBox = h("div", { "aria-live": "polite" });
  const activations = h("div");
  const shadowSection = h("div");
  const shadowBox = h("div");
  const editor = h("div");
  const btFormBox = h("div");
  const btStatus = h("p", { class: "check-status", role: "status", id: "bt-status" });
  const btResultBox = h("div", { "aria-live": "polite" });
  const users = h("div");
  const audit = h("div");
  const state = { list: null, shadow: null, diff: null, from: hallMidnight(-1), to: hallMidnight(0), candidate: null,
    busy: false, result: null, editorArea: null };
  let timer = null;
  let lastShadow = 0;

  function say(text, ok) {
    versionStatus.textContent = text;
    versionStatus.className = `check-status ${ok ? "ok" : "bad"}`;
  }

  const act = {
    async diff(v) {
      try {
        state.diff = await api(`/api/rules/versions/${v.number}/diff`);
        diffBox.replaceChildren(diffView(state.diff));
      } catch (err) { say(err.message, false); }
    },
    activate(v) {
      askFor(t("askActivate", { n: v.number }), t("vActivate"), async (comment) => {
        await send(`/api/rules/versions/${v.number}/activate`, { comment });
        return t("activated", { n: v.number });
      });
    },
    shadow(v) {
      askFor(t("askShadow", { n: v.number }), t("vShadowRun"), async (comment) => {
        await send(`/api/rules/versions/${v.number}/shadow`, { comment });
        return t("shadowStarted", { n: v.number });
      });
    },
    rollback() {
      askFor(t("askRollback"), t("rollback"), async (comment) => {
        const v = await send("/api/rules/rollback", { comment });
        return t("rolledBack", { n: v.number });
      });
    },
    backtest(v) {
      state.candidate = String(v.number);
      renderBacktestForm();
      document.getElementById("admin-backtest")?.scrollIntoView({ block: "start" });
      runBacktest();
    },
    async promote(comment) {
      try {
        const v = await send("/api/rules/shadow/promote", { comment });
        act.promoteComment = "";
        say(t("promoted", { n: v.number }), true);
      } catch (err) { say(err.message, false); }
      await afterChange();
    },
    async stopShadow() {
      try {
        await api("/api/rules/shadow", { method: "DELETE" });
        say(t("shadowStopped"), true);
      } catch (err) { say(err.message, false); }
      await afterChange();
    },
  };

  // A comment for an action, asked in the page (not window.prompt): the form takes the focus, Escape cancels.
  function askFor(title, verb, perform) {
    const input = h("input", { id: "ask-comment", type: "text", maxlength: 500, size: 40 });
    const form = h("form", { class: "ask", "aria-labelledby": "ask-title" },
      h("p", { id: "ask-title" }, h("b", {}, title)),
      h("label", { for: "ask-comment" }, t("askComment")), input,
      h("button", { type: "submit", class: "primary" }, verb),
      h("button", { type: "button", onclick: () => ask.replaceChildren() }, t("cancel")));
    form.addEventListener("keydown", (e) => { if (e.key === "Escape") ask.replaceChildren(); });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        say(await perform(input.value.trim()), true);
        ask.replaceChildren();
      } catch (err) { say(err.message, false); }
      await afterChange();
    });
    ask.replaceChildren(form);
    input.focus();
  }

  async function afterChange() {
    await Promise.all([loadVersions(), loadShadow(true),
      api("/api/rules").then((list) => rules.replaceChildren(rulesTable(list))).catch(() => null)]);
    if (state.diff) diffBox.replaceChildren();
    state.diff = null;
    loadAudit(audit);
  }

  function renderVersions() {
    const list = state.list;
    if (!list) return;
    patch(versions, JSON.stringify([list.active, list.shadow, list.versions.map((v) => [v.number, v.comment])]),
      () => versionsTable(list, act));
    patch(activations, JSON.stringify(list.activations.map((a) => a.id)), () => activationsTable(list));
  }

  async function loadVersions() {
    try {
      const before = JSON.stringify(state.list && [state.list.versions.length, state.list.active]);
      state.list = await api("/api/rules/versions");
      renderVersions();
      if (JSON.stringify([state.list.versions.length, state.list.active]) !== before && !state.busy) {
        state.candidate = null;  // a new version or another in force: the default candidate moves with it
        renderBacktestForm();
      }
      if (state.list.shadow !== (state.shadow?.number ?? null)) loadShadow(true);
    } catch (err) {
      versions.textContent = err.message;
      delete versions.dataset.sig;
    }
  }

  async function loadShadow(force) {
    const now = Date.now();
    if (!force && now - lastShadow < 2000) return;
    lastShadow = now;
    if (state.list && state.list.shadow === null) {
      state.shadow = null;
    } else {
      try {
        state.shadow = await api("/api/rules/shadow");
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) console.warn("shadow", err);
        state.shadow = null;
      }
    }
    renderShadow();
  }

  function renderShadow() {
    const s = state.shadow;
    shadowSection.hidden = !s;
    if (!s) { shadowBox.replaceChildren(); delete shadowBox.dataset.sig; return; }
    const sig = JSON.stringify([s.number, s.active_per_rule, s.shadow_per_rule, s.diff.per_rule, s.shadow_firing]);
    patch(shadowBox, sig, () => shadowPanel(s, act));
  }

  function renderBacktestForm() {
    btFormBox.replaceChildren(backtestForm(state, runBacktest));
  }

  async function runBacktest() {
    if (state.busy) return;
    const body = { from: state.from, to: state.to };
    if (state.candidate === "editor") {
      const area = editor.querySelector("#rule-yaml");
      if (!area) return;
      body.source = area.value;
    } else {
      body.version = Number(state.candidate);
    }
    state.busy = true;
    renderBacktestForm();
    btResultBox.setAttribute("aria-busy", "true");
    btStatus.className = "check-status";
    btStatus.textContent = t("btRunning");
    try {
      state.result = await send("/api/rules/backtest", body);
      btStatus.textContent = t("btDone", { s: num(state.result.seconds, 1) });
      btStatus.className = "check-status ok";
      btResultBox.replaceChildren(backtestResult(state.result));
    } catch (err) {
      btStatus.textContent = err.status === 409 ? t("btBusy") : err.message;
      btStatus.className = "check-status bad";
    } finally {
      state.busy = false;
      btResultBox.removeAttribute("aria-busy");
      renderBacktestForm();
      document.getElementById("bt-run")?.focus();
    }
  }

  async function build() {
    const kept = editor.querySelector("#rule-yaml")?.value;  // a language switch keeps the edits
    shadowSection.replaceChildren(section("admin-shadow", "shadowTitle", shadowBox));
    root.replaceChildren(section("admin-devices", "adminDevices", devices), section("admin-rules", "rulesInForce", rules),
      section("admin-versions", "ruleVersions", versions,
        h("div", { class: "actions" }, h("button", { type: "button", onclick: act.rollback }, t("rollback")),
          versionStatus),
        ask, diffBox, activations),
      shadowSection,
      section("admin-yaml", "ruleYaml", editor),
      section("admin-backtest", "backtest", h("p", { class: "note" }, t("btNote")), btFormBox, btStatus, btResultBox),
      section("admin-users", "adminUsers", users),
      section("admin-audit", "auditLog", audit));
    for (const box of [devices, versions, activations, shadowBox]) delete box.dataset.sig;
    ask.replaceChildren();
    update();
    renderShadow();
    renderBacktestForm();
    if (state.diff) diffBox.replaceChildren(diffView(state.diff));
    if (state.result) btResultBox.replaceChildren(backtestResult(state.result));
    loadVersions();
    try {
      const [list, source, people] = await Promise.all([api("/api/rules"), api("/api/rules/source"), api("/api/users")]);
      rules.replaceChildren(rulesTable(list));
      editor.replaceChildren(ruleEditor(kept ?? source, () => loadVersions()));
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
  const on = (what) => (what === "lang" ? build() : what === "hall" ? update()
    : what === "alerts" && state.shadow ? loadShadow(false) : null);
  live.listeners.add(on);
  build();
  timer = setInterval(() => { loadVersions(); if (state.shadow) loadShadow(true); }, 10000);
  return { root, stop() { live.listeners.delete(on); clearInterval(timer); } };
}
