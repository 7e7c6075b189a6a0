"""Commands heard back, on a real mosquitto: the simulated county hall's devices acknowledge the gateway's commands,
except one call screen told not to (`hallops simulate --no-ack call_screen/CS-B`). Its command is sent again with
the same cmd_id on the configured (short) schedule, then the built-in `command-unacknowledged` alert names the screen
and the command; the screens that answer show their command acknowledged in /api/commands."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from edge.broker import MosquittoProcess
from tests.harness import HallopsProcess
from tests.integration.conftest import CST, ROOT, GatewayProcess, Listener, wait_until

START = datetime(2026, 11, 23, 10, 40, tzinfo=CST)  # a Monday
HALL = "county-01"
# a command every call screen gets as soon as it is online: message.show, which call screens take
WELCOME = """
  - id: screens-show-welcome
    description: Every call screen that is online shows a welcome (the test's command).
    when: {metric: device.online, op: "==", value: true, where: {device_type: call_screen}}
    severity: info
    during: always
    then: [{command: {type: message.show, message: "欢迎 / welcome"}}]
"""


def test_a_silent_call_screen_gets_its_command_again_then_an_alert_and_the_others_acknowledge(
    mosquitto: MosquittoProcess,
    gateway_factory: Callable[..., GatewayProcess],
    listener: Listener,
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text((ROOT / "rules" / "pack" / "builtin.yaml").read_text(encoding="utf-8") + WELCOME, "utf-8")
    config = tmp_path / "gateway.yaml"
    config.write_text(
        f"rules: {{file: {rules}}}\n"
        "commands: {ack_waits_s: [1, 1, 2]}\n"  # real seconds (a minute or two of hall time at 60×)
        "clock: {max_lead_s: 86400}\n",  # the hall's clock runs on after the simulation ends
        encoding="utf-8",
    )
    gw = gateway_factory(mosquitto.url, "--config", str(config), "--clock", "device", "--speed", "60", hall=HALL)
    gw.start()
    simulate = HallopsProcess(
        tmp_path / "simulate.log",
        "simulate",
        "--broker",
        mosquitto.url,
        "--scenario",
        "county",
        "--seed",
        "7",
        "--speed",
        "60",
        "--start",
        START.isoformat(),
        "--duration",
        "10m",
        "--no-ack",
        "call_screen/CS-B",
    )
    with simulate:

        def unacknowledged() -> list[dict[str, object]]:
            return [
                a
                for a in listener.alerts("command-unacknowledged", "firing")
                if a["labels"]["device"] == "CS-B"  # type: ignore[index]
            ]

        wait_until(unacknowledged, timeout=60, what="the alert for the silent call screen")
        alert = unacknowledged()[0]
        labels = alert["labels"]
        assert isinstance(labels, dict)
        cmd_id = labels["cmd_id"]
        assert labels == {"cmd_id": cmd_id, "command": "message.show", "device": "CS-B", "device_type": "call_screen"}
        assert alert["notification"] == {"reason": "firing", "roles": ["technician"]}
        assert f"cmd_id={cmd_id}" in str(alert["reason"]) and "device=CS-B" in str(alert["reason"])

        # three deliveries of the very same command to its topic: the first send and two re-sends, nothing after
        topic = f"hall/{HALL}/call_screen/CS-B/cmd"
        deliveries = [m for t, m in listener.messages if t == topic and m["cmd_id"] == cmd_id]
        assert len(deliveries) == 3 and all(m == deliveries[0] for m in deliveries)
        assert deliveries[0]["type"] == "message.show"

        listed = gw.get("/api/commands?device=CS-B&status=unacknowledged")
        assert isinstance(listed, list)
        shown = next(c for c in listed if c["cmd_id"] == cmd_id)
        assert shown["attempts"] == 3 and shown["type"] == "message.show" and shown["device_type"] == "call_screen"
        alerts = gw.get("/api/alerts?rule=command-unacknowledged")
        assert isinstance(alerts, list) and any(a["labels"] == labels for a in alerts)
        tickets = gw.get("/api/tickets")
        assert isinstance(tickets, list)
        faults = [f["rule_id"] for t in tickets if t["device"] == "CS-B" for f in t["faults"]]  # CS-B's ticket
        assert "command-unacknowledged" in faults

        # the screens that listen acknowledged theirs: no alert for them
        def answered(screen: str) -> list[dict[str, object]]:
            rows = gw.get(f"/api/commands?device={screen}&status=acknowledged")
            assert isinstance(rows, list)
            return [c for c in rows if c["type"] == "message.show"]

        for screen in ("CS-A", "CS-MAIN"):
            wait_until(lambda screen=screen: answered(screen), what=f"{screen}'s acknowledgement")
            assert answered(screen)[0]["settled_at"] is not None
        silent = {a["labels"]["device"] for a in listener.alerts("command-unacknowledged")}  # type: ignore[index]
        assert silent == {"CS-B"}
