"""Contract messages as devices send them, for unit tests of the hall model and the rules (hall time: T0)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from devices.codec import DeviceMessage, decode
from devices.simulator import HallSimulation
from devices.simulator.scenario import Scenario
from rules.hall import HallProfile, ServiceProfile, WindowProfile

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=CST)  # a Monday, 09:00 in the hall


@dataclass
class Feed:
    """Builds contract messages the way devices send them (JSON through the real decoder)."""

    seqs: dict[str, int] = field(default_factory=dict)

    def __call__(self, kind: str, device: str, t: float, on: str = "evt", **fields: object) -> DeviceMessage:
        seq = self.seqs[device] = self.seqs.get(device, 0) + 1
        body: dict[str, object] = {"v": 1, "ts": (T0 + timedelta(seconds=t)).isoformat(), "seq": seq, **fields}
        if fields.get("will"):
            body = {"v": 1, "online": False}
        msg = decode(f"hall/h1/{kind}/{device}/{on}", json.dumps(body).encode(), T0 + timedelta(seconds=t))
        assert msg is not None
        return msg


def issue(f: Feed, t: float, ticket: str, service: str = "tax", channel: str = "walk_in") -> DeviceMessage:
    return f(
        "ticket_machine",
        "tm1",
        t,
        type="ticket.issued",
        ticket_id=ticket,
        number=ticket.upper(),
        service=service,
        channel=channel,
    )


def win(f: Feed, t: float, window: str, event: str, **fields: object) -> DeviceMessage:
    return f("window", window, t, type=event, **fields)


def opened(f: Feed, t: float, window: str, *services: str) -> DeviceMessage:
    return win(f, t, window, "window.opened", staff_id=f"staff-{window}", services=list(services or ("tax",)))


# a simulated day of a packaged hall: a Monday from opening to closing, in the hall's time zone
DAY_OPENS = datetime(2026, 11, 23, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
DAY_CLOSES = datetime(2026, 11, 23, 18, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


def profile_of(scenario: Scenario) -> HallProfile:
    """The hall profile a gateway configured from the scenario has (services and windows with their names)."""
    return HallProfile(
        scenario.hall.id,
        scenario.hall.timezone,
        services=tuple(ServiceProfile(s.code, s.name, s.name_en) for s in scenario.services),
        windows=tuple(WindowProfile(w.id, w.name, tuple(w.services)) for w in scenario.windows),
    )


def contract_messages(simulation: HallSimulation) -> Iterator[DeviceMessage]:
    """The simulation's messages as the gateway decodes them (a disconnect carries the will the broker publishes)."""
    for m in simulation.messages():
        msg = decode(m.topic, m.payload, m.at) if m.kind != "connect" else None
        if msg is not None:
            yield msg
