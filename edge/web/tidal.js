// Tidal-window recommendations (潮汐窗口): what the recommender offers; approve, reject with a reason, or — when it
// found no window that can be opened — assign one by hand; and the tidal windows in effect, with their effect.
// Every number on a card is a field of the recommendation, and the text (reason_zh / reason_en, worded by the
// gateway) names the same fields: "steady state needs N windows" is `erlang_servers` in both.
import { t, language } from "./i18n.js";
import { live, api, h, hhmm, toast, serviceName, windowName, refreshLater, patch } from "./ui.js";
import { personName } from "./words.js";

const REASON_MAX = 500;  // the API's limit for a rejection's reason (DecisionBody.reason)

function canAct() {
  return live.me?.role === "manager" || live.me?.role === "administrator";
}

function wait(m) {
  return m === null || m === undefined ? t("tidUnbounded") : t("minutes", { n: Math.round(m) });
}

// An opening the recommender could not find a window for: approving it would change nothing.
function needsWindow(r) {
  return r.kind === "open" && !r.windows.length;
}

// -- tidal recommendations ------------------------------------------------------------------------------------------

// What the proposal is, in a few words: a cover sends someone to a window that is not a tidal window (AB岗顶岗).
function recTitle(r) {
  if (r.reason_code === "cover") return t("rec_cover");
  return r.kind === "open" ? t("rec_open", { n: r.n }) : t("rec_close");
}

function recCard(r) {
  const open = r.kind === "open";
  const noWindow = needsWindow(r);
  return h("li", { class: "rec", "data-rec": r.id, "data-needs-window": noWindow ? "yes" : null,
    "data-reason": r.reason_code || null },
    h("h3", {}, recTitle(r), " — ", r.services.map(serviceName).join("、")),
    h("p", { class: "reason" }, language() === "en" ? r.reason_en : r.reason_zh),
    h("ul", { class: "numbers" },
      h("li", {}, t("recNow", { w: r.backlog, p: wait(r.projected_wait_min) }), " → ", wait(r.projected_wait_after_min)),
      h("li", {}, t("recLate", { a: r.late, b: r.late_after })),
      h("li", { class: "erlang" }, t("recErlang", { n: r.erlang_servers, model: t(`tidModel_${r.model}`) })),
      r.backlog_servers > r.erlang_servers
        ? h("li", { class: "backlog" }, t("recBacklog", { n: r.backlog_servers })) : null,
      r.windows.length ? h("li", {}, `${t("windowsList")}: ${r.windows.map(windowName).join("、")}`) : null,
      r.staff.length ? h("li", {}, `${t("staffList")}: ${r.staff.join("、")}`) : null,
      noWindow ? h("li", { class: "hint" }, t("tidNoWindow")) : null,
      open && r.serves.length ? h("li", {}, `${t("serves")}: ${r.serves.map(serviceName).join("、")}`) : null,
      h("li", {}, t("recExpires", { t: hhmm(r.expires_at) }))),
    canAct() ? h("div", { class: "actions" },
      noWindow
        ? h("button", { type: "button", class: "primary", "data-key": `assign-${r.id}`, onclick: () => assignDialog(r) },
          t("tidAssign"))
        : h("button", { type: "button", class: "primary", "data-key": `approve-${r.id}`, onclick: () => approve(r) },
          t("approve")),
      h("button", { type: "button", "data-key": `reject-${r.id}`, onclick: () => rejectDialog(r) }, t("reject")))
      : null);
}

async function approve(r) {
  try {
    await api(`/api/recommendations/${r.id}/approve`, { method: "POST", body: { reason: "" } });
    toast(t("approved"));
    refreshLater("recs");
    loadActive(true);
  } catch (err) { toast(err.message); }
}

// -- the page's own dialog ------------------------------------------------------------------------------------------

let dialogs = 0;

// A modal <dialog>: the rest of the page is inert while it is open, Tab stays inside it, Esc (or Cancel) closes it
// and the focus goes back to the control that opened it. `submit()` returns an error to show in the dialog (it then
// stays open) or nothing (it closes).
function modal({ title, body, confirm, submit, initial }) {
  const opener = document.activeElement;
  const id = `dlg-${++dialogs}`;
  const error = h("p", { class: "dlg-error", role: "alert", id: `${id}-err` });
  const ok = h("button", { type: "submit", class: "primary" }, confirm);
  const dlg = h("dialog", { class: "dlg", "aria-labelledby": `${id}-h`, "aria-describedby": `${id}-err` });
  const form = h("form", { novalidate: true }, h("h2", { id: `${id}-h` }, title), body, error,
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => dlg.close() }, t("cancel")), ok));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    ok.disabled = true;
    try {
      const problem = await submit();
      if (problem) error.textContent = problem;
      else dlg.close();
    } catch (err) {
      error.textContent = err.message;
    } finally {
      ok.disabled = false;
    }
  });
  dlg.addEventListener("keydown", (e) => {  // keep Tab within the dialog (the page behind is inert anyway)
    if (e.key !== "Tab") return;
    const stops = [...dlg.querySelectorAll("button, select, textarea, input")].filter((el) => !el.disabled);
    if (!stops.length) return;
    const first = stops[0], last = stops[stops.length - 1];
    if (e.shiftKey && document.activeElement === first) { last.focus(); e.preventDefault(); }
    else if (!e.shiftKey && document.activeElement === last) { first.focus(); e.preventDefault(); }
  });
  dlg.addEventListener("close", () => {
    dlg.remove();
    if (opener && opener.isConnected) opener.focus();
    else document.getElementById("tidal-h")?.focus();
  });
  dlg.append(form);
  document.body.append(dlg);
  dlg.showModal();
  (initial || form.querySelector("select, textarea, input") || ok).focus();
  return dlg;
}

function rejectDialog(r) {
  const reason = h("textarea", { id: `why-${r.id}`, name: "reason", required: true, maxlength: REASON_MAX, rows: 3 });
  const body = h("div", { class: "field" },
    h("p", {}, recTitle(r), " — ",
      r.services.map(serviceName).join("、")),
    h("label", { for: reason.id }, t("rejectWhy")), reason,
    h("p", { class: "hint" }, t("tidReasonLimit", { n: REASON_MAX })));
  modal({
    title: t("tidRejectTitle"),
    body,
    confirm: t("reject"),
    initial: reason,
    submit: async () => {
      const text = reason.value.trim();
      if (!text) return t("tidReasonNeeded");
      if (text.length > REASON_MAX) return t("tidReasonLimit", { n: REASON_MAX });
      await api(`/api/recommendations/${r.id}/reject`, { method: "POST", body: { reason: text } });
      toast(t("rejected"));
      refreshLater("recs");
      return "";
    },
  });
}

// "（关闭，最近在岗 S1003）" / " (closed, last staffed by S1003)"
function paren(parts) {
  const words = parts.filter(Boolean);
  if (!words.length) return "";
  return language() === "en" ? ` (${words.join(", ")})` : `（${words.join("，")}）`;
}

function statusWord(c) {
  return t(c.status === "open" ? "tidStatus_idle" : `tidStatus_${c.status}`);
}

async function assignDialog(r) {
  let cands;
  try {
    cands = await api(`/api/recommendations/${r.id}/candidates`);
  } catch (err) { toast(err.message); refreshLater("recs"); return; }
  const services = r.services.map(serviceName).join("、");
  const windowSel = h("select", { id: `win-${r.id}`, name: "window", required: true },
    cands.windows.map((c) => h("option", { value: c.window_id }, c.name || c.window_id, paren([
      statusWord(c),
      c.configured ? null : t("tidNotConfigured"),
      c.staff_id ? t("tidLastStaff", { name: c.staff_name || c.staff_id }) : null]))));
  const staffSel = h("select", { id: `staff-${r.id}`, name: "staff" },
    h("option", { value: "" }, t("tidAnyStaff")),
    cands.staff.map((s) => h("option", { value: s.staff_id }, s.name ? `${s.name}${paren([s.staff_id])}` : s.staff_id)));
  const none = !cands.windows.length;
  const body = h("div", { class: "field" },
    h("p", {}, t("tidAssignWhy", { services, n: r.n })),
    none ? h("p", { class: "empty" }, t("tidNoCandidates")) : [
      h("label", { for: windowSel.id }, t("tidWindow")), windowSel,
      h("label", { for: staffSel.id }, t("tidStaffOptional")), staffSel,
      h("p", { class: "hint" }, t("tidAssignEffect"))]);
  const dlg = modal({
    title: t("tidAssignTitle", { services }),
    body,
    confirm: t("tidAssignConfirm"),
    submit: async () => {
      if (none) return t("tidNoCandidates");
      const staff = staffSel.value || null;
      await api(`/api/recommendations/${r.id}/assign`, { method: "POST", body: { window: windowSel.value, staff } });
      const picked = cands.windows.find((c) => c.window_id === windowSel.value);
      toast(t("tidAssigned", { w: picked?.name || windowSel.value }));
      refreshLater("recs");
      loadActive(true);
      return "";
    },
  });
  if (none) dlg.querySelector("button[type=submit]").disabled = true;
}

// -- the tidal windows in effect ------------------------------------------------------------------------------------

const active = { rows: null, at: 0, box: null, loading: false };

function activeBox() {
  if (!active.box) active.box = h("div", { class: "tidal-active", "aria-live": "polite" });
  return active.box;
}

async function loadActive(force) {
  if (!live.me || active.loading || (!force && Date.now() - active.at < 10_000)) return;
  active.loading = true;
  active.at = Date.now();
  try {
    active.rows = await api("/api/tidal/windows");
  } catch { /* the next change tries again */ } finally { active.loading = false; }
  renderActive();
}

function byWords(w) {
  if (!w.by) return "";
  const name = w.by.startsWith("policy:") ? t("tidAuto") : (w.by_name || personName(w.by));
  return t(w.assigned ? "tidAssignedBy" : "tidApprovedBy", { name });
}

function activeItem(w) {
  const label = w.window_name || windowName(w.window_id);
  return h("li", { class: "tidal-win", "data-window": w.window_id, "data-cover": w.cover ? "yes" : null },
    h("strong", {}, label), w.cover ? (language() === "en" ? ` (${t("rec_cover")})` : `（${t("rec_cover")}）`) : "", " — ", w.services.map(serviceName).join("、"),
    h("ul", { class: "numbers" },
      h("li", {}, [t("tidSince", { t: hhmm(w.since) }), byWords(w),
        w.staff_id ? `${t("staffList")}: ${w.staff_name || w.staff_id}` : ""].filter(Boolean)
        .join(language() === "en" ? ", " : "，")),
      h("li", { class: "effect" }, t("tidWaitBeforeNow", { a: wait(w.wait_before_min), b: wait(w.wait_now_min) })),
      !w.seen_open ? h("li", { class: "hint" }, t(w.by_command ? "tidNotOpenYet" : "tidOpenByHand")) : null));
}

function renderActive() {
  const box = activeBox();
  if (!box.isConnected) return;
  patch(box, JSON.stringify([active.rows, language()]), () => [
    h("h3", { id: "tidal-active-h" }, t("tidActive")),
    !active.rows ? null : active.rows.length
      ? h("ul", { class: "recs tidal-wins", "aria-labelledby": "tidal-active-h" }, active.rows.map(activeItem))
      : h("p", { class: "empty" }, t("tidNoActive"))]);
}

live.listeners.add((what) => {
  if (!active.box?.isConnected) return;
  if (what === "recs") loadActive(true);
  else if (what === "hall") loadActive(false);  // the wait now moves with the hall: at most every 10 s
  else if (what === "lang") renderActive();
});

export function recsList() {
  const box = activeBox();
  queueMicrotask(() => { renderActive(); loadActive(active.rows === null); });
  const recs = live.recs.length
    ? h("ul", { class: "recs" }, live.recs.map(recCard)) : h("p", { class: "empty" }, t("noRecs"));
  return [recs, box];
}
