"""A page whose sign-in ends elsewhere: the running gateway ends its live stream (`signed_out`) and the page shows its
sign-in form, in a real headless chromium against the county hall's gateway (idle: no simulator).

The page would also learn of it from the 401 of its next refresh of the API (a `changed` event, the KPIs every
15 s); those requests are made to fail here, so what the page shows came from the stream alone.
"""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from edge.auth import COOKIE
from tests.integration.conftest import PASSWORD, GatewayProcess


def test_a_page_signed_out_elsewhere_shows_the_sign_in_form(hall: GatewayProcess, page: Page) -> None:
    base = f"http://127.0.0.1:{hall.port}"
    page.goto(base + "/")
    page.get_by_label("用户名").fill("li")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#live")).to_have_text("实时")  # the live stream is open
    session = next(c["value"] for c in page.context.cookies() if c["name"] == COOKIE)
    page.route(lambda url: "/api/" in url and not url.endswith("/api/stream"), lambda route: route.abort())

    # the same session ended from elsewhere (another tab's sign-out): the page itself sends nothing
    ended = httpx.delete(base + "/api/session", cookies={COOKIE: session}, timeout=5)
    assert ended.status_code == 204

    expect(page.locator("form.login")).to_be_visible()
    assert httpx.get(base + "/api/session", cookies={COOKIE: session}, timeout=5).status_code == 401
