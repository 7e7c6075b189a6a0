"""The API documentation page in a real browser (Debian's chromium), on a gateway with users: Swagger UI from the
package shows every route to a signed-in user, and neither it nor the web UI trips the Content-Security-Policy
(edge/api/guard.py, edge/api/docs.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from argon2 import PasswordHasher, profiles
from playwright.sync_api import Browser, expect

from edge.broker import MosquittoProcess
from edge.passwords import hash_password
from tests.integration.conftest import GatewayProcess

PASSWORD = "correct horse battery"


def test_swagger_ui_shows_every_route_to_a_signed_in_user_within_the_policy(
    mosquitto: MosquittoProcess, gateway_factory: Callable[..., GatewayProcess], tmp_path: Path, browser: Browser
) -> None:
    root = hash_password(PASSWORD, PasswordHasher.from_parameters(profiles.CHEAPEST))
    config = tmp_path / "gateway.yaml"
    config.write_text(f'users: {{root: {{role: administrator, password_hash: "{root}"}}}}\n', encoding="utf-8")
    gw = gateway_factory(mosquitto.url, "--config", str(config)).start()
    spec = gw.http.get("/openapi.json", auth=("root", PASSWORD)).json()
    operations = sum(len(ops) for ops in spec["paths"].values())
    context = browser.new_context()
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    try:
        assert page.goto(f"{gw.url}/docs").status == 401  # type: ignore[union-attr]
        signed_in = page.request.post(f"{gw.url}/api/session", data={"user": "root", "password": PASSWORD})
        assert signed_in.ok  # the session cookie is now the browser's
        page.goto(f"{gw.url}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("hallops gateway")
        expect(page.locator(".opblock")).to_have_count(operations)
        page.goto(f"{gw.url}/")
        expect(page.locator("#logout")).to_be_visible()
        violations = [m for m in console if "Content Security Policy" in m]  # Swagger UI's and the web UI's own
        # no inline style: a style attribute is refused, a style set through the CSSOM (the zone bars') applies
        widths = page.evaluate(
            """() => { const a = document.createElement("span"), b = document.createElement("span");
                       a.setAttribute("style", "display: inline-block; width: 40px");
                       b.style.setProperty("display", "inline-block"); b.style.setProperty("width", "40px");
                       document.body.append(a, b); return [getComputedStyle(a).width, getComputedStyle(b).width]; }"""
        )
        assert widths == ["auto", "40px"]
    finally:
        context.close()
    assert [u for u in requested if not u.startswith(gw.url)] == [], "a request to another origin"
    assert violations == []
