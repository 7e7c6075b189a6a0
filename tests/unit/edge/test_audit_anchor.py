"""The audit chain's anchor: an administrator who deletes their rows and recomputes the whole chain and its head
passes the chain's own check, but no longer matches the heads the box signed and published before."""

from __future__ import annotations

import json
import socket
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edge.anchor import (
    AnchorPublisher,
    FileSink,
    MqttSink,
    SyslogSink,
    create_key,
    key_for,
    key_id,
    public_text,
    read_anchors,
    read_key,
)
from edge.api import create_app
from edge.audit import GENESIS, Entry, chain
from edge.cli import main
from edge.config import load_config
from edge.gateway import Gateway
from edge.store import Store
from edge.supervisor import Worker, WorkerState

T0 = 1_795_000_000.0
ENTRIES = [
    Entry(T0, "wang", "alert.acknowledge", "fp1", {"rule": "wait-30"}),
    Entry(T0 + 60, "root", "silence.create", "s1", {"rule": "wait-30", "until": "2026-11-24T00:00"}),
    Entry(T0 + 120, "li", "ticket.resolve", "T-20261123-0001", {"note": "换纸"}),
    Entry(T0 + 180, "root", "user.add", "zhao", {"role": "administrator"}),
]
EVERY_S = 300.0


class FakeClock:
    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall = T0 + 3600

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


class Link:
    """The gateway's MQTT link as the MQTT destination sees it: up or down, and what it published."""

    def __init__(self, connected: bool = True) -> None:
        self.connected = connected
        self.published: list[tuple[str, bytes, int, bool]] = []

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self.published.append((topic, payload, qos, retain))


@pytest.fixture
def hall(tmp_path: Path) -> Iterator[Hall]:
    h = Hall(tmp_path)
    yield h
    h.close()


class Hall:
    """A gateway database with an audit log, the box's anchor key, and a publisher to an anchor file."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.db = tmp / "gateway.db"
        self.store = Store(self.db)
        self.closed = False
        self.key_path = tmp / "gateway-audit.key"  # where the gateway makes it by default
        self.key = create_key(self.key_path)
        self.pubkey = tmp / "audit.pub"
        self.pubkey.write_text(public_text(self.key.public_key()) + "\n", encoding="ascii")
        self.anchors = tmp / "anchors.jsonl"
        self.clock = FakeClock()
        self.link = Link()
        self.publisher = AnchorPublisher(
            "h1",
            self.key,
            self.store.audit.head,
            [FileSink(self.anchors), MqttSink(self.link, "h1")],
            EVERY_S,
            wall=lambda: self.clock.wall,
            monotonic=lambda: self.clock.mono,
        )

    async def publish(self) -> None:
        await self.publisher.tick()
        self.clock.advance(EVERY_S)

    def lines(self) -> list[dict[str, object]]:
        if not self.anchors.exists():
            return []
        return [json.loads(line) for line in self.anchors.read_text(encoding="utf-8").splitlines()]

    def verify(self, *extra: str) -> int:
        return main(["audit", "verify", "--db", str(self.db), *extra])

    def close(self) -> None:
        """The gateway stops (its database closed), e.g. before someone edits the file."""
        if not self.closed:
            self.store.close()
            self.closed = True


def rewrite_as_the_administrator(db: Path, keep: list[Entry]) -> None:
    """What the finding did: the rows replaced by `keep`, chained anew with edge.audit.chain, and the head in meta
    moved to match — with sqlite3, as anyone who can write the file can."""
    rows = chain(GENESIS, 1, keep)
    with sqlite3.connect(db) as raw:
        raw.execute("DELETE FROM audit")
        raw.executemany(
            "INSERT INTO audit (id, at, actor, action, subject, detail, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.id,
                    r.entry.at,
                    r.entry.actor,
                    r.entry.action,
                    r.entry.subject,
                    json.dumps(r.entry.detail),
                    r.prev,
                    r.hash,
                )
                for r in rows
            ],
        )
        raw.execute("UPDATE meta SET value = ? WHERE key = 'audit_count'", (str(len(rows)),))
        raw.execute("UPDATE meta SET value = ? WHERE key = 'audit_head'", (rows[-1].hash,))
    raw.close()


@pytest.mark.parametrize(
    ("keep", "expected"),
    [
        # root's silence removed: one row fewer than anchored
        ([ENTRIES[0], ENTRIES[2], ENTRIES[3]], "the chain has 3 rows now but had 4 when anchored"),
        # root's silence reworded as someone else's: as many rows as anchored, another hash at the anchored row
        (
            [ENTRIES[0], Entry(T0 + 60, "wang", "silence.create", "s1", {"rule": "wait-30"}), *ENTRIES[2:]],
            "row 4 is not the row anchored",
        ),
    ],
)
async def test_a_chain_rewritten_after_its_head_was_anchored_fails_verification_naming_the_anchor(
    hall: Hall, capsys: pytest.CaptureFixture[str], keep: list[Entry], expected: str
) -> None:
    hall.store.audit.append(ENTRIES)
    await hall.publish()
    hall.close()
    rewrite_as_the_administrator(hall.db, keep)

    assert hall.verify() == 0  # the chain's own check is fooled: this is the finding
    assert "intact" in capsys.readouterr().err

    assert hall.verify("--anchor", str(hall.anchors), "--pubkey", str(hall.pubkey)) == 1
    err = capsys.readouterr().err
    signed_at = hall.lines()[0]["at"]
    assert isinstance(signed_at, str)
    assert f"anchor of {signed_at[:10]}" in err and "row 4, hall h1, line 1" in err
    assert expected in err
    assert "BROKEN" in err and "the chain is not the one that was published" in err


async def test_an_intact_chain_matches_every_anchor_and_says_what_is_not_anchored_yet(
    hall: Hall, capsys: pytest.CaptureFixture[str]
) -> None:
    for entry in ENTRIES[:3]:
        hall.store.audit.append([entry])
        await hall.publish()
    hall.store.audit.append(ENTRIES[3:])  # after the newest anchor
    hall.close()
    assert [line["count"] for line in hall.lines()] == [1, 2, 3]
    assert hall.verify("--anchor", str(hall.anchors), "--pubkey", str(hall.pubkey)) == 0
    err = capsys.readouterr().err
    assert "intact — 4 rows" in err and "3 anchor(s) match (newest: row 3" in err
    assert "1 row(s) since are not anchored yet" in err
    # without --pubkey: the key beside the database, said so
    assert hall.verify("--anchor", str(hall.anchors)) == 0
    assert "the box's own key" in capsys.readouterr().err


async def test_a_head_is_signed_when_due_and_only_when_the_chain_has_grown(hall: Hall) -> None:
    await hall.publisher.tick()
    assert hall.lines() == []  # an empty chain has no head
    hall.store.audit.append(ENTRIES[:1])
    hall.clock.advance(EVERY_S - 1)
    await hall.publisher.tick()  # grown, but not due yet
    assert hall.lines() == []
    hall.clock.advance(1)
    await hall.publisher.tick()
    hall.store.audit.append(ENTRIES[1:2])
    hall.clock.advance(EVERY_S - 1)
    await hall.publisher.tick()
    assert [line["count"] for line in hall.lines()] == [1]
    hall.clock.advance(1)
    await hall.publisher.tick()
    hall.clock.advance(EVERY_S)
    await hall.publisher.tick()  # due, but the chain has not moved
    assert [line["count"] for line in hall.lines()] == [1, 2]
    first, second = hall.lines()
    assert second["head"] == hall.store.audit.head()[1]  # type: ignore[index]
    assert first["key"] == second["key"] == key_id(hall.key.public_key())
    assert first["hall"] == "h1" and first["at"] == "2026-11-18T12:11:40+00:00"  # the wall clock when it was signed


async def test_a_forged_or_altered_anchor_line_is_reported(hall: Hall, capsys: pytest.CaptureFixture[str]) -> None:
    hall.store.audit.append(ENTRIES)
    await hall.publish()
    hall.close()
    genuine = hall.lines()[0]
    altered = genuine | {"at": "2026-11-17T09:00:00+00:00"}  # the signature no longer covers it
    other_key = create_key(hall.tmp / "attacker.key")
    with hall.anchors.open("a", encoding="utf-8") as f:
        f.write(json.dumps(altered) + "\n")
        f.write(json.dumps(genuine | {"key": key_id(other_key.public_key())}) + "\n")
        f.write('{"format": "hallops-audit-head/1", "count": "many"}\n')
    assert hall.verify("--anchor", str(hall.anchors), "--pubkey", str(hall.pubkey)) == 1
    err = capsys.readouterr().err
    assert "line 2): its signature does not verify" in err and "forged or altered" in err
    assert f"line 3): signed with key {key_id(other_key.public_key())}, which is not among the public keys" in err
    assert "anchor file line 4: mentions an anchor but cannot be read" in err
    assert "line 1)" not in err  # the genuine one matches


async def test_after_a_key_rotation_the_old_anchors_verify_with_the_old_public_key(
    hall: Hall, capsys: pytest.CaptureFixture[str]
) -> None:
    hall.store.audit.append(ENTRIES[:2])
    await hall.publish()
    new_key = create_key(hall.tmp / "new-audit.key")
    hall.publisher = AnchorPublisher(
        "h1", new_key, hall.store.audit.head, [FileSink(hall.anchors)], EVERY_S, wall=lambda: hall.clock.wall
    )
    hall.store.audit.append(ENTRIES[2:])
    await hall.publish()
    hall.close()
    new_pub = hall.tmp / "new-audit.pub"
    new_pub.write_text(public_text(new_key.public_key()), encoding="ascii")
    assert hall.verify("--anchor", str(hall.anchors), "--pubkey", str(new_pub), "--pubkey", str(hall.pubkey)) == 0
    assert "2 anchor(s) match" in capsys.readouterr().err
    assert hall.verify("--anchor", str(hall.anchors), "--pubkey", str(new_pub)) == 1
    assert f"signed with key {key_id(hall.key.public_key())}" in capsys.readouterr().err


async def test_an_anchor_file_emptied_by_someone_is_not_taken_for_a_match(
    hall: Hall, capsys: pytest.CaptureFixture[str]
) -> None:
    hall.store.audit.append(ENTRIES)
    hall.close()
    hall.anchors.write_text("", encoding="utf-8")
    assert hall.verify("--anchor", str(hall.anchors), "--pubkey", str(hall.pubkey)) == 1
    assert "holds no anchor" in capsys.readouterr().err


async def test_the_cloud_gets_the_newest_head_retained_once_the_link_is_up(hall: Hall) -> None:
    hall.link.connected = False
    hall.store.audit.append(ENTRIES[:1])
    await hall.publish()
    hall.store.audit.append(ENTRIES[1:])
    await hall.publish()
    assert hall.link.published == [] and [line["count"] for line in hall.lines()] == [1, 4]  # the file has both
    await hall.publisher.tick()  # not due, link still down: waits
    hall.link.connected = True
    await hall.publisher.tick()  # not due to sign, but what waits goes out
    assert len(hall.link.published) == 1
    topic, payload, qos, retain = hall.link.published[0]
    assert (topic, qos, retain) == ("cloud/halls/h1/audit/head", 1, True)
    assert json.loads(payload) == hall.lines()[-1]  # the newest only, the same line as in the file
    await hall.publisher.tick()
    assert len(hall.link.published) == 1  # taken: not sent again


async def test_a_file_that_cannot_be_written_pauses_the_worker_until_it_can(hall: Hall) -> None:
    hall.publisher.sinks = [FileSink(hall.tmp / "missing-dir" / "anchors.jsonl")]
    hall.publisher.worker = worker = Worker("audit-anchor", 30)
    worker.beat()
    hall.store.audit.append(ENTRIES)
    await hall.publisher.tick()
    paused = worker.state
    assert paused is WorkerState.PAUSED and worker.reason == "anchor_failed"
    assert "file: FileNotFoundError" in worker.detail
    (hall.tmp / "missing-dir").mkdir()
    await hall.publisher.tick()  # tried again: the head waited
    assert worker.state is not paused and worker.state is WorkerState.RUNNING
    assert json.loads((hall.tmp / "missing-dir" / "anchors.jsonl").read_text(encoding="utf-8"))["count"] == 4


async def test_a_store_that_cannot_be_read_skips_a_round_and_the_gateway_goes_on(hall: Hall) -> None:
    faults = [sqlite3.OperationalError("database is locked")]

    def head() -> tuple[int, str] | None:
        if faults:
            raise faults.pop()
        return hall.store.audit.head()

    hall.publisher = AnchorPublisher(
        "h1", hall.key, head, [FileSink(hall.anchors)], EVERY_S, monotonic=lambda: hall.clock.mono
    )
    hall.store.audit.append(ENTRIES)
    await hall.publish()  # raises nothing: the task (and with it the gateway) does not die of it
    assert hall.lines() == []
    await hall.publish()
    assert [line["count"] for line in hall.lines()] == [4]


async def test_syslog_gets_each_head_with_facility_auth(hall: Hall) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    sink = SyslogSink(f"127.0.0.1:{receiver.getsockname()[1]}")
    hall.publisher.sinks = [sink]
    try:
        hall.store.audit.append(ENTRIES)
        await hall.publisher.tick()
        datagram = receiver.recv(4096).decode()
    finally:
        sink.close()
        receiver.close()
    assert datagram.startswith("<38>hallops-audit: ")  # auth (4) × 8 + info (6)
    anchors, unreadable = read_anchors([datagram])
    assert unreadable == [] and [(a.count, a.hall) for _, a in anchors] == [(4, "h1")]


def test_the_key_is_made_0600_once_and_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "keys" / "audit.key"
    key, made = key_for(path)  # the gateway's first start
    assert made and stat.S_IMODE(path.stat().st_mode) == 0o600
    again, made = key_for(path)
    assert not made and key_id(again.public_key()) == key_id(key.public_key())
    assert main(["audit", "pubkey", "--key", str(path)]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == public_text(key.public_key()) and key_id(key.public_key()) in out.err
    assert main(["audit", "keygen", "--key", str(path)]) == 1  # exists: not overwritten
    assert "not overwriting" in capsys.readouterr().err
    assert key_id(read_key(path).public_key()) == key_id(key.public_key())
    other = tmp_path / "other.key"
    assert main(["audit", "keygen", "--key", str(other)]) == 0
    assert stat.S_IMODE(other.stat().st_mode) == 0o600
    assert capsys.readouterr().out.strip() == public_text(read_key(other).public_key())


async def test_the_audit_route_shows_the_newest_anchor_and_whether_the_chain_still_matches_it(tmp_path: Path) -> None:
    db, anchors = tmp_path / "gateway.db", tmp_path / "anchors.jsonl"
    cfg = load_config(
        None, {"hall": {"id": "h1"}, "storage": {"path": str(db)}, "audit": {"anchor_file": str(anchors)}}
    )
    gateway = Gateway(cfg)
    gateway.open()
    assert gateway.store is not None
    gateway.store.audit.append(ENTRIES)
    key, _ = key_for(tmp_path / "gateway-audit.key")  # as the gateway's start makes it
    publisher = AnchorPublisher("h1", key, gateway.store.audit.head, [FileSink(anchors)], EVERY_S)
    await publisher.tick()
    app = create_app(gateway)

    async def audit() -> dict[str, object]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
            r = await http.get("/api/audit")
            r.raise_for_status()
            body: dict[str, object] = r.json()
            return body

    try:
        rows = gateway.store.audit.head()
        assert rows is not None
        before = await audit()
        assert before["intact"] is True
        assert before["anchor"] == {
            "at": json.loads(anchors.read_text())["at"],
            "count": rows[0],  # the rule version the start put in force is audited too
            "matches": True,
            "problem": None,
        }
        gateway.close()
        rewrite_as_the_administrator(db, ENTRIES[1:])
        gateway.open()
        after = await audit()
        anchor = after["anchor"]
        assert isinstance(anchor, dict) and anchor["matches"] is False and "rows were deleted" in anchor["problem"]
        assert after["intact"] is False
    finally:
        app.state.auth.close()
        gateway.close()
