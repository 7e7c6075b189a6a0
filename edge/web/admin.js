// The administrator's view: the device registry with health (search and filters), the rules in force, their
// versions (diff, activate, roll back, run in shadow, backtest over the recorded events), the YAML with a checker that
// shows each problem beside its line, the users (add, role, password, remove) and the audit log in words.
import { t, language } from "./i18n.js";
import { live, api, h, patch, section, dateTime, hallDay, num, ApiError, serviceName, windowName } from "./ui.js";
import { problemWords } from "./words.js";
import { cloudPanel } from "./cloud.js";

// -- the device registry: search and filters (the city hall has 158 devices) ---------------------------------------

const HEALTH_ORDER = ["fault", "offline", "degraded", "unknown", "ok"];

const nameOf = (d) => (d.name ? `${d.name} (${d.device_id})` : d.device_id);

const floorOf = (location) => (location && location.includes("-") ? location.split("-")[0] : null);  // 1F-A-03 → 1F

// What a "place" filter value (service:SB, window:W01, floor:1F) selects. A window's terminal has the window's id;
// a device at the same location code as that terminal belongs to the window too (its rating pad, when configured).
function placeTest(value, hall) {
  if (!value) return () => true;
  const [kind, id] = [value.slice(0, value.indexOf(":")), value.slice(value.indexOf(":") + 1)];
  if (kind === "floor") return (d) => floorOf(d.location) === id;
  const windows = kind === "window" ? [id]
    : hall.windows.filter((w) => w.services.includes(id)).map((w) => w.window_id);
  const ids = new Set(windows);
  const where = new Set(hall.devices.filter((d) => ids.has(d.device_id) && d.location).map((d) => d.location));
  return (d) => ids.has(d.device_id) || (!!d.location && where.has(d.location));
}

function healthTest(value) {
  if (!value) return () => true;
  if (value === "attention") return (d) => d.health !== "ok";
  return (d) => d.health === value;
}

function searchTest(text) {
  const words = text.trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return () => true;
  return (d) => {
    const hay = `${d.device_id} ${d.name || ""} ${d.location || ""}`.toLowerCase();
    return words.every((w) => hay.includes(w));
  };
}

// The registry: the filter bar stays put (focus and an open list are not disturbed by live updates); the count, the
// choices' counts and the rows are redrawn from the snapshot and the filters at each keystroke. A row is built when
// its device changes and kept, so filtering only re-arranges rows: ~158 in a few milliseconds.
function deviceRegistry(filters) {
  const search = h("input", { id: "dev-search", type: "search", size: 24, autocomplete: "off",
    placeholder: t("devSearchHint"), "aria-describedby": "dev-count" });
  search.value = filters.q;
  const select = (id) => h("select", { id, "aria-describedby": "dev-count" });
  const type = select("dev-type");
  const health = select("dev-health");
  const place = select("dev-place");
  const clear = h("button", { type: "button", id: "dev-clear" }, t("devClear"));
  const count = h("p", { id: "dev-count", class: "dev-count", role: "status", "aria-live": "polite" });
  const tbody = h("tbody");
  const table = h("table", { class: "registry", id: "device-table" },
    h("caption", { class: "sr-only" }, t("adminDevices")),
    h("thead", {}, h("tr", {}, ["device", "type", "location", "health", "lastSeen", "problems"].map((k) =>
      h("th", { scope: "col" }, t(k))))),
    tbody);
  const empty = h("p", { class: "empty", hidden: true }, t("devNone"));
  const bar = h("form", { class: "dev-filters", role: "search", "aria-label": t("devFilters") },
    h("div", { class: "field" }, h("label", { for: "dev-search" }, t("devSearch")), search),
    h("div", { class: "field" }, h("label", { for: "dev-type" }, t("type")), type),
    h("div", { class: "field" }, h("label", { for: "dev-health" }, t("health")), health),
    h("div", { class: "field" }, h("label", { for: "dev-place" }, t("devPlace")), place),
    clear);
  bar.addEventListener("submit", (e) => e.preventDefault());
  const rows = new Map();  // device id → { sig, tr }
  let hall = null;
  let sorted = [];
  let places = null;  // { sig, options: [{value, label, group}], of: device id → the place values it belongs to }
  let drawn = null;

  function row(d) {
    const sig = JSON.stringify([d.name, d.location, d.health, d.problems, d.last_seen?.slice(0, 16)]);
    const kept = rows.get(d.device_id);
    if (kept?.sig === sig) return kept.tr;
    const tr = deviceRow(d);
    rows.set(d.device_id, { sig, tr });
    return tr;
  }

  // The place choices (services, windows, floors) and which devices each selects: worked out when the hall's
  // devices or windows change, not at each keystroke.
  function placesOf() {
    const sig = JSON.stringify([hall.devices.map((d) => [d.device_id, d.location]),
      hall.windows.map((w) => [w.window_id, w.services]), hall.services.map((s) => s.code)]);
    if (places?.sig === sig) return places;
    const floors = [...new Set(hall.devices.map((d) => floorOf(d.location)).filter(Boolean))].sort();
    const options = [
      ...hall.services.map((s) => ({ value: `service:${s.code}`, label: serviceName(s.code), group: t("service") })),
      ...hall.windows.map((w) => ({ value: `window:${w.window_id}`, label: windowName(w.window_id),
        group: t("devWindows") })),
      ...floors.map((f) => ({ value: `floor:${f}`, label: f, group: t("devFloors") }))];
    const of = new Map(hall.devices.map((d) => [d.device_id, []]));
    for (const o of options) {
      const test = placeTest(o.value, hall);
      for (const d of hall.devices) if (test(d)) of.get(d.device_id).push(o.value);
    }
    places = { sig, options, of };
    return places;
  }

  // A select's choices, each with how many devices it would show with the other filters as they are.
  function fill(el, options, counts, value) {
    const sig = JSON.stringify(options.map((o) => [o.value, o.label, o.group]));
    if (el.dataset.sig !== sig) {
      const groups = new Map();
      const top = [];
      for (const o of options) {
        const opt = h("option", { value: o.value });
        if (!o.group) top.push(opt);
        else {
          if (!groups.has(o.group)) groups.set(o.group, h("optgroup", { label: o.group }));
          groups.get(o.group).append(opt);
        }
      }
      el.replaceChildren(...top, ...groups.values());
      el.dataset.sig = sig;
    }
    const labels = new Map(options.map((o) => [o.value, o.label]));
    for (const opt of el.options) {
      const text = t("devOption", { label: labels.get(opt.value), n: counts.get(opt.value) || 0 });
      if (opt.textContent !== text) opt.textContent = text;
    }
    el.value = labels.has(value) ? value : "";
  }

  function render() {
    if (!hall) return;
    const sig = JSON.stringify([filters, hall.devices.map((d) => [d.device_id, d.name, d.location, d.health,
      d.problems, d.last_seen?.slice(0, 16)]), hall.windows.map((w) => [w.window_id, w.services])]);
    if (sig === drawn) return;  // the snapshot comes every second; most seconds change nothing shown here
    drawn = sig;
    const p = placesOf();
    const q = searchTest(filters.q);
    const chosen = (d) => [q(d), !filters.type || d.device_type === filters.type,
      healthTest(filters.health)(d), !filters.place || p.of.get(d.device_id).includes(filters.place)];
    const counts = { type: new Map(), health: new Map(), place: new Map() };
    const add = (map, key) => map.set(key, (map.get(key) || 0) + 1);
    const shown = [];
    for (const d of sorted) {
      const [a, b, c, e] = chosen(d);
      if (a && c && e) { add(counts.type, ""); add(counts.type, d.device_type); }
      if (a && b && e) {
        add(counts.health, "");
        add(counts.health, d.health);
        if (d.health !== "ok") add(counts.health, "attention");
      }
      if (a && b && c) { add(counts.place, ""); for (const v of p.of.get(d.device_id)) add(counts.place, v); }
      if (a && b && c && e) shown.push(d);
    }
    const types = [...new Set(hall.devices.map((d) => d.device_type))]
      .sort((x, y) => t(`dt_${x}`).localeCompare(t(`dt_${y}`)));
    fill(type, [{ value: "", label: t("devAllTypes") }, ...types.map((x) => ({ value: x, label: t(`dt_${x}`) }))],
      counts.type, filters.type);
    fill(health, [{ value: "", label: t("devAllHealth") }, { value: "attention", label: t("devAttention") },
      ...HEALTH_ORDER.map((x) => ({ value: x, label: t(`h_${x}`) }))], counts.health, filters.health);
    fill(place, [{ value: "", label: t("devAllPlaces") }, ...p.options], counts.place, filters.place);
    const attention = shown.filter((d) => d.health !== "ok").length;
    count.textContent = shown.length === sorted.length
      ? t("devCountAll", { n: sorted.length, bad: attention })
      : t("devCount", { shown: shown.length, n: sorted.length, bad: attention });
    clear.disabled = !(filters.q || filters.type || filters.health || filters.place);
    tbody.replaceChildren(...shown.map(row));
    table.hidden = !shown.length;
    empty.hidden = !!shown.length;
  }

  const set = (key, el) => () => { filters[key] = el.value; render(); };
  search.addEventListener("input", set("q", search));
  type.addEventListener("change", set("type", type));
  health.addEventListener("change", set("health", health));
  place.addEventListener("change", set("place", place));
  clear.addEventListener("click", () => {
    Object.assign(filters, { q: "", type: "", health: "", place: "" });
    search.value = "";
    render();
    search.focus();
  });
  return {
    // a scrolling box of its own (reachable by keyboard) keeps the panels below the registry within reach
    root: [bar, count, h("div", { class: "dev-table", tabindex: 0, role: "region", "aria-label": t("devTable") },
      table, empty)],
    show(next) {
      hall = next;
      sorted = [...hall.devices].sort((a, b) =>
        a.device_type.localeCompare(b.device_type) || a.device_id.localeCompare(b.device_id));
      render();
    },
  };
}

function deviceRow(d) {
  return h("tr", { "data-device": d.device_id, "data-health": d.health },
    h("th", { scope: "row" }, nameOf(d)),
    h("td", {}, t(`dt_${d.device_type}`)), h("td", {}, d.location || "—"),
    h("td", {}, h("span", { class: `pill h-${d.health}` }, t(`h_${d.health}`))),
    h("td", {}, dateTime(d.last_seen)), h("td", {}, d.problems.map(problemWords).join(t("devListSep")) || "—"));
}

const worded = (prefix, code) => { const text = t(`${prefix}${code}`); return text === `${prefix}${code}` ? null : text; };

// What a rule is about, in words: an event rule's event type (the type itself, which the administrator writes in
// the rule's `on.event`, in the tooltip) or a condition's subject; a type the page has no words for stays code.
function ruleSubject(r) {
  if (r.kind !== "event") return worded("rs_", r.subject) ?? h("code", {}, r.subject);
  const words = worded("ev_", r.subject);
  return words ? h("span", { title: t("rs_eventTitle", { code: r.subject }) }, words) : h("code", {}, r.subject);
}

function rulesTable(rules) {
  return h("table", { class: "rules" },
    h("thead", {}, h("tr", {}, ["adminRules", "severity", "kind", "subject", "enabled", "description"].map((k) =>
      h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, rules.map((r) => h("tr", {},
      h("th", { scope: "row" }, h("code", {}, r.id)), h("td", {}, t(`sev_${r.severity}`)),
      h("td", {}, worded("rk_", r.kind) ?? h("code", {}, r.kind)), h("td", {}, ruleSubject(r)), h("td", {}, r.enabled ? "✓" : "—"),
      h("td", {}, (r.title && r.title[language()]) || r.description)))));
}

// A JSON call whose 422 carries problems ({message, problems: [{path, message, line}]}): api() keeps only a string.
class Refused extends ApiError {
  constructor(status, message, problems, detail) {
    super(status, message);
    this.problems = problems;
    this.detail = detail;  // as the API sent it (a backtest's 422 says what the log holds)
  }
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
    throw new Refused(r.status, message, d?.problems || [], d);
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

// -- users: list, add, role and name, a new password, remove (edge/api/users.py; each change audited) -------------

// Display names by user name, for the audit log's "who" (filled by the users panel).
const people = new Map();

// A users call: a refusal carries edge.auth's reason code (`err.reason`), which the page says in its own words.
async function usersCall(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  if (r.status === 401) window.dispatchEvent(new CustomEvent("hallops:signed-out"));
  if (r.ok) return r.status === 204 ? null : r.json();
  const d = (await r.json().catch(() => null))?.detail;
  const err = new ApiError(r.status, typeof d === "string" ? d : d?.message || `${r.status}`);
  err.reason = d?.reason || (r.status === 503 ? "busy" : "");
  throw err;
}

function refusalText(err, user, policy) {
  const key = `usrNo_${err.reason}`;
  const text = err.reason ? t(key, { user, n: policy?.min_chars ?? "", d: policy?.min_distinct ?? "" }) : key;
  return text === key ? t("usrNoOther", { why: err.message }) : text;
}

const personLabel = (user, name) => (name ? t("usrPerson", { name, user }) : user);

function roleSelect(id, value) {
  const select = h("select", { id },
    ["manager", "technician", "administrator"].map((r) => h("option", { value: r }, t(`role_${r}`))));
  select.value = value;
  return select;
}

function usersPanel(onChange) {
  const root = h("div", { class: "users-admin" });
  const status = h("p", { class: "check-status", role: "status", id: "users-status" });
  const tableBox = h("div");
  const formBox = h("div", { "aria-live": "polite" });
  const state = { list: [], policy: null, form: null };  // form: {kind: edit|password|remove, user}
  const me = () => live.me?.user;

  function say(text, ok) {
    status.textContent = text;
    status.className = `check-status ${ok ? "ok" : "bad"}`;
  }

  async function load() {
    try {
      const [list, policy] = await Promise.all([api("/api/users"), state.policy || api("/api/users/policy")]);
      state.list = list;
      state.policy = policy;
      people.clear();
      for (const u of list) people.set(u.user, u.name);
      render();
    } catch (err) {
      tableBox.textContent = err.message;
    }
  }

  async function change(perform, done, user, refocus = true) {
    try {
      await perform();
      say(done, true);
      state.form = null;
      await load();
      onChange();
      if (refocus) (tableBox.querySelector(`[data-key="usr-edit-${CSS.escape(user)}"]`) || tableBox.querySelector("table"))
        ?.focus();
    } catch (err) {
      say(refusalText(err, user, state.policy), false);
    }
  }

  function open(kind, user) {
    state.form = { kind, user };
    renderForm();
    formBox.querySelector("input, select, button.primary")?.focus();
  }

  function close() {  // back to the row's first button
    const user = state.form?.user.user || "";
    state.form = null;
    renderForm();
    tableBox.querySelector(`[data-key="usr-edit-${CSS.escape(user)}"]`)?.focus();
  }

  function row(u) {
    const self = u.user === me();
    const button = (kind, label) => h("button", { type: "button", "data-key": `usr-${kind}-${u.user}`,
      "aria-label": t(`${label}N`, { user: u.user }), onclick: () => open(kind, u) }, t(label));
    return h("tr", { "data-user": u.user, "data-source": u.source },
      h("th", { scope: "row" }, u.user, self ? h("span", { class: "badge b-self" }, t("usrYou")) : null),
      h("td", {}, u.name || "—"), h("td", {}, t(`role_${u.role}`)),
      h("td", {}, t(`source_${u.source}`)),
      h("td", { class: "row-actions" }, u.source === "config"
        ? h("span", { class: "muted" }, t("usrReadOnly"))
        : [button("edit", "usrEdit"), button("password", "usrPassword"),
          self ? h("span", { class: "muted" }, t("usrSelf")) : button("remove", "usrRemove")]));
  }

  function render() {
    tableBox.replaceChildren(h("table", { class: "users", id: "users-table" },
      h("caption", { class: "sr-only" }, t("adminUsers")),
      h("thead", {}, h("tr", {}, ["user", "name", "role", "userSource", "vActions"].map((k) =>
        h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, state.list.map(row))));
    renderForm();
  }

  const policyHint = (id) => h("p", { class: "note", id },
    t("usrPolicy", { n: state.policy?.min_chars ?? "", d: state.policy?.min_distinct ?? "" }));

  function passwordInput(id, hintId) {
    return h("input", { id, type: "password", required: true, maxlength: 256, autocomplete: "new-password",
      "aria-describedby": hintId });
  }

  // The form for one user's change, in the page (no browser prompt): Escape or Cancel closes it.
  function renderForm() {
    const f = state.form;
    if (!f) { formBox.replaceChildren(); return; }
    const u = f.user;
    const cancel = h("button", { type: "button", onclick: close }, t("cancel"));
    let form;
    if (f.kind === "edit") {
      const name = h("input", { id: "usr-edit-name", type: "text", maxlength: 64, size: 20 });
      name.value = u.name || "";
      const role = roleSelect("usr-edit-role", u.role);
      const self = u.user === me();
      role.disabled = self;  // your own role: another administrator changes it
      form = h("form", { class: "ask", "aria-labelledby": "usr-form-title" },
        h("p", { id: "usr-form-title" }, h("b", {}, t("usrEditTitle", { user: u.user }))),
        h("label", { for: "usr-edit-name" }, t("name")), name,
        h("label", { for: "usr-edit-role" }, t("role")), role,
        self ? h("span", { class: "note" }, t("usrOwnRole")) : null,
        h("button", { type: "submit", class: "primary" }, t("usrSave")), cancel);
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        const body = { name: name.value.trim() };
        if (!self) body.role = role.value;
        change(() => usersCall("PATCH", `/api/users/${encodeURIComponent(u.user)}`, body),
          t("usrChanged", { user: u.user }), u.user);
      });
    } else if (f.kind === "password") {
      const pw = passwordInput("usr-new-password", "usr-pw-hint");
      form = h("form", { class: "ask", "aria-labelledby": "usr-form-title" },
        h("p", { id: "usr-form-title" }, h("b", {}, t("usrPasswordTitle", { user: u.user }))),
        h("label", { for: "usr-new-password" }, t("usrNewPassword")), pw,
        h("button", { type: "submit", class: "primary" }, t("usrSetPassword")), cancel,
        policyHint("usr-pw-hint"),
        h("p", { class: "note" }, u.user === me() ? t("usrPasswordSelf") : t("usrPasswordEnds")));
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        change(() => usersCall("POST", `/api/users/${encodeURIComponent(u.user)}/password`, { password: pw.value }),
          t("usrPasswordSet", { user: u.user }), u.user);
      });
    } else {
      form = h("form", { class: "ask", "aria-labelledby": "usr-form-title" },
        h("p", { id: "usr-form-title" }, h("b", {}, t("usrRemoveTitle", { user: personLabel(u.user, u.name) }))),
        h("p", { class: "note" }, t("usrRemoveEnds")),
        h("button", { type: "submit", class: "primary" }, t("usrRemove")), cancel);
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        change(() => usersCall("DELETE", `/api/users/${encodeURIComponent(u.user)}`),
          t("usrRemoved", { user: u.user }), u.user);
      });
    }
    form.addEventListener("keydown", (e) => { if (e.key === "Escape") close(); });
    formBox.replaceChildren(form);
  }

  function addForm() {
    const user = h("input", { id: "usr-add-user", type: "text", required: true, maxlength: 64, size: 16,
      pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}", autocomplete: "off", "aria-describedby": "usr-add-user-hint" });
    const name = h("input", { id: "usr-add-name", type: "text", maxlength: 64, size: 16 });
    const role = roleSelect("usr-add-role", "manager");
    const pw = passwordInput("usr-add-password", "usr-add-hint");
    const form = h("form", { class: "user-add", "aria-labelledby": "usr-add-h" },
      h("h3", { id: "usr-add-h" }, t("usrAdd")),
      h("div", { class: "fields" },
        h("div", { class: "field" }, h("label", { for: "usr-add-user" }, t("user")), user),
        h("div", { class: "field" }, h("label", { for: "usr-add-name" }, t("name")), name),
        h("div", { class: "field" }, h("label", { for: "usr-add-role" }, t("role")), role),
        h("div", { class: "field" }, h("label", { for: "usr-add-password" }, t("usrFirstPassword")), pw),
        h("button", { type: "submit", class: "primary" }, t("usrAddButton"))),
      h("p", { class: "note", id: "usr-add-user-hint" }, t("usrNameHint")),
      policyHint("usr-add-hint"));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const body = { user: user.value.trim(), name: name.value.trim() || null, role: role.value, password: pw.value };
      change(async () => {
        await usersCall("POST", "/api/users", body);
        form.reset();
      }, t("usrAdded", { user: body.user, role: t(`role_${body.role}`) }), body.user, false);
    });
    return form;
  }

  const addBox = h("div");
  return {
    root,
    async build() {
      root.replaceChildren(tableBox, formBox, status, addBox);
      await load();
      addBox.replaceChildren(addForm());  // after load: its hint names the policy's numbers
    },
  };
}

// -- the audit log in words: who (by name), what, to what, when, and the details ----------------------------------

const AUDIT_PAGE = 50;
const AUDIT_MAX = 1000;  // /api/audit's limit

function known(key, vars) {  // the words for `key`, or null when there are none
  const text = t(key, vars);
  return text === key ? null : text;
}

function actorText(actor) {
  if (actor.startsWith("cli:")) return t("audCli", { user: actor.slice(4) });
  return known(`audActor_${actor}`) || personLabel(actor, people.get(actor));
}

const listText = (items, fn) => items.map(fn).join(t("devListSep"));

function deviceLabel(id) {
  const d = live.hall?.devices.find((x) => x.device_id === id);
  return d ? nameOf(d) : id;
}

function subjectText(e) {
  const d = e.detail || {};
  const area = e.action.slice(0, e.action.indexOf("."));
  if (area === "alert" || (area === "silence" && d.rule)) return d.rule ? t("audRule", { rule: d.rule }) : "—";
  if (!e.subject) return "—";
  if (area === "session" || area === "user" || area === "token") return personLabel(e.subject, people.get(e.subject));
  if (area === "rules") return t(e.action.endsWith("_bundle") ? "audBundle" : "audVersion", { n: e.subject });
  if (area === "recommendation" && d.services?.length) return t("audRec", { list: listText(d.services, serviceName) });
  if (area === "device") return deviceLabel(e.subject);
  return e.subject;  // a ticket's id (T-20261123-3) is what people call it by
}

function labelsText(labels) {
  const name = { service: serviceName, window: windowName, device: deviceLabel };
  return listText(Object.entries(labels), ([k, v]) =>
    t("audKV", { k: known(`audL_${k}`) || k, v: name[k] ? name[k](v) : v }));
}

function originText(v) {
  if (v.startsWith("bundle:")) return t("audBundle", { n: v.slice(7) });
  if (v.startsWith("config:")) return t("audOriginConfig");
  return known(`audOrigin_${v}`) || v;
}

// One detail in words; null: not worth a word (nothing set, a content hash, what the subject already says).
function detailText(e, key, v) {
  const area = e.action.slice(0, e.action.indexOf("."));
  if (key === "was") {
    if (e.action === "user.role") return t("audWasRole", { role: t(`role_${v}`) });
    if (e.action === "user.display") return v ? t("audWasName", { name: v }) : t("audWasNoName");
    if (area === "rules") {
      if (e.action.endsWith("_bundle")) return v ? t("audWasBundle", { n: v }) : null;
      return v ? t("audWasVersion", { n: v }) : t("audWasNone");
    }
  }
  if (key === "name" && e.action === "user.display" && !v) return t("audNameCleared");
  const skip = key === "hash" || key === "via" || (key === "hall" && area === "rules")
    || (key === "rule" && (area === "alert" || area === "silence"))
    || (key === "services" && area === "recommendation");
  if (skip || v === null || v === undefined || v === "" || (Array.isArray(v) && !v.length)) return null;
  switch (key) {
    case "client": return t("audFrom", { v });
    case "method": return known(`audMethod_${v}`) || v;
    case "scope": return t(v === "address" ? "audScopeAddress" : "audScopeName");
    case "retry_after_s": return t("audRetry", { n: Math.max(1, Math.ceil(v / 60)) });
    case "role": return t("audRole", { role: t(`role_${v}`) });
    case "name": return t("audName", { name: v });
    case "comment": return t("audComment", { v });
    case "origin": return t("audOrigin", { v: originText(String(v)) });
    case "rule": return t("audRule", { rule: v });
    case "labels": return Object.keys(v).length ? labelsText(v) : null;
    case "ends_at": return t("audUntil", { t: dateTime(v) });
    case "windows": return t("audWindows", { list: listText(v, windowName) });
    case "staff": return t("audStaff", { v });
    case "by_command": return v ? null : t("audByHand");
    case "services": return t("audServices", { list: listText(v, serviceName) });
    case "reason": return t("audReason", { v });
    case "note": return t("audNote", { v });
    case "id": return area === "token" ? t("audTokenId", { v }) : t("audKV", { k: "id", v });
    case "label": return t("audTokenLabel", { v });
    case "days": return t("audDays", { n: v });
    case "type": return t("audType", { v: known(`dt_${v}`) || v });
    case "hall": return t("audHall", { v });
    case "rules": return t("audRules", { n: v });
    case "rule_version": return t("audVersion", { n: v });
    case "needs_approval": return t("audNeedsApproval", { list: [v].flat().join(t("devListSep")) });
    case "unreadable": return t("audUnreadable");
    default: return t("audKV", { k: key, v: plain(v) });
  }
}

// The details in the order people read them (the log keeps them sorted by key).
const DETAIL_ORDER = ["role", "name", "was", "rule", "labels", "windows", "staff", "services", "by_command", "reason",
  "note", "comment", "ends_at", "origin", "type", "hall", "rules", "rule_version", "needs_approval", "client", "method",
  "scope", "retry_after_s", "id", "label", "days"];

function detailsText(e) {
  const rank = (k) => (DETAIL_ORDER.includes(k) ? DETAIL_ORDER.indexOf(k) : DETAIL_ORDER.length);
  return Object.entries(e.detail || {}).sort(([a], [b]) => rank(a) - rank(b))
    .map(([k, v]) => detailText(e, k, v)).filter(Boolean).join(t("audSep")) || "—";
}

function plain(v) {  // a value nobody has words for yet, still without null/true/false
  if (v === null || v === undefined) return "—";
  if (typeof v === "boolean") return t(v ? "audYes" : "audNo");
  if (Array.isArray(v)) return v.map(plain).join(t("devListSep"));
  if (typeof v === "object") return Object.entries(v).map(([k, x]) => t("audKV", { k, v: plain(x) })).join(t("devListSep"));
  return String(v);
}

function anchorText(anchor) {
  if (!anchor) {
    const [before, after] = t("scanNoAnchor", { key: "\u0000" }).split("\u0000");
    return h("p", { class: "note", id: "audit-anchor" }, before, h("code", {}, "audit.anchor_file"), after);
  }
  const words = anchor.at === null ? t("audAnchorUnreadable")
    : anchor.matches ? t("audAnchorOk", { at: dateTime(anchor.at), n: anchor.count })
      : t("audAnchorBad", { at: dateTime(anchor.at), n: anchor.count });
  return h("p", { class: anchor.matches ? "check-status ok" : "check-status bad", id: "audit-anchor" }, words);
}

async function loadAudit(into) {
  const limit = Number(into.dataset.limit) || AUDIT_PAGE;
  try {
    const log = await api(`/api/audit?limit=${limit}`);
    const all = log.entries.length < limit;
    const more = !all && limit < AUDIT_MAX ? h("button", { type: "button", id: "audit-more", onclick: () => {
      into.dataset.limit = String(Math.min(AUDIT_MAX, limit + AUDIT_PAGE));
      loadAudit(into).then(() => (document.getElementById("audit-more") || into.querySelector("table"))?.focus());
    } }, t("audMore", { n: AUDIT_PAGE })) : null;
    const technical = log.findings;  // in English, as edge/audit.py words them (the anchor's mismatch among them)
    // (replaceChildren, unlike h(), writes a null child as the word "null": what the panel once showed)
    into.replaceChildren(...[
      h("p", { class: log.intact ? "check-status ok" : "check-status bad", role: "status" },
        log.intact ? t("auditIntact") : t("auditBroken", { n: log.findings.length })),
      anchorText(log.anchor),
      technical.length ? h("details", { class: "problems" }, h("summary", {}, t("audTechnical")),
        h("ul", {}, technical.map((f) => h("li", {}, f)))) : null,
      log.entries.length ? h("table", { class: "audit", id: "audit-table", tabindex: -1 },
        h("caption", { class: "sr-only" }, t("auditLog")),
        h("thead", {}, h("tr", {}, ["auditWhen", "audWho", "auditAction", "auditSubject", "details"].map((k) =>
          h("th", { scope: "col" }, t(k))))),
        h("tbody", {}, log.entries.map((e) => h("tr", { "data-action": e.action },
          h("td", {}, h("time", { datetime: e.at }, dateTime(e.at))), h("td", {}, actorText(e.actor)),
          h("td", {}, known(`act_${e.action.replace(".", "_")}`) || e.action), h("td", {}, subjectText(e)),
          h("td", {}, detailsText(e))))))
        : h("p", { class: "empty" }, t("audEmpty")),
      h("div", { class: "actions" },
        h("span", { class: "note", id: "audit-count" },
          all ? t("audAll", { n: log.entries.length }) : t("audNewest", { n: log.entries.length })), more),
    ].filter(Boolean));
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
    h("span", { class: "labels" }, subjectWords(a.labels)),
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

// -- backtests: a form that starts on recorded data, the span replayed, the replay against what was recorded ------

// "YYYY-MM-DDT00:00" of the hall's day `days` from the hall's today: the form's period until the gateway says which
// period holds recorded events (GET /api/rules/backtest/period).
function hallMidnight(days) {
  const now = live.hall?.at ? new Date(live.hall.at) : new Date();
  return `${hallDay(new Date(now.getTime() + days * 86400000).toISOString())}T00:00`;
}

// A form value ("2026-11-23T09:00", hall time) as people read it.
const formTime = (v) => (v ? v.replace("T", " ") : "—");

// A fired alert's subject in words: windows, services and devices by name; the kind of a device without one.
function subjectWords(labels) {
  const words = Object.entries(labels || {}).map(([k, v]) => {
    if (k === "window") return windowName(v);
    if (k === "service") return serviceName(v);
    if (k === "device") return live.hall?.devices.find((d) => d.device_id === v)?.name || v;
    if (k === "device_type") return labels.device ? null : t(`dt_${v}`);
    return v;
  });
  return words.filter(Boolean).join(t("btSep")) || t("btWholeHall");
}

// Why a period cannot be replayed, before asking the gateway: the words' key (null: it can).
function periodProblem(from, to) {
  if (!from || !to) return "btNeedPeriod";
  if (to <= from) return "btToBeforeFrom";
  if (new Date(`${to}Z`) - new Date(`${from}Z`) > 31 * 86400000) return "btMax31";
  return null;
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
  for (const el of [from, to]) el.addEventListener("input", () => { state.chosen = true; });
  const p = state.period;
  const recorded = h("p", { class: "note", id: "bt-recorded" }, !p ? ""
    : p.first ? t("btRecorded", { first: dateTime(p.first), last: dateTime(p.last) }) : t("btLogEmpty"));
  const form = h("form", { class: "backtest-form", "aria-labelledby": "admin-backtest-h" },
    h("div", { class: "field" }, h("label", { for: "bt-from" }, t("btFrom")), from),
    h("div", { class: "field" }, h("label", { for: "bt-to" }, t("btTo")), to),
    h("div", { class: "field" }, h("label", { for: "bt-candidate" }, t("btCandidate")), select),
    h("button", { type: "submit", class: "primary", id: "bt-run", disabled: state.busy,
      "aria-describedby": "bt-status bt-recorded" }, state.busy ? t("btRunning") : t("btRun")));
  form.addEventListener("submit", (e) => { e.preventDefault(); remember(); run(); });
  return h("div", {}, form, recorded);
}

// Nothing recorded in the period asked (the status says so, the form's note says what the log holds): a button to
// replay the latest recorded period instead, or what the log holds as the gateway answered.
function nothingRecorded(state, detail, useLatest) {
  const held = detail.recorded;
  const p = state.period;
  return h("div", { class: "bt-nothing", id: "bt-nothing" }, p?.from
    ? h("button", { type: "button", id: "bt-use-latest", onclick: useLatest },
      t("btUseLatest", { from: formTime(p.from), to: formTime(p.to) }))
    : h("p", {}, held ? t("btRecorded", { first: dateTime(held.first), last: dateTime(held.last) }) : t("btLogEmpty")));
}

// What the gateway recorded beside what the version in force does in the replay, per rule and in words: how far
// the backtest can be trusted.
function fidelityView(r, version) {
  const f = r.replay_vs_recorded;
  const recorded = r.recorded.alerts_per_rule, replayed = r.active.alerts_per_rule;
  const rules = [...new Set([...Object.keys(recorded), ...Object.keys(replayed), ...Object.keys(f.per_rule)])].sort();
  const min = num(r.tolerance_s / 60, 0);
  const parts = (both, replay, live) => [both ? t("btFidMatched", { n: both }) : null,
    replay ? t("btFidOnlyReplay", { n: replay }) : null,
    live ? t("btFidOnlyLive", { n: live }) : null].filter(Boolean).join(t("btSep"));
  const verdict = !rules.length ? t("btFidNone") : f.same ? t("btFidSame", { n: f.both, min })
    : t("btFidDiffers", { parts: parts(f.both, f.only_candidate.length, f.only_active.length), min });
  const words = (p) => (!p.only_active && !p.only_candidate ? t("btFidRuleSame", { n: p.both })
    : parts(p.both, p.only_candidate, p.only_active));
  const none = { both: 0, only_active: 0, only_candidate: 0 };
  return h("div", { class: "bt-fidelity", id: "bt-fidelity" },
    h("h3", {}, t("btFidTitle", { n: version ?? "—" })),
    h("p", {},
      h("span", { class: f.same ? "check-status ok" : "check-status bad", id: "bt-fidelity-verdict" }, verdict)),
    f.same ? null : h("p", { class: "note" }, t("btFidWhy")),
    rules.length ? h("table", { class: "per-rule", id: "bt-fidelity-rules" },
      h("caption", { class: "caption" }, t("btFidPerRule")),
      h("thead", {}, h("tr", {}, ["ruleCol", "btColRecorded", "btColReplayed", "btColWords"].map((k) =>
        h("th", { scope: "col", class: k === "btColRecorded" || k === "btColReplayed" ? "num" : null }, t(k))))),
      h("tbody", {}, rules.map((rule) => h("tr", { "data-rule": rule },
        h("th", { scope: "row" }, h("code", {}, rule)), h("td", { class: "num" }, recorded[rule] ?? 0),
        h("td", { class: "num" }, replayed[rule] ?? 0), h("td", {}, words(f.per_rule[rule] || none))))))
      : null);
}

function backtestResult(r, version) {
  const a = r.active, c = r.candidate, d = r.diff;
  const rules = [...new Set([...Object.keys(a.alerts_per_rule), ...Object.keys(c.alerts_per_rule),
    ...Object.keys(d.per_rule)])].sort();
  const cell = (v) => h("td", { class: "num" }, v ?? 0);
  return h("div", { class: "bt-result", id: "bt-result" },
    h("p", { class: "summary", id: "bt-span" }, t("btSpan", { from: dateTime(r.from), to: dateTime(r.to),
      askedFrom: dateTime(r.asked_from), askedTo: dateTime(r.asked_to) }), " ",
    t("btSummary", { events: r.events, s: num(r.seconds, 1), eps: r.events_per_s }), " ",
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
      h("div", { id: "bt-only-active" }, h("h3", {}, t("onlyActive")), alertList(d.only_active, "none"))),
    fidelityView(r, version));
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
  const audit = h("div");
  const users = usersPanel(() => loadAudit(audit));
  let cloud = cloudPanel();
  const filters = { q: "", type: "", health: "", place: "" };  // the device filters, kept across a language switch
  let registry = null;
  // the backtest's period: today until the gateway names the latest period with recorded events (`period`), which the
  // form follows until someone picks one (`chosen`); `nothing`: the last run found nothing recorded (the API's detail)
  const state = { list: null, shadow: null, diff: null, from: hallMidnight(0), to: hallMidnight(1), candidate: null,
    busy: false, result: null, resultVersion: null, editorArea: null, period: null, chosen: false, nothing: null,
    status: null };
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

  async function loadPeriod() {
    try {
      state.period = await api("/api/rules/backtest/period");
    } catch (err) {
      console.warn("backtest period", err);
      return;
    }
    if (!state.chosen && state.period.from && !state.busy) {
      state.from = state.period.from;
      state.to = state.period.to;
    }
    if (!state.busy) renderBacktestForm();
  }

  function useLatest() {
    state.chosen = false;
    runBacktest();
  }

  // The status line: a key and its values (said again in the language switched to), or the gateway's own words.
  function sayBacktest(tone, key, vars, text) {
    state.status = { tone, key, vars, text };
    showStatus();
  }

  function showStatus() {
    const s = state.status;
    btStatus.className = s ? `check-status ${s.tone}` : "check-status";
    btStatus.textContent = !s ? "" : s.key ? t(s.key, s.vars) : s.text;
  }

  function showBacktest() {  // the result, or what the log holds when nothing was recorded, in the current language
    showStatus();
    if (state.nothing) btResultBox.replaceChildren(nothingRecorded(state, state.nothing, useLatest));
    else if (state.result) btResultBox.replaceChildren(backtestResult(state.result, state.resultVersion));
  }

  async function runBacktest() {
    if (state.busy) return;
    if (!state.chosen) await loadPeriod();  // a hall that records on: up to its newest event now
    const problem = periodProblem(state.from, state.to);
    if (problem) {
      sayBacktest("bad", problem);
      return;
    }
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
    sayBacktest("", "btRunning");
    try {
      state.result = await send("/api/rules/backtest", body);
      state.resultVersion = state.list?.active;  // the version replayed beside the candidate
      state.nothing = null;
      sayBacktest("ok", "btDone", { s: num(state.result.seconds, 1) });
    } catch (err) {
      const nothing = err.status === 422 && err.detail && typeof err.detail === "object" && "recorded" in err.detail;
      if (nothing) {
        [state.nothing, state.result] = [err.detail, null];
        sayBacktest("bad", "btNothing", { from: formTime(body.from), to: formTime(body.to) });
      } else if (err.status === 409 || err.status === 503) {
        sayBacktest("bad", err.status === 409 ? "btBusy" : "btTimeLimit");
      } else {
        sayBacktest("bad", null, null, err.message);
      }
    } finally {
      state.busy = false;
      btResultBox.removeAttribute("aria-busy");
      showBacktest();
      renderBacktestForm();
      document.getElementById("bt-run")?.focus();
    }
  }

  async function build() {
    const kept = editor.querySelector("#rule-yaml")?.value;  // a language switch keeps the edits
    cloud.stop();
    cloud = cloudPanel();  // its words in the language now
    shadowSection.replaceChildren(section("admin-shadow", "shadowTitle", shadowBox));
    root.replaceChildren(section("admin-devices", "adminDevices", devices), section("admin-rules", "rulesInForce", rules),
      section("admin-versions", "ruleVersions", versions,
        h("div", { class: "actions" }, h("button", { type: "button", onclick: act.rollback }, t("rollback")),
          versionStatus),
        ask, diffBox, activations),
      shadowSection,
      section("admin-yaml", "ruleYaml", editor),
      section("admin-backtest", "backtest", h("p", { class: "note" }, t("btNote")), btFormBox, btStatus, btResultBox),
      section("admin-users", "adminUsers", users.root),
      section("admin-audit", "auditLog", audit),
      cloud.root);
    registry = deviceRegistry(filters);
    devices.replaceChildren(...registry.root);
    for (const box of [versions, activations, shadowBox]) delete box.dataset.sig;
    ask.replaceChildren();
    update();
    renderShadow();
    renderBacktestForm();
    if (state.diff) diffBox.replaceChildren(diffView(state.diff));
    showBacktest();
    loadPeriod();
    loadVersions();
    users.build().then(() => loadAudit(audit));  // the audit log names people as the users list does
    try {
      const [list, source] = await Promise.all([api("/api/rules"), api("/api/rules/source")]);
      rules.replaceChildren(rulesTable(list));
      editor.replaceChildren(ruleEditor(kept ?? source, () => loadVersions()));
    } catch (err) {
      rules.textContent = err.message;
    }
  }
  function update() {
    if (live.hall) registry.show(live.hall);
  }
  const on = (what) => (what === "lang" ? build() : what === "hall" ? update()
    : what === "alerts" && state.shadow ? loadShadow(false) : null);
  live.listeners.add(on);
  build();
  timer = setInterval(() => { loadVersions(); if (state.shadow) loadShadow(true); }, 10000);
  return { root, stop() { live.listeners.delete(on); clearInterval(timer); cloud.stop(); } };
}
