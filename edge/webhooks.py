"""What each kind of webhook endpoint gets, and what its answer means: the notification as JSON, a message to a
WeCom (企业微信), DingTalk (钉钉) or Feishu/Lark (飞书) group robot, or a request to an SMS gateway (the phone
channel of the three-channel calling, 三维提醒: the missed-number re-call and the staff's texts).

    wanted(hook, notice)                    → is this notification for this endpoint (its roles and severity)?
    request(hook, notice, payload, …)       → the URL, body and headers of one attempt, signed at that attempt
    check_answer(hook, response)            → None, or ActionError when the platform refused the message
    recall(notice)                          → the number a notification to the citizen calls again, or None

The bodies are the platforms' documented ones:
- WeCom: https://developer.work.weixin.qq.com/document/path/91770 (群机器人配置说明) — `msgtype: markdown`,
  `markdown.content` at most 4096 bytes; the answer `{"errcode": 0, "errmsg": "ok"}`; no signing, the key is in the
  address.
- DingTalk: https://open.dingtalk.com/document/robots/custom-robot-access (自定义机器人接入) and
  https://open.dingtalk.com/document/development/robot-message-type — `msgtype: markdown` with `title` and `text`;
  加签: `timestamp` (ms) and `sign` = urlencode(base64(HMAC-SHA256(key=secret, "timestamp\\nsecret"))) in the URL;
  the answer `{"errcode": 0, …}`.
- Feishu: https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot (自定义机器人使用指南) —
  `msg_type: post` (rich text, `zh_cn` title and lines); 签名校验: `timestamp` (s) and
  `sign` = base64(HMAC-SHA256(key="timestamp\\nsecret", message empty)) in the body; the answer `{"code": 0, …}`.
Each robot answers a refusal (a bad signature, a rate limit, a wrong key) with HTTP 200 and a non-zero code: that
is a failed attempt, retried like a 5xx. None of them takes an idempotency key, so the notification's id is the
last line of the text (a repeat after a crash is seen to be one) and the sender posts a row once, again only after
a failure (edge/outbox.py). The SMS gateway's body is ours (docs/deploy.md, Phones and group robots), with an
`Idempotency-Key` header; a number called again (`call-unanswered`, told to the `citizen`) is a request to text
the ticket's holder, whose number only the queue system knows (`kind: recall`, `to` empty).

Must not queue, retry or log anything: edge/outbox.py does, with these answers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote_plus

import httpx

from devices.errors import ActionError
from edge.config import ROBOTS, Webhook, read_phones, read_secret, read_url
from edge.wording.alerts import printed_number
from edge.wording.notify import NoticeWords, notice_words
from rules.hall import HallProfile
from rules.language import Role

TIMESTAMP_HEADER = "X-Hallops-Timestamp"
SIGNATURE_HEADER = "X-Hallops-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
WECOM_MAX_BYTES = 4096  # markdown.content, per the WeCom page above
_PRIORITY_SEVERITY = {"P1": "critical", "P2": "major", "P3": "warning"}  # rules/pack/builtin.yaml's header


@dataclass(frozen=True, slots=True)
class Attempt:
    """One POST: where, what and with which headers."""

    url: str
    body: bytes
    headers: dict[str, str]


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """`v1=` and the hex HMAC-SHA256 of `<timestamp>.<body>`, the pattern of Stripe's and GitHub's webhooks. The
    timestamp is inside what is signed, so a receiver that refuses old timestamps refuses replays too."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def dingtalk_sign(secret: bytes, timestamp_ms: int) -> str:
    """DingTalk's 加签, urlencoded as it goes into the URL."""
    mac = hmac.new(secret, f"{timestamp_ms}\n".encode() + secret, hashlib.sha256)
    return quote_plus(base64.b64encode(mac.digest()).decode())


def feishu_sign(secret: bytes, timestamp_s: int) -> str:
    """Feishu's 签名校验: the key is "timestamp\\nsecret", the message empty."""
    mac = hmac.new(f"{timestamp_s}\n".encode() + secret, b"", hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def wanted(hook: Webhook, notice: Mapping[str, object]) -> bool:
    """Whether the notification is for this endpoint: one of its roles is told, and an alert's severity (a ticket's
    priority) is one it takes. A recommendation has no severity and passes that filter. A notification that tells
    the citizen alone (a number's re-call) goes only to an endpoint that names `citizen`, and only while it calls a
    number: an endpoint without `roles` is the staff's, and the end of a call texts nobody. An endpoint for the
    citizen alone (`roles: [citizen]`, which needs no phones_file) hears of nothing but re-calls."""
    note = notice.get("notification")
    told = note.get("roles") if isinstance(note, dict) else None
    if (isinstance(told, list) and set(told) == {Role.CITIZEN.value}) or set(hook.roles) == {Role.CITIZEN}:
        return Role.CITIZEN in hook.roles and recall(notice) is not None
    if hook.roles and (not isinstance(told, list) or not set(hook.roles) & set(told)):
        return False
    if hook.severity:
        severity = notice.get("severity")
        if notice.get("type") == "ticket":
            severity = _PRIORITY_SEVERITY.get(str(notice.get("priority")))
        elif notice.get("type") != "alert":
            return True
        return severity in hook.severity
    return True


def request(
    hook: Webhook, notice: Mapping[str, object], payload: bytes, now: float, hall: HallProfile | None
) -> Attempt:
    """The attempt made at `now` (UNIX seconds) to deliver a notification (`payload`, parsed as `notice`). Its files
    (the address, the secret, the phone numbers) are read now: a changed file is used from the next attempt on, and
    none of it is in an outbox row. ValueError when a file cannot be used (open to others, gone)."""
    if hook.url_file is not None:
        url = read_url(hook.url_file)
    else:
        assert hook.url is not None  # the configuration gives one of the two
        url = hook.url
    secret = read_secret(hook.secret_file) if hook.secret_file is not None else None
    headers = {"content-type": "application/json"}
    if hook.format == "json":
        body = payload
    elif hook.format == "wecom":
        body = _json(_wecom(notice_words(notice, hall)))
    elif hook.format == "dingtalk":
        body = _json(_dingtalk(notice_words(notice, hall)))
        if secret is not None:
            ms = int(now * 1000)
            url += ("&" if "?" in url else "?") + f"timestamp={ms}&sign={dingtalk_sign(secret, ms)}"
    elif hook.format == "feishu":
        post = _feishu(notice_words(notice, hall))
        if secret is not None:
            post = {"timestamp": str(int(now)), "sign": feishu_sign(secret, int(now)), **post}
        body = _json(post)
    else:
        assert hook.format == "sms"
        words = notice_words(notice, hall)
        call = recall(notice) if Role.CITIZEN in hook.roles else None
        if call is not None:
            body = _json(_recall_sms(words.id, call, hall))
        else:
            assert hook.phones_file is not None  # wanted() sends a citizen-only endpoint nothing but re-calls
            body = _json(_sms(notice, words, read_phones(hook.phones_file)))
        headers[IDEMPOTENCY_HEADER] = words.id
    if secret is not None and hook.format in ("json", "sms"):
        headers[TIMESTAMP_HEADER] = str(int(now))
        headers[SIGNATURE_HEADER] = signature(secret, int(now), body)
    return Attempt(url, body, headers)


def recall(notice: Mapping[str, object]) -> Mapping[str, str] | None:
    """The number a notification calls again by phone (`call`: `ticket`, `number`, `window`; the decider adds it
    to a notification that tells the citizen, edge/decisions/loop.py), or None."""
    note = notice.get("notification")
    told = note.get("roles") if isinstance(note, dict) else None
    call = notice.get("call")
    if not isinstance(told, list) or Role.CITIZEN.value not in told or not isinstance(call, dict):
        return None
    if not all(isinstance(call.get(k), str) for k in ("ticket", "number", "window")):
        return None
    return {k: str(call[k]) for k in ("ticket", "number", "window")}


def check_answer(hook: Webhook, response: httpx.Response) -> None:
    """ActionError unless the endpoint took the message: a 2xx, and from a robot its code 0."""
    if not 200 <= response.status_code < 300:
        raise ActionError(f"HTTP {response.status_code}")
    if hook.format not in ROBOTS:
        return
    try:
        answer = response.json()
    except ValueError:
        raise ActionError(f"the {hook.format} robot's answer is not JSON") from None
    key = "code" if hook.format == "feishu" else "errcode"
    code = answer.get(key) if isinstance(answer, dict) else None
    if code != 0:
        message = answer.get("msg" if hook.format == "feishu" else "errmsg") if isinstance(answer, dict) else None
        raise ActionError(f"the {hook.format} robot refused it: {key} {code}, {str(message)[:200]}")


# Text in a notification that a device sent (a ticket id, a printed number, a window id: up to 64 characters of
# anything) must stay one line of plain text in a robot's markdown and an SMS: a newline would start a heading or a
# line of its own, `[text](url)` a link a staff member taps, `<@all>` (WeCom) a mention, `<font>` a colour.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")
_MARKUP = str.maketrans({"[": "［", "]": "］", "<": "＜", ">": "＞", "`": "'"})
RECALL_NUMBER_MAX = 16  # the printed number's length in the device contract (devices/contract.py TicketIssued)
RECALL_WINDOW_MAX = 16  # a window id shown in a re-call SMS where the window has no configured name


def _line(text: str) -> str:
    """One line of plain text: control, line-breaking and direction-changing characters as one space."""
    return _BREAKS.sub(" ", text).strip()


def _md(text: str) -> str:
    """One line of a robot's markdown that shows `text` as it is and makes no link, mention or tag of it."""
    return _line(text).translate(_MARKUP)


def _wecom(words: NoticeWords) -> dict[str, object]:
    markdown = "\n".join([f"**{_md(words.title)}**", *(f"> {_md(line)}" for line in words.lines)])
    return {"msgtype": "markdown", "markdown": {"content": _fit(markdown, WECOM_MAX_BYTES)}}


def _dingtalk(words: NoticeWords) -> dict[str, object]:
    # DingTalk's markdown runs together the lines one newline parts; `title` is what the phone's banner shows
    markdown = "\n\n".join([f"#### {_md(words.title)}", *(f"> {_md(line)}" for line in words.lines)])
    return {"msgtype": "markdown", "markdown": {"title": _line(words.title), "text": markdown}}


def _feishu(words: NoticeWords) -> dict[str, object]:
    lines = [[{"tag": "text", "text": _line(line)}] for line in words.lines]  # a post's text tag: plain text
    return {"msg_type": "post", "content": {"post": {"zh_cn": {"title": _line(words.title), "content": lines}}}}


def _sms(notice: Mapping[str, object], words: NoticeWords, phones: tuple[str, ...]) -> dict[str, object]:
    """The SMS gateway's body: the notification's id, whom to text and what. A notification about a queue ticket (a
    missed number, 漏号) names it and its window, so that a gateway serving the queue system can also re-call the
    ticket's holder — the number they gave is the queue system's; hallops never holds it."""
    body: dict[str, object] = {
        "id": words.id,
        "kind": notice.get("type"),
        "to": list(phones),
        "text": _line(words.short),
    }
    labels = notice.get("labels")
    if isinstance(labels, dict) and isinstance(labels.get("ticket"), str):
        body["ticket"] = labels["ticket"]
        if isinstance(labels.get("window"), str):
            body["window"] = labels["window"]
    return body


def _recall_sms(notification_id: str, call: Mapping[str, str], hall: HallProfile | None) -> dict[str, object]:
    """The SMS gateway's body for a number called again (the phone of the three-channel calling, 三维提醒): no
    numbers in `to` — the gateway texts the holder of `ticket` on the number they gave the queue system, which
    hallops never holds — and the words for them: the number and the window by its display name, one short line
    whatever a device sent as the number or the window (`_line`; a number longer than the contract's is a ticket id:
    the printed number at its end, else none, never a cut-off half)."""
    window = call["window"]
    name = next((w.name for w in hall.windows if w.window_id == window and w.name), None) if hall else None
    number = _line(call["number"])
    if len(number) > RECALL_NUMBER_MAX:  # a queue system's ticket id, not the printed number: its number, or none
        number = printed_number(number) or ""
    where = _line(name) if name else f"窗口 {_line(window)[:RECALL_WINDOW_MAX]}"
    text = f"请{number}号到{where}办理，正在叫您的号" if number else f"请到{where}办理，正在叫您的号"
    return {"id": notification_id, "kind": "recall", "to": [], "text": text, **call}


def _json(body: Mapping[str, object]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def _fit(text: str, max_bytes: int) -> str:
    """The text cut to `max_bytes` of UTF-8, on a character boundary, its end marked."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    return data[: max_bytes - 3].decode("utf-8", "ignore") + "…"
