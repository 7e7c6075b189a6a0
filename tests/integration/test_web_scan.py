"""Every view of the web UI, as each role opens it, in Chinese and in English, on a desk screen (1600×1000) and on a
phone (390×844), against the simulated county hall and the simulated city hall (60 windows), as `hallops demo` plays
them: no machine text where people read, no sideways scrolling on the phone, and axe finds nothing.

Machine text is what the code says to itself: `queue.waiting = 21`, `(device=TM02, device_type=ticket_machine)`,
a metric's name (`kiosk.help_requested`), an enum (`paper_low`), `True`/`False`/`None`/`null`/`undefined`/`NaN`,
`[object Object]`. What the scan reads is the visible text — text nodes whose element is rendered, with the folded
parts (`<details>`, a ticket's details) opened, the way a user would open them. It leaves out, on purpose:
  - the values of form controls (the rule editor's YAML in its <textarea>, a typed search): what the user writes;
  - <code> and <pre>: where the administrator reads rule source and YAML diffs, which are code by design;
  - the English word "None" in an element of class `empty` (the i18n word for "nothing", e.g. "Rules added: None"):
    the Python `None` is flagged everywhere else, and any `None` in the Chinese UI.
Every finding is listed with its hall, language, screen, role and view, so one run shows all of them.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page

from devices.simulator.scenario import load_scenario
from edge.broker import MosquittoProcess
from edge.demo import DEMO_PASSWORD, DEMO_USERS, save, scenario_config
from tests.harness import GatewayProcess, simulator_process, wait_until
from tests.integration.test_web_rule_versions import axe_violations

SPEED = 60  # a hall minute a wall second, as the demo
MORNING = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday: the hall is open and filling
DESK, PHONE = (1600, 1000), (390, 844)
# what each role can open (app.js VIEWS); the test also checks the nav offers exactly these
VIEWS = {"manager": ["floor", "wall", "tech", "reports"], "tech": ["floor", "tech"],
         "admin": ["floor", "wall", "tech", "admin", "reports"]}  # fmt: skip

# Metric families of the rule engine (edge/rules): `queue.waiting`, `device.printer`, `window.staff_present`, …
METRIC = r"\b(?:queue|window|device|kiosk|zone|rating|hall|ticket|staff)\.[a-z][a-z_]*\b"
MACHINE = [
    ("key = value", re.compile(r"\b\w+\.\w+\s*=\s*\S")),
    ("key=value labels", re.compile(r"\b[a-z][a-z_]*=[^\s=]")),
    ("metric name", re.compile(METRIC)),
    ("snake_case code", re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")),
    ("literal", re.compile(r"\b(?:True|False|null|undefined|NaN)\b|\[object Object\]")),
]
PYTHON_NONE = re.compile(r"\bNone\b")

# The visible text of the page, one entry per text node and per block that holds text (a pattern can be split
# over elements: `<b>queue.waiting</b> = 21`); see the module docstring for what is left out and why.
VISIBLE_TEXT = """() => {
  const skip = "textarea, input, script, style, code, pre";
  const shown = (el) => {
    const host = el.closest("option") ? el.closest("select") : el;
    return host.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true });
  };
  const where = (el) => {
    const s = el.closest("section[id], [id]");
    return `${el.tagName.toLowerCase()}${el.className && typeof el.className === "string" ? "." +
      el.className.trim().split(/\\s+/).join(".") : ""} in #${s ? s.id : "?"}`;
  };
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n; (n = walker.nextNode());) {
    const el = n.parentElement;
    if (!el || !n.textContent.trim() || el.closest(skip) || !shown(el)) continue;
    out.push({ text: n.textContent.trim(), where: where(el), empty: !!el.closest(".empty") });
  }
  for (const el of document.querySelectorAll("li, p, td, th, dd, dt, h1, h2, h3, h4, figcaption, label, button, " +
      "summary, caption, span, small, b, strong, time, a")) {
    if (el.querySelector(skip) || el.closest(skip) || !shown(el)) continue;
    const text = el.innerText.trim();
    if (text) out.push({ text: text.replace(/\\s+/g, " "), where: where(el), empty: !!el.closest(".empty") });
  }
  return out;
}"""


@contextmanager
def demo_hall(name: str, minutes: float, prefix: str = "hallops-scan") -> Iterator[str]:
    """`hallops demo`'s parts for a packaged hall: mosquitto, a gateway with the demo's users and the simulated hall
    obeying it, from a Monday morning; yields the gateway's URL once the hall's clock — the devices' — has played
    `minutes` of that morning (before the first device message the gateway's clock is the box's, which is no sign
    that the hall has played: it is already past MORNING)."""
    work = Path(tempfile.mkdtemp(prefix=f"{prefix}-{name}-"))
    scenario = load_scenario(name)
    with MosquittoProcess() as broker:
        cfg = scenario_config(scenario, broker.url, work / "g.db", ("127.0.0.1", 0), SPEED, users=DEMO_USERS)
        gateway = GatewayProcess(work, broker.url, "--config", str(save(cfg, work / "g.yaml")), hall=scenario.hall.id)
        simulator = simulator_process(work / "simulator.log", broker.url, name, SPEED, MORNING)
        with gateway, simulator:

            def played() -> bool:
                time.sleep(1)  # (polled: a snapshot a second is plenty)
                r = httpx.get(f"{gateway.url}/api/hall", auth=("manager", DEMO_PASSWORD), timeout=5)
                at = datetime.fromisoformat(r.json()["at"]) if r.status_code == 200 else MORNING
                return at.date() == MORNING.date() and (at - MORNING).total_seconds() >= minutes * 60

            wait_until(played, 240, "the hall to play")
            yield gateway.url


def machine_text(entries: list[dict[str, object]], lang: str) -> list[str]:
    found = set()
    for e in entries:
        text = str(e["text"])
        for kind, pattern in MACHINE:
            for m in pattern.finditer(text):
                found.add(f"{kind} «{m.group(0)}» in «{text[:140]}» ({e['where']})")
        if PYTHON_NONE.search(text) and (lang == "zh" or not e["empty"]):
            found.add(f"literal «None» in «{text[:140]}» ({e['where']})")
    return sorted(found)


def open_folded(page: Page, view: str, backtest: bool) -> None:
    """Open what a user would open to read it all: every <details>, each ticket's details, a backtest's result (in
    the county hall only: replaying the city hall's day takes minutes on a 2-core box)."""
    if view == "tech":
        closed = page.locator("li.ticket button.link[aria-expanded='false']")
        for _ in range(min(6, closed.count())):  # (each click draws the list again)
            closed.first.click()
            page.wait_for_timeout(300)
    if view == "admin" and backtest:
        page.locator("#bt-run").click()
        page.locator("#admin-backtest .check-status.ok, #admin-backtest .check-status.bad").first.wait_for(
            timeout=120_000
        )
        page.wait_for_timeout(300)
    page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    page.wait_for_timeout(300)


def findings_here(page: Page, lang: str, phone: bool, axe: bool) -> list[str]:
    """What the page shows now, as it is laid out now."""
    found = machine_text(page.evaluate(VISIBLE_TEXT), lang)
    if phone:
        wide = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
        if wide[0] > wide[1]:
            culprits = page.evaluate(
                """() => [...document.querySelectorAll('main *, header *')].filter((e) =>
                     e.getClientRects().length && e.getBoundingClientRect().right > innerWidth + 1
                     && !e.closest('.table-scroll, .dev-table, pre'))
                   .slice(0, 4).map((e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
                     (typeof e.className === 'string' && e.className ? '.' + e.className.split(' ')[0] : ''))"""
            )
            found.append(f"sideways scrolling: page {wide[0]} px wide on a {wide[1]} px screen ({', '.join(culprits)})")
    if axe:
        found += [f"axe {rule} ({impact}): {nodes}" for rule, impact, nodes in axe_violations(page)]
    return found


def scan_view(page: Page, base: str, view: str, lang: str, axed: set[str], backtest: bool) -> list[str]:
    """The findings on one view, read on the desk screen and then, the same page narrowed, on the phone (the folded
    parts opened once, as a user would, stay open); axe runs on a view the first time it is met in this language and
    screen size (`axed`: the manager and the administrator see the same floor, wall, tickets and reports)."""
    page.set_viewport_size({"width": DESK[0], "height": DESK[1]})
    page.goto(f"{base}/#/{view}")
    page.locator(f"#nav a[href='#/{view}'][aria-current='page']").wait_for(state="attached")  # (the wall hides it)
    page.wait_for_timeout(1500)  # the view's own fetches (reports, admin's panels, resolved today) and a live frame
    open_folded(page, view, backtest)
    out = []
    for size in (DESK, PHONE):
        if size == PHONE:
            page.set_viewport_size({"width": size[0], "height": size[1]})
            page.wait_for_timeout(400)  # (the layout is the CSS's; a view that measures itself redraws)
        axe = f"{view} {lang} {size}" not in axed
        axed.add(f"{view} {lang} {size}")
        out += [f"{size[0]}×{size[1]} {view}: {f}" for f in findings_here(page, lang, size == PHONE, axe)]
    return out


def scan_role(browser: Browser, base: str, user: str, axed: set[str], backtest: bool) -> list[str]:
    """The findings on every view `user` can open, in Chinese and in English: one sign-in, the page's language
    switched as a user switches it (kept in localStorage)."""
    context = browser.new_context(
        locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": DESK[0], "height": DESK[1]}
    )
    try:
        r = httpx.post(f"{base}/api/session", json={"user": user, "password": DEMO_PASSWORD}, timeout=10)
        r.raise_for_status()
        context.add_cookies([{"name": "hallops_session", "value": r.cookies["hallops_session"], "url": base}])
        page = context.new_page()
        page.goto(base + "/")
        out = []
        for lang in ("zh", "en"):
            page.evaluate(f"localStorage.setItem('hallops.lang', '{lang}')")
            page.reload()
            page.locator("#nav a").first.wait_for()
            offered = page.eval_on_selector_all("#nav a", "(as) => as.map((a) => a.getAttribute('href').slice(2))")
            assert sorted(offered) == sorted(VIEWS[user]), f"{user} is offered {offered}"
            for view in VIEWS[user]:
                out += [f"{lang} {user} {f}" for f in scan_view(page, base, view, lang, axed, backtest)]
        return out
    finally:
        context.close()


@pytest.mark.timeout(1500)
@pytest.mark.parametrize("demo", ["county", "city"])
def test_every_view_in_both_languages_reads_as_words_fits_a_phone_and_passes_axe(browser: Browser, demo: str) -> None:
    findings = []
    axed: set[str] = set()
    with demo_hall(demo, minutes=75) as base:
        for user in VIEWS:
            findings += [f"{demo} {f}" for f in scan_role(browser, base, user, axed, demo == "county")]
    report = Path(tempfile.gettempdir()) / f"hallops-web-scan-{demo}.txt"
    report.write_text("\n".join(findings) + "\n", "utf-8")  # the whole list, for reading beside the failure
    assert not findings, f"{len(findings)} findings (also in {report}):\n" + "\n".join(findings)
