// The hall manager's bad-rating rectification tickets (差评整改) on the floor view: the active ones, the most urgent
// first — which window, when the rating came and how long ago, the revisit-by time — with "start" and "rectified and
// revisited" (resolve, with a note). Fault tickets are the technicians' (tech.js).
//
// Owns its section and its listener: floor.js places `rectifySection()` with one line and must not reach into it.
// The floor view rebuilds itself on a language switch; a section no longer on the page drops its listener.
import { t } from "./i18n.js";
import { live, api, h, patch, section, toast, refreshLater, windowName } from "./ui.js";
import { agoSpan, person, refreshAges, when } from "./tech.js";

function overdue(tk) { return tk.ack_overdue || tk.resolve_overdue; }

function urgency(a, b) {
  return (overdue(b) ? 1 : 0) - (overdue(a) ? 1 : 0)
    || String(a.resolve_due || "9").localeCompare(String(b.resolve_due || "9"));
}

function card(tk) {
  const late = overdue(tk);
  const noteId = `rect-note-${tk.id}`;
  const note = h("input", { id: noteId, name: "note", maxlength: 2000, "data-key": noteId });
  const taken = tk.started_by || tk.acknowledged_by;
  const move = (action) => async () => {
    if (action === "resolve" && !note.value.trim()) { toast(t("noteNeeded")); note.focus(); return; }
    try {
      await api(`/api/tickets/${tk.id}/${action}`, { method: "POST", body: { note: note.value } });
      refreshLater("tickets");
    } catch (err) { toast(err.message); }
  };
  return h("li", { class: `rect${late ? " overdue" : ""}`, "data-ticket": tk.id, "data-status": tk.status },
    h("p", { class: "thead" },
      h("strong", {}, t("tk_rectWindow", { w: tk.window ? windowName(tk.window) : t("tk_notKnown") })),
      " · ", h("span", { class: "tstatus" }, t(`t_${tk.status}`)),
      late ? h("strong", { class: "late" }, t("overdue")) : null),
    h("p", { class: "tmeta" }, t("tk_ratedAt", { t: when(tk.opened_at) }), " · ", agoSpan(tk.opened_at),
      tk.rating_ticket ? [" · ", t("tk_ratedTicket", { n: tk.rating_ticket })] : null,
      " · ", t("tk_revisitBy", { t: when(tk.resolve_due) }),
      taken ? [" · ", t("tk_takenBy", { who: person(tk, taken) })] : null),
    h("div", { class: "actions" },
      tk.status === "open" ? h("button", { type: "button", "data-key": `rect-start-${tk.id}`, onclick: move("start") },
        t("tk_rectStart")) : null,
      h("label", { for: noteId }, t("tk_rectNote")), note,
      h("button", { type: "button", class: "primary", "data-key": `rect-resolve-${tk.id}`, onclick: move("resolve") },
        t("tk_rectResolve"))));
}

function list(rows) {
  if (!rows.length) return h("p", { class: "empty" }, t("tk_noRectify"));
  return h("ul", { class: "rectify" }, rows.sort(urgency).map(card));
}

// The section for the floor view; null for a technician, whose work the bad ratings are not.
export function rectifySection() {
  if (live.me?.role === "technician") return null;
  const body = h("div", { class: "part part-rectify" });
  const el = section("rectify", "tk_rectify", body);
  const render = () => {
    const rows = live.tickets.filter((tk) => tk.kind === "rectification");
    patch(body, JSON.stringify(rows), () => list(rows));
  };
  const on = (what) => {
    if (!el.isConnected) { live.listeners.delete(on); return; }
    if (what === "tickets") render();
    else if (what === "hall") refreshAges(body);
  };
  live.listeners.add(on);
  render();
  return el;
}
