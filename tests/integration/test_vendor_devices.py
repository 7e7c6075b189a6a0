"""A vendor ticket machine that speaks its own JSON, mapped by the shipped example config, through a real broker."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from edge.broker import MosquittoProcess
from tests.integration.conftest import ROOT, GatewayProcess, Publisher, wait_until

EXAMPLE = ROOT / "deploy" / "gateway.example.yaml"


# the vendor's local time (the hall's, Asia/Shanghai), a minute ago: within the gateway's plausibility window
NOW = datetime.now(ZoneInfo("Asia/Shanghai")).replace(microsecond=0) - timedelta(minutes=1)


def test_vendor_ticket_machine_is_mapped_to_the_contract(
    mosquitto: MosquittoProcess, publisher: Publisher, gateway_factory: Callable[..., GatewayProcess]
) -> None:
    gw = gateway_factory(mosquitto.url, "--config", str(EXAMPLE), hall="county-01")  # --db overrides storage.path
    gw.start()
    report = {
        "hdr": {"cmd": 1001, "sn": "QM200-3F-07", "msgNo": 5812, "time": f"{NOW:%Y-%m-%d %H:%M:%S}"},
        "data": {
            "ticketNo": "20261123A023",
            "showNo": "A023",
            "bizCode": "BDC",
            "queueKind": "2",
            "bookingId": "YY-889",
            "printed": True,
        },
    }
    publisher.send("acme/QM200/QM200-3F-07/report", json.dumps(report))
    status = {
        "st": 1,
        "hdr": {"msgNo": 5813, "time": f"{NOW + timedelta(seconds=1):%Y-%m-%d %H:%M:%S}"},
        "prn": {"state": "LOW", "paper": 9},
    }
    publisher.send("acme/QM200/QM200-3F-07/status", json.dumps(status))
    unknown = {**report, "hdr": {**report["hdr"], "cmd": 1009, "msgNo": 5814}}
    publisher.send("acme/QM200/QM200-3F-07/report", json.dumps(unknown))
    publisher.wait()
    wait_until(lambda: gw.accepted() == 2, what="the mapped messages")
    wait_until(lambda: gw.health()["counters"]["rejected"] == {"vendor_mapping": 1}, what="the unmapped code")  # type: ignore[index]

    hall = gw.get("/api/hall")
    land = next(s for s in hall["services"] if s["code"] == "BDC")  # type: ignore[index]
    assert (land["name"], land["waiting"], land["waiting_by_channel"]) == ("不动产登记", 1, {"appointment": 1})
    machine = next(d for d in hall["devices"] if d["device_id"] == "QM200-3F-07")  # type: ignore[index]
    assert (machine["device_type"], machine["health"], machine["paper_pct"]) == ("ticket_machine", "degraded", 9)
    dead = gw.get("/api/dead-letters")
    assert dead[0]["path"] == "hdr.cmd"  # type: ignore[index]
