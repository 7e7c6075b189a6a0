"""A simulated hall day through the real gateway, in-process on a manual clock, as fast as the CPU allows.

`HallDay` owns what mosquitto and the event loop do around `edge.gateway.Gateway` in production, for tests of the
hall model and the rules over long simulated periods: it hands the gateway every message of a
`devices.simulator.HallSimulation` as the broker would deliver it (as `devices.simulator.publisher` publishes it: a
`connect` is no message, a `disconnect` is the last will the broker publishes), on a `FixedClock` that reads hall
time, into a real SQLite file, and the devices' answers to the gateway's commands as the publisher's devices give
them (devices/simulator/acks.py: a device that is connected when a command is sent acknowledges it at once; one that
is not never hears that send); and it evaluates the decision layer at the hall times the live decision loop
(`edge.decisions.Decider.run`) would on a device clock at `speed` — at every deadline the decider names, after new
messages (batched at most every `MIN_INTERVAL_S` of wall time), and at least every `MAX_SLEEP_S` of wall time.
`api()` serves the gateway's HTTP API in-process (`httpx.ASGITransport`).

It must not open a broker link, sleep, or take hall time from the wall clock; it drives the gateway only through
its own methods (`open`, `handle`, `flush`, `close`, `decider.evaluate`). The transport itself (broker → gateway
process) is tested on a real mosquitto in tests/integration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType

import httpx

from devices.contract import COMMANDS_BY_DEVICE
from devices.simulator import HallSimulation
from devices.simulator.acks import Acknowledger
from devices.simulator.model import HallTruth
from edge.api import create_app
from edge.config import GatewayConfig, load_config
from edge.decisions import MAX_SLEEP_S, MIN_INTERVAL_S, Decider
from edge.gateway import Gateway
from rules.clock import FixedClock
from rules.commands import CommandStatus


class HallDay:
    """The gateway of `cfg` in-process, its clock moved by the messages played into it. A context manager: entering
    opens the gateway (store, restore, rule versions, decider) at `at`; leaving closes it (flush, state saved).

    `speed` is the device clock's (default: the configuration's): the live loop's wall-time intervals are that many
    times longer in hall time, so it decides when the live gateway would have decided at that speed."""

    def __init__(self, cfg: GatewayConfig, at: datetime, *, speed: float | None = None) -> None:
        self.speed = cfg.clock.speed if speed is None else speed
        self.clock = FixedClock(at)
        self.gateway = Gateway(cfg, clock=self.clock)
        self.evaluations = 0
        self._batch = timedelta(seconds=MIN_INTERVAL_S * self.speed)  # the live loop's batching of messages
        self._longest = timedelta(seconds=MAX_SLEEP_S * self.speed)  # … and its longest sleep
        self._last: datetime | None = None  # the last evaluation (none yet: the first message is decided on at once)
        self._due = at  # the next evaluation, as the loop's sleep stands now (set on entering)
        self._woken = False  # a message woke the loop, which is batching until `_due`
        self._again = False  # messages came while it batched: its event is set again, it wakes at once after
        self._devices: dict[str, Acknowledger] = {}  # the simulated devices that answer commands, by id
        self._away: set[str] = set()  # devices disconnected (their last will published)
        self._delivered: set[tuple[str, int]] = set()  # (cmd_id, attempt) sent while its device was there, or not
        self._commands_seen = -1  # the command tracker's version when the sends were last looked at

    def __enter__(self) -> HallDay:
        self.gateway.open()
        self._due = self.clock.now() + self._sleep(self.clock.now())
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.gateway.close()

    @property
    def decider(self) -> Decider:
        assert self.gateway.decider is not None, "the gateway is open"
        return self.gateway.decider

    def play(self, simulation: HallSimulation, until: datetime | None = None) -> HallTruth:
        """Deliver the simulation's messages in timeline order, deciding as the live loop would, and go on deciding
        until `until` (default: the simulation's end). Returns the simulation's truth after its last message."""
        self._devices |= {
            device: Acknowledger(kind) for device, kind in simulation.device_types().items() if COMMANDS_BY_DEVICE[kind]
        }
        for m in simulation.messages():
            if m.kind == "connect":  # the broker learns the will; the gateway hears nothing
                self._away.discard(m.device_id)
            else:
                if m.kind == "disconnect":
                    self._away.add(m.device_id)
                self.deliver(m.topic, m.payload, m.at)  # a disconnect's topic and payload are its will
        self.advance(until or simulation.end)
        self.gateway.flush()
        return simulation.truth()

    def deliver(self, topic: str, payload: bytes, at: datetime) -> None:
        """One message as the broker delivers it at hall time `at` (after every evaluation due by then)."""
        self.advance(at)
        before = self.gateway.counters.accepted
        self.gateway.handle(topic, payload, at)  # QoS 0: there is no broker to acknowledge to
        if self.gateway.counters.accepted > before:  # the decider heard it (Decider.heard sets the loop's event)
            self._heard(at)

    def advance(self, to: datetime) -> None:
        """Let hall time run to `to`: every evaluation the live loop would make by then, then the clock at `to`."""
        while self._due <= to:
            self._evaluate(self._due)
        self.clock.set(to)

    def jump(self, to: datetime) -> None:
        """The hall's clock jumps to `to`, back or forward, as a device clock does at its first device message after
        running on the box's date (or a box's clock stepped by NTP). The live loop sleeps on the wall clock, so it
        evaluates again within its longest sleep; here at once."""
        self.clock.set(to)
        self._due, self._last, self._woken, self._again = to, None, False, False

    @asynccontextmanager
    async def api(self, auth: httpx.Auth | None = None) -> AsyncIterator[httpx.AsyncClient]:
        """The gateway's HTTP API (edge.api.create_app), in-process: no server, no port."""
        app = create_app(self.gateway)
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1", auth=auth, timeout=300
            ) as client:
                yield client
        finally:
            app.state.auth.close()

    # -- the live decision loop, in hall time ---------------------------------------------------------------

    def _sleep(self, now: datetime) -> timedelta:
        """Decider._sleep_for in hall time: until the next deadline, at most the longest sleep."""
        deadline = self.decider.next_deadline()
        if deadline is None:
            return self._longest
        return min(self._longest, max(timedelta(0), deadline - now))

    def _evaluate(self, at: datetime) -> None:
        self.clock.set(at)
        self.gateway.flush()  # the live gateway commits whenever the broker's queue is drained
        self.decider.evaluate()
        self.evaluations += 1
        self._last = at
        deadline = self.decider.next_deadline()
        if deadline is not None and deadline <= at:
            raise AssertionError(
                f"after the evaluation at {at} the next deadline {deadline} is already due: the live loop would spin"
            )
        if self._again:  # the loop's event was set while it batched: it wakes at once and batches again
            self._again, self._woken = False, True
            self._due = at + min(self._batch, self._sleep(at))
        else:
            self._woken = False
            self._due = at + self._sleep(at)
        self._answer(at)

    def _answer(self, at: datetime) -> None:
        """The devices' acknowledgements of the commands the evaluation sent (or sent again), heard at once."""
        tracker = self.decider.commands
        if tracker.version == self._commands_seen:
            return
        for c in tracker.commands:
            device = self._devices.get(c.device_id)
            if c.status is not CommandStatus.PENDING or device is None or (c.cmd_id, c.attempts) in self._delivered:
                continue
            self._delivered.add((c.cmd_id, c.attempts))
            if c.device_id in self._away:
                continue  # its session is clean: this send is lost to it
            answer = device.answer(c.payload.encode(), at)
            if answer is not None:
                before = self.gateway.counters.accepted
                self.gateway.handle(f"{c.topic}/ack", answer, at)
                if self.gateway.counters.accepted > before:
                    self._heard(at)
        self._commands_seen = tracker.version

    def _heard(self, at: datetime) -> None:
        """A message reached the decider at `at`: it wakes a sleeping loop, which evaluates at once if the last
        evaluation is `MIN_INTERVAL_S` (wall) ago, else when that has passed — or at a deadline before then."""
        if self._woken:
            self._again = True
            return
        self._woken = True
        wait = self._batch - (at - self._last) if self._last is not None else timedelta(0)
        self._due = at + min(wait, self._sleep(at)) if wait > timedelta(0) else at


def plain_config(db: Path, hall: str, speed: float) -> GatewayConfig:
    """What `hallops gateway --hall HALL --db DB --clock device --speed SPEED` runs with: nothing else configured (the
    gateway learns the hall from its messages; the built-in rules)."""
    return load_config(
        None, {"hall": {"id": hall}, "storage": {"path": str(db)}, "clock": {"mode": "device", "speed": speed}}
    )


def disagreements(hall: Mapping[str, object], truth: Mapping[str, object]) -> dict[str, object]:
    """What differs between the gateway's hall (`/api/hall`) and the simulator's truth (`HallTruth`, as JSON): queues,
    window statuses and devices online. Empty when they agree."""
    waiting = {s["code"]: s["waiting"] for s in hall["services"]}  # type: ignore[attr-defined]
    windows = {w["window_id"]: w["status"] for w in hall["windows"]}  # type: ignore[attr-defined]
    online = {d["device_id"]: d["online"] for d in hall["devices"]}  # type: ignore[attr-defined]
    diff: dict[str, object] = {}
    for label, ours, theirs in (
        ("waiting", waiting, truth["waiting"]),
        ("windows", windows, truth["windows"]),
        ("devices_online", online, truth["devices_online"]),
    ):
        assert isinstance(theirs, dict)
        wrong = {k: (ours.get(k), v) for k, v in theirs.items() if ours.get(k) != v}
        if wrong:
            diff[label] = wrong
    return diff
