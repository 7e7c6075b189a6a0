"""The phone of the three-channel calling (窗口屏 + 手机端 + 广播): a called number nobody answers for a minute is
called again at the window, on every call screen and by SMS to the number's holder — through the hall's SMS gateway,
which alone knows the holder's phone (hallops holds none). The rule pack's `call-unanswered`, the real decider on a
real SQLite file, the real outbox posting over HTTP to a receiver on 127.0.0.1; staff groups are not paged."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import cast

import httpx

from devices.codec import DeviceMessage
from edge.config import load_config
from edge.decisions import decider_for
from edge.mqtt import MqttLink
from edge.outbox import OutboxSender
from edge.store import Store
from edge.stream import Broadcaster
from rules.clock import FixedClock
from rules.hall import HallProfile, HallState, WindowProfile
from rules.language import Role, builtin_rules
from tests.receiver import Receiver
from tests.unit.edge.conftest import Clock
from tests.unit.rules.feed import T0, Feed, issue, opened, win

STAFF_PHONE = "13800001111"
LATER = T0.timestamp() + 10**9  # past every outbox row's due time (the decider writes rows at wall-clock time)


class Broker:
    """The MQTT link as the outbox uses it: what was published, by topic."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, object]]] = []
        self.connected = True

    async def publish(self, topic: str, payload: bytes, qos: int) -> None:
        self.published.append((topic, json.loads(payload)))


async def test_a_call_nobody_answers_is_texted_to_the_numbers_holder_by_the_sms_gateway_and_pages_no_staff(
    tmp_path: Path, receiver: Receiver, store: Store, http: httpx.AsyncClient
) -> None:
    phones = tmp_path / "guides.phones"
    phones.write_text(STAFF_PHONE + "\n")
    phones.chmod(0o600)
    hooks = [
        # the citizen's endpoint needs no phone list: the SMS gateway looks the holder up
        {"url": f"{receiver.url}/sms", "format": "sms", "roles": ["citizen"]},
        {"url": f"{receiver.url}/guides", "format": "sms", "phones_file": str(phones), "roles": ["floor_guide"]},
        {"url": f"{receiver.url}/robot", "format": "wecom"},  # the managers' group: every staff notification
    ]
    receiver.usual = (200, {"errcode": 0, "errmsg": "ok"})
    cfg = load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(store.path)}, "notify": {"webhooks": hooks}})
    assert cfg.notify.webhooks[0].roles == [Role.CITIZEN]
    hall = HallState(cfg.profile())
    clock = FixedClock(T0)
    decider = decider_for(cfg, builtin_rules(), store, clock, hall.snapshot, stream=Broadcaster())
    feed = Feed()

    def heard(msg: DeviceMessage, t: float) -> None:
        clock.set(T0 + timedelta(seconds=t))
        hall.apply(msg)
        decider.on_message(msg)
        decider.evaluate()

    heard(opened(feed, 0, "W1"), 0)
    heard(issue(feed, 5, "t-0007", "tax"), 5)
    heard(win(feed, 10, "W1", "ticket.called", ticket_id="t-0007"), 10)
    for t in (40, 69, 70, 71):  # a minute after the call: called again
        clock.set(T0 + timedelta(seconds=t))
        decider.evaluate()
    heard(win(feed, 90, "W1", "service.started", ticket_id="t-0007"), 90)  # they came: the call is over
    clock.set(T0 + timedelta(seconds=95))
    decider.evaluate()

    broker = Broker()
    profile = HallProfile("h1", windows=(WindowProfile("W1", name="1号窗口"),))
    sender = OutboxSender(
        store,
        cast(MqttLink, broker),
        http,
        webhooks=cfg.notify.webhooks,
        clock=Clock(LATER),
        hall=profile,
    )
    await sender.drain()

    alerts = [m for topic, m in broker.published if topic == "hallops/h1/alerts" and m["rule"] == "call-unanswered"]
    assert [cast(dict[str, object], m["notification"])["reason"] for m in alerts] == ["firing", "resolved"]
    (fired, _) = alerts
    assert fired["call"] == {"ticket": "t-0007", "number": "T-0007", "window": "W1"}
    # the SMS gateway is asked once: text the holder of ticket t-0007, whose number only the queue system has; no
    # staff endpoint hears of the call, neither of it nor of its end (the robot posts the hall's other news)
    episode = str(fired["id"]).removesuffix(":firing")
    (request,) = [r for r in receiver.received if r.path == "/sms"]
    assert not any(episode in r.body.decode() for r in receiver.received if r.path != "/sms")
    assert request.headers["Idempotency-Key"] == fired["id"]
    assert request.json() == {
        "id": fired["id"],
        "kind": "recall",
        "to": [],
        "text": "请T-0007号到1号窗口办理，正在叫您的号",
        "ticket": "t-0007",
        "number": "T-0007",
        "window": "W1",
    }
    assert STAFF_PHONE not in request.body.decode()
    assert store.outbox.counts()["pending"] == 0
