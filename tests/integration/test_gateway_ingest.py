"""The gateway against a real mosquitto: bad input, broker restarts, kill -9."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from edge.broker import MosquittoProcess
from tests.integration.conftest import CST, ROOT, GatewayProcess, Publisher, event, wait_until

# 20 minutes ago: the streams (up to 4,000 tickets, half a second apart: 33 minutes) lie inside the gateway's
# plausibility window (an hour ahead at most) and inside the rolling hour of `arrivals_60m` while a test runs; the
# tests' halls are where it is midday (`midday`), so no stream meets the hall's midnight
T0 = datetime.now(CST).replace(microsecond=0) - timedelta(minutes=20)


def tickets(n: int, start: int = 0, device: str = "tm1") -> list[tuple[str, bytes]]:
    return [
        event(
            "ticket_machine",
            device,
            i + 1,
            T0 + timedelta(seconds=i / 2),
            type="ticket.issued",
            ticket_id=f"{device}-{i}",
            number=f"A{i:04d}",
            service=("tax", "land", "social")[i % 3],
        )
        for i in range(start, start + n)
    ]


def stream_with_disruption(
    publisher: Publisher, stream: list[tuple[str, bytes]], when: Callable[[], bool], disrupt: Callable[[], object]
) -> None:
    """Publish a device stream (not one burst) and, from another thread, disrupt the system once `when` holds."""
    done = threading.Event()

    def disruptor() -> None:
        wait_until(when, what="the stream to be under way")
        disrupt()
        done.set()

    t = threading.Thread(target=disruptor)
    t.start()
    for i, (topic, payload) in enumerate(stream):
        publisher.send(topic, payload)
        if i % 100 == 0:
            threading.Event().wait(0.02)
    t.join(60)
    assert done.is_set(), "the disruption happened mid-stream"


def comparable(hall: dict[str, object]) -> dict[str, object]:
    """The hall with what moves by itself with the clock (how long each ticket has waited, at the snapshot's time)
    turned into what must not move: when each waiting ticket was issued (to 0.1 s)."""
    at = datetime.fromisoformat(str(hall["at"])).timestamp()
    services = []
    for s in hall["services"]:  # type: ignore[attr-defined]
        fixed = {k: v for k, v in s.items() if k not in ("longest_wait_s", "waits_s")}
        fixed["issued_at"] = [round(at - w, 1) for w in s["waits_s"]]
        services.append(fixed)
    return {"services": services, "windows": hall["windows"], "devices": hall["devices"], "zones": hall["zones"]}


BAD_INPUTS: list[tuple[str, str, bytes]] = [
    ("bad_json", "hall/h1/ticket_machine/tm9/evt", b'{"v": 1, "ts": '),
    ("not_an_object", "hall/h1/ticket_machine/tm9/evt", b'"just a string"'),
    (
        "wrong_type",
        *event(
            "ticket_machine",
            "tm9",
            "x",
            T0,
            type="ticket.issued",
            ticket_id="t",
            number="A1",  # type: ignore[arg-type]
            service="tax",
        ),
    ),
    ("missing_field", *event("ticket_machine", "tm9", 1, T0, type="ticket.issued", number="A1", service="tax")),
    ("too_large", "hall/h1/kiosk/k9/evt", b'{"v": 1, "pad": "' + b"x" * (70 * 1024) + b'"}'),
    ("unknown_device_type", "hall/h1/toaster/x1/evt", b"{}"),
    ("bad_topic", "hall/h1/ticket_machine/tm9/telemetry", b"{}"),
    ("bad_topic", "hall/h1/ticket_machine", b"{}"),
    (
        "device_mismatch",
        *event(
            "ticket_machine",
            "tm9",
            2,
            T0,
            type="ticket.issued",
            ticket_id="t2",
            number="A2",
            service="tax",
            device_id="tm1",
        ),
    ),
    ("unknown_event_type", *event("kiosk", "k9", 1, T0, type="kiosk.exploded")),
    ("unsupported_version", "hall/h1/kiosk/k9/hb", json.dumps({"v": 7, "ts": T0.isoformat(), "seq": 1}).encode()),
]


def test_bad_input_is_counted_dead_lettered_and_ingest_goes_on(
    mosquitto: MosquittoProcess, publisher: Publisher, gateway_factory: Callable[..., GatewayProcess], midday: str
) -> None:
    gw = gateway_factory(mosquitto.url, "--config", midday).start()
    for _reason, topic, payload in BAD_INPUTS:
        publisher.send(topic, payload)
    for topic, payload in tickets(3):
        publisher.send(topic, payload)
    publisher.wait()
    wait_until(lambda: gw.accepted() == 3, what="the good messages")
    wait_until(lambda: gw.health()["counters"]["rejected_total"] == len(BAD_INPUTS), what="the rejections")  # type: ignore[index]

    health = gw.health()
    expected: dict[str, int] = {}
    for reason, _, _ in BAD_INPUTS:
        expected[reason] = expected.get(reason, 0) + 1
    assert health["counters"]["rejected"] == expected  # type: ignore[index]
    assert health["status"] == "ok"

    letters = gw.get("/api/dead-letters?limit=100")
    assert isinstance(letters, list)
    assert sorted(d["reason"] for d in letters) == sorted(r for r, _, _ in BAD_INPUTS)
    missing = next(d for d in letters if d["reason"] == "missing_field")
    assert missing["path"] == "ticket_id" and missing["topic"] == "hall/h1/ticket_machine/tm9/evt"
    big = next(d for d in letters if d["reason"] == "too_large")
    assert big["size"] > 70 * 1024 and len(big["payload"]) <= 4096
    only_json = gw.get("/api/dead-letters?reason=bad_json")
    assert [d["reason"] for d in only_json] == ["bad_json"]  # type: ignore[union-attr]

    hall = gw.get("/api/hall")
    assert hall["totals"]["waiting"] == 3  # type: ignore[index]
    assert gw.proc is not None and gw.proc.poll() is None, "the gateway must survive bad input"


def test_dead_letters_are_bounded(
    mosquitto: MosquittoProcess, publisher: Publisher, gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text("storage:\n  dead_letter_limit: 20\n")
    gw = gateway_factory(mosquitto.url, "--config", str(config)).start()
    for _ in range(300):
        publisher.send("hall/h1/kiosk/k1/evt", b"not json")
    publisher.wait()
    wait_until(lambda: gw.health()["counters"]["rejected_total"] == 300, what="300 rejections")  # type: ignore[index]
    wait_until(lambda: sum(gw.health()["dead_letters"].values()) == 20, what="dead letters capped")  # type: ignore[union-attr]
    assert gw.health()["counters"]["rejected"] == {"bad_json": 300}  # type: ignore[index]


def test_broker_restart_mid_stream_loses_no_qos1_event(
    mosquitto: MosquittoProcess, publisher: Publisher, gateway_factory: Callable[..., GatewayProcess], midday: str
) -> None:
    gw = gateway_factory(mosquitto.url, "--config", midday).start()
    stream = tickets(3000)
    stream_with_disruption(
        publisher, stream, lambda: gw.accepted() > 500, lambda: (mosquitto.stop(), mosquitto.start())
    )
    publisher.wait(60)
    wait_until(lambda: gw.accepted() == len(stream), timeout=60, what="every ticket")
    # (on a loaded machine every ticket may be in before the restart: the reconnect then comes after its back-off)
    wait_until(lambda: gw.health()["broker_connects"] >= 2, timeout=60, what="the gateway to reconnect")  # type: ignore[operator]
    hall = gw.get("/api/hall")
    assert {s["code"]: s["issued_today"] for s in hall["services"]} == {"tax": 1000, "land": 1000, "social": 1000}  # type: ignore[index]
    assert hall["totals"]["waiting"] == 3000  # type: ignore[index]


def test_kill_9_and_restart_keeps_the_hall(
    mosquitto: MosquittoProcess, publisher: Publisher, gateway_factory: Callable[..., GatewayProcess], midday: str
) -> None:
    gw = gateway_factory(mosquitto.url, "--config", midday).start()
    msgs = [
        event("window", "W1", 1, T0, type="window.opened", staff_id="s1", services=["tax"]),
        event("window", "W2", 1, T0, type="window.opened", staff_id="s2", services=["land", "social"]),
        *tickets(30),
        event("window", "W1", 2, T0 + timedelta(seconds=40), type="ticket.called", ticket_id="tm1-0"),
        event("window", "W1", 3, T0 + timedelta(seconds=50), type="service.started", ticket_id="tm1-0"),
        event("window", "W2", 2, T0 + timedelta(seconds=60), type="window.paused", reason="meeting"),
        event(
            "camera",
            "cam1",
            1,
            T0 + timedelta(seconds=61),
            type="occupancy",
            zones={"wait-A": 12},
            staff_present={"W1": True},
        ),
    ]
    for topic, payload in msgs:
        publisher.send(topic, payload)
    publisher.send(
        "hall/h1/ticket_machine/tm1/state",
        json.dumps(
            {"v": 1, "ts": T0.isoformat(), "seq": 99, "online": True, "printer": "paper_low", "paper_pct": 7}
        ).encode(),
        retain=True,
    )
    publisher.wait()
    wait_until(lambda: gw.accepted() == len(msgs) + 1, what="all messages")
    # stored (ingest commits at most every storage.commit_every_s; what it has not stored it has not acknowledged
    # either, and the broker would send it again after the restart)
    wait_until(lambda: gw.health()["events_logged"] == len(msgs) + 1, what="all messages stored")
    before = comparable(gw.get("/api/hall"))  # type: ignore[arg-type]

    gw.kill9()
    gw.start()
    after = comparable(gw.get("/api/hall"))  # type: ignore[arg-type]
    assert after == before
    # the retained state is delivered again on resubscribe and recognised as already applied
    wait_until(lambda: gw.health()["counters"]["received"] >= 1, what="the retained state")  # type: ignore[index]
    assert comparable(gw.get("/api/hall")) == before  # type: ignore[arg-type]


def test_kill_9_mid_stream_loses_and_doubles_nothing(
    mosquitto: MosquittoProcess, publisher: Publisher, gateway_factory: Callable[..., GatewayProcess], midday: str
) -> None:
    """Messages are acknowledged to the broker only after they are in SQLite, so a crash loses none of them."""
    gw = gateway_factory(mosquitto.url, "--config", midday).start()
    stream = tickets(4000)
    stream_with_disruption(publisher, stream, lambda: gw.accepted() > 800, gw.kill9)
    publisher.wait(60)
    gw.start()
    wait_until(
        lambda: gw.get("/api/hall")["totals"]["waiting"] == len(stream),  # type: ignore[index]
        timeout=60,
        what="every ticket after the crash",
    )
    hall = gw.get("/api/hall")
    assert sum(s["issued_today"] for s in hall["services"]) == len(stream)  # type: ignore[index]


def test_bad_config_stops_start_up_with_every_field_path(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "hall:\n  id: h1\n  timezone: Mars/Olympus\n"
        "mqtt:\n  url: http://broker\n"
        "storage:\n  retention_dayz: 3\n"
        "services:\n  tax: {name: 税务}\n"
        "windows:\n  W1: {services: [tax, land], shifts: ['13:00-12:00']}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "edge.cli", "gateway", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 2
    for path in ("hall.timezone", "mqtt.url", "storage.retention_dayz", "windows.W1.shifts"):
        assert path in result.stderr, (path, result.stderr)
    # cross-references are checked once the shapes are right
    config.write_text("hall: {id: h1}\nservices:\n  tax: {name: 税务}\nwindows:\n  W1: {services: [tax, land]}\n")
    result = subprocess.run(
        [sys.executable, "-m", "edge.cli", "gateway", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 2
    assert "windows.W1.services[1]: unknown service 'land'" in result.stderr
