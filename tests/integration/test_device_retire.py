"""On a real mosquitto: a device retired by clearing its retained state leaves the hall (and stays gone after a
restart); a device publishing under its hall id cased otherwise is heard, counted and dead-lettered as `wrong_hall`;
commands on the hall's topics are not device input."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from edge.broker import MosquittoProcess
from tests.integration.conftest import CST, GatewayProcess, Publisher, wait_until


def _devices(gw: GatewayProcess) -> dict[str, dict[str, object]]:
    listed = gw.get("/api/devices")
    assert isinstance(listed, list)
    return {d["device_id"]: d for d in listed}


def test_a_retired_device_leaves_the_hall_and_another_halls_message_is_counted(
    mosquitto: MosquittoProcess, publisher: Publisher, gateway_factory: Callable[..., GatewayProcess], midday: str
) -> None:
    gw = gateway_factory(mosquitto.url, "--config", midday).start()
    now = datetime.now(CST).isoformat()
    state = {"v": 1, "ts": now, "seq": 1, "online": True, "location": "1F-A-03", "firmware": "5.1.0"}
    publisher.send("hall/h1/kiosk/k1/state", json.dumps(state), retain=True)
    publisher.send("hall/h1/kiosk/k2/hb", json.dumps({"v": 1, "ts": now, "seq": 1}))
    publisher.wait()
    wait_until(lambda: gw.accepted() == 2, what="the kiosks")
    k1 = _devices(gw)["k1"]
    assert (k1["location"], k1["reported_location"], k1["firmware"]) == ("1F-A-03", "1F-A-03", "5.1.0")

    publisher.send("hall/H1/kiosk/k3/hb", json.dumps({"v": 1, "ts": now, "seq": 1}))  # the hall id cased otherwise
    publisher.send("hall/h1/window/W1/cmd", json.dumps({"v": 1, "ts": now, "cmd_id": "c1", "type": "nudge"}))
    publisher.send("hall/h1/kiosk/k1/state", b"", retain=True)  # k1 is retired
    publisher.wait()
    wait_until(lambda: gw.accepted() == 3, what="the retirement")
    counters = gw.counters()
    assert counters["rejected"] == {"wrong_hall": 1}
    assert counters["ignored"] >= 1  # the command
    assert set(_devices(gw)) == {"k2"}
    letters = gw.get("/api/dead-letters?reason=wrong_hall")
    assert isinstance(letters, list)
    assert [d["topic"] for d in letters] == ["hall/H1/kiosk/k3/hb"]
    assert "case-sensitive" in letters[0]["detail"]

    # killed: the hall comes back from its saved state and the event log after it, which holds the retirement (or the
    # broker, which has not had it acknowledged, delivers it again); and the broker holds no state of k1 to bring back
    gw.kill9()
    gw.start()
    assert set(_devices(gw)) == {"k2"}
