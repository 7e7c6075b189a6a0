"""The decider hears its commands back: a command no device answers is sent again through the outbox on the back-off
schedule and then raises the built-in `command-unacknowledged` alert (and a fault ticket) naming the device and the
command; an acknowledged one is left alone; a restart carries on where it stopped. Real SQLite file, FixedClock."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from edge.config import GatewayConfig, load_config
from edge.decisions import Decider, decider_for
from edge.store import Store
from edge.stream import Broadcaster
from rules.clock import FixedClock
from rules.commands import CommandStatus
from rules.hall import HallState
from rules.language import builtin_rules
from tests.unit.rules.feed import T0, Feed

KIOSK_CMD = "hall/h1/kiosk/K1/cmd"


class Hall:
    """A hall's decider on a real file, on a manual clock, fed as the gateway feeds it."""

    def __init__(
        self, tmp: Path, waits: list[float] | None = None, speed: float | None = None, cfg: GatewayConfig | None = None
    ) -> None:
        """`cfg`: a configuration of the test's own (else hall h1 with `waits` and `speed`)."""
        overrides: dict[str, dict[str, object]] = {"hall": {"id": "h1"}, "storage": {"path": str(tmp / "g.db")}}
        if waits is not None:
            overrides["commands"] = {"ack_waits_s": waits}
        if speed is not None:  # the device clock of a gateway fed by a sped-up simulation (here: the manual clock)
            overrides["clock"] = {"mode": "device", "speed": speed}
        self.cfg: GatewayConfig = cfg or load_config(None, overrides)
        self.store = Store(self.cfg.storage.path)
        self.state = HallState(self.cfg.profile())
        self.clock = FixedClock(T0)
        self.feed = Feed()
        self.decider = self.restart()

    def restart(self) -> Decider:
        self.decider = decider_for(
            self.cfg, builtin_rules(), self.store, self.clock, self.state.snapshot, stream=Broadcaster()
        )
        return self.decider

    def hear(self, kind: str, device: str, seconds: float, on: str = "evt", **fields: object) -> None:
        msg = self.feed(kind, device, seconds, on, **fields)
        self.state.apply(msg)
        self.decider.on_message(msg)

    def at(self, seconds: float) -> None:
        self.clock.set(T0 + timedelta(seconds=seconds))
        self.decider.evaluate()

    def sent_to(self, topic: str) -> list[dict[str, object]]:
        """Every message the outbox holds for `topic`, in order."""
        rows = self.store.outbox.due(T0.timestamp() + 10**9, limit=1000)
        return [json.loads(m.payload) for m in rows if m.target == topic]

    def error_burst(self) -> str:
        """Five kiosk errors in a minute: `kiosk-error-burst` tells the kiosk to run its self-test; its cmd_id."""
        for second in range(1, 6):
            self.hear("kiosk", "K1", second, type="kiosk.error", code="print_fail")
        self.at(6)
        (cmd,) = self.sent_to(KIOSK_CMD)
        assert cmd["type"] == "self_test"
        return str(cmd["cmd_id"])


def test_an_unanswered_command_is_sent_again_then_alerted_with_a_ticket_naming_device_and_command(
    tmp_path: Path,
) -> None:
    hall = Hall(tmp_path)
    cmd_id = hall.error_burst()
    assert hall.decider.next_deadline() == T0 + timedelta(seconds=16)  # the evaluation loop wakes for the re-send
    for second in (15, 16, 35, 36, 75):
        hall.at(second)
    sends = hall.sent_to(KIOSK_CMD)
    assert [c["cmd_id"] for c in sends] == [cmd_id] * 3 and sends[0] == sends[1] == sends[2]
    assert all(a.rule_id != "command-unacknowledged" for a in hall.decider.engine.alerts.values())

    hall.at(76)  # 40 s after the third send
    (alert,) = [a for a in hall.decider.engine.alerts.values() if a.rule_id == "command-unacknowledged"]
    assert alert.labels == {"cmd_id": cmd_id, "command": "self_test", "device": "K1", "device_type": "kiosk"}
    assert alert.state.value == "firing" and "unacknowledged" in alert.reason
    # K1's error-burst ticket is open: the silence joins it (one ticket per device problem), the command named
    (ticket,) = [t for t in hall.decider.tickets.tickets if "command-unacknowledged" in t.rules]
    assert ticket.device == "K1" and cmd_id in ticket.history[-1].note
    assert len(hall.sent_to(KIOSK_CMD)) == 3  # no fourth send
    notes = [json.loads(m.payload) for m in hall.store.outbox.due(T0.timestamp() + 10**9, 1000)]
    assert any(n.get("rule") == "command-unacknowledged" for n in notes)  # told like any alert (MQTT, webhooks)

    # the kiosk answers after all: it did act, late; the alert ends (and its ticket starts verifying)
    hall.hear("kiosk", "K1", 77, on="cmd/ack", cmd_id=cmd_id, ok=True)
    hall.at(78)
    assert all(
        a.rule_id != "command-unacknowledged" or a.state.value == "resolved"
        for a in hall.decider.engine.alerts.values()
    )


def test_an_acknowledged_command_is_sent_once_and_shown_acknowledged(tmp_path: Path) -> None:
    hall = Hall(tmp_path)
    cmd_id = hall.error_burst()
    hall.hear("kiosk", "K1", 7, on="cmd/ack", cmd_id=cmd_id, ok=True)
    hall.hear("kiosk", "K1", 8, on="cmd/ack", cmd_id=cmd_id, ok=True)  # a duplicate: harmless
    for second in range(10, 200, 10):
        hall.at(second)
    assert len(hall.sent_to(KIOSK_CMD)) == 1
    command = hall.decider.commands.get(cmd_id)
    assert command is not None and (command.status, command.attempts) == (CommandStatus.ACKNOWLEDGED, 1)
    assert all(not a.rule_id.startswith("command-") for a in hall.decider.engine.alerts.values())


def test_an_ack_from_another_device_leaves_the_command_waiting(tmp_path: Path) -> None:
    hall = Hall(tmp_path)
    cmd_id = hall.error_burst()
    hall.hear("kiosk", "K2", 7, on="cmd/ack", cmd_id=cmd_id, ok=True)
    hall.at(16)
    assert len(hall.sent_to(KIOSK_CMD)) == 2
    command = hall.decider.commands.get(cmd_id)
    assert command is not None and command.status is CommandStatus.PENDING


def test_a_restart_carries_on_with_the_commands_and_their_ids(tmp_path: Path) -> None:
    hall = Hall(tmp_path, waits=[5, 5])
    cmd_id = hall.error_burst()
    hall.at(11)  # the second (last) send
    hall.store.close()
    hall.store = Store(hall.cfg.storage.path)
    restored = hall.restart()
    command = restored.commands.get(cmd_id)
    assert command is not None and (command.status, command.attempts) == (CommandStatus.PENDING, 2)
    hall.at(12)
    assert restored.commands.get(cmd_id).status is CommandStatus.PENDING  # type: ignore[union-attr]
    hall.at(16)  # its last wait, from the restart
    assert restored.commands.get(cmd_id).status is CommandStatus.UNACKNOWLEDGED  # type: ignore[union-attr]
    assert any(a.rule_id == "command-unacknowledged" for a in restored.engine.alerts.values())
    assert int(cmd_id.rsplit("-", 1)[1]) < next(restored.commands.numbers)  # a new command never reuses an id


def test_with_a_sped_up_device_clock_a_device_still_has_its_real_seconds_to_answer(tmp_path: Path) -> None:
    """A simulation at 60× runs the hall's clock 60 times faster, not the network: the first wait of 10 s is 10 real
    seconds, 10 hall minutes."""
    hall = Hall(tmp_path, speed=60)
    cmd_id = hall.error_burst()
    command = hall.decider.commands.get(cmd_id)
    assert command is not None and command.next_at == command.sent_at + timedelta(minutes=10)


def test_a_command_to_an_offline_device_waits_for_it_without_an_alert(tmp_path: Path) -> None:
    """The kiosk's power is cut right after its self-test was sent: its last will stands, so the command is held (the
    broker keeps it for the kiosk), and `device-offline` says what is wrong — no second alert, no second ticket."""
    hall = Hall(tmp_path)
    cmd_id = hall.error_burst()
    hall.hear("kiosk", "K1", 7, on="state", will=True)
    for second in range(10, 300, 10):
        hall.at(second)
    assert len(hall.sent_to(KIOSK_CMD)) == 1
    command = hall.decider.commands.get(cmd_id)
    assert command is not None and command.status is CommandStatus.PENDING
    assert all(a.rule_id != "command-unacknowledged" for a in hall.decider.engine.alerts.values())
    assert any(a.rule_id == "device-offline" for a in hall.decider.engine.alerts.values())


def test_a_refused_command_is_alerted_unless_the_device_does_not_take_its_type(tmp_path: Path) -> None:
    """A kiosk busy printing cannot run its self-test: the technician hears. `unsupported` is the rules asking the
    device for what it does not do — shown and logged, but nobody on the floor can mend it."""
    hall = Hall(tmp_path)
    cmd_id = hall.error_burst()
    hall.hear("kiosk", "K1", 7, on="cmd/ack", cmd_id=cmd_id, ok=False, error="printer_busy")
    hall.at(8)
    (alert,) = [a for a in hall.decider.engine.alerts.values() if a.rule_id == "command-failed"]
    assert alert.labels == {"cmd_id": cmd_id, "command": "self_test", "device": "K1", "device_type": "kiosk"}

    other = Hall(tmp_path / "other")
    cmd_id = other.error_burst()
    other.hear("kiosk", "K1", 7, on="cmd/ack", cmd_id=cmd_id, ok=False, error="unsupported")
    other.at(8)
    command = other.decider.commands.get(cmd_id)
    assert command is not None and (command.status, command.error) == (CommandStatus.FAILED, "unsupported")
    assert all(not a.rule_id.startswith("command-") for a in other.decider.engine.alerts.values())
