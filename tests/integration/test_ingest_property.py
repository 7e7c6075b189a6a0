"""The gateway's ingest under generated poison: contract messages with extreme and wrong values, interleaved with a
valid stream, sent through a real mosquitto to a real gateway process.

Hypothesis draws the poison (one defect per message on an otherwise valid message, so each has one documented reason
code) and where it goes in the stream; every example runs against the same gateway, in its own round of ticket ids
and seqs, and is checked by what changed in /api/health and /api/hall. What a user would notice: every valid message
applied, the gateway connected and ingesting throughout, every poison message counted under its documented reason and
nothing of it in the hall, and memory that does not grow with the poison.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from edge.broker import MosquittoProcess
from tests.integration.conftest import CST, GatewayProcess, Publisher, wait_until

# What the gateway is told: services, windows and the kiosks are closed lists; ticket machines, evaluators and
# cameras are learned (up to ingest.max_*: 200 zones, so a camera naming more is an entity_cap).
CONFIG = """\
services:
  tax: {name: 税务}
  land: {name: 不动产}
windows:
  W1: {services: [tax]}
  W2: {services: [land]}
devices:
  k1: {type: kiosk}
"""
SERVICES = ("tax", "land")
REASONS = {  # docs/contract.md, "What the gateway does with bad input"
    "too_large",
    "bad_topic",
    "unknown_device_type",
    "wrong_hall",
    "bad_json",
    "not_an_object",
    "missing_field",
    "wrong_type",
    "invalid_value",
    "unknown_event_type",
    "unsupported_version",
    "device_mismatch",
    "vendor_mapping",
    "implausible_time",
    "unknown_window",
    "unknown_service",
    "unknown_device",
    "entity_cap",
}
VALID_TICKETS = 150  # per round
MAX_BYTES = 64 * 1024
JSON_DEPTH_LIMIT = 200  # JSON nested deeper is not parsed (too_large); the contract needs 3 levels at most
RSS_GROWTH_MAX = 30 * 2**20
LONG_AGO = int(datetime(2020, 1, 1, tzinfo=CST).timestamp())  # an epoch ts always implausible
ID = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,20}", fullmatch=True)


@dataclass(frozen=True, slots=True, repr=False)
class Msg:
    topic: str
    payload: bytes
    retain: bool = False
    reason: str = ""  # the documented reason it must be rejected for; "" for a valid message
    what: str = ""  # the defect, for a failure message

    def __repr__(self) -> str:  # hypothesis prints the draws of a failing example: not 200 KiB of padding
        return self.show()

    def show(self) -> str:
        body = self.payload if len(self.payload) <= 300 else self.payload[:300] + b"..."
        return (
            f"{self.what} -> expected {self.reason}: {self.topic} retain={self.retain} {body!r} ({len(self.payload)} B)"
        )


@dataclass(frozen=True, slots=True)
class Round:
    """One example's ids and clock: seqs above every earlier round's, ticket ids of its own."""

    n: int
    at: datetime  # the valid messages' ts, spaced a tenth of a second from here

    @property
    def seq0(self) -> int:
        return self.n * 100_000

    def ts(self, i: int = 0) -> str:
        return (self.at + timedelta(seconds=i / 10)).isoformat()


def body(kind: str, r: Round, probe: str, seq: int, **fields: object) -> dict[str, object]:
    """A valid payload of `kind`; the probe (an ignored field, first) names the message in its dead letter."""
    base: dict[str, object] = {"probe": probe, "v": 1, "ts": r.ts(), "seq": seq}
    if kind == "ticket":
        base |= {"type": "ticket.issued", "ticket_id": f"{probe}-t", "number": "A001", "service": "tax"}
    elif kind == "rating":
        base |= {"type": "rating.submitted", "window_id": "W1", "score": 4}
    elif kind == "occupancy":
        base |= {"type": "occupancy", "zones": {"wait-A": 3}, "staff_present": {"W1": True}}
    elif kind == "kiosk":
        base |= {"type": "kiosk.session", "outcome": "success", "duration_s": 60}
    elif kind == "state":
        base |= {"online": True, "printer": "ok", "paper_pct": 50}
    return base | fields


TOPICS = {
    "ticket": "hall/h1/ticket_machine/tm1/evt",
    "rating": "hall/h1/evaluator/ev1/evt",
    "occupancy": "hall/h1/camera/cam1/evt",
    "kiosk": "hall/h1/kiosk/k1/evt",
    "hb": "hall/h1/kiosk/k1/hb",
    "state": "hall/h1/ticket_machine/tm1/state",
}


def nested(depth: int, as_list: bool) -> bytes:
    return b"[" * depth + b"1" + b"]" * depth if as_list else b'{"a":' * depth + b"1" + b"}" * depth


def with_raw(payload: dict[str, object], field: str, raw: bytes) -> bytes:
    """`payload` as JSON with `field` set to the raw JSON text `raw` (NaN, 1e400, nesting json.dumps would refuse)."""
    payload = {k: v for k, v in payload.items() if k != field}
    return json.dumps(payload, ensure_ascii=False).encode()[:-1] + b', "' + field.encode() + b'": ' + raw + b"}"


@st.composite
def poison(draw: st.DrawFn, r: Round, probe: str) -> Msg:
    """One message with exactly one defect, and the reason the contract gives for it."""
    seq = r.seq0 + 50_000 + int(probe.rsplit("p", 1)[1])  # never a valid message's seq
    defect = draw(
        st.sampled_from(
            [
                "seq",
                "ts",
                "deep",
                "wide",
                "unknown_id",
                "wrong_type",
                "not_utf8",
                "non_finite",
                "not_an_object",
                "too_large",
                "topic",
                "state",
            ]
        )
    )
    kind = draw(st.sampled_from(["ticket", "rating", "occupancy", "kiosk", "hb"]))
    topic, good = TOPICS[kind], body(kind, r, probe, seq)

    def bad(reason: str, what: str, payload: dict[str, object] | bytes, to: str = topic, retain: bool = False) -> Msg:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        return Msg(to, raw, retain, reason, what)

    now = datetime.now(CST)
    if defect == "seq":
        value: object = draw(st.sampled_from([2**63, 2**64, -1, -(2**63), 10**30, 1.5, -0.5, "x", None, [7], {"n": 7}]))
        reason = "wrong_type" if isinstance(value, str | list | dict) or value is None else "invalid_value"
        return bad(reason, f"seq={value!r}", good | {"seq": value})
    if defect == "ts":
        choice = draw(
            st.one_of(
                st.sampled_from(
                    [
                        ("9999-12-31T23:59:59-12:00", "invalid_value"),  # no UTC time (year 10000)
                        ("0001-01-01T00:00:00+14:00", "invalid_value"),  # no UTC time (year 0)
                        ("1969-12-31T23:59:59Z", "invalid_value"),  # before UNIX time
                        (-1, "invalid_value"),
                        (r.at.replace(tzinfo=None).isoformat(), "invalid_value"),  # no offset
                        ("1970-01-01T00:00:00Z", "implausible_time"),
                        ("2099-01-01T00:00:00+08:00", "implausible_time"),
                        ("9999-12-29T23:59:59Z", "implausible_time"),
                        (0, "implausible_time"),
                        ((now + timedelta(hours=2)).isoformat(), "implausible_time"),
                        ((now - timedelta(days=3)).isoformat(), "implausible_time"),
                        ("garbage", "invalid_value"),  # a string, but no time
                        ("", "invalid_value"),
                        ("2026-11-23T25:00:00+08:00", "invalid_value"),
                        (True, "wrong_type"),
                        (None, "wrong_type"),
                        ([r.ts()], "wrong_type"),
                    ]
                ),
                st.integers(0, LONG_AGO).map(lambda t: (t, "implausible_time")),
                st.text("xyz!# ", max_size=12).map(lambda t: (t, "invalid_value")),
            )
        )
        return bad(choice[1], f"ts={choice[0]!r}", good | {"ts": choice[0]})
    if defect == "deep":
        depth = draw(st.one_of(st.integers(1, JSON_DEPTH_LIMIT - 10), st.integers(JSON_DEPTH_LIMIT + 10, 5000)))
        as_list = draw(st.booleans())
        ticket = body("ticket", r, probe, seq)
        reason = "wrong_type" if depth < JSON_DEPTH_LIMIT else "too_large"
        what = f"ticket_id nested {depth} deep ({'lists' if as_list else 'objects'})"
        return bad(reason, what, with_raw(ticket, "ticket_id", nested(depth, as_list)), TOPICS["ticket"])
    if defect == "wide":
        width = draw(st.integers(201, 6000))  # past ingest.max_zones; the widest are past 64 KiB too
        on = draw(st.sampled_from(["zones", "staff_present"]))
        keys = {f"{probe}-{i}": (1 if on == "zones" else True) for i in range(width)}
        occupancy = json.dumps(body("occupancy", r, probe, seq, **{on: keys})).encode()
        reason = "entity_cap" if on == "zones" else "unknown_window"  # windows: lists W1 and W2 only
        reason = "too_large" if len(occupancy) > MAX_BYTES else reason
        return bad(reason, f"occupancy with {width} new {on}", occupancy, TOPICS["occupancy"])
    if defect == "unknown_id":
        new = "X-" + draw(ID)
        case = draw(st.sampled_from(["service", "services", "rating", "terminal", "kiosk"]))
        if case == "service":
            return bad(
                "unknown_service", "unknown service", body("ticket", r, probe, seq, service=new), TOPICS["ticket"]
            )
        if case == "services":
            opened = {
                "probe": probe,
                "v": 1,
                "ts": r.ts(),
                "seq": seq,
                "type": "window.opened",
                "services": ["tax", new],
            }
            return bad("unknown_service", "window opens an unknown service", opened, "hall/h1/window/W1/evt")
        if case == "rating":
            return bad(
                "unknown_window",
                "rating of an unknown window",
                body("rating", r, probe, seq, window_id=new),
                TOPICS["rating"],
            )
        if case == "terminal":
            paused = {"probe": probe, "v": 1, "ts": r.ts(), "seq": seq, "type": "window.paused"}
            return bad("unknown_window", "an unknown window terminal", paused, f"hall/h1/window/{new}/evt")
        return bad("unknown_device", "an unknown kiosk", body("kiosk", r, probe, seq), f"hall/h1/kiosk/{new}/evt")
    if defect == "wrong_type":
        typed: tuple[str, str, object, str] = draw(
            st.sampled_from(
                [
                    ("rating", "score", "x", "wrong_type"),
                    ("rating", "score", [5], "wrong_type"),
                    ("rating", "score", 6, "invalid_value"),
                    ("rating", "score", 0, "invalid_value"),
                    ("ticket", "ticket_id", 23, "wrong_type"),
                    ("ticket", "service", ["tax"], "wrong_type"),
                    ("ticket", "channel", "vip", "invalid_value"),
                    ("ticket", "type", 5, "unknown_event_type"),
                    ("ticket", "type", "ticket.printed", "unknown_event_type"),
                    ("ticket", "v", True, "unsupported_version"),  # `v` is the number 1, not JSON's true
                    ("ticket", "v", "1", "unsupported_version"),
                    ("ticket", "v", 2, "unsupported_version"),
                    ("ticket", "device_id", "tm2", "device_mismatch"),
                    ("occupancy", "zones", [1, 2], "wrong_type"),
                    ("occupancy", "zones", {"wait-A": -1}, "invalid_value"),
                    ("occupancy", "zones", {"wait-A": 10**6}, "invalid_value"),
                    ("occupancy", "staff_present", {"W1": "x"}, "wrong_type"),
                    ("kiosk", "outcome", "exploded", "invalid_value"),
                ]
            )
        )
        kind, field, value, reason = typed
        return bad(reason, f"{kind} {field}={value!r}", body(kind, r, probe, seq, **{field: value}), TOPICS[kind])
    # (an empty retained state is no poison: it retires its device, tests/integration/test_device_retire.py)
    if defect == "not_utf8":
        raw = draw(
            st.one_of(st.binary(max_size=64).map(lambda b: b"\xff" + b), st.just('{"号": "税务"}'.encode("gbk")))
        )
        return bad("bad_json", "not UTF-8", raw)
    if defect == "non_finite":
        raw_value = draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400"]))
        field = "uptime_s" if kind == "hb" else "duration_s"
        return bad(
            "invalid_value",
            f"{field}={raw_value.decode()}",
            with_raw(body("kiosk" if kind != "hb" else "hb", r, probe, seq), field, raw_value),
            TOPICS["hb" if kind == "hb" else "kiosk"],
        )
    if defect == "not_an_object":
        shape: object = draw(st.sampled_from([[good], "just a string", 42, None, True]))
        return bad("not_an_object", f"payload {type(shape).__name__}", json.dumps(shape).encode())
    if defect == "too_large":
        extra = draw(st.integers(1, 200 * 1024))
        payload = with_raw(good, "pad", b'"' + b"x" * (MAX_BYTES + extra - len(json.dumps(good))) + b'"')
        return bad("too_large", f"{len(payload)} bytes", payload)
    if defect == "topic":
        place: tuple[str, str] = draw(
            st.sampled_from(
                [
                    ("hall/h1/ticket_machine/tm 1/evt", "bad_topic"),
                    ("hall/h1/ticket_machine/tm1/telemetry", "bad_topic"),
                    ("hall/h1/ticket_machine", "bad_topic"),
                    ("hall/h1/ticket_machine/" + "t" * 65 + "/evt", "bad_topic"),
                    ("hall/h1/toaster/x1/evt", "unknown_device_type"),
                    ("hall/h1/Window/W1/evt", "unknown_device_type"),
                ]
            )
        )
        return bad(place[1], f"topic {place[0]}", good, place[0])
    # a device state: retained, like a real one
    change: tuple[str, object, str] = draw(
        st.sampled_from(
            [
                ("paper_pct", 101, "invalid_value"),
                ("paper_pct", -1, "invalid_value"),
                ("printer", "smoking", "invalid_value"),
                ("online", [], "wrong_type"),
                ("ts", None, "missing_field"),  # online without ts (the first of ts and seq missing)
                ("quota", {"tax": 10**6}, "invalid_value"),
            ]
        )
    )
    field, value, reason = change
    state = body("state", r, probe, seq, **{field: value})
    if value is None:
        state = {k: v for k, v in state.items() if k not in ("ts", "seq")}
    return bad(reason, f"state {field}={value!r}", state, TOPICS["state"], retain=True)


def valid_stream(r: Round, junk: list[bytes]) -> list[Msg]:
    """A ticket machine issuing tickets, a kiosk beating, a rating pad and a camera: each its own seqs, in order.
    Some tickets carry a vendor's extra field (`junk`, ignored by the contract)."""
    out: list[Msg] = []
    for i in range(VALID_TICKETS):
        payload = body(
            "ticket",
            r,
            f"r{r.n}v{i}",
            r.seq0 + i,
            ticket_id=f"r{r.n}-T{i}",
            number=f"A{i:03d}",
            service=SERVICES[i % 2],
            ts=r.ts(i),
        )
        raw = json.dumps(payload).encode()
        if i < len(junk):
            raw = with_raw(payload, "vendor_diag", junk[i])
        out.append(Msg(TOPICS["ticket"], raw))
        if i % 5 == 0:
            out.append(Msg(TOPICS["hb"], json.dumps(body("hb", r, f"r{r.n}h{i}", r.seq0 + i, ts=r.ts(i))).encode()))
        if i % 30 == 0:
            rating = body("rating", r, f"r{r.n}e{i}", r.seq0 + i, ts=r.ts(i), score=1 + i % 5)
            occupancy = body("occupancy", r, f"r{r.n}c{i}", r.seq0 + i, ts=r.ts(i), zones={"wait-A": i % 7})
            out.append(Msg(TOPICS["rating"], json.dumps(rating).encode()))
            out.append(Msg(TOPICS["occupancy"], json.dumps(occupancy).encode()))
    return out


JUNK = st.one_of(
    st.integers(1, JSON_DEPTH_LIMIT - 10).flatmap(lambda d: st.booleans().map(lambda lst: nested(d, lst))),
    st.integers(1, 2000).map(lambda w: json.dumps({f"k{i}": i for i in range(w)}).encode()),
    st.sampled_from([b"18446744073709551616", b"-1e308", b'"\\u0000\\u4e2d"', b"[]", b"null"]),
)


def rss(gw: GatewayProcess) -> int:
    assert gw.proc is not None
    return int(psutil.Process(gw.proc.pid).memory_info().rss)


def test_poison_is_counted_and_never_stops_ingest(
    mosquitto: MosquittoProcess, publisher: Publisher, gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    gw = gateway_factory(mosquitto.url, "--config", str(config)).start()
    wait_until(lambda: gw.health()["status"] == "ok", 30, "every task of the gateway to run")
    rss_at_start = rss(gw)
    rounds: list[Round] = []

    # One gateway for every example (a process start each would not fit the time): each example is a round of its
    # own ids and seqs, checked by what it changed. No shrinking: a failure names the smallest wrong message itself.
    @settings(
        max_examples=3,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def example(data: st.DataObject) -> None:
        r = Round(len(rounds), _valid_time())
        rounds.append(r)
        junk = data.draw(st.lists(JUNK, max_size=20), label="vendor junk on valid tickets")
        valid = valid_stream(r, junk)
        count = data.draw(st.integers(60, 160), label="poison messages")
        bad = [data.draw(poison(r, f"r{r.n}p{i}"), label=f"poison {i}") for i in range(count)]
        where = data.draw(st.lists(st.integers(0, len(valid)), min_size=count, max_size=count), label="positions")
        stream = list(valid)
        for at, msg in sorted(zip(where, bad, strict=True), key=lambda p: -p[0]):
            stream.insert(at, msg)
        # after the last poison, ingest still goes on
        stream.append(Msg(TOPICS["hb"], json.dumps(body("hb", r, f"r{r.n}end", r.seq0 + 99_999)).encode()))
        n_valid = len(valid) + 1

        before = gw.counters()
        logged_before = _logged(gw)
        for msg in stream:
            publisher.send(msg.topic, msg.payload, retain=msg.retain)
        publisher.wait(60)
        wait_until(
            lambda: gw.counters()["received"] - before["received"] >= len(stream),
            60,
            f"the gateway to receive all {len(stream)} messages",
        )
        wait_until(lambda: _logged(gw) - logged_before >= n_valid, 30, "the valid messages in the event log")

        after, health = gw.counters(), gw.health()
        delta = {k: after[k] - before[k] for k in ("received", "accepted", "duplicates", "ignored", "rejected_total")}
        rejected = Counter(after["rejected"]) - Counter(before["rejected"])
        expected = Counter(m.reason for m in bad)

        # every poison message is counted under its documented reason, and nothing else is rejected
        letters: list[dict[str, Any]] = gw.get("/api/dead-letters?limit=1000")  # type: ignore[assignment]
        assert set(rejected) <= REASONS, _unexpected(letters)
        assert rejected == expected, _explain(bad, letters, rejected, expected)
        assert delta == {
            "received": len(stream),
            "accepted": n_valid,
            "duplicates": 0,
            "ignored": 0,
            "rejected_total": count,
        }, _explain(bad, letters, rejected, expected)
        assert _logged(gw) - logged_before == n_valid

        # connected throughout, one session, every task running
        assert gw.proc is not None and gw.proc.poll() is None, "the gateway survives poison"
        assert health["status"] == "ok", health["problems"]
        assert health["broker_connected"] is True and health["broker_connects"] == 1

        # the hall holds every valid ticket and nothing that came with the poison
        hall: dict[str, Any] = gw.get("/api/hall")  # type: ignore[assignment]
        tickets = VALID_TICKETS * len(rounds)
        assert hall["totals"]["waiting"] == tickets
        assert {s["code"]: s["issued_today"] for s in hall["services"]} == {"tax": tickets // 2, "land": tickets // 2}
        assert sorted(w["window_id"] for w in hall["windows"]) == ["W1", "W2"]
        assert sorted(d["device_id"] for d in hall["devices"]) == ["cam1", "ev1", "k1", "tm1"]
        assert [z["zone_id"] for z in hall["zones"]] == ["wait-A"]

        # memory does not grow with what the poison asked the gateway to keep
        growth = rss(gw) - rss_at_start
        assert growth < RSS_GROWTH_MAX, f"the gateway's RSS grew by {growth / 2**20:.1f} MiB"

    example()
    assert len(rounds) == 3


def _logged(gw: GatewayProcess) -> int:
    logged = gw.health()["events_logged"]
    assert isinstance(logged, int)
    return logged


def _valid_time() -> datetime:
    """A minute ago, but today (an event dated yesterday is history and joins no queue)."""
    now = datetime.now(CST)
    return max(now - timedelta(minutes=1), now.replace(hour=0, minute=0, second=1, microsecond=0))


def _explain(bad: list[Msg], letters: list[dict[str, Any]], rejected: Counter[str], expected: Counter[str]) -> str:
    """Which poison messages were not rejected for their reason, smallest first."""
    by_probe = {}
    for d in letters:
        head = d["payload"][:60]
        if head.startswith('{"probe": "'):
            by_probe[head.split('"')[3]] = d
    wrong = []
    for m in bad:
        if not m.payload.startswith(b'{"probe": "'):
            continue
        probe = m.payload.split(b'"')[3].decode()
        got = by_probe.get(probe)
        if got is None or got["reason"] != m.reason:
            wrong.append(
                (len(m.payload), f"{m.show()}; got {got['reason'] + ' ' + got['path'] if got else 'accepted'}")
            )
    lines = [f"rejected {dict(rejected)} != expected {dict(expected)}"]
    lines += [w for _, w in sorted(wrong)[:10]]
    return "\n".join(lines)


def _unexpected(letters: list[dict[str, Any]]) -> str:
    """The smallest dead letters of each undocumented reason (`unprocessable`: the gateway raised on the message)."""
    odd = sorted((d for d in letters if d["reason"] not in REASONS), key=lambda d: d["size"])
    kinds = Counter(d["reason"] for d in odd)
    shown = [f"{d['reason']} ({d['detail'][:160]}): {d['topic']} {d['payload'][:300]}" for d in odd[:5]]
    return f"{dict(kinds)}; the smallest:\n" + "\n".join(shown)
