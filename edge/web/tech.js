// The technician's view: my tickets and unassigned ones, most urgent first; the device behind each, its recent
// messages and fault history; acknowledge → start → resolve with a note. Below them, the newest device commands and
// whether each device acknowledged it (a command nobody answers is also an alert and a ticket).
import { t } from "./i18n.js";
import { live, api, h, patch, section, dateTime, hhmm, toast, refreshLater } from "./ui.js";

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

function ticketCard(tk, open, toggle) {
  const late = overdue(tk);
  const detail = h("div", { class: "tdetail", id: `detail-${tk.id}`, hidden: !open });
  if (open) loadDevice(tk, detail);
  const note = h("textarea", { id: `note-${tk.id}`, name: "note", rows: 2, maxlength: 2000 });
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
    h("h3", {}, tk.title),
    h("p", { class: "tmeta" }, tk.id, " · ", tk.device ? t("tDevice", { d: tk.device }) : "",
      tk.location ? ` · ${tk.location}` : "", " · ", t("opened", { t: dateTime(tk.opened_at) })),
    h("p", { class: "tdesc" }, tk.detail),
    h("button", { type: "button", class: "link", "aria-expanded": String(open), "aria-controls": `detail-${tk.id}`,
      "data-key": `more-${tk.id}`, onclick: toggle }, t("details")),
    detail,
    actions);
}

async function loadDevice(tk, into) {
  if (!tk.device) return;
  try {
    const d = await api(`/api/devices/${encodeURIComponent(tk.device)}`);
    const dev = d.device;
    into.replaceChildren(
      h("p", {}, h("span", { class: `pill h-${dev.health}` }, t(`h_${dev.health}`)),
        ` ${dev.name || dev.device_id} · ${t(`dt_${dev.device_type}`)} · ${t("location")}: ${dev.location || "—"} · `,
        `${t("lastSeen")}: ${dateTime(dev.last_seen)}`,
        dev.problems.length ? ` — ${dev.problems.join(", ")}` : ""),
      h("h4", {}, t("recent")),
      h("table", { class: "recent" }, h("tbody", {}, d.recent.slice(0, 10).map((m) => h("tr", {},
        h("td", {}, hhmm(m.at)), h("td", {}, m.type), h("td", {}, h("code", {}, m.payload)))))),
      h("h4", {}, t("history")),
      h("ul", { class: "history" }, d.tickets.map((x) => h("li", {},
        `${dateTime(x.opened_at)} · ${x.priority} · ${t(`t_${x.status}`)} · ${x.title}`,
        x.resolution_note ? ` — ${x.resolution_note}` : ""))));
  } catch (err) {
    into.textContent = err.message;
  }
}

const COMMAND_PILL = { pending: "h-degraded", acknowledged: "h-ok", failed: "h-fault", unacknowledged: "h-fault" };

function commandsTable(rows) {
  if (!rows.length) return h("p", { class: "empty" }, t("noCommands"));
  return h("table", { class: "commands" },
    h("thead", {}, h("tr", {}, ["cmdSent", "device", "cmdType", "cmdStatus", "cmdAttempts", "cmdNote"].map((k) =>
      h("th", { scope: "col", class: k === "cmdAttempts" ? "num" : null }, t(k))))),
    h("tbody", {}, rows.map((c) => h("tr", { "data-cmd": c.cmd_id, "data-status": c.status },
      h("td", {}, dateTime(c.sent_at)),
      h("th", { scope: "row" }, `${c.device} · ${t(`dt_${c.device_type}`)}`),
      h("td", {}, h("code", {}, c.type)),
      h("td", {}, h("span", { class: `pill ${COMMAND_PILL[c.status]}` }, t(`cs_${c.status}`))),
      h("td", { class: "num" }, c.attempts),
      h("td", {}, [
        c.status === "pending" && c.next_at ? t("cmdNext", { t: hhmm(c.next_at) }) : null,
        c.error ? c.error : null,
        c.superseded ? t("cmdSuperseded") : null,
      ].filter(Boolean).join(" · "), " ", h("small", { class: "cmdid" }, c.cmd_id))))));
}

export function techView() {
  const root = h("div", { class: "view tech-view" });
  const parts = {};
  const opened = new Set();
  function list(rows) {
    if (!rows.length) return h("p", { class: "empty" }, t("noTickets"));
    return h("ul", { class: "tickets" }, rows.sort(urgency).map((tk) => ticketCard(tk, opened.has(tk.id), () => {
      if (opened.has(tk.id)) opened.delete(tk.id); else opened.add(tk.id);
      update(true);
    })));
  }
  function build() {
    parts.mine = h("div"); parts.free = h("div"); parts.other = h("div"); parts.commands = h("div");
    root.replaceChildren(section("mine", "myTickets", parts.mine), section("unassigned", "unassigned", parts.free),
      section("others", "otherTickets", parts.other), section("commands", "commands", parts.commands));
    update(true);
    commands(true);
  }
  function commands(force) {
    if (force) delete parts.commands.dataset.sig;
    patch(parts.commands, JSON.stringify(live.commands), () => commandsTable(live.commands));
  }
  function update(force) {
    const rows = live.tickets;
    // force: rebuild even if the tickets did not change (a details panel opened or the language switched)
    if (force) for (const part of [parts.mine, parts.free, parts.other]) delete part.dataset.sig;
    const sig = JSON.stringify([rows, [...opened]]);
    patch(parts.mine, sig, () => list(rows.filter(mine)));
    patch(parts.free, sig, () => list(rows.filter((tk) => tk.status === "open" && !mine(tk))));
    patch(parts.other, sig, () => list(rows.filter((tk) => tk.status !== "open" && !mine(tk))));
  }
  const on = (what) => (what === "lang" ? build() : what === "tickets" ? update(false)
    : what === "commands" ? commands(false) : null);
  live.listeners.add(on);
  build();
  return { root, stop() { live.listeners.delete(on); } };
}
