"""Signed webhooks: what a receiver gets over real HTTP on 127.0.0.1, checked the way docs/deploy.md tells it to check,
and the configuration that refuses a secret others on the box could read."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from pathlib import Path
from typing import cast

import httpx
import pytest

from devices.errors import ConfigError
from edge.config import Webhook, load_config
from edge.mqtt import MqttLink
from edge.outbox import OutboxSender
from edge.store import OutboxMessage, Store
from tests.receiver import Receiver
from tests.unit.edge.conftest import Clock, database_bytes

SECRET = b"4f1c9a0e7b2d58c3a6e91f04b7d2c85e"
T0 = 1_764_900_000.0  # UNIX seconds
BODY = json.dumps({"type": "alert", "id": "alert:3f9c:20261205T013000Z:firing", "rule": "queue-long"}).encode()


def authentic(secret: bytes, headers: dict[str, str], body: bytes, now: float) -> bool:
    """The receiver's check, as docs/deploy.md gives it: the signature over "<timestamp>.<body>", at most 5 minutes
    old."""
    timestamp = headers.get("X-Hallops-Timestamp", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > 300:
        return False
    expected = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("X-Hallops-Signature", ""), "v1=" + expected)


def _secret_file(tmp_path: Path, secret: bytes = SECRET, mode: int = 0o600) -> Path:
    path = tmp_path / "hook.secret"
    path.write_bytes(secret + b"\n")
    path.chmod(mode)
    return path


def _sender(store: Store, http: httpx.AsyncClient, clock: Clock, webhooks: list[Webhook]) -> OutboxSender:
    link = cast(MqttLink, object())  # webhook rows only: the broker is never asked
    return OutboxSender(store, link, http, webhooks=webhooks, clock=clock)


async def test_a_signed_post_verifies_with_its_secret_and_a_retry_is_signed_afresh(
    tmp_path: Path, receiver: Receiver, store: Store, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = receiver.url + "/hook"
    hook = Webhook(url=url, secret_file=_secret_file(tmp_path))
    clock = Clock(T0)
    sender = _sender(store, http, clock, [hook])
    store.outbox.add([OutboxMessage("webhook", url, BODY)], clock.now)
    receiver.answers = [(503, None)]  # the receiver is down once

    await sender.drain()
    clock.now += 90  # the retry is due after 1 s; this one is made 90 s later
    await sender.drain()

    assert len(receiver.received) == 2 and store.outbox.counts()["sent"] == 1
    (first, body1), (retry, body2) = ((r.headers, r.body) for r in receiver.received)
    assert body1 == body2 == BODY
    assert first["X-Hallops-Timestamp"] == str(int(T0))
    assert retry["X-Hallops-Timestamp"] == str(int(T0) + 90)  # signed again at the retry, not the first signature
    assert authentic(SECRET, first, body1, now=T0) and authentic(SECRET, retry, body2, now=T0 + 90)
    assert not authentic(b"another endpoint's secret, same len", retry, body2, now=T0 + 90)
    assert not authentic(SECRET, retry, body2.replace(b"queue-long", b"all-clear!"), now=T0 + 90)  # a changed body
    assert not authentic(SECRET, first, body1, now=T0 + 301)  # the first POST replayed six minutes later
    # the secret is found by URL at send time: it is in no outbox row and in no log line
    assert SECRET not in database_bytes(store)
    assert SECRET.decode() not in caplog.text


async def test_a_bare_url_is_posted_unsigned_and_the_gateway_says_so_once_at_start(
    tmp_path: Path, receiver: Receiver, store: Store, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    cfg_file = tmp_path / "gw.yaml"
    url = receiver.url + "/hook"
    cfg_file.write_text(f"hall: {{id: h1}}\nnotify:\n  webhooks: ['{url}']\n")
    cfg = load_config(cfg_file)
    clock = Clock(T0)
    with caplog.at_level(logging.WARNING, logger="edge.outbox"):
        sender = _sender(store, http, clock, cfg.notify.webhooks)
        store.outbox.add([OutboxMessage("webhook", url, BODY)] * 2, clock.now)
        await sender.drain()
    (headers, _), _ = ((r.headers, r.body) for r in receiver.received)
    assert "X-Hallops-Signature" not in headers
    assert [r.getMessage() for r in caplog.records] == [
        f"webhook {url} is unsigned: its receiver cannot tell the gateway's POSTs from anyone's; give it a "
        "secret_file (docs/deploy.md, Webhooks)"
    ]


@pytest.mark.parametrize(
    ("mode", "secret", "complaint"),
    [
        (0o644, SECRET, "is open to others than its owner (mode 644); chmod 600"),
        (0o640, SECRET, "is open to others than its owner (mode 640); chmod 600"),
        (0o620, SECRET, "is open to others than its owner (mode 620); chmod 600"),
        (0o600, b"short", "holds under 16 characters"),
    ],
    ids=["world-readable", "group-readable", "group-writable", "short"],
)
def test_a_secret_file_others_can_read_or_a_short_secret_stops_the_start(
    tmp_path: Path, mode: int, secret: bytes, complaint: str
) -> None:
    secret_file = _secret_file(tmp_path, secret, mode)
    cfg_file = tmp_path / "gw.yaml"
    cfg_file.write_text(
        "hall: {id: h1}\nnotify:\n  webhooks:\n    - https://sms.example.test/hook\n"
        f"    - {{url: 'https://ops.example.test/hook', secret_file: '{secret_file}'}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(cfg_file)
    assert "notify.webhooks[1].secret_file" in str(caught.value) and complaint in str(caught.value)
    assert secret.decode() not in str(caught.value)


def test_a_private_secret_file_and_a_bare_url_are_both_accepted(tmp_path: Path) -> None:
    secret_file = _secret_file(tmp_path)
    cfg_file = tmp_path / "gw.yaml"
    cfg_file.write_text(
        "hall: {id: h1}\nnotify:\n  webhooks:\n    - https://sms.example.test/hook\n"
        f"    - {{url: 'https://ops.example.test/hook', secret_file: '{secret_file}'}}\n"
    )
    hooks = load_config(cfg_file).notify.webhooks
    assert [(h.url, h.secret_file) for h in hooks] == [
        ("https://sms.example.test/hook", None),
        ("https://ops.example.test/hook", secret_file),
    ]


async def test_a_secret_file_opened_to_others_after_start_fails_the_post_instead_of_signing(
    tmp_path: Path, receiver: Receiver, store: Store, http: httpx.AsyncClient
) -> None:
    secret_file = _secret_file(tmp_path)
    clock = Clock(T0)
    url = receiver.url + "/hook"
    sender = _sender(store, http, clock, [Webhook(url=url, secret_file=secret_file)])
    secret_file.chmod(0o644)
    store.outbox.add([OutboxMessage("webhook", url, BODY)], clock.now)
    await sender.drain()
    assert receiver.received == [] and store.outbox.counts()["pending"] == 1  # retried once the file is private
    secret_file.chmod(0o600)
    clock.now += 2
    await sender.drain()
    assert len(receiver.received) == 1 and store.outbox.counts()["sent"] == 1
