"""What wraps every request (edge/api/guard.py) and the API documentation (edge/api/docs.py), through the app factory
in-process: the security headers on every kind of answer, the body limit before sign-in, 422s that name the field
without copying the input, and /docs and /openapi.json served from the package to signed-in users only. The same at
the socket, on a real server, is in tests/integration/test_http_limits.py."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from edge.api import create_app
from edge.api.guard import MAX_ERRORS, POLICY
from edge.config import load_config
from edge.gateway import Gateway
from edge.passwords import hash_password

PASSWORD = "correct horse battery"
ROOT = ("root", PASSWORD)
SECURITY = {
    "content-security-policy": POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@pytest.fixture
def make_app(tmp_path_factory: pytest.TempPathFactory, hasher: PasswordHasher) -> Iterator[Callable[..., FastAPI]]:
    """`make_app(**http)`: the API of a gateway (not opened) with one administrator, root, and `http:` settings."""
    made: list[FastAPI] = []
    root = {"role": "administrator", "password_hash": hash_password(PASSWORD, hasher)}

    def make(**http: object) -> FastAPI:
        db = tmp_path_factory.mktemp("api") / "gateway.db"
        cfg = load_config(
            None, {"hall": {"id": "h1"}, "storage": {"path": str(db)}, "http": http, "users": {"root": root}}
        )
        made.append(create_app(Gateway(cfg)))
        return made[-1]

    yield make
    for app in made:
        app.state.auth.close()


def client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # a 500 is an answer here
    return httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30)


async def test_every_answer_carries_the_security_headers_and_api_answers_are_not_stored(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(max_body_bytes=1000)

    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/boom", boom)  # only here: an exception no route handles
    async with client(app) as http:
        answers = {
            "page": await http.get("/"),
            "static file": await http.get("/static/app.js"),
            "open API route": await http.get("/api/health"),
            "not found": await http.get("/api/no-such-route"),
            "not signed in": await http.get("/api/hall"),
            "too large": await http.post("/api/silences", content=b"x" * 1001),
            "server error": await http.get("/api/boom"),
        }
    assert {what: r.status_code for what, r in answers.items()} == {
        "page": 200,
        "static file": 200,
        "open API route": 200,
        "not found": 404,
        "not signed in": 401,
        "too large": 413,
        "server error": 500,
    }
    for what, r in answers.items():
        assert {k: r.headers.get(k) for k in SECURITY} == SECURITY, what
        api = str(r.url.path).startswith("/api/")
        assert (r.headers.get("cache-control") == "no-store") == api, f"{what}: {r.headers.get('cache-control')}"


async def test_a_body_over_the_limit_is_refused_before_sign_in_and_before_it_is_read(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(max_body_bytes=1000)
    pulled: list[int] = []

    async def chunked(pieces: int) -> AsyncIterator[bytes]:  # no length: sent chunked, counted as it comes
        for i in range(pieces):
            pulled.append(i)
            yield b"x" * 100

    async with client(app) as http:
        declared = await http.post("/api/silences", content=b"x" * 1001)  # Content-Length: 1001, no credentials
        assert declared.status_code == 413
        assert "1000 bytes (http.max_body_bytes)" in declared.json()["detail"]
        assert declared.headers["connection"] == "close"  # the rest is not read to reach a next request
        streamed = await http.post("/api/silences", content=chunked(100))
        assert streamed.status_code == 413 and streamed.headers["connection"] == "close"
        assert len(pulled) == 11, "cut at the limit: the 11th piece passed it, the 89 after it were never read"
        # within the limit, chunked or not, a body reaches the routes (here: sign-in comes first, and fails)
        assert (await http.post("/api/silences", content=b"x" * 1000)).status_code == 401
        assert (await http.post("/api/silences", content=chunked(10))).status_code == 401
        within = await http.post("/api/rules/check", content=chunked(3), auth=ROOT)
        assert within.status_code not in (401, 413)


async def test_a_refused_body_names_the_fields_without_copying_what_was_sent(make_app: Callable[..., FastAPI]) -> None:
    async with client(make_app()) as http:
        overlong = await http.post("/api/session", json={"user": "root", "password": "A" * 500_000})
        an_object = await http.post("/api/session", json={"user": "root", "password": {"secret": "B" * 500_000}})
        many = await http.post("/api/session", json={"user": "root", "password": "p"} | {f"k{i}": 1 for i in range(50)})
        long_key = await http.post("/api/session", json={"user": "root", "password": "p", "C" * 100_000: 1})
    for r in (overlong, an_object, many, long_key):
        assert r.status_code == 422
        assert len(r.content) < 4000, f"{len(r.content)} bytes: the input came back"
        for error in r.json()["detail"]:
            assert set(error) == {"loc", "msg", "type"}
    assert overlong.json()["detail"] == [
        {"loc": ["body", "password"], "msg": "String should have at most 256 characters", "type": "string_too_long"}
    ]
    assert an_object.json()["detail"][0]["loc"] == ["body", "password"]
    assert an_object.json()["detail"][0]["type"] == "string_type"
    assert len(many.json()["detail"]) == MAX_ERRORS
    assert many.json()["detail"][0] == {
        "loc": ["body", "k0"],
        "msg": "Extra inputs are not permitted",
        "type": "extra_forbidden",
    }
    assert len(long_key.json()["detail"][0]["loc"][1]) <= 200


async def test_the_api_docs_are_for_signed_in_users_and_load_only_from_this_origin(
    make_app: Callable[..., FastAPI],
) -> None:
    async with client(make_app()) as http:
        assert (await http.get("/openapi.json")).status_code == 401
        assert (await http.get("/docs")).status_code == 401
        assert (await http.get("/docs/swagger-ui-bundle.js")).status_code == 401
        assert (await http.get("/redoc")).status_code == 404
        spec = await http.get("/openapi.json", auth=ROOT)
        assert spec.status_code == 200 and "/api/health" in spec.json()["paths"]
        page = await http.get("/docs", auth=ROOT)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        urls = re.findall(r'(?:src|href)="([^"]*)"', page.text)
        assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
        assert "<script>" not in page.text and "http" not in page.text  # no inline script, nothing from elsewhere
        for url in urls:
            r = await http.get(url, auth=ROOT)
            assert r.status_code == 200 and r.content, url
            assert r.headers["content-type"].split(";")[0] in ("text/css", "text/javascript"), url
        start = await http.get("/docs/start.js", auth=ROOT)
        assert '"/openapi.json"' in start.text and "validatorUrl: null" in start.text
        assert (await http.get("/docs/index.html", auth=ROOT)).status_code == 404  # only what the page needs


async def test_the_api_docs_can_be_switched_off(make_app: Callable[..., FastAPI]) -> None:
    async with client(make_app(api_docs=False)) as http:
        for path in ("/openapi.json", "/docs", "/docs/swagger-ui-bundle.js", "/docs/start.js"):
            assert (await http.get(path, auth=ROOT)).status_code == 404, path
        assert (await http.get("/api/hall", auth=ROOT)).status_code != 404  # the API itself is there


async def test_a_forwarded_request_without_trusted_proxies_is_logged_once_saying_what_to_set(
    make_app: Callable[..., FastAPI], caplog: pytest.LogCaptureFixture
) -> None:
    """A reverse proxy on the box with http.trusted_proxies empty: every caller would count as 127.0.0.1 for the
    sign-in throttle and the audit log. The operator is told, once (not at every request)."""
    plain, trusting = make_app(), make_app(trusted_proxies=["127.0.0.1/32"])
    async with client(plain) as http:
        for _ in range(3):
            await http.get("/api/health", headers={"x-forwarded-for": "10.0.0.66"})
    warned = [r.getMessage() for r in caplog.records if "X-Forwarded-For" in r.getMessage()]
    assert len(warned) == 1 and "http.trusted_proxies" in warned[0]
    caplog.clear()
    async with client(trusting) as http:
        await http.get("/api/health", headers={"x-forwarded-for": "10.0.0.66"})
    assert not [r for r in caplog.records if "X-Forwarded-For" in r.getMessage()]
