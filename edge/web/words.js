// What an alert, a ticket or a person is called on screen, in the page's language. The gateway renders the words
// (edge/wording): an alert carries `text` ({zh, en}, for the staff) and `public` ({zh, en}, for the wall screen, or
// null when it is not for the public); this module only picks the language and falls back when a field is missing.
import { language } from "./i18n.js";

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
