"""The live hall page in a real browser: Debian's chromium driven by Playwright, against a gateway on a real
mosquitto. The first step of the web-UI issue: the page a manager opens shows the queue, follows new tickets without
a reload, and switches between Chinese and English.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from edge.broker import MosquittoProcess
from tests.integration.conftest import MONDAY_10, GatewayProcess, Publisher, event, quiet_clock, wait_until


def issue(publisher: Publisher, n: int, first: int = 0) -> None:
    for i in range(first, first + n):
        topic, payload = event(
            "ticket_machine",
            "TM01",
            i + 1,
            MONDAY_10 + timedelta(seconds=i),
            type="ticket.issued",
            ticket_id=f"T{i}",
            number=f"A{i:03d}",
            service="tax",
        )
        publisher.send(topic, payload)
    publisher.wait()


def test_the_live_page_follows_the_queue_and_switches_language(
    mosquitto: MosquittoProcess,
    publisher: Publisher,
    gateway_factory: Callable[..., GatewayProcess],
    tmp_path: Path,
    page: Page,
) -> None:
    gw = gateway_factory(mosquitto.url, "--config", quiet_clock(tmp_path), "--clock", "device").start()
    issue(publisher, 3)
    wait_until(lambda: gw.accepted() >= 3, what="three tickets")

    page.goto(f"http://127.0.0.1:{gw.port}/")
    waiting = page.locator("#queues tr[data-service='tax'] td.waiting")  # the 等待 / Waiting column
    expect(page.locator("h2", has_text="排队（按业务）")).to_be_visible()
    expect(waiting).to_have_text("3")

    issue(publisher, 2, first=3)  # two more people take a ticket while the manager watches
    expect(waiting).to_have_text("5")

    page.get_by_role("button", name="language").click()
    expect(page.locator("h2", has_text="Queues by service")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.reload()  # the choice is remembered
    expect(page.locator("h2", has_text="Queues by service")).to_be_visible()
