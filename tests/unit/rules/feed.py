"""Contract messages as devices send them, for unit tests of the hall model and the rules (hall time: T0)."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from devices.codec import DeviceMessage, decode
from devices.errors import PayloadError
from devices.simulator import HallSimulation, HallTruth, SimMessage, load_scenario
from devices.simulator.scenario import Scenario
from rules.hall import HallProfile, HallState, ServiceProfile, WindowProfile

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


@dataclass(frozen=True, slots=True)
class SimulatedDay:
    """A simulated day of a packaged hall, as sent and as the gateway decodes it. Built once per test process and
    shared by the tests that replay it; they only read it (the decoded messages and their payloads are frozen)."""

    # each message as sent and as the gateway decodes it; a disconnect carries the will the broker publishes, and a
    # connect is no message
    logged: tuple[tuple[SimMessage, DeviceMessage], ...]
    truth: HallTruth  # what the simulation says is in the hall at closing

    @property
    def messages(self) -> Iterator[DeviceMessage]:
        """The decoded messages in the order the gateway hears them."""
        return (msg for _, msg in self.logged)


@functools.cache
def county_day() -> SimulatedDay:
    """The county hall's Monday (`DAY_OPENS`–`DAY_CLOSES`, seed 1, every incident of the scenario). Simulating and
    decoding it takes seconds, so the hall, KPI and backtest tests replay this one day instead of one day each."""
    simulation = HallSimulation(load_scenario("county"), 1, DAY_OPENS, DAY_CLOSES)
    logged = []
    for m in simulation.messages():
        msg = decode(m.topic, m.payload, m.at) if m.kind != "connect" else None
        if msg is not None:
            logged.append((m, msg))
    return SimulatedDay(tuple(logged), simulation.truth())


def ingest(state: HallState, msg: DeviceMessage) -> tuple[str, str] | None:
    """What the gateway does with a decoded message: admit, then apply; the refusal's reason and path, if any."""
    try:
        state.admit(msg)
    except PayloadError as exc:
        return exc.reason, exc.path
    state.apply(msg)
    return None
