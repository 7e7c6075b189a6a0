"""The live stream's limits: streams per user and in all (429 past them, before any frame; a closed, gone or dropped
stream frees its place), and a stream that ends when its sign-in does (logout, user removed, password changed).

The Broadcaster is driven directly; the route through the real app served by uvicorn on 127.0.0.1 (an endless
response cannot be read through httpx's in-process transport, which waits for the whole body), with users in the
gateway's SQLite file changed by a second `Auth` on that file, as the CLI does from another process. The credentials
are checked again every 0.05 s here (2 s in production).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher

from edge.api import create_app
from edge.auth import Auth, Role
from edge.config import load_config
from edge.gateway import Gateway
from edge.server import bind
from edge.stream import QUEUE, SIGNED_OUT, Broadcaster, StreamsFull, Verdict

RECHECK_S = 0.05
PASSWORD = "amber-kiosk-41-ledger"
WAIT_S = 5.0  # far longer than anything here takes: a stream still open after it did not end


# --- the Broadcaster -----------------------------------------------------------------------------------------


def test_one_user_gets_its_share_and_a_freed_place_is_taken_again() -> None:
    stream = Broadcaster()
    first = stream.subscribe("user li", per_holder=2, total=10)
    stream.subscribe("user li", per_holder=2, total=10)
    with pytest.raises(StreamsFull, match=r"user li has 2 live streams open.*http\.streams_per_user"):
        stream.subscribe("user li", per_holder=2, total=10)
    stream.subscribe("user wang", per_holder=2, total=10)  # another user is not held back by li's pages
    stream.unsubscribe(first)
    stream.subscribe("user li", per_holder=2, total=10)
    assert stream.subscribers == 3


def test_the_gateway_default_caps_the_streams_in_all_and_closing_one_lets_the_next_in() -> None:
    http = load_config(None, {"hall": {"id": "h1"}}).http
    stream = Broadcaster()
    users = http.max_streams // http.streams_per_user
    subs = [
        stream.subscribe(f"user u{i}", per_holder=http.streams_per_user, total=http.max_streams)
        for i in range(users)
        for _ in range(http.streams_per_user)
    ]
    assert stream.subscribers == http.max_streams == 64
    with pytest.raises(StreamsFull, match=r"at most \(http\.max_streams\)"):
        stream.subscribe("user late", per_holder=http.streams_per_user, total=http.max_streams)
    stream.unsubscribe(subs[0])
    stream.subscribe("user late", per_holder=http.streams_per_user, total=http.max_streams)


async def test_a_client_dropped_for_not_reading_frees_its_place() -> None:
    stream = Broadcaster()
    stream.subscribe("user li", per_holder=1, total=10)
    for i in range(QUEUE + 1):  # nobody reads: the queue fills and the client is dropped
        stream.publish("alert", {"n": i})
    assert stream.subscribers == 0
    stream.subscribe("user li", per_holder=1, total=10)


async def test_a_stream_ends_with_signed_out_once_its_holder_may_not_listen_and_frees_its_place() -> None:
    stream = Broadcaster(recheck_s=RECHECK_S)
    verdict = Verdict.LISTEN

    async def recheck() -> Verdict:
        return verdict

    sub = stream.subscribe("user li", per_holder=1, total=10)
    frames = stream.frames(sub, recheck)
    async with asyncio.timeout(WAIT_S):
        assert (await anext(frames)).startswith("retry:")
        stream.publish("alert", {"id": "a1"})
        assert await anext(frames) == 'event: alert\ndata: {"id":"a1"}\n\n'
        await asyncio.sleep(3 * RECHECK_S)  # several checks pass: the stream stays open
        stream.publish("alert", {"id": "a2"})
        assert await anext(frames) == 'event: alert\ndata: {"id":"a2"}\n\n'
        verdict = Verdict.SIGNED_OUT
        assert await anext(frames) == SIGNED_OUT
        assert [f async for f in frames] == []
    assert stream.subscribers == 0


async def test_a_stream_whose_check_cannot_be_made_ends_without_signing_the_page_out() -> None:
    """The gateway too busy to check a password now (503): the client reconnects and is checked afresh."""
    stream = Broadcaster(recheck_s=RECHECK_S)

    async def recheck() -> Verdict:
        return Verdict.UNSURE

    sub = stream.subscribe("user li", per_holder=1, total=10)
    async with asyncio.timeout(WAIT_S):
        frames = [f async for f in stream.frames(sub, recheck)]
    assert len(frames) == 1 and frames[0].startswith("retry:")
    assert stream.subscribers == 0


async def test_a_stream_checked_while_events_keep_coming_still_ends() -> None:
    """A busy hall (a frame every few ms) must not put the check off."""
    stream = Broadcaster(recheck_s=RECHECK_S)
    checks = 0

    async def recheck() -> Verdict:
        nonlocal checks
        checks += 1
        return Verdict.LISTEN if checks < 2 else Verdict.SIGNED_OUT

    sub = stream.subscribe("user li", per_holder=1, total=10)
    seen: list[str] = []
    async with asyncio.timeout(WAIT_S):
        async for frame in stream.frames(sub, recheck):
            seen.append(frame)
            stream.publish("hall", {})  # there is always a next frame waiting
            await asyncio.sleep(0.005)
    assert seen[-1] == SIGNED_OUT and len(seen) > 3


# --- the route, over HTTP --------------------------------------------------------------------------------------


@asynccontextmanager
async def serving(gateway: Gateway, auth: Auth) -> AsyncIterator[str]:
    """The gateway's API (not the gateway: no broker) served on a free port of 127.0.0.1; its base URL."""
    app = create_app(gateway, auth)
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn offers no started event
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        gateway.stream.close()
        server.should_exit = True
        await task
        sock.close()


class Hall:
    """A gateway's API with database users li (technician), wang (manager) and zhao (manager), at most 2 streams
    per user and 3 in all."""

    def __init__(self, tmp_path: Path, hasher: PasswordHasher, *, users: bool = True) -> None:
        db = tmp_path / "gateway.db"
        cfg = load_config(
            None,
            {"hall": {"id": "h1"}, "storage": {"path": str(db)}, "http": {"streams_per_user": 2, "max_streams": 3}},
        )
        self.gateway = Gateway(cfg)
        self.gateway.stream = Broadcaster(recheck_s=RECHECK_S)
        self.auth = Auth(cfg.accounts(), db, hasher=hasher)
        self.cli = Auth({}, db, hasher=hasher)  # `hallops users …` on the same file
        if users:
            for name, role in (("li", Role.TECHNICIAN), ("wang", Role.MANAGER), ("zhao", Role.MANAGER)):
                self.cli.add_user(name, role, PASSWORD)

    def close(self) -> None:
        self.cli.close()
        self.auth.close()


@pytest.fixture
def hall(tmp_path: Path, hasher: PasswordHasher) -> Iterator[Hall]:
    h = Hall(tmp_path, hasher)
    yield h
    h.close()


class Stream:
    """One open live stream, read frame by frame (a frame: the lines up to a blank one)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def frame(self) -> str | None:
        """The next frame; None when the stream ended."""
        lines: list[str] = []
        async for line in self._lines:
            if line:
                lines.append(line)
            elif lines:
                return "\n".join(lines)
        return None


@asynccontextmanager
async def live(client: httpx.AsyncClient) -> AsyncIterator[Stream]:
    """The live stream, open and past its first frame."""
    async with client.stream("GET", "/api/stream") as response:
        assert response.status_code == 200, (await response.aread()).decode()
        stream = Stream(response)
        assert (await stream.frame() or "").startswith("retry:")
        yield stream


@asynccontextmanager
async def signed_in(base: str, user: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of `user`'s, signed in (a session cookie)."""
    async with httpx.AsyncClient(base_url=base, timeout=WAIT_S) as client:
        signed = await client.post("/api/session", json={"user": user, "password": PASSWORD})
        assert signed.status_code == 200, signed.text
        yield client


async def end_session(hall: Hall, client: httpx.AsyncClient) -> None:
    assert (await client.delete("/api/session")).status_code == 204


async def remove_user(hall: Hall, client: httpx.AsyncClient) -> None:
    hall.cli.remove_user("li")


async def change_password(hall: Hall, client: httpx.AsyncClient) -> None:
    hall.cli.set_password("li", "new-" + PASSWORD)


@pytest.mark.parametrize("sign_out", [end_session, remove_user, change_password], ids=lambda f: f.__name__)
async def test_a_stream_ends_with_signed_out_soon_after_its_sign_in_ends(
    hall: Hall, sign_out: Callable[[Hall, httpx.AsyncClient], Awaitable[None]]
) -> None:
    async with serving(hall.gateway, hall.auth) as base, signed_in(base, "li") as client:
        async with live(client) as stream:
            await asyncio.sleep(3 * RECHECK_S)  # signed in: checked and still open
            hall.gateway.stream.publish("alert", {"id": "a1"})
            assert await stream.frame() == 'event: alert\ndata: {"id":"a1"}'
            await sign_out(hall, client)
            async with asyncio.timeout(WAIT_S):
                assert await stream.frame() == SIGNED_OUT.strip()
                assert await stream.frame() is None  # the response ended
        assert hall.gateway.stream.subscribers == 0
        assert (await client.get("/api/stream")).status_code == 401


async def test_a_stream_with_basic_credentials_ends_when_the_user_is_removed(hall: Hall) -> None:
    async with (
        serving(hall.gateway, hall.auth) as base,
        httpx.AsyncClient(base_url=base, timeout=WAIT_S, auth=("wang", PASSWORD)) as client,
        live(client) as stream,
    ):
        hall.cli.remove_user("wang")
        async with asyncio.timeout(WAIT_S):
            assert await stream.frame() == SIGNED_OUT.strip()
            assert await stream.frame() is None


async def until_freed(hall: Hall, count: int) -> None:
    """The server notices a client gone on its own time: wait (bounded) until the places are given back."""
    async with asyncio.timeout(WAIT_S):
        while hall.gateway.stream.subscribers > count:  # noqa: ASYNC110 - nothing to await but the server's read
            await asyncio.sleep(0.01)


async def test_streams_past_a_users_share_or_the_total_are_refused_before_any_frame(hall: Hall) -> None:
    async with (
        serving(hall.gateway, hall.auth) as base,
        signed_in(base, "li") as li,
        signed_in(base, "wang") as wang,
        signed_in(base, "zhao") as zhao,
    ):
        async with live(li), live(li):
            third = await li.get("/api/stream")
            assert third.status_code == 429
            assert "user li has 2" in third.json()["detail"] and "http.streams_per_user" in third.json()["detail"]
            async with live(wang):  # wang's page: the third stream in all
                refused = await zhao.get("/api/stream")
                assert refused.status_code == 429 and "http.max_streams" in refused.json()["detail"]
            await until_freed(hall, 2)
            async with live(zhao):  # wang closed the page: zhao gets the place
                pass
        await until_freed(hall, 0)
        async with live(li), live(li):  # li's pages were closed: li may open two again
            pass


async def test_a_client_that_goes_away_without_closing_frees_its_place(hall: Hall) -> None:
    async with serving(hall.gateway, hall.auth) as base, signed_in(base, "li") as li:
        for _ in range(2):
            gone = httpx.AsyncClient(base_url=base, timeout=WAIT_S, cookies=li.cookies)
            response = await gone.send(gone.build_request("GET", "/api/stream"), stream=True)
            assert response.status_code == 200
            await gone.aclose()  # the connection dropped under the open response (a laptop lid closed)
        await until_freed(hall, 0)
        async with live(li), live(li):
            pass


async def test_without_users_each_client_address_gets_its_share(tmp_path: Path, hasher: PasswordHasher) -> None:
    hall = Hall(tmp_path, hasher, users=False)
    try:
        async with serving(hall.gateway, hall.auth) as base:
            here = httpx.AsyncClient(base_url=base, timeout=WAIT_S)
            there = httpx.AsyncClient(
                base_url=base, timeout=WAIT_S, transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2")
            )
            async with here, there, live(here), live(here):
                refused = await here.get("/api/stream")
                assert refused.status_code == 429 and "address 127.0.0.1" in refused.json()["detail"]
                async with live(there):  # another machine (here: another loopback address) has its own share
                    pass
    finally:
        hall.close()
