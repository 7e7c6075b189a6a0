// Whether what the page shows is current, said in the header of every view (the wall too): the whole chain — the
// live stream to the gateway (open or not, the age of its last frame), the gateway's link to the broker and the age
// of the newest device message (the gateway's `liveness` frame, once a second: edge/liveness.py) — and, when stale
// or broken, a banner saying what is wrong and since when, with the data greyed. It says no more than it knows:
// while the stream is down, the gateway's parts are unknown, not "connected".
import { t } from "./i18n.js";
import { h, hhmm, dateTime, hallDay, live } from "./ui.js";

// The gateway sends a frame every second: five missed ones and the page is as blind as with the stream closed.
const FRAME_LATE_S = 5;

const link = {
  opened: false,                 // the stream has opened at least once since the page loaded
  open: false,                   // it is open now
  changedAt: performance.now(),  // when it last opened or closed (or the page loaded)
  frameAt: null,                 // when its last frame came
  gateway: null,                 // the gateway's newest `liveness` frame (since the stream last opened)
  gatewayAt: null,               // when that frame came
};

export function streamStarting() {  // signed in (again): nothing known yet
  Object.assign(link, { opened: false, open: false, changedAt: performance.now(), frameAt: null, gateway: null });
}

export function streamOpened() {
  Object.assign(link, { opened: true, open: true, changedAt: performance.now(), gateway: null });
  render();
}

export function streamLost() {
  if (link.open) Object.assign(link, { open: false, changedAt: performance.now() });
  render();
}

export function frameCame() {
  link.frameAt = performance.now();
}

export function gatewaySaid(liveness) {
  link.gateway = liveness;
  link.gatewayAt = link.frameAt = performance.now();
  render();
}

// What the page can tell now: { state: live | stale | broken | connecting, cause, forS, at }. `forS` is how long it
// has been so, `at` the hall time the figures on the page are from.
function assess(nowMs) {
  const lastGood = Math.max(link.frameAt ?? 0, link.changedAt);
  const quietS = (nowMs - lastGood) / 1000;
  if (!link.opened && quietS <= FRAME_LATE_S) return { state: "connecting" };
  if (!link.open || quietS > FRAME_LATE_S) {
    const since = link.frameAt ?? link.changedAt;
    const cause = link.open ? "frames" : "stream";  // open but silent: the gateway is stuck, or a proxy holds it
    return { state: "broken", cause, forS: (nowMs - since) / 1000, at: live.hall?.at };
  }
  const g = link.gateway;
  if (!g) return { state: "connecting" };
  const later = (nowMs - link.gatewayAt) / 1000;
  if (g.state === "broken") {
    const cause = g.cause === "storage" ? "storage" : g.broker_since ? "broker" : "brokerNever";
    return { state: "broken", cause, forS: g.broker_for_s + later, at: g.device_at };
  }
  if (g.state === "stale") {  // nothing taken: nothing came ("devices"), or all that came was refused
    const cause = g.cause === "refused" ? "refused" : g.device_at ? "devices" : "devicesNever";
    const forS = g.device_at ? g.device_age_s + later : g.broker_for_s + later;
    return { state: "stale", cause, forS, at: g.device_at, reason: g.refused_reason };
  }
  return { state: "live" };
}

// 45 秒 / 3 分钟 / 2 小时 5 分钟: a banner's "since when", to the minute once it is past one.
function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return t("lv_s", { n: s });
  const m = Math.floor(s / 60);
  if (m < 60) return t("lv_min", { n: m });
  return m % 60 ? t("lv_h_min", { h: Math.floor(m / 60), m: m % 60 }) : t("lv_h", { n: m / 60 });
}

function when(iso) {  // the time of the figures: the day too when it is not the hall's today
  if (!iso) return null;
  const today = live.hall?.at ? hallDay(live.hall.at) : null;
  return today && hallDay(iso) !== today ? dateTime(iso) : hhmm(iso);
}

function bannerText(seen) {
  const at = when(seen.at);
  const what = t(`lv_banner_${seen.cause}`, { for: duration(seen.forS), reason: reasonText(seen.reason) });
  return at ? t("lv_banner_at", { what, at }) : t("lv_banner_unknown", { what });
}

// A dead letter's reason in words where there are some (the common ones), else its code as /api/health counts it.
function reasonText(reason) {
  if (!reason) return "";
  const key = `lv_reason_${reason}`;
  return t(key) === key ? reason : t(key);
}

// The three links of the chain, as the header lists them: [name, value, ok?] — ok null: unknown.
function chain(seen, nowMs) {
  const g = link.gateway;
  const frameS = link.frameAt === null ? null : (nowMs - link.frameAt) / 1000;
  const updated = frameS === null || frameS < 2 ? t("lv_connected") : t("lv_updated", { for: duration(frameS) });
  const gatewayPart = seen.state === "connecting" ? [t("lv_connecting"), null]
    : blind(seen) ? [t("lv_lost", { for: duration(seen.forS) }), false] : [updated, true];
  const unknown = [t("lv_unknown"), null];
  if (blind(seen) || !g) return [["lv_gateway", ...gatewayPart], ["lv_broker", ...unknown], ["lv_devices", ...unknown]];
  const later = (nowMs - link.gatewayAt) / 1000;
  const broker = g.broker_connected ? [t("lv_connected"), true]
    : [g.broker_since ? t("lv_lost", { for: duration(g.broker_for_s + later) }) : t("lv_not_yet"), false];
  let devices = g.device_at ? t("lv_ago", { for: duration(g.device_age_s + later) }) : t("lv_none_yet");
  if (!g.hall_open) devices = t("lv_closed", { what: devices });
  else if (g.cause === "refused") {
    const n = g.refused_since_taken;
    devices = g.device_at ? t("lv_refused", { what: devices, n }) : t("lv_refused_none", { n });
  }
  return [["lv_gateway", ...gatewayPart], ["lv_broker", ...broker], ["lv_devices", devices, g.state !== "stale"]];
}

function blind(seen) {  // the page's own link is down: it knows nothing behind it
  return seen.cause === "stream" || seen.cause === "frames";
}

const PILL = { live: "live_on", stale: "lv_stale", connecting: "lv_connecting" };

export function render() {
  const pill = document.getElementById("live");
  const list = ensure("chain", () => h("ul", { id: "chain" }), pill);
  const banner = ensure("liveness-banner", () => h("p", { id: "liveness-banner", hidden: true }));
  const main = document.getElementById("main");
  const clock = document.getElementById("clock");
  if (!live.me) {
    pill.textContent = "";
    list.replaceChildren();
    banner.hidden = true;
    main.classList.remove("not-live");
    clock.classList.remove("not-live");
    return;
  }
  const nowMs = performance.now();
  const seen = assess(nowMs);
  const pillKey = PILL[seen.state] ?? (blind(seen) ? "live_off" : "lv_broken");
  if (pill.textContent !== t(pillKey)) pill.textContent = t(pillKey);  // a live region: only when it changes
  pill.className = seen.state === "live" ? "on" : seen.state === "connecting" ? "wait" : "off";
  pill.dataset.state = seen.state;
  list.setAttribute("aria-label", t("lv_chain"));
  list.replaceChildren(...chain(seen, nowMs).map(([name, value, ok]) => h("li",
    { "data-ok": ok === null ? "unknown" : String(ok) }, h("span", { class: "lv-name" }, t(name)), " ", value)));
  const wrong = seen.state === "stale" || seen.state === "broken";
  banner.hidden = !wrong;
  banner.className = wrong ? `lv-${seen.state}` : "";
  banner.dataset.cause = wrong ? seen.cause : "";
  if (wrong) banner.textContent = bannerText(seen);
  main.classList.toggle("not-live", wrong);  // the figures greyed: they are not what the hall is now
  clock.classList.toggle("not-live", wrong);
}

// The chain and the banner live in the header (its landmark), made here so that index.html stays as it is.
function ensure(id, make, after) {
  let el = document.getElementById(id);
  if (!el) {
    el = make();
    if (after) after.after(el); else document.querySelector("header").append(el);
  }
  return el;
}

setInterval(render, 1000);  // ages grow, and a stream that stopped sending is noticed, without any frame
