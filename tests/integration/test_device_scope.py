"""Device scope on a real mosquitto with the password file and ACL that `hallops devices add` writes (issue 17): the
ACL keeps each device under its own topics, and the gateway keeps it to what is its own. Each attack of the field
report is sent by a real device with its own credentials and is refused as `out_of_scope` — counted in
/api/health, kept as a dead letter with its topic and field path — while the same devices' own messages take effect.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.broker import MosquittoProcess
from edge.credentials import Registry
from tests.integration.conftest import GatewayProcess, wait_until
from tests.integration.test_device_credentials import Client, secured

__all__ = ["secured"]  # the broker with the generated password file and ACL (a fixture of the credentials test)

DEVICES = {"EV01": "evaluator", "EV02": "evaluator", "CAM-1": "camera", "CAM-2": "camera"}  # TM01, TM02: secured's
CONFIG = {
    "windows": {"W01": {}, "W02": {}},
    "devices": {
        "EV01": {"type": "evaluator", "windows": ["W01"]},
        "EV02": {"type": "evaluator"},  # binds itself to the first window it rates
        "CAM-1": {"type": "camera", "zones": ["wait-a"], "seats": ["W01"]},
        "CAM-2": {"type": "camera"},  # owns what no other camera lists or reported first
    },
}


class Device:
    """One device on the broker under its own credentials, publishing its events in order with its own `seq`."""

    def __init__(self, broker: MosquittoProcess, device_id: str, kind: str, password: str) -> None:
        self.topic = f"hall/h1/{kind}/{device_id}/evt"
        self.seq = 0
        deadline = time.monotonic() + 10
        while True:  # mosquitto re-reads its password file on SIGHUP, a moment after it is sent
            self.client = Client(broker.port, device_id, password)
            if self.client.accepted():
                break
            self.client.close()
            assert time.monotonic() < deadline, f"{device_id} was never let in"
            time.sleep(0.1)

    def send(self, event: str, **fields: object) -> str:
        self.seq += 1
        body = {"v": 1, "ts": datetime.now(UTC).isoformat(), "seq": self.seq, "type": event, **fields}
        self.client.c.publish(self.topic, json.dumps(body), qos=1).wait_for_publish(5)
        return self.topic


@pytest.fixture
def hall(
    secured: tuple[MosquittoProcess, Registry, dict[str, str]], tmp_path: Path
) -> Iterator[tuple[GatewayProcess, dict[str, Device]]]:
    broker, registry, passwords = secured
    passwords |= {device_id: registry.add(device_id, kind, "h1") for device_id, kind in DEVICES.items()}
    broker.reload()
    secret = tmp_path / "gateway.password"
    secret.write_text(passwords["hallops-gateway"] + "\n", encoding="utf-8")
    config = tmp_path / "gateway.yaml"
    mqtt = {"username": "hallops-gateway", "password_file": str(secret)}
    config.write_text(yaml.safe_dump({"mqtt": mqtt, **CONFIG}), encoding="utf-8")
    gw = GatewayProcess(tmp_path, broker.url, "--config", str(config)).start()
    kinds = {"TM01": "ticket_machine", "TM02": "ticket_machine", **DEVICES}
    devices = {device_id: Device(broker, device_id, kind, passwords[device_id]) for device_id, kind in kinds.items()}
    try:
        yield gw, devices
    finally:
        for d in devices.values():
            d.client.close()
        gw.close()


def counted(gw: GatewayProcess, accepted: int, out_of_scope: int) -> None:
    def arrived() -> bool:
        c = gw.counters()
        return bool(c["accepted"] >= accepted and c["rejected"].get("out_of_scope", 0) >= out_of_scope)

    wait_until(arrived, what=f"{accepted} accepted, {out_of_scope} out of scope")
    c = gw.counters()
    assert (c["accepted"], c["rejected"].get("out_of_scope", 0)) == (accepted, out_of_scope), c


def api(gw: GatewayProcess, path: str) -> Any:
    return gw.get(path)


def window(gw: GatewayProcess, window_id: str) -> dict[str, Any]:
    return next(w for w in api(gw, "/api/windows") if w["window_id"] == window_id)


def waiting(gw: GatewayProcess, service: str) -> int:
    return int(next(s for s in api(gw, "/api/services") if s["code"] == service)["waiting"])


def test_each_device_changes_only_what_is_its_own(hall: tuple[GatewayProcess, dict[str, Device]]) -> None:
    gw, d = hall
    tm01, tm02, ev01, ev02, cam1, cam2 = (d[k] for k in ("TM01", "TM02", "EV01", "EV02", "CAM-1", "CAM-2"))
    # what is their own: a ticket, a rating of each pad's window, each camera's zone and seat
    tm01.send("ticket.issued", ticket_id="t1", number="A001", service="SB")
    ev01.send("rating.submitted", window_id="W01", score=5)
    ev02.send("rating.submitted", window_id="W02", score=4)  # EV02's first window: W02 is its own from now on
    cam1.send("occupancy", zones={"wait-a": 3}, staff_present={"W01": True})
    cam2.send("occupancy", zones={"wait-b": 2}, staff_present={"W02": True})
    counted(gw, 5, 0)

    refused = [  # the field report, each from a device that is let in and publishes under its own topic
        (tm02.send("ticket.cancelled", ticket_id="t1", reason="left"), "ticket_id"),
        (tm02.send("ticket.reactivated", ticket_id="t1"), "ticket_id"),
        (ev01.send("rating.submitted", window_id="W02", score=1), "window_id"),
        (ev02.send("rating.submitted", window_id="W01", score=1), "window_id"),
        (ev02.send("rating.skipped", window_id="W01"), "window_id"),
        (cam2.send("occupancy", zones={"wait-b": 2}, staff_present={"W01": False}), "staff_present.W01"),
        (cam2.send("occupancy", zones={"wait-a": 0}), "zones.wait-a"),
    ]
    counted(gw, 5, len(refused))
    letters = api(gw, f"/api/dead-letters?reason=out_of_scope&limit={len(refused)}")
    assert sorted((x["topic"], x["path"]) for x in letters) == sorted(refused)
    assert api(gw, "/api/health")["dead_letters"] == {"out_of_scope": len(refused)}

    assert waiting(gw, "SB") == 1  # tm02 did not cancel it
    assert (window(gw, "W01")["rated_today"], window(gw, "W02")["rated_today"]) == (1, 1)  # no bad ratings
    assert window(gw, "W01")["staff_present"] is True  # CAM-2 did not empty CAM-1's seat
    zones = {z["zone_id"]: (z["camera_id"], z["count"]) for z in api(gw, "/api/hall")["zones"]}
    assert zones == {"wait-a": ("CAM-1", 3), "wait-b": ("CAM-2", 2)}

    # and the owners' own changes still take effect after the attacks
    tm01.send("ticket.cancelled", ticket_id="t1", reason="left")
    ev02.send("rating.skipped", window_id="W02")
    cam1.send("occupancy", zones={"wait-a": 5}, staff_present={"W01": False})
    counted(gw, 8, len(refused))
    assert waiting(gw, "SB") == 0
    assert window(gw, "W02")["rating_skipped_today"] == 1
    assert window(gw, "W01")["staff_present"] is False
