// The web UI's shell: sign-in, the views each role may open, the live stream, the language switch.
import { t, setLanguage, language } from "./i18n.js";
import { live, api, h, changed, clockText, toast, ApiError } from "./ui.js";
import { floorView } from "./floor.js";
import { wallView } from "./wall.js";
import { techView } from "./tech.js";
import { adminView } from "./admin.js";
import { reportsView } from "./reports.js";
import { render as renderLive, streamStarting, streamOpened, streamLost, frameCame, gatewaySaid } from "./liveness.js";

const VIEWS = {
  floor: { view: floorView, roles: ["manager", "technician"] },
  wall: { view: wallView, roles: ["manager"] },
  tech: { view: techView, roles: ["technician", "manager"] },
  reports: { view: reportsView, roles: ["manager"] },
  admin: { view: adminView, roles: [] },
};
const HOME = { manager: "floor", technician: "tech", administrator: "floor" };

const COMMANDS_SHOWN = 50;  // the technician's view lists the newest device commands
let current = null;   // { name, view instance }
let stream = null;

function allowed(name) {
  const role = live.me?.role;
  return role === "administrator" || VIEWS[name].roles.includes(role);
}

function route() {
  const name = (location.hash.replace(/^#\/?/, "") || "").split("?")[0];
  return VIEWS[name] ? name : HOME[live.me?.role] || "floor";
}

function translateStatic() {
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  document.getElementById("lang").textContent = language() === "en" ? "中文" : "English";
  const hall = live.me ? (language() === "en" ? live.me.hall_name_en || live.me.hall_name : live.me.hall_name) : null;
  document.getElementById("title").textContent = hall ? `hallops · ${hall}` : "hallops";
  document.title = hall ? `${hall} — hallops` : "hallops";
  renderNav();
  renderWho();
  renderLive();
}

function renderNav() {
  const nav = document.getElementById("nav");
  if (!live.me) { nav.replaceChildren(); return; }
  const active = current?.name;
  nav.replaceChildren(...Object.keys(VIEWS).filter(allowed).map((name) =>
    h("a", { href: `#/${name}`, "aria-current": name === active ? "page" : null }, t(`nav_${name}`))));
}

function renderWho() {
  const who = document.getElementById("who");
  const out = document.getElementById("logout");
  if (!live.me) { who.textContent = ""; out.hidden = true; return; }
  who.textContent = live.me.open ? t("openMode") : `${live.me.name || live.me.user} · ${t(`role_${live.me.role}`)}`;
  out.hidden = live.me.open;
}

function renderClock() {
  if (live.hall) document.getElementById("clock").textContent = clockText(live.hall.at);
}

function show() {
  const name = route();
  const main = document.getElementById("main");
  current?.instance?.stop?.();
  document.body.classList.toggle("wall", name === "wall");
  if (!allowed(name)) {
    current = { name, instance: null };
    main.replaceChildren(h("p", { class: "empty" }, t("forbidden")));
  } else {
    const instance = VIEWS[name].view();
    current = { name, instance };
    main.replaceChildren(instance.root);
  }
  renderNav();
}

// -- data ----------------------------------------------------------------------------------------------------

async function refresh(what) {
  try {
    if (what === "hall") { live.hall = await api("/api/hall"); renderClock(); }
    if (what === "alerts") live.alerts = await api("/api/alerts");
    if (what === "recs") live.recs = await api("/api/recommendations");
    if (what === "tickets") live.tickets = await api("/api/tickets?status=active");
    if (what === "commands") live.commands = await api(`/api/commands?limit=${COMMANDS_SHOWN}`);
    if (what === "kpi") live.kpi = await api("/api/kpi/today");
    changed(what);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) console.warn("refresh", what, err);
  }
}

function refreshAll() {
  return Promise.all(["hall", "alerts", "recs", "tickets", "commands", "kpi"].map(refresh));
}

// The live stream. EventSource retries by itself while the gateway is away (the stream's `retry:`), but gives up
// for good on an HTTP error (a gateway still starting answers 503, a full one 429): then we open a new one — unless
// the sign-in ended (a 401 it does not show us; asking who is signed in does). A stream whose sign-in ends while
// open (signed out elsewhere, user removed, new password) ends with `signed_out`: the sign-in view, no reconnecting.
function connect() {
  stream?.close();
  stream = new EventSource("/api/stream");
  stream.addEventListener("open", () => { streamOpened(); refreshAll(); });
  stream.addEventListener("error", () => {
    streamLost();
    if (stream.readyState === EventSource.CLOSED) setTimeout(reconnect, 2000);
  });
  stream.addEventListener("signed_out", () => {
    stream.close();
    window.dispatchEvent(new CustomEvent("hallops:signed-out"));
  });
  stream.addEventListener("hall", (e) => {
    const started = performance.now();  // bench/webui reads these measures: the cost of one live update
    live.hall = JSON.parse(e.data);
    frameCame();
    renderClock();
    changed("hall");
    performance.measure("hallops:hall-update", { start: started });
  });
  stream.addEventListener("liveness", (e) => gatewaySaid(JSON.parse(e.data)));
  stream.addEventListener("alert", () => refresh("alerts"));
  stream.addEventListener("ticket", () => refresh("tickets"));
  stream.addEventListener("recommendation", () => refresh("recs"));
  stream.addEventListener("break", () => changed("breaks"));  // breaks.js reloads its day
  stream.addEventListener("guide", () => changed("guides"));  // guides.js reloads the mobile post
  stream.addEventListener("changed", (e) => {
    const parts = { engine: "alerts", tickets: "tickets", tidal: "recs", commands: "commands" };
    for (const part of JSON.parse(e.data)) if (parts[part]) refresh(parts[part]);
  });
}

function reconnect() {
  if (!live.me) return;
  api("/api/session").then(() => live.me && connect(), (err) => {
    if (err instanceof ApiError && err.status === 401) window.dispatchEvent(new CustomEvent("hallops:signed-out"));
    else if (live.me) connect();
  });
}

let kpiTimer = null;

async function start() {
  try {
    live.me = await api("/api/session");
  } catch {
    live.me = null;
  }
  translateStatic();
  if (!live.me) { loginForm(); return; }
  await refreshAll();
  show();
  connect();
  clearInterval(kpiTimer);
  kpiTimer = setInterval(() => refresh("kpi"), 15000);
}

function loginForm() {
  stream?.close();
  streamStarting();
  const main = document.getElementById("main");
  const error = h("p", { class: "error", role: "alert", id: "login-error" });
  const form = h("form", { class: "login", "aria-labelledby": "login-h" },
    h("h2", { id: "login-h" }, t("signInTitle")),
    h("label", { for: "login-user" }, t("user")),
    h("input", { id: "login-user", name: "user", autocomplete: "username", required: true }),
    h("label", { for: "login-password" }, t("password")),
    h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password",
      required: true }),
    h("button", { type: "submit", class: "primary" }, t("signIn")),
    error);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    try {
      await api("/api/session", { method: "POST", body: { user: data.get("user"), password: data.get("password") } });
      await start();
    } catch (err) {
      error.textContent = err instanceof ApiError && err.status === 401 ? t("wrongLogin") : String(err.message);
    }
  });
  main.replaceChildren(form);
  form.querySelector("input").focus();
}

// -- wiring ----------------------------------------------------------------------------------------------------

document.getElementById("lang").addEventListener("click", () => {
  setLanguage(language() === "en" ? "zh" : "en");
  translateStatic();
  renderClock();
  if (live.me) changed("lang"); else loginForm();
});
document.getElementById("logout").addEventListener("click", async () => {
  await api("/api/session", { method: "DELETE" }).catch(() => null);
  live.me = null;
  stream?.close();
  clearInterval(kpiTimer);
  current?.instance?.stop?.();
  translateStatic();
  loginForm();
});
window.addEventListener("hashchange", () => { if (live.me) show(); });
window.addEventListener("hallops:signed-out", () => {
  if (!live.me) return;
  live.me = null;
  toast(t("signInTitle"));
  translateStatic();
  loginForm();
});
live.listeners.add((what) => { if (what === "lang") renderNav(); });
live.refresh = refresh;

setLanguage(language());
start();
