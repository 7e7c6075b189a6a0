"""Take the README's screenshots: every view of the web UI, in Chinese and in English, from a simulated city hall.

    .venv/bin/python scripts/screenshots.py [--minutes 150] [--out docs/screenshots]

Starts a mosquitto, a gateway with the demo's users and the simulated city hall (60 windows; from 08:30, at 60×,
obeying the gateway's commands), lets the morning run for `--minutes` of hall time, then signs in as each role and
writes `<view>-<lang>.jpg`: the desk views at 1600×1000, the wall screen at 1920×1080, and the phone views (the
manager's floor, the technician's tickets) at 390×844 (`phone-…`, the first screen as a phone shows it).
Everything runs on 127.0.0.1; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from playwright.sync_api import Page, sync_playwright  # noqa: E402

from devices.simulator.scenario import load_scenario  # noqa: E402
from edge.broker import MosquittoProcess  # noqa: E402
from edge.demo import DEMO_PASSWORD, DEMO_USERS, save, scenario_config  # noqa: E402
from tests.harness import GatewayProcess, chromium, simulator_process  # noqa: E402

SPEED = 60
START = datetime(2026, 11, 23, 8, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
DESK, WALL, PHONE = (1600, 1000), (1920, 1080), (390, 844)
# (file name, user, route, full page, viewport)
SHOTS = [
    ("login", None, "", False, DESK),
    ("manager-floor", "manager", "floor", True, DESK),
    ("wall", "manager", "wall", False, WALL),
    ("technician", "tech", "tech", False, DESK),
    ("admin", "admin", "admin", False, DESK),
    ("reports", "manager", "reports", False, DESK),
    ("phone-manager-floor", "manager", "floor", False, PHONE),
    ("phone-technician", "tech", "tech", False, PHONE),
]
BROKEN_RULE = """rules:
  - id: long-queue
    severity: urgent
    when: {metric: queue.waitng, op: ">=", value: 30}
"""


def sign_in(page: Page, base: str, user: str) -> None:
    page.goto(base + "/")
    page.fill("#login-user", user)
    page.fill("#login-password", DEMO_PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_selector("#nav a")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=150, help="hall minutes to simulate before the pictures")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    work = Path(tempfile.mkdtemp(prefix="hallops-shots-"))
    scenario = load_scenario("city")
    with MosquittoProcess() as broker:
        cfg = scenario_config(scenario, broker.url, work / "g.db", ("127.0.0.1", 0), SPEED, users=DEMO_USERS)
        gateway = GatewayProcess(work, broker.url, "--config", str(save(cfg, work / "g.yaml")), hall=scenario.hall.id)
        simulator = simulator_process(work / "simulator.log", broker.url, "city", SPEED, START)
        with gateway, simulator:
            take(args.minutes, args.out, gateway.url)


def take(minutes: float, out: Path, base: str) -> None:
    """Let the simulated morning run for `minutes` of hall time, then take every shot in both languages."""
    wall = minutes * 60 / SPEED
    print(f"screenshots: simulating {minutes:.0f} hall minutes ({wall:.0f} s)…", file=sys.stderr)
    time.sleep(wall)
    with sync_playwright() as pw:
        browser = chromium(pw)
        for lang in ("zh", "en"):
            for name, user, route, full, (width, height) in SHOTS:
                context = browser.new_context(
                    viewport={"width": width, "height": height}, locale="zh-CN", timezone_id="Asia/Shanghai"
                )
                page = context.new_page()
                page.goto(base + "/")
                page.evaluate(f"localStorage.setItem('hallops.lang', '{lang}')")
                if user:
                    sign_in(page, base, user)
                    page.goto(f"{base}/#/{route}")
                else:
                    page.reload()
                page.wait_for_timeout(2500)
                if name.endswith("technician") and page.locator("li.ticket button.link").count():
                    page.locator("li.ticket button.link").first.click()
                    page.wait_for_timeout(800)
                if name == "admin":
                    page.fill("#rule-yaml", BROKEN_RULE)
                    page.locator("#admin-yaml button.primary").click()
                    page.wait_for_timeout(800)
                    page.locator("#admin-yaml").scroll_into_view_if_needed()
                target = out / f"{name}-{lang}.jpg"
                page.screenshot(path=str(target), full_page=full, type="jpeg", quality=80)
                print(f"screenshots: {target}", file=sys.stderr)
                context.close()
        browser.close()
    hall = httpx.get(f"{base}/api/hall", auth=("manager", DEMO_PASSWORD)).json()
    print(f"screenshots: hall at {hall['at']}, {hall['totals']['waiting']} waiting", file=sys.stderr)


if __name__ == "__main__":
    main()
