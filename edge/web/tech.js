// The technician's view: the device fault tickets — mine, unassigned, others' — most urgent first, each with the
// faults of its device (another fault of a device whose ticket is open joins that ticket and escalates it) and, on
// request, the device in words; acknowledge → start → resolve with a note. Then the tickets resolved today (who, when,
// how long against the resolve-by time) and the newest device commands with their acknowledgement in words.
// Bad-rating rectification tickets are the hall manager's: rectify.js shows them on the floor view.
import { t } from "./i18n.js";
import { live, api, h, patch, section, dateTime, hhmm, hallDay, toast, refreshLater } from "./ui.js";
import { problemWords } from "./words.js";

// -- words for times, people, faults and devices (rectify.js uses them too) -----------------------------------------

const HOUR = 60;
const DAY = 24 * HOUR;

function minutesBetween(from, to) { return (new Date(to) - new Date(from)) / 60000; }

// a length of time in words: "42 分钟", "2 小时 5 分钟", "3 天 4 小时"
export function span(minutes) {
  const m = Math.max(0, Math.round(minutes));
  if (m < HOUR) return t("tk_spanMin", { m });
  if (m < DAY) return m % HOUR ? t("tk_spanHourMin", { h: Math.floor(m / HOUR), m: m % HOUR }) : t("tk_spanHour", { h: m / HOUR });
  const d = Math.floor(m / DAY);
  const hours = Math.floor((m % DAY) / HOUR);
  return hours ? t("tk_spanDayHour", { d, h: hours }) : t("tk_spanDay", { d });
}

// how long ago, on the hall's clock (which runs ahead of the browser's with a device clock, as in a demo)
export function ago(iso) {
  if (!iso || !live.hall) return "";
  const m = minutesBetween(iso, live.hall.at);
  return m < 1 ? t("tk_agoNow") : t("tk_ago", { d: span(m) });
}

// an age that stays true: refreshAges() rewrites it on every hall update, without rebuilding the list around it
export function agoSpan(iso) {
  return iso ? h("span", { class: "ago", "data-ago": iso }, ago(iso)) : null;
}

export function refreshAges(root) {
  for (const el of root.querySelectorAll("[data-ago]")) el.textContent = ago(el.dataset.ago);
}

// a moment: the time alone today (hall day), with the date otherwise
export function when(iso) {
  if (!iso) return "—";
  return live.hall && hallDay(iso) === hallDay(live.hall.at) ? hhmm(iso) : dateTime(iso);
}

// who did it: the display name (王经理), not the login; the ticket book's own moves in words
export function person(tk, login) {
  if (!login) return "—";
  if (login === "system") return t("tk_bySystem");
  return tk.names?.[login] || login;
}

function known(prefix, code) {
  const key = `${prefix}${code}`;
  const text = t(key);
  return text === key ? null : text;
}

export function faultName(rule) { return known("tf_", rule) || rule; }

function commandName(type) { return known("tc_", type) || type; }

function deviceLabel(id, type) {
  const d = live.hall?.devices.find((x) => x.device_id === id);
  const kind = type || d?.device_type;
  const name = d?.name && d.name !== id ? `${d.name} · ${id}` : id;
  return kind ? `${t(`dt_${kind}`)} ${name}` : name;
}

function faultsOf(tk) {
  return tk.faults?.length ? tk.faults : [{ rule_id: tk.rule_id, since: tk.opened_at, firing: tk.alert_active }];
}

function heading(tk) {
  if (!tk.device) return faultName(tk.rule_id);
  return deviceLabel(tk.device, tk.device_type) + (tk.location ? ` · ${tk.location}` : "");
}

// -- a ticket -----------------------------------------------------------------------------------------------------

function overdue(tk) { return tk.ack_overdue || tk.resolve_overdue; }

function due(tk) { return tk.status === "open" ? tk.ack_due : tk.resolve_due; }

function urgency(a, b) {
  return (overdue(b) ? 1 : 0) - (overdue(a) ? 1 : 0) || String(due(a) || "9").localeCompare(String(due(b) || "9"))
    || a.priority.localeCompare(b.priority);
}

function mine(tk) {
  const me = live.me.user;
  return tk.acknowledged_by === me || tk.started_by === me;
}

function transitions(tk) {
  return { open: ["acknowledge"], acknowledged: ["start", "resolve"], in_progress: ["resolve"] }[tk.status] || [];
}

function faultsList(tk) {
  return h("ul", { class: "faults", "aria-label": t("tk_faults") }, [...faultsOf(tk)].reverse().map((f) =>
    h("li", { class: f.firing ? "firing" : "cleared", "data-rule": f.rule_id },
      h("strong", {}, faultName(f.rule_id)), " · ", t("tk_faultSince", { t: when(f.since) }), " · ",
      t(f.firing ? "tk_faultFiring" : "tk_faultCleared"))));
}

// "another fault of this device joined this ticket, priority P3 → P2"
function escalation(tk) {
  const faults = tk.faults || [];
  if (faults.length < 2) return null;
  const chain = faults.map((f) => f.priority).filter((p, i, all) => p && p !== all[i - 1]);
  return h("p", { class: "escalated" }, chain.length > 1 ? t("tk_escalatedUp", { chain: chain.join(" → ") })
    : t("tk_escalatedJoined"));
}

function ticketCard(tk, open, toggle) {
  const late = overdue(tk);
  const detail = h("div", { class: "tdetail", id: `detail-${tk.id}`, hidden: !open });
  if (open) loadDevice(tk, detail);
  const note = h("textarea", { id: `note-${tk.id}`, name: "note", rows: 2, maxlength: 2000 });
  const taken = tk.started_by || tk.acknowledged_by;
  // every role that may open this view may work tickets (technician, manager, administrator)
  const actions = h("div", { class: "actions" },
    transitions(tk).includes("resolve") ? [h("label", { for: `note-${tk.id}` }, t("note")), note] : null,
    transitions(tk).map((action) => h("button", {
      type: "button", class: action === "resolve" ? "primary" : "", "data-key": `${action}-${tk.id}`,
      onclick: async () => {
        if (action === "resolve" && !note.value.trim()) { toast(t("noteNeeded")); note.focus(); return; }
        try {
          await api(`/api/tickets/${tk.id}/${action}`, { method: "POST", body: { note: note.value } });
          refreshLater("tickets");
        } catch (err) { toast(err.message); }
      },
    }, t({ acknowledge: "tAcknowledge", start: "tStart", resolve: "tResolve" }[action]))));
  return h("li", { class: `ticket prio-${tk.priority}${late ? " overdue" : ""}`, "data-ticket": tk.id,
    "data-status": tk.status },
    h("div", { class: "thead" },
      h("span", { class: `prio prio-${tk.priority}` }, tk.priority),
      h("span", { class: "tstatus" }, t(`t_${tk.status}`)),
      late ? h("strong", { class: "late" }, t("overdue")) : null,
      h("span", { class: "due" }, tk.status === "open" ? t("ackDue", { t: dateTime(tk.ack_due) })
        : tk.resolve_due ? t("resolveDue", { t: dateTime(tk.resolve_due) }) : "")),
    h("h3", {}, heading(tk)),
    faultsList(tk),
    escalation(tk),
    h("p", { class: "tmeta" }, tk.id, " · ", t("opened", { t: when(tk.opened_at) }), " · ", agoSpan(tk.opened_at),
      taken ? [" · ", t("tk_takenBy", { who: person(tk, taken) })] : null),
    h("button", { type: "button", class: "link", "aria-expanded": String(open), "aria-controls": `detail-${tk.id}`,
      "data-key": `more-${tk.id}`, onclick: toggle }, t("details")),
    detail,
    actions);
}

// -- the device behind a ticket, in words ------------------------------------------------------------------------

async function loadDevice(tk, into) {
  if (!tk.device) { into.replaceChildren(h("p", { class: "empty" }, t("tk_noDevice"))); return; }
  const id = encodeURIComponent(tk.device);
  try {
    const [d, commands] = await Promise.all([api(`/api/devices/${id}`), api(`/api/commands?device=${id}&limit=10`)]);
    into.replaceChildren(devicePanel(d, commands));
  } catch (err) {
    into.textContent = err.message;
  }
}

function stateWords(payload) {
  let body;
  try { body = JSON.parse(payload); } catch { return null; }
  if (!body || typeof body !== "object") return null;
  const parts = [];
  if (typeof body.online === "boolean") parts.push(t(body.online ? "tk_isOnline" : "tk_isOffline"));
  if (typeof body.printer === "string") parts.push(problemWords(`printer.${body.printer}`));
  if (typeof body.paper_pct === "number") parts.push(t("tk_paperPct", { n: body.paper_pct }));
  if (typeof body.display === "string") parts.push(problemWords(`display.${body.display}`));
  return parts.length ? parts.join(t("tk_comma")) : null;
}

function messageWords(m) {
  const name = known("te_", m.type) || m.type;
  const said = m.type === "state" ? stateWords(m.payload) : null;
  return said ? t("tk_stateSaid", { what: name, said }) : name;
}

export function commandState(c) {
  return {
    pending: () => t("tw_pending", { n: c.attempts }),
    acknowledged: () => t("tw_acknowledged", { n: c.attempts }),
    failed: () => t("tw_failed", { e: c.error || "—" }),
    unacknowledged: () => t("tw_unacknowledged", { n: c.attempts }),
  }[c.status]?.() || c.status;
}

function resolvedWords(tk) {
  const by = tk.resolved_by === "system" ? t("tk_resolvedAuto", { t: when(tk.resolved_at) })
    : t("tk_resolvedBy", { who: person(tk, tk.resolved_by), t: when(tk.resolved_at) });
  return [by, " · ", t("tk_took", { d: span(minutesBetween(tk.opened_at, tk.resolved_at)) })];
}

export function devicePanel(d, commands) {
  const dev = d.device;
  const facts = [
    ["type", t(`dt_${dev.device_type}`)],
    ["device", dev.name && dev.name !== dev.device_id ? `${dev.name} · ${dev.device_id}` : dev.device_id],
    ["location", dev.location || t("tk_notKnown")],
    ["health", [h("span", { class: `pill h-${dev.health}` }, t(`h_${dev.health}`)),
      dev.problems.length ? ` ${dev.problems.map(problemWords).join(t("tk_comma"))}` : null]],
    ["tk_connection", dev.since ? t(dev.online ? "tk_onlineSince" : "tk_offlineSince", { t: when(dev.since) })
      : t(dev.online ? "tk_isOnline" : "tk_isOffline")],
    ["tk_firmware", dev.firmware || t("tk_notReported")],
    ["tk_lastHeard", dev.last_seen ? [when(dev.last_seen), " · ", agoSpan(dev.last_seen)] : t("tk_neverHeard")],
  ];
  if (dev.paper_pct !== null && dev.paper_pct !== undefined) facts.push(["tk_paper", t("tk_paperPct", { n: dev.paper_pct })]);
  const faults = d.tickets.flatMap((x) => faultsOf(x).map((f) => ({ ...f, ticket: x.id })))
    .sort((a, b) => String(b.since).localeCompare(String(a.since))).slice(0, 8);
  return h("div", { class: "device-panel" },
    h("h4", {}, t("tk_deviceFacts")),
    h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, t(k)), h("dd", {}, v)])),
    h("h4", {}, t("tk_recentFaults")),
    faults.length ? h("ul", { class: "history" }, faults.map((f) => h("li", {},
      `${when(f.since)} · `, h("strong", {}, faultName(f.rule_id)), ` · ${t(f.firing ? "tk_faultFiring" : "tk_faultCleared")}`,
      ` · ${t("tk_onTicket", { id: f.ticket })}`))) : h("p", { class: "empty" }, t("tk_noFaults")),
    h("h4", {}, t("history")),
    d.tickets.length ? h("ul", { class: "history" }, d.tickets.slice(0, 8).map((x) => h("li", { "data-ticket": x.id },
      `${when(x.opened_at)} · ${x.priority} · ${t(`t_${x.status}`)} · ${x.id}`,
      x.resolved_at ? [" · ", ...resolvedWords(x)] : null,
      x.resolution_note && !x.resolved_auto ? ` — ${x.resolution_note}` : null))) : h("p", { class: "empty" }, t("noTickets")),
    h("h4", {}, t("tk_recentCommands")),
    commands.length ? h("ul", { class: "history" }, commands.map((c) => h("li", { "data-cmd": c.cmd_id, "data-status": c.status },
      h("strong", {}, commandName(c.type)), " · ", h("span", { class: `pill ${COMMAND_PILL[c.status]}` }, commandState(c)),
      " · ", t("tk_sentAt", { t: when(c.sent_at) }), " · ", agoSpan(c.sent_at)))) : h("p", { class: "empty" }, t("noCommands")),
    h("h4", {}, t("recent")),
    d.recent.length ? h("ul", { class: "history" }, d.recent.slice(0, 8).map((m) => h("li", {},
      `${hhmm(m.at)} · ${messageWords(m)}`))) : h("p", { class: "empty" }, t("tk_noMessages")));
}

// -- resolved today ----------------------------------------------------------------------------------------------

function resolvedList(rows) {
  if (!rows.length) return h("p", { class: "empty" }, t("tk_noResolvedToday"));
  return h("ul", { class: "resolved" }, rows.map((tk) => {
    const over = tk.resolve_due ? minutesBetween(tk.resolve_due, tk.resolved_at) : -1;
    return h("li", { "data-ticket": tk.id, "data-sla": over > 0 ? "missed" : "met" },
      h("p", { class: "thead" }, h("span", { class: `prio prio-${tk.priority}` }, tk.priority),
        h("strong", {}, heading(tk)), " · ", faultsOf(tk).map((f) => faultName(f.rule_id)).join(t("tk_comma"))),
      h("p", {}, ...resolvedWords(tk), " · ",
        over > 0 ? h("strong", { class: "late" }, t("tk_pastSla", { t: when(tk.resolve_due), d: span(over) }))
          : h("span", { class: "ontime" }, tk.resolve_due ? t("tk_withinSla", { t: when(tk.resolve_due) }) : "")),
      tk.resolution_note && !tk.resolved_auto ? h("p", { class: "note" }, tk.resolution_note) : null);
  }));
}

// -- device commands ---------------------------------------------------------------------------------------------

const COMMAND_PILL = { pending: "h-degraded", acknowledged: "h-ok", failed: "h-fault", unacknowledged: "h-fault" };

function commandsTable(rows) {
  if (!rows.length) return h("p", { class: "empty" }, t("noCommands"));
  return h("table", { class: "commands" },
    h("thead", {}, h("tr", {}, ["cmdSent", "device", "cmdType", "cmdStatus", "cmdAttempts", "cmdNote"].map((k) =>
      h("th", { scope: "col", class: k === "cmdAttempts" ? "num" : null }, t(k))))),
    h("tbody", {}, rows.map((c) => h("tr", { "data-cmd": c.cmd_id, "data-status": c.status },
      h("td", {}, when(c.sent_at), " · ", agoSpan(c.sent_at)),
      h("th", { scope: "row" }, deviceLabel(c.device, c.device_type)),
      h("td", {}, commandName(c.type)),
      h("td", {}, h("span", { class: `pill ${COMMAND_PILL[c.status]}` }, commandState(c)),
        c.settled_at && c.status !== "pending" ? [" ", agoSpan(c.settled_at)] : null),
      h("td", { class: "num" }, c.attempts),
      h("td", {}, [
        c.status === "pending" && c.next_at ? t("cmdNext", { t: hhmm(c.next_at) }) : null,
        c.superseded ? t("cmdSuperseded") : null,
      ].filter(Boolean).join(t("tk_comma")), " ", h("small", { class: "cmdid" }, c.cmd_id))))));
}

// -- the view ------------------------------------------------------------------------------------------------------

export function techView() {
  const root = h("div", { class: "view tech-view" });
  const parts = {};
  const opened = new Set();
  let day = null;  // the hall day "resolved today" was read for
  function list(rows) {
    if (!rows.length) return h("p", { class: "empty" }, t("noTickets"));
    return h("ul", { class: "tickets" }, rows.sort(urgency).map((tk) => ticketCard(tk, opened.has(tk.id), () => {
      if (opened.has(tk.id)) opened.delete(tk.id); else opened.add(tk.id);
      update(true);
    })));
  }
  function build() {
    parts.mine = h("div"); parts.free = h("div"); parts.other = h("div");
    parts.resolved = h("div"); parts.commands = h("div");
    root.replaceChildren(section("mine", "myTickets", parts.mine), section("unassigned", "unassigned", parts.free),
      section("others", "otherTickets", parts.other), section("resolved-today", "tk_resolvedToday", parts.resolved),
      section("commands", "commands", parts.commands));
    update(true);
    commands(true);
    resolved(true);
  }
  function commands(force) {
    if (force) delete parts.commands.dataset.sig;
    patch(parts.commands, JSON.stringify(live.commands), () => commandsTable(live.commands));
  }
  // read again when the tickets change (one was resolved, or closed) and when the hall's day turns
  async function resolved(force) {
    if (!live.hall) return;
    day = hallDay(live.hall.at);
    try {
      const rows = await api(`/api/tickets?kind=device_fault&resolved_on=${day}`);
      if (force) delete parts.resolved.dataset.sig;
      patch(parts.resolved, JSON.stringify(rows), () => resolvedList(rows));
    } catch (err) {
      parts.resolved.textContent = err.message;
    }
  }
  function update(force) {
    // the technicians' tickets are the device faults; bad-rating rectification is the hall manager's
    const rows = live.tickets.filter((tk) => tk.kind === "device_fault");
    // force: rebuild even if the tickets did not change (a details panel opened or the language switched)
    if (force) for (const part of [parts.mine, parts.free, parts.other]) delete part.dataset.sig;
    const sig = JSON.stringify([rows, [...opened]]);
    patch(parts.mine, sig, () => list(rows.filter(mine)));
    patch(parts.free, sig, () => list(rows.filter((tk) => tk.status === "open" && !mine(tk))));
    patch(parts.other, sig, () => list(rows.filter((tk) => tk.status !== "open" && !mine(tk))));
  }
  const on = (what) => {
    if (what === "lang") build();
    else if (what === "tickets") { update(false); resolved(false); }
    else if (what === "commands") commands(false);
    else if (what === "hall") {
      refreshAges(root);
      if (live.hall && hallDay(live.hall.at) !== day) resolved(false);
    }
  };
  live.listeners.add(on);
  build();
  return { root, stop() { live.listeners.delete(on); } };
}
