// What an alert, a ticket or a person is called on screen, in the page's language. The gateway renders the words
// (edge/wording): an alert carries `text` ({zh, en}, for the staff) and `public` ({zh, en}, for the wall screen, or
// null when it is not for the public); this module only picks the language and falls back when a field is missing.
import { language, t } from "./i18n.js";
import { live, windowName as uiWindowName } from "./ui.js";

function pick(words) {
  if (!words || typeof words !== "object") return "";
  return words[language()] || words.zh || words.en || "";
}

// The alert in words for the staff (manager, technician, administrator).
export function alertText(a) {
  return pick(a.text) || a.description || a.rule;
}

// The alert in words for the public wall, or "" when it is not for the public.
export function publicText(a) {
  return pick(a.public);
}

// A person's display name (王经理) where the record names them (`names`: login → display), else the login.
export function personName(login, names) {
  return (names && names[login]) || login || "";
}

// Words the gateway rendered ({zh, en}) in the page's language: a rule's title, a ticket's heading.
export function words(w) {
  return pick(w);
}

// A camera zone's name: the configured one (`zones:` in the configuration; /api/hall gives each zone's `name` and
// `name_en`), else guessed the way edge/wording/alerts.py `zone_name` guesses it: wait-a → 等候区A, counter-a → 柜台区A,
// seat-W01 → the window's seat, self-service → 自助服务区; else 区域 <id> (staff views only: the wall shows the
// gateway's public words, which never name a zone by its id). `windowName`: a window id → its display name.
export function zoneName(id, windowName) {
  const z = live.hall?.zones?.find((x) => x.zone_id === id);
  const named = z && (language() === "en" ? z.name_en || z.name : z.name || z.name_en);
  if (named) return named;
  const low = String(id).toLowerCase();
  if (low.startsWith("wait-") && low.length > 5) return t("zoneWait", { x: id.slice(5).toUpperCase() });
  if (low.startsWith("counter-") && low.length > 8) return t("zoneCounter", { x: id.slice(8).toUpperCase() });
  if (low.startsWith("seat-") && low.length > 5) {
    const w = id.slice(5);
    return t("zoneSeat", { w: (windowName || uiWindowName)(w) || w });
  }
  if (["self-service", "self_service", "kiosk", "kiosks"].includes(low)) return t("zoneSelfService");
  return t("zoneOther", { x: id });
}

// The values behind an alert in words (最长等候：62分钟), in the page's language: what to show instead of its raw
// `evidence` (metric names and codes).
export function alertFacts(a) {
  const facts = a && a.facts;
  if (!facts || typeof facts !== "object") return [];
  return facts[language()] || facts.zh || facts.en || [];
}

// A device problem as the hall model words it (rules/hall/views.py: `printer.paper_out`, `display.blank`,
// `error.<the device's own code>`, `battery.low`) in words, for every view that lists them (the floor, the
// technician's device, the administrator's registry). A device's own error code is kept (the technician quotes it);
// a problem the page has no words for reads "another problem" (the code is the caller's tooltip).
export function problemWords(code) {
  if (code.startsWith("error.")) return `${t("devProbError")} ${code.slice("error.".length)}`;
  const key = `tp_${code}`;
  const text = t(key);
  return text === key ? t("devProbOther") : text;
}
