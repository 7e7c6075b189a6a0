"""Phones and group robots: what a WeCom, DingTalk or Feishu group and an SMS gateway get over real HTTP on
127.0.0.1 — the body each platform documents, signatures checked the way each platform checks them, refusals that
come as HTTP 200 with an error code, retries, the notification's id, and who gets what."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from devices.errors import ConfigError
from devices.topics import DeviceType
from edge.config import Webhook, load_config
from edge.decisions import Decider
from edge.decisions.records import alert_json, alert_notification_id, ticket_json, ticket_notification_id
from edge.mqtt import MqttLink
from edge.outbox import OutboxSender
from edge.store import OutboxMessage, Store
from edge.wording.notify import notice_words
from rules.alerts import Alert, AlertState, Notify, NotifyReason
from rules.hall import DeviceProfile, HallProfile, ServiceProfile, WindowProfile
from rules.language import Role, Severity, builtin_rules
from rules.tickets import HistoryEntry, Ticket, TicketEventKind, TicketKind, TicketPriority, TicketStatus
from tests.receiver import Receiver
from tests.unit.edge.conftest import Clock, database_bytes
from tests.unit.edge.test_webhook_signing import authentic

T0 = 1_764_900_000.0  # UNIX seconds: 2025-12-05 10:00 in the hall
TZ = ZoneInfo("Asia/Shanghai")
BEGAN = datetime.fromtimestamp(T0, TZ) - timedelta(minutes=49)  # 09:11
ROBOT_SECRET = b"SEC6f1c9a0e7b2d58c3a6e91f04b7d2c85e4f1c9a0e7b2d58c3"
HOOK_SECRET = b"4f1c9a0e7b2d58c3a6e91f04b7d2c85e"
ROBOT_KEY = "693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa"
PHONES = ["13800001111", "+8613900002222"]
HALL = HallProfile(
    "h1",
    services=(ServiceProfile("SB", name="社保业务"),),
    windows=(WindowProfile("W04", name="4号窗口"),),
    devices=(DeviceProfile("TM02", DeviceType.TICKET_MACHINE, name="1号取号机", location="一楼东侧"),),
)
OK = {
    "wecom": {"errcode": 0, "errmsg": "ok"},
    "dingtalk": {"errcode": 0, "errmsg": "ok"},
    "feishu": {"code": 0, "msg": "success", "data": {}},
}
REFUSED = {  # each platform's answer to a refused message, with HTTP 200
    "wecom": {"errcode": 45009, "errmsg": "api freq out of limit"},
    "dingtalk": {"errcode": 310000, "errmsg": "sign not match"},
    "feishu": {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"},
}


# ---------------------------------------------------------------------------------------------- notifications


def delivered(kind: str, body: dict[str, object], notification_id: str) -> bytes:
    """The payload of a notification's outbox rows, made as edge/decisions/loop.py `_deliver` makes it."""
    return json.dumps({"type": kind, **Decider.notification(kind, body, notification_id)}, ensure_ascii=False).encode()


RULES = {r.id: r for r in builtin_rules().rules}


def alert_payload(
    rule: str,
    description: str,
    severity: Severity,
    labels: dict[str, str],
    evidence: dict[str, float | str | bool | None],
    roles: tuple[Role, ...] = (Role.HALL_MANAGER,),
) -> tuple[bytes, str]:
    """An alert's firing notification, with the decider's own functions (its words from the built-in rule and the
    hall's names, as the decider makes them); and its id."""
    a = Alert("3f9c" + rule, rule, labels, severity, AlertState.FIRING, BEGAN, BEGAN, fired_at=BEGAN)
    a.evidence = evidence
    note = Notify(a, NotifyReason.FIRING, roles)
    nid = alert_notification_id(note)
    body = alert_json(a, description=description, hall="h1", tz=TZ, note=note, rule=RULES[rule], profile=HALL)
    return delivered("alert", body, nid), nid


WAIT_60_DESCRIPTION = "A ticket has waited an hour — the pain point halls report (排队超1小时)."
WAIT_60 = alert_payload(
    "wait-60",
    WAIT_60_DESCRIPTION,
    Severity.CRITICAL,
    {"service": "SB"},
    {"queue.longest_wait_min": 62.4},
)
WAIT_60_TEXT = "社保业务有群众已等候62分钟，超过1小时（09:11起）"
MISSED = alert_payload(
    "missed-ticket",
    "A number was called three times and missed (漏号) — offer the green channel after an ID check.",
    Severity.INFO,
    {"device": "WT04", "device_type": "window", "window": "W04", "ticket": "T0007"},
    {"type": "ticket.no_show"},
    roles=(Role.FLOOR_GUIDE,),
)


def ticket_payload(event: TicketEventKind, entries: int, by: str = "system") -> tuple[bytes, str]:
    """A device-fault ticket's notification after `entries` entries of history; and its id as docs/api.md gives it."""
    history = tuple(HistoryEntry(BEGAN, TicketStatus.OPEN, "system") for _ in range(entries))
    t = Ticket(
        id="T-20251205-0003",
        kind=TicketKind.DEVICE_FAULT,
        priority=TicketPriority.P3,
        priority_reason="one of two ticket machines",
        status=TicketStatus.OPEN,
        rule_id="printer-paper-out",
        subject="TM02",
        title="printer-paper-out: ticket_machine TM02 at 一楼东侧",
        detail="device.printer = paper_out (device=TM02)",
        opened_at=BEGAN,
        device="TM02",
        device_type="ticket_machine",
        location="一楼东侧",
        history=history,
    )
    note = {"event": event.value, "roles": ["technician"], "by": by, "note": ""}
    nid = ticket_notification_id(t, event)
    body = ticket_json(t, TZ, rules=RULES, profile=HALL)
    return delivered("ticket", {**body, "notification": note}, nid), nid


def _private(tmp_path: Path, name: str, content: str, mode: int = 0o600) -> Path:
    path = tmp_path / name
    path.write_text(content + "\n")
    path.chmod(mode)
    return path


def _sender(store: Store, http: httpx.AsyncClient, clock: Clock, hooks: list[Webhook]) -> OutboxSender:
    link = cast(MqttLink, object())  # webhook rows only: the broker is never asked
    return OutboxSender(store, link, http, webhooks=hooks, clock=clock, hall=HALL)


def _queue(store: Store, hooks: list[Webhook], *payloads: bytes) -> None:
    """The rows the decider writes for each notification: one per endpoint (edge/decisions/settings.py)."""
    store.outbox.add([OutboxMessage("webhook", h.target, p) for p in payloads for h in hooks], T0)


def _dingtalk_authentic(secret: bytes, path: str, now_ms: int) -> bool:
    """DingTalk's check of 加签 (https://open.dingtalk.com/document/robots/customize-robot-security-settings): the
    `timestamp` (ms) within an hour, `sign` (urldecoded) = base64(HMAC-SHA256(key=secret, "timestamp\\nsecret"))."""
    query = parse_qs(urlsplit(path).query)
    timestamp, sign = query["timestamp"][0], query["sign"][0]
    if abs(now_ms - int(timestamp)) > 3_600_000:
        return False
    expected = hmac.new(secret, f"{timestamp}\n".encode() + secret, hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64decode(sign), expected)


def _feishu_authentic(secret: bytes, body: dict[str, object], now_s: int) -> bool:
    """Feishu's check of 签名校验 (https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot): the `timestamp`
    (s) within an hour, `sign` = base64(HMAC-SHA256(key="timestamp\\nsecret", message empty))."""
    timestamp = str(body["timestamp"])
    if abs(now_s - int(timestamp)) > 3600:
        return False
    expected = hmac.new(f"{timestamp}\n".encode() + secret, b"", hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64decode(str(body["sign"])), expected)


# ---------------------------------------------------------------------------------------------- the robots


async def test_a_wecom_group_gets_the_alert_as_markdown_in_chinese_with_names_time_and_id(
    tmp_path: Path, receiver: Receiver, store: Store, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    address = f"{receiver.url}/cgi-bin/webhook/send?key={ROBOT_KEY}"
    hook = Webhook(url_file=_private(tmp_path, "wecom.url", address), format="wecom")
    receiver.usual = (200, OK["wecom"])
    payload, nid = WAIT_60
    _queue(store, [hook], payload)

    await _sender(store, http, Clock(T0), [hook]).drain()

    (r,) = receiver.received
    assert r.path == f"/cgi-bin/webhook/send?key={ROBOT_KEY}"
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert list(body) == ["msgtype", "markdown"] and body["msgtype"] == "markdown"
    content = cast(dict[str, str], body["markdown"])["content"]
    assert content.splitlines() == [
        "**【紧急】等候超1小时**",
        "> 对象：社保业务",
        "> 开始：09:11",
        f"> 详情：{WAIT_60_TEXT}",
        f"> 编号：{nid}",
    ]
    assert store.outbox.counts() == {"sent": 1, "failed": 0, "pending": 0}
    # the robot's key is its credential: in the file only, not in an outbox row nor in the log
    assert ROBOT_KEY.encode() not in database_bytes(store) and ROBOT_KEY not in caplog.text


@pytest.mark.parametrize("fmt", ["wecom", "dingtalk", "feishu"])
async def test_a_robot_refusal_with_http_200_is_a_failure_retried_until_the_robot_takes_the_message(
    fmt: str, receiver: Receiver, store: Store, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    hook = Webhook(url=f"{receiver.url}/robot", format=fmt)
    receiver.answers = [(200, REFUSED[fmt])]
    receiver.usual = (200, OK[fmt])
    _queue(store, [hook], WAIT_60[0])
    clock = Clock(T0)
    sender = _sender(store, http, clock, [hook])

    with caplog.at_level(logging.WARNING, logger="edge.outbox"):
        await sender.drain()
    assert store.outbox.counts()["pending"] == 1  # not taken as sent
    code = next(iter(REFUSED[fmt].values()))
    assert f"the {fmt} robot refused it: {'code' if fmt == 'feishu' else 'errcode'} {code}" in caplog.text
    clock.now += 1  # the first retry is due after 1 s
    await sender.drain()

    assert len(receiver.received) == 2 and store.outbox.counts() == {"sent": 1, "failed": 0, "pending": 0}
    assert receiver.received[0].json() == receiver.received[1].json()  # the same message, again


async def test_dingtalk_posts_markdown_signed_in_the_url_and_each_retry_is_signed_afresh(
    tmp_path: Path, receiver: Receiver, store: Store, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    address = f"{receiver.url}/robot/send?access_token={ROBOT_KEY}"
    secret_file = _private(tmp_path, "dingtalk.secret", ROBOT_SECRET.decode())
    hook = Webhook(url_file=_private(tmp_path, "ding.url", address), format="dingtalk", secret_file=secret_file)
    receiver.answers = [(502, {})]  # a proxy in between is down once
    receiver.usual = (200, OK["dingtalk"])
    payload, nid = MISSED
    _queue(store, [hook], payload)
    clock = Clock(T0)
    sender = _sender(store, http, clock, [hook])

    await sender.drain()
    clock.now += 90
    await sender.drain()

    first, retry = receiver.received
    assert parse_qs(urlsplit(first.path).query)["access_token"] == [ROBOT_KEY]
    assert parse_qs(urlsplit(first.path).query)["timestamp"] == [str(int(T0 * 1000))]
    assert parse_qs(urlsplit(retry.path).query)["timestamp"] == [str(int((T0 + 90) * 1000))]
    assert _dingtalk_authentic(ROBOT_SECRET, first.path, int(T0 * 1000))
    assert _dingtalk_authentic(ROBOT_SECRET, retry.path, int((T0 + 90) * 1000))
    assert not _dingtalk_authentic(b"SEC-another-robot's-secret-of-the-same-size-000000", retry.path, int(T0 * 1000))
    assert not _dingtalk_authentic(ROBOT_SECRET, first.path, int((T0 + 3601) * 1000))  # an hour later: too old
    body = retry.json()
    assert list(body) == ["msgtype", "markdown"] and body["msgtype"] == "markdown"
    markdown = cast(dict[str, str], body["markdown"])
    assert markdown["title"] == "【信息】过号"
    assert markdown["text"].split("\n\n") == [
        "#### 【信息】过号",
        "> 对象：4号窗口，号 T0007",
        "> 开始：09:11",
        "> 详情：4号窗口叫号T0007三次未到，已过号（09:11）：核验身份后可走绿色通道",
        f"> 编号：{nid}",
    ]
    assert store.outbox.counts()["sent"] == 1
    assert ROBOT_SECRET not in database_bytes(store) and ROBOT_SECRET.decode() not in caplog.text


async def test_feishu_posts_rich_text_with_a_timestamp_and_signature_that_verify(
    tmp_path: Path, receiver: Receiver, store: Store, http: httpx.AsyncClient
) -> None:
    secret_file = _private(tmp_path, "feishu.secret", ROBOT_SECRET.decode())
    hook = Webhook(url=f"{receiver.url}/open-apis/bot/v2/hook/abc", format="feishu", secret_file=secret_file)
    receiver.usual = (200, OK["feishu"])
    payload, nid = WAIT_60
    _queue(store, [hook], payload)

    await _sender(store, http, Clock(T0), [hook]).drain()

    (r,) = receiver.received
    body = r.json()
    assert list(body) == ["timestamp", "sign", "msg_type", "content"]
    assert body["timestamp"] == str(int(T0)) and body["msg_type"] == "post"
    assert _feishu_authentic(ROBOT_SECRET, body, int(T0))
    assert not _feishu_authentic(b"another robot's secret, of its own size", body, int(T0))
    assert body["content"] == {
        "post": {
            "zh_cn": {
                "title": "【紧急】等候超1小时",
                "content": [
                    [{"tag": "text", "text": "对象：社保业务"}],
                    [{"tag": "text", "text": "开始：09:11"}],
                    [{"tag": "text", "text": f"详情：{WAIT_60_TEXT}"}],
                    [{"tag": "text", "text": f"编号：{nid}"}],
                ],
            }
        }
    }


# ---------------------------------------------------------------------------------------------- the SMS gateway


async def test_the_sms_gateway_gets_the_phones_file_numbers_the_missed_ticket_and_one_idempotency_key_per_retry(
    tmp_path: Path, receiver: Receiver, store: Store, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    phones = _private(tmp_path, "guides.phones", f"# floor guides\n{PHONES[0]}  # 张导办\n+86 139-0000-2222\n", 0o640)
    secret_file = _private(tmp_path, "sms.secret", HOOK_SECRET.decode())
    hook = Webhook(url=f"{receiver.url}/sms", format="sms", phones_file=phones, secret_file=secret_file)
    receiver.answers = [(503, {})]
    receiver.usual = (202, {})
    payload, nid = MISSED
    _queue(store, [hook], payload)
    clock = Clock(T0)
    sender = _sender(store, http, clock, [hook])

    await sender.drain()
    clock.now += 1
    await sender.drain()

    first, retry = receiver.received
    assert first.headers["Idempotency-Key"] == retry.headers["Idempotency-Key"] == nid
    assert first.body == retry.body and authentic(HOOK_SECRET, retry.headers, retry.body, T0 + 1)
    assert retry.json() == {
        "id": nid,
        "kind": "alert",
        "to": PHONES,
        "text": "【信息】过号 4号窗口，号 T0007 09:11 起",
        "ticket": "T0007",  # the queue ticket: its holder's number is the queue system's
        "window": "W04",
    }
    assert store.outbox.counts()["sent"] == 1
    # the numbers stay in their file: no outbox row, no log line holds one
    assert not any(p.encode() in database_bytes(store) or p in caplog.text for p in PHONES)


async def test_a_post_that_times_out_is_retried(
    tmp_path: Path, receiver: Receiver, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    phones = _private(tmp_path, "tech.phones", PHONES[0])
    hook = Webhook(url=f"{receiver.url}/sms", format="sms", phones_file=phones)
    receiver.hold = threading.Event()  # the gateway does not answer the first POST in time
    _queue(store, [hook], WAIT_60[0])
    clock = Clock(T0)
    async with httpx.AsyncClient(timeout=0.3) as http:
        sender = _sender(store, http, clock, [hook])
        with caplog.at_level(logging.WARNING, logger="edge.outbox"):
            await sender.drain()
        assert store.outbox.counts()["pending"] == 1 and "ReadTimeout" in caplog.text
        receiver.hold.set()
        clock.now += 1
        await sender.drain()
    assert len(receiver.received) == 2 and store.outbox.counts()["sent"] == 1


# ---------------------------------------------------------------------------------------------- who gets what


async def test_each_group_gets_only_the_notifications_for_its_roles_and_severities(
    receiver: Receiver, store: Store, http: httpx.AsyncClient
) -> None:
    technicians = Webhook(url=f"{receiver.url}/tech", format="wecom", roles=[Role.TECHNICIAN])
    managers = Webhook(url=f"{receiver.url}/managers", format="dingtalk", severity=[Severity.CRITICAL, Severity.MAJOR])
    receiver.usual = (200, OK["wecom"])  # DingTalk's "ok" is the same
    ticket, ticket_id = ticket_payload(TicketEventKind.OPENED, 1)  # P3: a warning's priority
    _queue(store, [technicians, managers], WAIT_60[0], ticket, MISSED[0])

    await _sender(store, http, Clock(T0), [technicians, managers]).drain()

    got = [(r.path, r.body.decode()) for r in receiver.received]
    assert [path for path, _ in got] == ["/managers", "/tech"]
    assert WAIT_60[1] in got[0][1] and ticket_id in got[1][1]
    assert store.outbox.counts() == {"sent": 6, "failed": 0, "pending": 0}  # the rest closed without a POST


async def test_every_event_of_a_ticket_reaches_the_group_but_a_row_delivered_again_is_not_posted_twice(
    receiver: Receiver, store: Store, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = Webhook(url=f"{receiver.url}/tech", format="wecom")
    receiver.usual = (200, OK["wecom"])
    opened, opened_id = ticket_payload(TicketEventKind.OPENED, 1)
    acknowledged, acknowledged_id = ticket_payload(TicketEventKind.ACKNOWLEDGED, 2, by="li")
    _queue(store, [hook], opened, acknowledged)
    clock = Clock(T0)
    sender = _sender(store, http, clock, [hook])
    mark = store.outbox.sent

    def refused(row_ids: object, now: float) -> None:
        monkeypatch.setattr(store.outbox, "sent", mark)  # the store recovers after this once
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store.outbox, "sent", refused)
    with pytest.raises(sqlite3.OperationalError):
        await sender.drain()  # both posted; their mark is lost
    clock.now += 2
    await sender.drain()  # the rows are due again

    texts = [cast(dict[str, str], r.json()["markdown"])["content"] for r in receiver.received]
    assert len(texts) == 2  # one message per event, not four
    assert f"编号：{opened_id}" in texts[0] and "新工单" in texts[0]
    assert f"编号：{acknowledged_id}" in texts[1] and "已接单" in texts[1] and "处理人：li" in texts[1]
    assert store.outbox.counts() == {"sent": 2, "failed": 0, "pending": 0}


def test_a_ticket_and_a_recommendation_read_in_chinese_with_display_names() -> None:
    ticket = json.loads(ticket_payload(TicketEventKind.OPENED, 1)[0])
    words = notice_words(ticket, HALL)
    assert words.title == "【P3】设备故障工单 T-20251205-0003 新工单"
    assert words.lines[:3] == ("对象：1号取号机（一楼东侧）", "问题：缺纸或卡纸", "开单：09:11")
    assert words.id == "ticket:T-20251205-0003:opened:1"
    recommendation = {
        "type": "recommendation",
        "id": "recommendation:R-20251205-0002:offered",
        "rec_id": "R-20251205-0002",
        "kind": "open",
        "services": ["SB"],
        "windows": ["W04"],
        "reason_zh": "社保业务（SB）预计等待 34 分钟，开 1 个窗口后降到 12 分钟",
        "notification": {"event": "offered", "roles": ["hall_manager"], "by": "system", "note": ""},
    }
    words = notice_words(recommendation, HALL)
    assert words.title == "【潮汐窗口】建议增开潮汐窗口（待批准）"
    assert words.lines == (
        "社保业务（SB）预计等待 34 分钟，开 1 个窗口后降到 12 分钟",
        "业务：社保业务",
        "窗口：4号窗口",
        "编号：recommendation:R-20251205-0002:offered",
    )


# ---------------------------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ("{url: 'https://qyapi.test/send', format: wecom, secret_file: SECRET}", "a WeCom robot signs nothing"),
        ("{url: 'https://sms.test/send', format: sms}", "an sms endpoint needs phones_file"),
        ("{url: 'https://ops.test/hook', phones_file: PHONES}", "phones_file goes with format: sms"),
        ("{url: 'https://ops.test/hook', url_file: URL}", "give either url or url_file"),
        ("{url: 'https://ops.test/hook', format: telegram}", "'json', 'wecom', 'dingtalk', 'feishu' or 'sms'"),
        ("{url: 'https://ops.test/hook', roles: [cleaner]}", "roles[0]"),
        ("{format: sms, url: 'https://sms.test/send', phones_file: OPEN_PHONES}", "is open to others (mode 644)"),
        ("{format: sms, url: 'https://sms.test/send', phones_file: BAD_PHONES}", "line 2 is not a phone number"),
        ("{format: wecom, url_file: OPEN_URL}", "is open to others than its owner"),
    ],
    ids=["wecom-secret", "sms-no-phones", "phones-not-sms", "two-addresses", "format", "role", "open-phones",
         "bad-phone", "open-url"],
)  # fmt: skip
def test_a_webhook_entry_that_cannot_work_stops_the_start_with_its_field_path(
    tmp_path: Path, entry: str, complaint: str
) -> None:
    files = {
        "SECRET": _private(tmp_path, "s", HOOK_SECRET.decode()),
        "PHONES": _private(tmp_path, "p", PHONES[0]),
        "URL": _private(tmp_path, "u", "https://qyapi.test/send?key=" + ROBOT_KEY),
        "OPEN_PHONES": _private(tmp_path, "op", PHONES[0], 0o644),
        "BAD_PHONES": _private(tmp_path, "bp", f"{PHONES[0]}\n王经理 138 0000 1111"),
        "OPEN_URL": _private(tmp_path, "ou", "https://qyapi.test/send?key=" + ROBOT_KEY, 0o644),
    }
    for name, path in sorted(files.items(), key=lambda kv: -len(kv[0])):
        entry = entry.replace(name, f"'{path}'")
    cfg_file = tmp_path / "gw.yaml"
    cfg_file.write_text(f"hall: {{id: h1}}\nnotify:\n  webhooks:\n    - https://ok.test/hook\n    - {entry}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(cfg_file)
    assert "notify.webhooks[1]" in str(caught.value) and complaint in str(caught.value)
    assert "王经理" not in str(caught.value) and ROBOT_KEY not in str(caught.value)


def test_robots_and_an_sms_gateway_are_configured_with_their_files(tmp_path: Path) -> None:
    url = _private(tmp_path, "wecom.url", "https://qyapi.test/cgi-bin/webhook/send?key=" + ROBOT_KEY)
    secret = _private(tmp_path, "ding.secret", ROBOT_SECRET.decode())
    phones = _private(tmp_path, "tech.phones", "\n".join(PHONES), 0o640)
    cfg_file = tmp_path / "gw.yaml"
    cfg_file.write_text(
        "hall: {id: h1}\nnotify:\n  webhooks:\n"
        f"    - {{url_file: '{url}', format: wecom, roles: [technician]}}\n"
        f"    - {{url: 'https://oapi.test/robot/send', format: dingtalk, secret_file: '{secret}', "
        "severity: [critical, major]}\n"
        f"    - {{url: 'https://sms.test/send', format: sms, phones_file: '{phones}', roles: [technician]}}\n"
    )
    hooks = load_config(cfg_file).notify.webhooks
    assert [(h.format, h.target, h.roles, h.severity) for h in hooks] == [
        ("wecom", str(url), [Role.TECHNICIAN], []),
        ("dingtalk", "https://oapi.test/robot/send", [], [Severity.CRITICAL, Severity.MAJOR]),
        ("sms", "https://sms.test/send", [Role.TECHNICIAN], []),
    ]
