"""A pure, deterministic discrete-event simulation of a government service hall (政务服务大厅).

Owns the simulated hall — people arriving and taking tickets, windows calling and serving them, kiosks, rating
pads, cameras, device health and the scenario's incidents — and turns it into the MQTT timeline the hall's devices
would publish: `SimMessage`s in time order, every payload valid under `devices.contract`. It also keeps the ground
truth (`HallTruth`) so tests and demos can check what the gateway derives from the messages.

Pure: no I/O, no asyncio, no wall clock. Randomness comes from `random.Random` streams seeded from the seed and a
purpose name, so the same scenario, seed, start and end give a byte-identical message list, and changing one
device's settings does not reshuffle every other stream. Time is kept as integer milliseconds since the epoch.

How the queue works (the way halls run it):
- arrivals per service are a non-homogeneous Poisson process (thinning): rate × weekday × time-of-day curve × surge;
- a person takes a ticket on an online ticket machine that has paper (appointments check in first); with none,
  they are turned away;
- a free, open, staffed window calls the next ticket of its services, FIFO on issue time minus a per-channel boost
  (green channel, priority, appointment ahead of walk-ins); the person walks up or misses the call; after
  `max_calls` calls it is a no-show, and some no-shows come back and are re-activated (green channel);
- a service ends in `service.completed` (or `ticket.transferred` back into another queue); the window's evaluator
  then gets a rating or a skip;
- people who wait past their patience leave; some cancel their ticket, the rest become no-shows when called.

An optional `controller` opens, closes, staffs and pauses windows during the run (what a qms does on `window.assign`),
for benchmarks of staffing policies: an assign naming a person logged in at another window moves them there (that
window pauses, reason `moved`, and gets them back when they are sent back), and with `lunch_by_controller` the
windows take their breaks only when told. With a controller, whatever happens to a person after they take a ticket
(calls missed, walking up, service time, outcome, giving up) is drawn from that ticket's own random streams, so the
same seed brings the same people with the same needs whatever the controller does. Without one, nothing changes.
A controller may also post a mobile-post person as a guide (`GuideCommand`, 流动岗): while free they meet each person
arriving for the services of their zone before the ticket machine, send those whose business a kiosk can do to a free
kiosk, and send home those whose documents are missing (caught with `guide.catch_returned`), each drawn from that
person's own streams (`_triage`), so a run that never posts a guide is the same day as before.

Why one module of about 1,500 lines: it is one discrete-event loop over one shared state (people, windows, devices
and their random streams), and its determinism (same seed, same day) rests on the order in which that loop draws
from those streams. It is a tool, not the product, and well tested; the seams for a split when it next grows are
people (arrive, wait, leave), windows (call, serve, breaks, controller), device health, and emission.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Literal, TypeAlias
from zoneinfo import ZoneInfo

from devices.contract import DisplayStatus, KioskOutcome, PrinterStatus, ServiceOutcome, TicketChannel
from devices.simulator.scenario import (
    ArrivalProfile,
    ArrivalSurge,
    CallScreen,
    Camera,
    DeviceOffline,
    DistributionKind,
    Evaluator,
    Kiosk,
    KioskErrorBurst,
    PrinterPaperOut,
    Scenario,
    ScreenBlank,
    Service,
    ServiceTime,
    StaffLeaves,
    TicketMachine,
    Window,
    Zone,
    ZoneKind,
    parse_time_of_day,
)
from devices.topics import Channel, DeviceType, build_topic
from devices.units import WEEKDAYS

MessageKind = Literal["publish", "disconnect", "connect"]
WindowStatus = Literal["open", "paused", "closed"]
CommandAction = Literal["open", "assign", "close", "pause", "resume"]
PauseReason = Literal["lunch", "moved"]
GuideAction = Literal["post", "recall"]

WILL_PAYLOAD = b'{"v":1,"online":false}'
_PAPER_LOW_PCT = 15
_NATURAL_REFILL_MS = 15 * 60_000
_KIOSK_LINE_MAX = 3
_KIOSK_ERROR_CODES = ("print_fail", "upload_fail", "backend_timeout", "card_reader_fail", "ui_freeze")


@dataclass(frozen=True, slots=True)
class SimMessage:
    """One step of the timeline.

    `publish`: send `payload` on `topic`. `disconnect`: drop the device's connection abruptly so the broker
    publishes its last will (`topic`/`payload` name that will). `connect`: (re)connect the device with that will.
    """

    at: datetime
    device_id: str
    kind: MessageKind
    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass(frozen=True, slots=True)
class WindowCommand:
    """What a controller asks of the hall's queue system (docs/simulator.md, "Controlling the windows").

    `open`: a closed window opens for `services` (its configured ones when empty), staffed by `staff_id` (its
    configured staff when None), and calls at once; a window that is not closed is left as it is.
    `assign` (what a qms does on `window.assign`): a closed or paused window opens as `open` does; an open one
    serves `services` (its configured ones when empty) from now on, staffed by `staff_id` (None: whoever is there).
    A `staff_id` logged in at another window moves them: that window pauses (reason `moved`).
    `close`: the window closes once its current ticket is done (`window.closed`, reason `released`).
    `pause`: the window goes on break once its current ticket is done (`window.paused`, reason `lunch`).
    `resume`: the break is over (`window.resumed`, or the person takes their seat back from whoever covered it).
    """

    action: CommandAction
    window_id: str
    services: tuple[str, ...] = ()
    staff_id: str | None = None


@dataclass(frozen=True, slots=True)
class GuideCommand:
    """A mobile-post person (流动岗, a scenario `staff` member) as a guide (docs/simulator.md, "The mobile post").

    `post`: `staff_id` goes to the queue area `zone` (a waiting zone: they meet the people of its services; None: every
    arriving person) and meets people from now on; posting someone already posted moves them to `zone`.
    `recall`: they leave the queue area (a person they are with is finished first). An `open` or `assign` that puts
    them at a window ends their post too.
    """

    action: GuideAction
    staff_id: str
    zone: str | None = None


Controller: TypeAlias = Callable[[datetime], Iterable[WindowCommand | GuideCommand]]
"""Called at every whole simulated minute with the time; the commands it returns take effect at once."""


@dataclass(frozen=True, slots=True)
class HallTruth:
    """What really is in the hall after the last message produced so far (per service unless said otherwise).

    `waiting`: tickets issued, re-activated or transferred in, not yet called nor cancelled. `wait_p95_min`: over
    tickets called so far (issue → first call). `zones`: true people counts at the last camera reading. `staff_at`
    (per window): who is logged in there, also while on a break; None when it is closed or its person was moved away.
    """

    at: datetime
    waiting: dict[str, int]
    windows: dict[str, WindowStatus]
    devices_online: dict[str, bool]
    issued: dict[str, int]
    completed: dict[str, int]
    no_shows: dict[str, int]
    cancelled: dict[str, int]
    reactivated: dict[str, int]
    transferred_out: dict[str, int]
    turned_away: dict[str, int]
    longest_wait_min: dict[str, float]
    wait_p95_min: dict[str, float]
    served_by_window: dict[str, int]
    staff_present: dict[str, bool]
    staff_at: dict[str, str | None]
    zones: dict[str, int]
    messages: int
    guided: dict[str, int]  # people a guide met (流动岗), per service …
    guided_to_kiosk: dict[str, int]  # … sent to a kiosk …
    guided_home: dict[str, int]  # … sent home, their documents missing, before taking a ticket …
    guided_kiosk_failed: dict[str, int]  # … whose kiosk session failed (they took a ticket after it)
    guides: tuple[str, ...]  # posted now

    def to_json(self) -> str:
        body: dict[str, object] = {f.name: getattr(self, f.name) for f in dataclass_fields(self)}
        body["at"] = self.at.isoformat()
        return json.dumps(body, ensure_ascii=False, indent=2, sort_keys=False)


# ---------------------------------------------------------------------------------------------- internals

Fields = dict[str, object]  # a payload body, private to this module


@dataclass(slots=True, eq=False)
class _Device:
    id: str
    type: DeviceType
    evt: str
    state: str
    hb: str
    hb_ms: int
    location: str | None
    seq: int = 0
    online: bool = True
    connected_ms: int = 0
    buffer: list[tuple[int, str, Fields]] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class _Ticket:
    id: str
    number: str
    service: str
    channel: TicketChannel
    issued_ms: int
    rank_ms: int
    order: int
    machine: _Machine
    zone: str | None
    people: int
    status: str = "waiting"  # waiting / called / serving / done / no_show / cancelled
    present: bool = True  # in the hall (False once they walked out)
    away: bool = False  # stepped out when called: misses every call of this round
    in_zone: str | None = None
    first_called_ms: int | None = None
    rng: random.Random | None = None  # with a controller: this person's own draws (calls, patience)
    service_rng: random.Random | None = None  # … and their service's (time, outcome, transfer)


@dataclass(slots=True, eq=False)
class _Machine:
    cfg: TicketMachine
    dev: _Device
    remaining: int
    forced: PrinterStatus | None = None

    def status(self) -> PrinterStatus:
        if self.forced is not None:
            return self.forced
        if self.remaining <= 0:
            return PrinterStatus.PAPER_OUT
        return PrinterStatus.PAPER_LOW if self.pct() <= _PAPER_LOW_PCT else PrinterStatus.OK

    def pct(self) -> int:
        return max(0, min(100, math.ceil(self.remaining * 100 / self.cfg.tickets_per_roll)))

    def usable(self) -> bool:
        return self.dev.online and self.status() is not PrinterStatus.PAPER_OUT


@dataclass(slots=True, eq=False)
class _Screen:
    cfg: CallScreen
    dev: _Device
    blank: bool = False

    def down(self) -> bool:
        return self.blank or not self.dev.online


@dataclass(slots=True, eq=False)
class _Rater:
    cfg: Evaluator
    dev: _Device
    scores: tuple[int, ...]
    weights: tuple[float, ...]


@dataclass(slots=True, eq=False)
class _Window:
    cfg: Window
    dev: _Device
    index: int
    services: tuple[str, ...]
    status: WindowStatus = "closed"
    phase: str = "idle"  # idle / calling / serving / wrap
    ticket: _Ticket | None = None
    attempt: int = 0
    idle_since: int = 0
    pause_pending: bool = False
    pause_reason: PauseReason = "lunch"  # of the pause that is pending, or of the current one
    shift_over: bool = False
    overtime_until: int = 0
    staff_absent: bool = False
    served: int = 0
    screens: list[_Screen] = field(default_factory=list)
    rater: _Rater | None = None
    call_token: int = 0
    released: bool = False  # a controller closed it: it closes once free
    staff_id: str | None = None  # who is logged in (None: moved away); set when it opens
    on_break: str | None = None  # who went on a break here (they take the seat back when it ends)
    waiting_for: str | None = None  # paused: its person was moved away and resumes it when sent back
    arriving_from: _Window | None = None  # its person is finishing a ticket at that window first

    def staff_present(self) -> bool:
        return self.status == "open" and not self.staff_absent and self.arriving_from is None

    def can_call(self) -> bool:
        return (
            self.status == "open"
            and self.phase == "idle"
            and not self.staff_absent
            and not self.pause_pending
            and self.arriving_from is None
            and self.dev.online
        )


@dataclass(slots=True, eq=False)
class _KioskRun:
    cfg: Kiosk
    dev: _Device
    remaining_paper_pct: int
    paper_out: bool = False
    busy: bool = False
    line: deque[int] = field(default_factory=deque)
    error_code: str | None = None
    guided: int = 0  # people a guide brought, at it now (their sessions do not hold it up for the others)

    def usable(self) -> bool:
        return self.dev.online and not self.paper_out


@dataclass(slots=True, eq=False)
class _Guide:
    staff_id: str
    zone: str | None
    services: frozenset[str]  # whose people they meet (empty: everyone)
    free_ms: int  # with a person until then


@dataclass(slots=True, eq=False)
class _Person:
    """Someone a guide met who did not take a ticket at once: the number they would have taken (`key`: their streams'
    name) and their own draws."""

    key: str
    rng: random.Random
    channel: TicketChannel


@dataclass(slots=True, eq=False)
class _CameraRun:
    cfg: Camera
    dev: _Device


@dataclass(slots=True)
class _Curve:
    """A piecewise-linear time-of-day multiplier; minutes since local midnight → factor."""

    minutes: list[float]
    factors: list[float]

    @classmethod
    def of(cls, profile: ArrivalProfile) -> _Curve:
        points = sorted(
            (t.hour * 60 + t.minute + t.second / 60, f)
            for t, f in ((parse_time_of_day(k), v) for k, v in profile.time_of_day.items())
        )
        return cls([p[0] for p in points], [p[1] for p in points])

    def at(self, minute: float) -> float:
        xs, ys = self.minutes, self.factors
        if minute <= xs[0]:
            return ys[0]
        if minute >= xs[-1]:
            return ys[-1]
        hi = 1
        while xs[hi] < minute:
            hi += 1
        x0, x1, y0, y1 = xs[hi - 1], xs[hi], ys[hi - 1], ys[hi]
        return y0 + (y1 - y0) * (minute - x0) / (x1 - x0)

    def peak(self) -> float:
        return max(self.factors)


@dataclass(slots=True)
class _Stream:
    """A Poisson process over one day, thinned from `peak_per_ms` by `rate_per_ms(t)`."""

    rng: random.Random
    midnight_ms: int
    stop_ms: int
    per_hour: float
    curve: _Curve
    surges: list[tuple[int, int, float]]
    peak_per_ms: float
    on_arrival: Callable[[], None]

    def rate_per_ms(self, ms: int) -> float:
        rate = self.per_hour * self.curve.at((ms - self.midnight_ms) / 60_000) / 3_600_000
        for start, end, factor in self.surges:
            if start <= ms < end:
                rate *= factor
        return rate


def _lognormal(rng: random.Random, mean: float, cv: float) -> float:
    if cv <= 0:
        return mean
    s2 = math.log(1 + cv * cv)
    return rng.lognormvariate(math.log(mean) - s2 / 2, math.sqrt(s2))


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _sample_service_time(rng: random.Random, spec: ServiceTime) -> float:
    """Minutes, capped at 5 × the mean: a stuck case is closed or handed on by then."""
    if spec.distribution is DistributionKind.FIXED:
        return spec.mean_min
    if spec.distribution is DistributionKind.EXPONENTIAL:
        minutes = rng.expovariate(1 / spec.mean_min)
    else:
        minutes = _lognormal(rng, spec.mean_min, spec.cv)
    return min(minutes, 5 * spec.mean_min)


def _p95(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)], 1)


def _aware(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def day_bounds(scenario: Scenario, on: date) -> tuple[datetime, datetime]:
    """The hall's opening and closing time on `on`, in the hall's time zone."""
    zone = ZoneInfo(scenario.hall.timezone)
    return (
        datetime.combine(on, scenario.hall.opens, tzinfo=zone),
        datetime.combine(on, scenario.hall.closes, tzinfo=zone),
    )


@dataclass(frozen=True, slots=True)
class ScenarioLunch:
    """A window's lunch break in the scenario: `span` (start, end) on the day asked for, from the window's `lunch` or
    else the hall's (None when neither names one); `covers_lunch` (午休不休): the window takes no break then."""

    span: tuple[datetime, datetime] | None
    covers_lunch: bool


def scenario_lunches(scenario: Scenario, on: date) -> dict[str, ScenarioLunch]:
    """Every window's lunch break on `on` as the scenario has it, in the hall's time zone (what a break planner
    starts from; with `lunch_by_controller` the simulation itself takes none of them)."""
    zone = ZoneInfo(scenario.hall.timezone)
    out: dict[str, ScenarioLunch] = {}
    for w in scenario.windows:
        lunch = w.lunch or scenario.hall.lunch
        span = (
            (datetime.combine(on, lunch.start, tzinfo=zone), datetime.combine(on, lunch.end, tzinfo=zone))
            if lunch is not None
            else None
        )
        out[w.id] = ScenarioLunch(span, w.covers_lunch)
    return out


# ---------------------------------------------------------------------------------------------- simulation


class HallSimulation:
    """The hall between `start` and `end` (aware datetimes; naive ones are read in the hall's time zone).

    `messages()` yields the timeline once, lazily; `truth()` may be called at any point while iterating.
    `controller`, if given, is called at every whole minute and may open, close, staff and pause windows
    (`WindowCommand`); it runs after every message before that minute has been yielded, so it can decide on what a
    gateway has seen. `lunch_by_controller`: the windows take no lunch of their own (the scenario's); they pause and
    resume only on the controller's `pause` and `resume`.
    """

    def __init__(  # noqa: PLR0915 - the simulation's state, set up in one place (its random streams in a fixed order)
        self,
        scenario: Scenario,
        seed: int,
        start: datetime,
        end: datetime,
        *,
        controller: Controller | None = None,
        lunch_by_controller: bool = False,
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self.controller = controller
        self.lunch_by_controller = lunch_by_controller
        self.zone = ZoneInfo(scenario.hall.timezone)
        self.start = _aware(start, self.zone).astimezone(self.zone)
        self.end = _aware(end, self.zone).astimezone(self.zone)
        if self.end <= self.start:
            raise ValueError("the simulation must end after it starts")
        self._start_ms = _ms(self.start)
        self._end_ms = _ms(self.end)
        self._now = self._start_ms
        self._heap: list[tuple[int, int, Callable[[], None]]] = []
        self._order = 0
        self._out: list[SimMessage] = []
        self._started = False
        self._stamp_ms = -1
        self._stamp_at = self.start
        self._stamp_ts = ""
        self._last_at = self.start
        self._sent = 0

        hall = scenario.hall.id
        self._services: dict[str, Service] = {s.code: s for s in scenario.services}
        self._curves = {name: _Curve.of(p) for name, p in scenario.arrival_profiles.items()}
        self._devices: dict[str, _Device] = {}
        periods = scenario.heartbeat_s

        def device(device_id: str, kind: DeviceType, period: float, location: str | None) -> _Device:
            dev = _Device(
                id=device_id,
                type=kind,
                evt=build_topic(hall, kind, device_id, Channel.EVT),
                state=build_topic(hall, kind, device_id, Channel.STATE),
                hb=build_topic(hall, kind, device_id, Channel.HB),
                hb_ms=round(period * 1000),
                location=location,
            )
            self._devices[device_id] = dev
            return dev

        self._machines = [
            _Machine(
                m,
                device(m.id, DeviceType.TICKET_MACHINE, periods.ticket_machine, m.location),
                round(m.tickets_per_roll * m.paper_pct / 100),
            )
            for m in scenario.ticket_machines
        ]
        self._windows = [
            _Window(w, device(w.id, DeviceType.WINDOW, periods.window, w.location), i, w.services, staff_id=w.staff_id)
            for i, w in enumerate(scenario.windows)
        ]
        self._window_by_id = {w.cfg.id: w for w in self._windows}
        self._screens = [
            _Screen(s, device(s.id, DeviceType.CALL_SCREEN, periods.call_screen, s.location))
            for s in scenario.call_screens
        ]
        self._kiosks = [
            _KioskRun(k, device(k.id, DeviceType.KIOSK, periods.kiosk, k.location), k.paper_pct)
            for k in scenario.kiosks
        ]
        self._kiosk_by_id = {k.cfg.id: k for k in self._kiosks}
        self._raters = []
        for e in scenario.evaluators:
            scores = tuple(sorted(e.scores))
            rater = _Rater(
                e,
                device(e.id, DeviceType.EVALUATOR, periods.evaluator, e.location),
                scores,
                tuple(e.scores[s] for s in scores),
            )
            self._raters.append(rater)
            for wid in e.windows:
                self._window_by_id[wid].rater = rater
        self._cameras = [
            _CameraRun(c, device(c.id, DeviceType.CAMERA, periods.camera, c.location)) for c in scenario.cameras
        ]
        for screen in self._screens:
            for w in self._windows:
                if not screen.cfg.windows or w.cfg.id in screen.cfg.windows:
                    w.screens.append(screen)
        self._machine_by_id = {m.cfg.id: m for m in self._machines}

        # waiting areas a service's ticket holders sit in
        self._zones: dict[str, Zone] = {z.id: z for c in scenario.cameras for z in c.zones}
        self._seat_zones: dict[str, list[str]] = {code: [] for code in self._services}
        for z in self._zones.values():
            if z.kind is ZoneKind.WAITING:
                for code in z.services or tuple(self._services):
                    self._seat_zones[code].append(z.id)
        self._zone_people: dict[str, int] = {zid: 0 for zid in self._zones}
        self._zone_truth: dict[str, int] = {zid: 0 for zid in self._zones}
        self._hall_open = False

        self._queues: dict[str, list[_Ticket]] = {code: [] for code in self._services}
        self._numbers: dict[str, int] = {}
        self._appointments = 0
        self._ticket_order = 0
        self._waits: dict[str, list[float]] = {code: [] for code in self._services}
        counters = ("issued", "completed", "no_shows", "cancelled", "reactivated", "transferred_out", "turned_away")
        self._counts: dict[str, dict[str, int]] = {c: dict.fromkeys(self._services, 0) for c in counters}
        self._guides: dict[str, _Guide] = {}  # the mobile post (流动岗): guides posted now
        self._guided = {c: dict.fromkeys(self._services, 0) for c in ("met", "to_kiosk", "home", "kiosk_failed")}
        self._skipped: dict[str, int] = {}  # day/service → people a guide kept from taking a ticket of it (yet)

        def rng(purpose: str) -> random.Random:
            return random.Random(f"{seed}/{purpose}")

        self._rng_people = rng("people")
        self._rng_service = rng("service")
        self._rng_rating = rng("rating")
        self._rng_kiosk = rng("kiosk")
        self._rng_camera = rng("camera")
        self._rng_phase = rng("phase")
        self._rng = rng

    # -- public -------------------------------------------------------------------------------------------

    def messages(self) -> Iterator[SimMessage]:
        """The timeline in time order, lazily. Can be iterated once."""
        if self._started:
            raise RuntimeError("HallSimulation.messages() can be iterated only once; make a new simulation")
        self._started = True
        self._begin()
        yield from self._drain()
        heap = self._heap
        while heap and heap[0][0] < self._end_ms:
            ms, _, callback = heapq.heappop(heap)
            self._now = ms
            callback()
            if self._out:
                yield from self._drain()

    def device_types(self) -> dict[str, DeviceType]:
        """Every simulated device: its id → its type."""
        return {dev.id: dev.type for dev in self._devices.values()}

    def truth(self) -> HallTruth:
        """The ground truth after the last message yielded so far."""
        now = self._now
        longest: dict[str, float] = {}
        for code, queue in self._queues.items():
            oldest = min((t.issued_ms for t in queue), default=None)
            longest[code] = round((now - oldest) / 60_000, 1) if oldest is not None else 0.0
        return HallTruth(
            at=self._last_at,
            waiting={code: len(q) for code, q in self._queues.items()},
            windows={w.cfg.id: w.status for w in self._windows},
            devices_online={d.id: d.online for d in self._devices.values()},
            issued=dict(self._counts["issued"]),
            completed=dict(self._counts["completed"]),
            no_shows=dict(self._counts["no_shows"]),
            cancelled=dict(self._counts["cancelled"]),
            reactivated=dict(self._counts["reactivated"]),
            transferred_out=dict(self._counts["transferred_out"]),
            turned_away=dict(self._counts["turned_away"]),
            longest_wait_min=longest,
            wait_p95_min={code: _p95(values) for code, values in self._waits.items()},
            served_by_window={w.cfg.id: w.served for w in self._windows},
            staff_present={w.cfg.id: w.staff_present() for w in self._windows},
            staff_at={w.cfg.id: w.staff_id if w.status != "closed" else None for w in self._windows},
            zones=dict(self._zone_truth),
            guided=dict(self._guided["met"]),
            guided_to_kiosk=dict(self._guided["to_kiosk"]),
            guided_home=dict(self._guided["home"]),
            guided_kiosk_failed=dict(self._guided["kiosk_failed"]),
            guides=tuple(self._guides),
            messages=self._sent,
        )

    # -- timeline plumbing ----------------------------------------------------------------------------------

    def _drain(self) -> Iterator[SimMessage]:
        out, self._out = self._out, []
        for message in out:
            self._sent += 1
            self._last_at = message.at
            yield message

    def _at(self, ms: int, callback: Callable[[], None]) -> None:
        if ms < self._end_ms:
            self._order += 1
            heapq.heappush(self._heap, (max(ms, self._now), self._order, callback))

    def _stamp(self) -> tuple[datetime, str]:
        if self._stamp_ms != self._now:
            self._stamp_ms = self._now
            self._stamp_at = self.start + timedelta(milliseconds=self._now - self._start_ms)
            self._stamp_ts = self._stamp_at.isoformat(timespec="milliseconds")
        return self._stamp_at, self._stamp_ts

    def _publish(self, dev: _Device, topic: str, body: Fields, qos: int, retain: bool) -> None:
        at, _ = self._stamp()
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        self._out.append(SimMessage(at, dev.id, "publish", topic, payload, qos, retain))

    def _event(self, dev: _Device, kind: str, fields: Fields) -> None:
        if not dev.online:
            # A window terminal keeps its events and sends them on reconnect (store-and-forward); the other
            # devices' events are lost while they are off the network.
            if dev.type is DeviceType.WINDOW:
                dev.buffer.append((self._now, kind, fields))
            return
        self._send_event(dev, kind, fields, self._stamp()[1])

    def _send_event(self, dev: _Device, kind: str, fields: Fields, ts: str) -> None:
        dev.seq += 1
        self._publish(dev, dev.evt, {"v": 1, "type": kind, "ts": ts, "seq": dev.seq, **fields}, 1, False)

    def _send_state(self, dev: _Device) -> None:
        if not dev.online:
            return  # the current state goes out on reconnect
        dev.seq += 1
        body: Fields = {"v": 1, "online": True, "ts": self._stamp()[1], "seq": dev.seq}
        if dev.location:
            body["location"] = dev.location
        body.update(self._health(dev))
        self._publish(dev, dev.state, body, 1, True)

    def _health(self, dev: _Device) -> Fields:
        if dev.type is DeviceType.TICKET_MACHINE:
            m = self._machine_by_id[dev.id]
            return {"firmware": "tm-3.2.1", "printer": m.status().value, "paper_pct": m.pct()}
        if dev.type is DeviceType.CALL_SCREEN:
            s = next(s for s in self._screens if s.dev is dev)
            display = DisplayStatus.BLANK if s.blank else DisplayStatus.OK
            return {"display": display.value, "content_version": "2024.11-1"}
        if dev.type is DeviceType.KIOSK:
            k = self._kiosk_by_id[dev.id]
            status = (
                PrinterStatus.PAPER_OUT
                if k.paper_out
                else PrinterStatus.PAPER_LOW
                if k.remaining_paper_pct <= _PAPER_LOW_PCT
                else PrinterStatus.OK
            )
            fields: Fields = {"printer": status.value, "paper_pct": k.remaining_paper_pct, "app_version": "5.4.0"}
            if k.error_code:
                fields["error_code"] = k.error_code
            return fields
        if dev.type is DeviceType.EVALUATOR:
            return {"battery_pct": 80 + (sum(map(ord, dev.id)) % 21)}
        if dev.type is DeviceType.CAMERA:
            cam = next(c for c in self._cameras if c.dev is dev)
            return {"fps": cam.cfg.fps, "last_frame_age_s": round(1 / cam.cfg.fps, 2)}
        return {}

    def _heartbeat(self, dev: _Device) -> None:
        if dev.online:
            dev.seq += 1
            uptime = round((self._now - dev.connected_ms) / 1000, 1)
            body: Fields = {"v": 1, "ts": self._stamp()[1], "seq": dev.seq, "uptime_s": uptime}
            self._publish(dev, dev.hb, body, 0, False)
        self._at(self._now + dev.hb_ms, partial(self._heartbeat, dev))

    def _connect(self, dev: _Device) -> None:
        at, _ = self._stamp()
        self._out.append(SimMessage(at, dev.id, "connect", dev.state, WILL_PAYLOAD, 1, True))
        dev.online = True
        dev.connected_ms = self._now

    def _disconnect(self, dev: _Device) -> None:
        at, _ = self._stamp()
        self._out.append(SimMessage(at, dev.id, "disconnect", dev.state, WILL_PAYLOAD, 1, True))
        dev.online = False

    # -- schedule -------------------------------------------------------------------------------------------

    def _begin(self) -> None:
        for dev in self._devices.values():
            self._connect(dev)
            self._send_state(dev)
        for dev in self._devices.values():
            phase = round(self._rng_phase.uniform(0, dev.hb_ms))
            self._at(self._start_ms + phase, partial(self._heartbeat, dev))
        occupancy_ms = round(self.scenario.occupancy_s * 1000)
        for cam in self._cameras:
            phase = round(self._rng_phase.uniform(0, occupancy_ms))
            self._at(self._start_ms + phase, partial(self._occupancy, cam, occupancy_ms))
        day = self.start.date()
        while day <= self.end.date():
            self._plan_day(day)
            day += timedelta(days=1)
        if self.controller is not None:
            self._at(-(-self._start_ms // 60_000) * 60_000, self._control)

    def _local_ms(self, day: date, at: time) -> int:
        return _ms(datetime.combine(day, at, tzinfo=self.zone))

    def _plan_day(self, day: date) -> None:
        sc, hall = self.scenario, self.scenario.hall
        weekday = WEEKDAYS[day.weekday()]
        tag = day.isoformat()
        for incident in sc.incidents:
            self._plan_incident(day, incident)
        if weekday not in hall.open_weekdays:
            return
        opens, closes = self._local_ms(day, hall.opens), self._local_ms(day, hall.closes)
        last_ticket = self._local_ms(day, sc.last_ticket)
        day_end = closes + round(hall.overtime.total_seconds() * 1000)
        midnight = self._local_ms(day, time(0))
        if day_end <= self._start_ms:
            return
        self._at(opens, partial(self._set_hall_open, True))
        self._at(closes, partial(self._set_hall_open, False))
        self._at(day_end, self._end_of_day)
        if opens <= self._start_ms < closes:
            self._hall_open = True

        surges: dict[str, list[tuple[int, int, float]]] = {}
        for incident in sc.incidents:
            if isinstance(incident, ArrivalSurge):
                begin = self._local_ms(day, incident.at)
                surges.setdefault(incident.service, []).append(
                    (begin, begin + round(incident.duration.total_seconds() * 1000), incident.factor)
                )
        for service in sc.services:
            profile = sc.arrival_profiles[service.profile]
            factor = profile.weekday.get(weekday, 1.0)
            walk_ins = 1.0 - service.appointment_share if sc.bookings is not None else 1.0  # the rest are booked
            self._plan_stream(
                f"{tag}/arrivals/{service.code}",
                midnight,
                opens,
                last_ticket,
                service.arrivals_per_hour * factor * walk_ins,
                self._curves[service.profile],
                surges.get(service.code, []),
                partial(self._arrive_from_stream, service.code),
            )
        if sc.bookings is not None:
            self._plan_bookings(day, midnight, opens, last_ticket)
        for kiosk in self._kiosks:
            profile = sc.arrival_profiles[kiosk.cfg.profile]
            factor = profile.weekday.get(weekday, 1.0)
            self._plan_stream(
                f"{tag}/kiosk/{kiosk.cfg.id}",
                midnight,
                opens,
                closes,
                kiosk.cfg.sessions_per_hour * factor,
                self._curves[kiosk.cfg.profile],
                [],
                partial(self._kiosk_arrival, kiosk),
            )
        for w in self._windows:
            if w.cfg.reserve:
                continue
            shift = w.cfg.shift
            begin = self._local_ms(day, shift.start if shift else hall.opens)
            finish = self._local_ms(day, shift.end if shift else hall.closes)
            if finish <= self._start_ms:
                continue
            self._at(begin, partial(self._shift_starts, w))
            lunch = None if w.cfg.covers_lunch or self.lunch_by_controller else (w.cfg.lunch or hall.lunch)
            if lunch is not None:
                lunch_start, lunch_end = self._local_ms(day, lunch.start), self._local_ms(day, lunch.end)
                if lunch_end > self._start_ms and lunch_start < finish:
                    self._at(lunch_start, partial(self._break_starts, w))
                    self._at(lunch_end, partial(self._break_ends, w))
            overtime_until = day_end if finish >= closes else finish
            self._at(finish, partial(self._shift_ends, w, overtime_until))

    def _plan_stream(
        self,
        purpose: str,
        midnight: int,
        begin: int,
        stop: int,
        per_hour: float,
        curve: _Curve,
        surges: list[tuple[int, int, float]],
        action: Callable[[], None],
    ) -> None:
        if per_hour <= 0 or stop <= begin or stop <= self._start_ms:
            return
        boost = math.prod(max(1.0, f) for _, _, f in surges)
        peak = per_hour * curve.peak() * boost / 3_600_000
        if peak <= 0:
            return
        stream = _Stream(self._rng(purpose), midnight, stop, per_hour, curve, surges, peak, action)
        self._next_candidate(stream, max(begin, self._start_ms))

    def _next_candidate(self, stream: _Stream, after: int) -> None:
        ms = after + max(1, round(stream.rng.expovariate(stream.peak_per_ms)))
        if ms < stream.stop_ms:
            self._at(ms, partial(self._candidate, stream))

    def _candidate(self, stream: _Stream) -> None:
        if stream.rng.random() * stream.peak_per_ms < stream.rate_per_ms(self._now):
            stream.on_arrival()
        self._next_candidate(stream, self._now)

    def _plan_incident(
        self,
        day: date,
        incident: DeviceOffline | PrinterPaperOut | ScreenBlank | KioskErrorBurst | StaffLeaves | ArrivalSurge,
    ) -> None:
        begin = self._local_ms(day, incident.at)
        if isinstance(incident, DeviceOffline):
            dev = self._devices[incident.device]
            finish = begin + _span_ms(incident.duration)
            if finish > self._start_ms:
                self._at(begin, partial(self._go_offline, dev))
                self._at(finish, partial(self._come_back, dev))
        elif isinstance(incident, PrinterPaperOut):
            finish = begin + _span_ms(incident.duration)
            if finish > self._start_ms:
                self._at(begin - _span_ms(incident.low_before), partial(self._paper, incident.device, "low"))
                self._at(begin, partial(self._paper, incident.device, "out"))
                self._at(finish, partial(self._paper, incident.device, "refill"))
        elif isinstance(incident, ScreenBlank):
            screen = next(s for s in self._screens if s.cfg.id == incident.device)
            finish = begin + _span_ms(incident.duration)
            if finish > self._start_ms:
                self._at(begin, partial(self._screen_blank, screen, True))
                self._at(finish, partial(self._screen_blank, screen, False))
        elif isinstance(incident, KioskErrorBurst):
            kiosk = self._kiosk_by_id[incident.device]
            over = _span_ms(incident.over)
            if begin + over > self._start_ms:
                self._at(begin, partial(self._kiosk_fault, kiosk, incident.code))
                for i in range(incident.count):
                    self._at(begin + over * i // incident.count, partial(self._kiosk_error, kiosk, incident.code))
                self._at(begin + over, partial(self._kiosk_fault, kiosk, None))
        elif isinstance(incident, StaffLeaves):
            w = self._window_by_id[incident.window]
            finish = begin + _span_ms(incident.duration)
            if finish > self._start_ms:
                self._at(begin, partial(self._staff_away, w, True))
                self._at(finish, partial(self._staff_away, w, False))
        # arrival surges are folded into the arrival streams by _plan_day

    def _plan_bookings(self, day: date, midnight: int, opens: int, last_ticket: int) -> None:
        """The day's bookings (`scenario.bookings`): each service's appointment share of its arrivals, drawn for the
        whole day from a stream of its own, published at `publish_at` (or the run's start); each booked person comes
        around their slot, or not at all."""
        sc = self.scenario
        assert sc.bookings is not None
        cfg, weekday = sc.bookings, WEEKDAYS[day.weekday()]
        slot_ms = cfg.slot_min * 60_000
        booked: list[tuple[str, int, int | None]] = []  # service, slot start, when they come (None: never)
        for service in sc.services:
            per_hour = service.arrivals_per_hour * sc.arrival_profiles[service.profile].weekday.get(weekday, 1.0)
            per_hour *= service.appointment_share
            curve = self._curves[service.profile]
            peak = per_hour * curve.peak() / 3_600_000
            if peak <= 0:
                continue
            rng = self._rng(f"{day.isoformat()}/bookings/{service.code}")
            t = opens
            while (t := t + max(1, round(rng.expovariate(peak)))) < last_ticket:
                if rng.random() * peak >= per_hour * curve.at((t - midnight) / 60_000) / 3_600_000:
                    continue
                slot = t - (t - midnight) % slot_ms
                comes = rng.random() >= cfg.no_show_share
                come = min(max(slot + round(rng.uniform(*cfg.arrive_min) * 60_000), opens), last_ticket - 1)
                booked.append((service.code, slot, come if comes else None))
        publish = max(self._local_ms(day, cfg.publish_at), self._start_ms)
        for i, (code, slot, arrive) in enumerate(sorted(booked, key=lambda b: (b[1], b[0]))):
            appointment_id = f"YY{day:%Y%m%d}{i + 1:05d}"
            if slot + slot_ms <= publish or (arrive is not None and arrive < self._start_ms):
                continue  # over (or come) before the run began
            self._at(publish, partial(self._publish_booking, code, appointment_id, slot))
            if arrive is not None:
                self._at(arrive, partial(self._issue, code, TicketChannel.APPOINTMENT, None, (appointment_id, slot)))

    def _publish_booking(self, code: str, appointment_id: str, slot: int) -> None:
        assert self.scenario.bookings is not None
        slot_at = datetime.fromtimestamp(slot / 1000, self.zone).isoformat()
        fields: Fields = {
            "appointment_id": appointment_id,
            "service": code,
            "slot": slot_at,
            "slot_min": self.scenario.bookings.slot_min,
        }
        self._event(self._machines[0].dev, "appointment.booked", fields)

    # -- hall and people ----------------------------------------------------------------------------------------

    def _set_hall_open(self, is_open: bool) -> None:
        self._hall_open = is_open

    def _arrive_from_stream(self, code: str) -> None:
        service = self._services[code]
        u = self._rng_people.random()
        if self.scenario.bookings is not None:  # the appointments come as booked (_plan_bookings)
            u = service.appointment_share + u * (1.0 - service.appointment_share)
        if u < service.appointment_share:
            channel = TicketChannel.APPOINTMENT
        elif u < service.appointment_share + service.priority_share:
            channel = TicketChannel.PRIORITY
        else:
            channel = TicketChannel.WALK_IN
        if self._guides and channel is not TicketChannel.APPOINTMENT and self._triage(code, channel):
            return  # a guide sent them to a kiosk or home (an appointment goes straight to check-in)
        self._issue(code, channel)

    def _issue(
        self, code: str, channel: TicketChannel, person: _Person | None = None, booked: tuple[str, int] | None = None
    ) -> None:
        """`person`: someone a guide met, taking their ticket after all (their own draws, their number's streams);
        `booked`: a booked person's appointment id and slot start (ms)."""
        usable = [m for m in self._machines if m.usable()]
        if not usable:
            self._counts["turned_away"][code] += 1
            return
        rng = self._rng_people if person is None else person.rng  # (_skip_issue_draws mirrors these draws)
        machine = usable[rng.randrange(len(usable))] if len(usable) > 1 else usable[0]
        service = self._services[code]
        stamp, _ = self._stamp()
        day_tag = stamp.strftime("%Y%m%d")
        key = f"{day_tag}/{code}"
        self._numbers[key] = self._numbers.get(key, 0) + 1
        number = f"{service.prefix}{self._numbers[key]:03d}"
        ticket_id = f"{day_tag}-{number}"
        seats = self._seat_zones[code]
        zone = seats[rng.randrange(len(seats))] if seats else None
        self._ticket_order += 1
        ticket = _Ticket(
            id=ticket_id,
            number=number,
            service=code,
            channel=channel,
            issued_ms=self._now,
            rank_ms=self._now - self._boost_ms(channel),
            order=self._ticket_order,
            machine=machine,
            zone=zone,
            people=2 if rng.random() < self.scenario.people.companion_share else 1,
        )
        if self.controller is not None:
            # the streams of the number they would have taken had no guide kept anyone before them from a ticket
            who = f"{day_tag}-{service.prefix}{self._numbers[key] + self._skipped.get(key, 0):03d}"
            if person is not None:
                who = person.key
                self._skipped[key] -= 1
            ticket.rng = self._rng(f"ticket/{who}/people")
            ticket.service_rng = self._rng(f"ticket/{who}/service")
        fields: Fields = {"ticket_id": ticket_id, "number": number, "service": code, "channel": channel.value}
        if channel is TicketChannel.APPOINTMENT:
            self._appointments += 1
            appointment_id = f"AP{day_tag}{self._appointments:05d}"
            slot = stamp.replace(minute=stamp.minute - stamp.minute % 30, second=0, microsecond=0)
            if booked is not None:
                appointment_id, slot = booked[0], datetime.fromtimestamp(booked[1] / 1000, self.zone)
            self._event(
                machine.dev,
                "appointment.checked_in",
                {
                    "appointment_id": appointment_id,
                    "service": code,
                    "slot": slot.isoformat(),
                    "ticket_id": ticket_id,
                },
            )
            fields["appointment_id"] = appointment_id
        self._event(machine.dev, "ticket.issued", fields)
        self._counts["issued"][code] += 1
        self._print(machine)
        self._enqueue(ticket)
        patience = _lognormal(rng, self.scenario.people.patience_min, 0.5)
        self._at(self._now + round(patience * 60_000), partial(self._lose_patience, ticket))
        self._dispatch()

    def _boost_ms(self, channel: TicketChannel) -> int:
        return round(self.scenario.calling.boost_min.get(channel.value, 0.0) * 60_000)

    def _enqueue(self, ticket: _Ticket) -> None:
        ticket.status = "waiting"
        self._queues[ticket.service].append(ticket)
        if ticket.present and ticket.in_zone is None and ticket.zone is not None:
            ticket.in_zone = ticket.zone
            self._zone_people[ticket.zone] += ticket.people

    def _leave_zone(self, ticket: _Ticket) -> None:
        if ticket.in_zone is not None:
            self._zone_people[ticket.in_zone] -= ticket.people
            ticket.in_zone = None

    def _print(self, machine: _Machine) -> None:
        before = (machine.status(), machine.pct() // 10)
        machine.remaining -= 1
        if (machine.status(), machine.pct() // 10) != before:
            self._send_state(machine.dev)
        if machine.remaining <= 0 and machine.forced is None:
            self._at(self._now + _NATURAL_REFILL_MS, partial(self._refill, machine))

    def _refill(self, machine: _Machine) -> None:
        machine.remaining = machine.cfg.tickets_per_roll
        machine.forced = None
        self._send_state(machine.dev)

    def _lose_patience(self, ticket: _Ticket) -> None:
        if ticket.status != "waiting":
            return
        ticket.present = False
        self._leave_zone(ticket)
        if (ticket.rng or self._rng_people).random() < self.scenario.people.cancel_share:
            self._cancel(ticket, "left")

    def _cancel(self, ticket: _Ticket, reason: str) -> bool:
        # only the machine that issued a ticket may change it (the gateway's device scope, docs/contract.md)
        machine = ticket.machine if ticket.machine.dev.online else None
        if machine is None:
            return False  # nobody can record it: the ticket stays in the queue and becomes a no-show
        self._queues[ticket.service].remove(ticket)
        ticket.status = "cancelled"
        self._leave_zone(ticket)
        self._event(machine.dev, "ticket.cancelled", {"ticket_id": ticket.id, "reason": reason})
        self._counts["cancelled"][ticket.service] += 1
        return True

    def _reactivate(self, ticket: _Ticket) -> None:
        machine = ticket.machine  # its issuer: no other machine may reactivate it (device scope)
        if not machine.dev.online or not ticket.present:
            return
        if not self._hall_open and not any(w.status == "open" for w in self._windows):
            return
        ticket.channel = TicketChannel.GREEN_CHANNEL
        ticket.rank_ms = self._now - self._boost_ms(TicketChannel.GREEN_CHANNEL)
        ticket.away = False
        ticket.first_called_ms = None
        self._event(
            machine.dev,
            "ticket.reactivated",
            {
                "ticket_id": ticket.id,
                "reason": "missed",
                "service": ticket.service,
            },
        )
        self._counts["reactivated"][ticket.service] += 1
        self._enqueue(ticket)
        self._dispatch()

    def _end_of_day(self) -> None:
        for queue in self._queues.values():
            for ticket in list(queue):
                self._cancel(ticket, "end_of_day")
        for w in self._windows:
            w.shift_over = True
            w.overtime_until = min(w.overtime_until, self._now)
        for w in self._windows:
            if w.status != "closed" and w.phase == "idle":
                self._close(w, "end_of_day")

    # -- windows --------------------------------------------------------------------------------------------

    def _shift_starts(self, w: _Window) -> None:
        if w.status == "closed":  # a controller may have opened it already
            self._open_window(w)

    def _open_window(self, w: _Window, staff_id: str | None = None) -> None:
        w.status = "open"
        w.phase = "idle"
        w.shift_over = False
        w.pause_pending = False
        w.idle_since = self._now
        w.staff_id = staff_id or w.cfg.staff_id
        self._announce(w)
        self._dispatch()

    def _announce(self, w: _Window) -> None:
        fields: Fields = {"window_id": w.cfg.id, "staff_id": w.staff_id, "services": list(w.services)}
        self._event(w.dev, "window.opened", fields)

    def _control(self) -> None:
        assert self.controller is not None
        for command in self.controller(self._stamp()[0]):
            if isinstance(command, GuideCommand):
                self._guide_command(command)
                continue
            w = self._window_by_id.get(command.window_id)
            if w is None:
                raise ValueError(f"the controller named an unknown window {command.window_id!r}")
            if command.action == "open":
                if w.status == "closed":
                    w.services = command.services or w.cfg.services
                    self._open_window(w, command.staff_id)
            elif command.action == "assign":
                self._assign(w, command.services, command.staff_id)
            elif command.action == "pause":
                self._break_starts(w)
            elif command.action == "resume":
                self._break_ends(w)
            elif command.action == "close":
                if w.status != "closed":
                    w.released = True
                    self._shift_ends(w, self._now)
            else:
                raise ValueError(f"the controller asked window {w.cfg.id} for an unknown action {command.action!r}")
            if w.status != "closed" and w.staff_id is not None and w.staff_id in self._guides:
                del self._guides[w.staff_id]  # a guide pulled to a window leaves the queue area
        self._at(self._now + 60_000, self._control)

    def _assign(self, w: _Window, services: tuple[str, ...], staff_id: str | None) -> None:
        """`window.assign`: `w` serves `services` with `staff_id`, who leaves any other window they are logged in at.

        A person moved away from a window that no other window waits for leaves it waiting for them (their own
        window); any other window they leave just pauses. Whoever sat at `w` goes back to the window waiting for them
        (or, if their break was due, takes it while the newcomer covers).
        """
        vacant = w.status != "open" or w.staff_id is None  # closed, paused, or its person is on the way elsewhere
        staff = staff_id or (w.cfg.staff_id if vacant else w.staff_id)
        assert staff is not None
        services = services or w.cfg.services
        if w.status == "open" and w.staff_id == staff and w.services == services:
            return  # nothing changes
        if w.staff_id != staff:
            w.arriving_from = None
        had_own = any(h.waiting_for == staff for h in self._windows)
        for x in self._windows:
            if x.on_break == staff:
                x.on_break = None  # called back from their break
            if x is not w and x.status != "closed" and x.staff_id == staff:
                if x.phase != "idle":
                    w.arriving_from = x
                self._move_away(x, wait=not had_own)
        w.waiting_for = None
        w.services = services
        if w.status != "open":
            self._open_window(w, staff)
            return
        leaving = w.staff_id if w.staff_id != staff else None
        if leaving is not None and w.pause_pending:  # their break was due: they take it while the newcomer covers
            w.on_break, leaving = leaving, None
        if w.staff_id != staff:
            w.pause_pending = False
        w.staff_id = staff
        self._announce(w)
        self._send_back(leaving, w)
        self._dispatch()

    def _move_away(self, x: _Window, *, wait: bool) -> None:
        """The person at `x` is sent elsewhere: `x` pauses (reason `moved`) once its current ticket is done and, when
        `wait`, waits for them to be sent back."""
        x.waiting_for = x.staff_id if wait else None
        x.staff_id = None
        x.pause_reason = "moved"
        if x.status == "paused":  # called away from their break
            self._event(x.dev, "window.paused", {"window_id": x.cfg.id, "reason": "moved"})
        elif x.phase == "idle":
            self._pause(x)
        else:
            x.pause_pending = True

    def _send_back(self, person: str | None, v: _Window) -> None:
        """`person` has left `v` (it closed, or someone else took it): the window waiting for them, if any, has them
        back — it resumes (calling once `v`'s current ticket is done) unless its shift is over."""
        home = next((h for h in self._windows if h is not v and person and h.waiting_for == person), None)
        if home is None:
            return
        home.waiting_for = None
        home.staff_id = person
        if home.status == "open":  # they had not left yet
            home.pause_pending = False
        elif home.status == "paused" and not home.shift_over:
            home.status = "open"
            home.idle_since = self._now
            home.arriving_from = v if v.phase != "idle" else None
            self._event(home.dev, "window.resumed", {"window_id": home.cfg.id})
            self._dispatch()

    def _break_starts(self, w: _Window) -> None:
        if w.status != "open" or w.pause_pending:
            return
        w.pause_reason = "lunch"
        if w.phase == "idle":
            self._pause(w)
        else:
            w.pause_pending = True

    def _pause(self, w: _Window) -> None:
        w.pause_pending = False
        w.status = "paused"
        if w.pause_reason == "lunch":
            w.on_break = w.staff_id
        self._event(w.dev, "window.paused", {"window_id": w.cfg.id, "reason": w.pause_reason})

    def _break_ends(self, w: _Window) -> None:
        """The person on a break at `w` is back (the scenario's lunch ends, or `resume`): a window paused for the break
        resumes; at one a partner covered meanwhile (even if the partner has been moved on), they take their seat back
        and the partner goes back to their own window."""
        if w.pause_pending and w.pause_reason == "lunch":
            w.pause_pending = False  # the break is over before it began
        back, w.on_break = w.on_break, None
        if w.shift_over:
            return
        if w.status == "paused" and w.pause_reason == "lunch":
            w.status = "open"
            w.idle_since = self._now
            self._event(w.dev, "window.resumed", {"window_id": w.cfg.id})
            self._dispatch()
        elif w.status != "closed" and back is not None and back != w.staff_id:
            cover, w.staff_id, w.waiting_for = w.staff_id, back, None
            w.pause_pending = False
            if w.status == "paused":  # the partner who covered was moved on meanwhile
                w.status = "open"
                w.idle_since = self._now
            self._announce(w)
            self._send_back(cover, w)
            self._dispatch()

    def _shift_ends(self, w: _Window, overtime_until: int) -> None:
        w.shift_over = True
        w.overtime_until = overtime_until
        if w.status == "paused" or (w.status == "open" and w.phase == "idle"):
            self._after_shift(w)

    def _after_shift(self, w: _Window) -> None:
        """A window past its shift closes once free, unless tickets of its services still wait (overtime)."""
        if w.status == "open" and self._now < w.overtime_until and any(self._queues[c] for c in w.services):
            return
        self._close(w, "released" if w.released else "shift_end")

    def _close(self, w: _Window, reason: str) -> None:
        if w.status == "closed":
            return
        w.status = "closed"
        w.pause_pending = False
        w.released = False
        w.on_break = w.waiting_for = w.arriving_from = None
        w.services = w.cfg.services  # a controller's assignment lasts until the window closes
        self._event(w.dev, "window.closed", {"window_id": w.cfg.id, "reason": reason})
        self._send_back(w.staff_id, w)

    def _staff_away(self, w: _Window, away: bool) -> None:
        w.staff_absent = away
        if not away:
            w.idle_since = min(w.idle_since, self._now)
            self._dispatch()

    def _dispatch(self) -> None:
        """Every free window calls the best waiting ticket of its services, longest-idle window first."""
        if not any(self._queues.values()):
            return
        free = [w for w in self._windows if w.can_call()]
        if not free:
            return
        free.sort(key=lambda w: (w.idle_since, w.index))
        for w in free:
            best: _Ticket | None = None
            for code in w.services:
                for t in self._queues[code]:
                    if best is None or (t.rank_ms, t.order) < (best.rank_ms, best.order):
                        best = t
            if best is not None:
                self._call(w, best)

    def _call(self, w: _Window, ticket: _Ticket) -> None:
        self._queues[ticket.service].remove(ticket)
        ticket.status = "called"
        if ticket.first_called_ms is None:
            ticket.first_called_ms = self._now
            self._waits[ticket.service].append((self._now - ticket.issued_ms) / 60_000)
        if ticket.present and (ticket.rng or self._rng_people).random() < self.scenario.people.away_share:
            ticket.away = True
        w.phase = "calling"
        w.ticket = ticket
        w.attempt = 0
        self._call_again(w, ticket)

    def _call_again(self, w: _Window, ticket: _Ticket) -> None:
        w.attempt += 1
        w.call_token += 1
        self._event(w.dev, "ticket.called", {"window_id": w.cfg.id, "ticket_id": ticket.id, "attempt": w.attempt})
        miss = self._services[ticket.service].no_show_per_call
        if any(s.down() for s in w.screens):
            miss = min(1.0, miss * max(s.cfg.no_show_factor_when_down for s in w.screens if s.down()))
        calling = self.scenario.calling
        rng = ticket.rng or self._rng_people
        if ticket.present and not ticket.away and rng.random() >= miss:
            walk = rng.uniform(*calling.walk_s)
            self._at(self._now + round(walk * 1000), partial(self._start_service, w, ticket))
        elif w.attempt < calling.max_calls:
            self._at(self._now + round(calling.recall_after_s * 1000), partial(self._call_again, w, ticket))
        else:
            self._at(self._now + round(calling.recall_after_s * 1000), partial(self._no_show, w, ticket))

    def _no_show(self, w: _Window, ticket: _Ticket) -> None:
        self._event(w.dev, "ticket.no_show", {"window_id": w.cfg.id, "ticket_id": ticket.id, "attempt": w.attempt})
        ticket.status = "no_show"
        self._counts["no_shows"][ticket.service] += 1
        people = self.scenario.people
        rng = ticket.rng or self._rng_people
        if ticket.present and rng.random() < people.return_share:
            back = rng.uniform(*people.return_after_min)
            self._at(self._now + round(back * 60_000), partial(self._reactivate, ticket))
        else:
            ticket.present = False
            self._leave_zone(ticket)
        w.ticket = None
        w.phase = "idle"
        w.idle_since = self._now
        self._window_free(w)

    def _start_service(self, w: _Window, ticket: _Ticket) -> None:
        ticket.status = "serving"
        self._leave_zone(ticket)
        w.phase = "serving"
        self._event(w.dev, "service.started", {"window_id": w.cfg.id, "ticket_id": ticket.id})
        rng = ticket.service_rng or self._rng_service
        minutes = _sample_service_time(rng, self._services[ticket.service].service_time)
        self._at(self._now + max(1000, round(minutes * 60_000)), partial(self._complete, w, ticket, self._now))

    def _complete(self, w: _Window, ticket: _Ticket, started_ms: int) -> None:
        service = self._services[ticket.service]
        rng = ticket.service_rng or self._rng_service
        w.ticket = None
        w.served += 1
        transfer = service.transfer
        # a terminal that is off the network cannot hand the ticket on: it completes it instead
        if transfer is not None and w.dev.online and rng.random() < transfer.share:
            to = transfer.to[rng.randrange(len(transfer.to))]
            self._event(w.dev, "ticket.transferred", {"window_id": w.cfg.id, "ticket_id": ticket.id, "to_service": to})
            self._counts["transferred_out"][ticket.service] += 1
            ticket.service = to
            ticket.rank_ms = self._now - self._boost_ms(TicketChannel.PRIORITY)
            ticket.first_called_ms = None
            zones = self._seat_zones[to]
            ticket.zone = zones[rng.randrange(len(zones))] if zones else None
            self._enqueue(ticket)
        else:
            outcomes = list(service.outcomes)
            outcome = rng.choices(outcomes, weights=[service.outcomes[o] for o in outcomes])[0]
            self._event(
                w.dev,
                "service.completed",
                {
                    "window_id": w.cfg.id,
                    "ticket_id": ticket.id,
                    "outcome": outcome.value,
                    "duration_s": round((self._now - started_ms) / 1000, 1),
                },
            )
            ticket.status = "done"
            self._counts["completed"][ticket.service] += 1
            if w.rater is not None:
                self._plan_rating(w, w.rater, ticket, outcome)
        w.phase = "wrap"
        self._at(self._now + round(self.scenario.calling.wrap_up_s * 1000), partial(self._wrapped_up, w))

    def _wrapped_up(self, w: _Window) -> None:
        w.phase = "idle"
        w.idle_since = self._now
        self._window_free(w)

    def _window_free(self, w: _Window) -> None:
        if w.shift_over:
            self._after_shift(w)
        if w.status == "open" and w.pause_pending:
            self._pause(w)
        for v in self._windows:
            if v.arriving_from is w:  # the person who was finishing this ticket takes their new seat
                v.arriving_from = None
                v.idle_since = self._now
        self._dispatch()

    def _plan_rating(self, w: _Window, rater: _Rater, ticket: _Ticket, outcome: ServiceOutcome) -> None:
        rng = self._rng_rating
        if rng.random() < rater.cfg.participation:
            score = rng.choices(rater.scores, weights=rater.weights)[0]
            waited = (ticket.first_called_ms or ticket.issued_ms) - ticket.issued_ms
            if (waited > 30 * 60_000 or outcome is ServiceOutcome.RETURNED) and rng.random() < 0.4:
                score = max(1, score - 1)  # long waits and returned files cost stars
            delay = rng.uniform(3, 15)
            fields: Fields = {"window_id": w.cfg.id, "ticket_id": ticket.id, "score": score}
            self._at(self._now + round(delay * 1000), partial(self._event, rater.dev, "rating.submitted", fields))
        else:
            fields = {"window_id": w.cfg.id, "ticket_id": ticket.id}
            self._at(self._now + 30_000, partial(self._event, rater.dev, "rating.skipped", fields))

    # -- the mobile post (流动岗) -------------------------------------------------------------------------------

    def _guide_command(self, command: GuideCommand) -> None:
        staff = command.staff_id
        if command.action == "recall":
            self._guides.pop(staff, None)
            return
        if command.action != "post":
            raise ValueError(f"the controller asked guide {staff} for an unknown action {command.action!r}")
        if staff not in {m.id for m in self.scenario.staff}:
            raise ValueError(f"the controller posted {staff!r} as a guide: not one of the scenario's `staff`")
        at = next((w.cfg.id for w in self._windows if w.staff_id == staff and w.status != "closed"), None)
        if at is not None:
            raise ValueError(f"the controller posted {staff!r} as a guide while they are at window {at}")
        services: tuple[str, ...] = ()
        if command.zone is not None:
            zone = self._zones.get(command.zone)
            if zone is None or zone.kind is not ZoneKind.WAITING:
                raise ValueError(f"the controller posted {staff!r} to {command.zone!r}, which is not a waiting zone")
            services = zone.services
        posted = self._guides.get(staff)
        free_ms = posted.free_ms if posted else self._now
        self._guides[staff] = _Guide(staff, command.zone, frozenset(services), free_ms)

    def _triage(self, code: str, channel: TicketChannel) -> bool:
        """A free guide posted for `code`'s people meets the person arriving for it, before the ticket machine, for
        `guide.triage_min` (one person at a time: whoever comes meanwhile goes on to take a ticket). Business a kiosk
        can do (`self_service_share`) goes to a free kiosk offering it; documents missing (their window service would
        end `returned`, caught with `guide.catch_returned`) go home. True: they take no ticket now.

        Every draw is the person's own — a stream named after the number they would take (had no guide kept anyone
        before them from a ticket) — and the shared draws `_issue` would have made for them are made all the same, so
        the others keep theirs."""
        guide = next(
            (g for g in self._guides.values() if g.free_ms <= self._now and (not g.services or code in g.services)),
            None,
        )
        if guide is None:
            return False
        service = self._services[code]
        cfg = self.scenario.guide
        day_tag = self._stamp()[0].strftime("%Y%m%d")
        key = f"{day_tag}/{code}"
        who = f"{day_tag}-{service.prefix}{self._numbers.get(key, 0) + self._skipped.get(key, 0) + 1:03d}"
        rng = self._rng(f"ticket/{who}/guide")
        guide.free_ms = self._now + max(1000, round(rng.uniform(*cfg.triage_min) * 60_000))
        self_service = rng.random() < service.self_service_share
        caught = rng.random() < cfg.catch_returned
        self._guided["met"][code] += 1
        kiosk = self._free_kiosk(code) if self_service else None
        if kiosk is not None:
            self._guided["to_kiosk"][code] += 1
            self._guided_session(kiosk, code, _Person(who, rng, channel))
        elif caught and self._would_return(who, service):
            self._guided["home"][code] += 1
        else:
            return False
        self._skip_issue_draws(code)
        self._skipped[key] = self._skipped.get(key, 0) + 1
        return True

    def _skip_issue_draws(self, code: str) -> None:
        """The shared draws `_issue` makes for a person (machine, seat, companion, patience), for one who took no
        ticket: keep this in step with `_issue`."""
        usable = [m for m in self._machines if m.usable()]
        if not usable:
            return
        rng = self._rng_people
        if len(usable) > 1:
            rng.randrange(len(usable))
        if self._seat_zones[code]:
            rng.randrange(len(self._seat_zones[code]))
        rng.random()
        _lognormal(rng, self.scenario.people.patience_min, 0.5)

    def _would_return(self, who: str, service: Service) -> bool:
        """Would this person's window service end `returned` (documents missing)? The draws their own service stream
        makes at the window (`_start_service`, then `_complete`): the time, the transfer, the outcome."""
        rng = self._rng(f"ticket/{who}/service")
        _sample_service_time(rng, service.service_time)
        if service.transfer is not None and rng.random() < service.transfer.share:
            return False
        outcomes = list(service.outcomes)
        return rng.choices(outcomes, weights=[service.outcomes[o] for o in outcomes])[0] is ServiceOutcome.RETURNED

    def _free_kiosk(self, code: str) -> _KioskRun | None:
        return next(
            (
                k
                for k in self._kiosks
                if code in k.cfg.services and k.usable() and not k.busy and not k.line and not k.guided
            ),
            None,
        )

    def _guided_session(self, kiosk: _KioskRun, code: str, person: _Person) -> None:
        """A person a guide brought uses `kiosk` for `code` (the kiosk's outcomes and session length, their draws)."""
        kiosk.guided += 1
        cfg = kiosk.cfg
        outcomes = list(cfg.outcomes)
        outcome = person.rng.choices(outcomes, weights=[cfg.outcomes[o] for o in outcomes])[0]
        minutes = _lognormal(person.rng, cfg.session_min, 0.5) * (0.5 if outcome is KioskOutcome.ABANDON else 1.0)
        duration_ms = max(20_000, round(minutes * 60_000))
        step = "print" if outcome is KioskOutcome.SUCCESS else "upload"
        self._at(self._now + duration_ms, partial(self._guided_done, kiosk, code, outcome, duration_ms, step, person))

    def _guided_done(
        self, kiosk: _KioskRun, code: str, outcome: KioskOutcome, duration_ms: int, step: str, person: _Person
    ) -> None:
        kiosk.guided -= 1
        fields: Fields = {"service": code, "outcome": outcome.value, "duration_s": round(duration_ms / 1000, 1)}
        self._event(kiosk.dev, "kiosk.session", {**fields, "step": step})
        if outcome is not KioskOutcome.SUCCESS:  # not done at the kiosk: they take a ticket for a window after all
            self._guided["kiosk_failed"][code] += 1
            if self._hall_open:
                self._at(self._now + 60_000, partial(self._issue, code, person.channel, person))

    # -- kiosks ---------------------------------------------------------------------------------------------

    def _kiosk_arrival(self, kiosk: _KioskRun) -> None:
        if not kiosk.usable():
            return  # the person walks on to another kiosk or a window; not tracked
        if kiosk.busy:
            if len(kiosk.line) < _KIOSK_LINE_MAX:
                kiosk.line.append(self._now)
            return
        self._kiosk_session(kiosk)

    def _kiosk_session(self, kiosk: _KioskRun) -> None:
        rng = self._rng_kiosk
        cfg = kiosk.cfg
        kiosk.busy = True
        outcomes = list(cfg.outcomes)
        outcome = rng.choices(outcomes, weights=[cfg.outcomes[o] for o in outcomes])[0]
        minutes = _lognormal(rng, cfg.session_min, 0.5)
        if outcome is KioskOutcome.ABANDON:
            minutes *= 0.5
        duration_ms = max(20_000, round(minutes * 60_000))
        service = cfg.services[rng.randrange(len(cfg.services))] if cfg.services else None
        step = {
            KioskOutcome.SUCCESS: "print",
            KioskOutcome.ABANDON: ("identity", "upload")[rng.randrange(2)],
            KioskOutcome.ERROR: ("upload", "print")[rng.randrange(2)],
            KioskOutcome.HANDED_TO_WINDOW: "upload",
        }[outcome]
        if rng.random() < cfg.help_share:
            help_at = self._now + duration_ms // 2
            self._at(help_at, partial(self._event, kiosk.dev, "kiosk.help_requested", {"step": step}))
        if outcome is KioskOutcome.ERROR:
            code = "print_fail" if step == "print" else _KIOSK_ERROR_CODES[rng.randrange(len(_KIOSK_ERROR_CODES))]
            self._at(self._now + duration_ms - 5_000, partial(self._kiosk_error, kiosk, code, step))
        self._at(self._now + duration_ms, partial(self._kiosk_done, kiosk, service, outcome, duration_ms, step))

    def _kiosk_done(
        self, kiosk: _KioskRun, service: str | None, outcome: KioskOutcome, duration_ms: int, step: str
    ) -> None:
        fields: Fields = {"outcome": outcome.value, "duration_s": round(duration_ms / 1000, 1), "step": step}
        if service is not None:
            fields = {"service": service, **fields}
        self._event(kiosk.dev, "kiosk.session", fields)
        if step == "print" and outcome is KioskOutcome.SUCCESS:
            kiosk.remaining_paper_pct = max(0, kiosk.remaining_paper_pct - (1 if self._rng_kiosk.random() < 0.1 else 0))
        if outcome is KioskOutcome.HANDED_TO_WINDOW and service is not None and self._hall_open:
            self._at(self._now + 60_000, partial(self._issue, service, TicketChannel.WALK_IN))
        kiosk.busy = False
        while kiosk.line:
            kiosk.line.popleft()
            if kiosk.usable():
                self._kiosk_session(kiosk)
                return

    def _kiosk_error(self, kiosk: _KioskRun, code: str, step: str | None = None) -> None:
        fields: Fields = {"code": code}
        if step is not None:
            fields["step"] = step
        self._event(kiosk.dev, "kiosk.error", fields)

    def _kiosk_fault(self, kiosk: _KioskRun, code: str | None) -> None:
        kiosk.error_code = code
        self._send_state(kiosk.dev)

    # -- devices and incidents ------------------------------------------------------------------------------

    def _go_offline(self, dev: _Device) -> None:
        if dev.online:
            self._disconnect(dev)

    def _come_back(self, dev: _Device) -> None:
        if dev.online:
            return
        self._connect(dev)
        self._send_state(dev)
        buffered, dev.buffer = dev.buffer, []
        for ms, kind, fields in buffered:
            ts = (self.start + timedelta(milliseconds=ms - self._start_ms)).isoformat(timespec="milliseconds")
            self._send_event(dev, kind, fields, ts)
        self._dispatch()

    def _paper(self, device_id: str, change: str) -> None:
        machine = self._machine_by_id.get(device_id)
        if machine is not None:
            if change == "low":
                machine.remaining = min(machine.remaining, max(1, machine.cfg.tickets_per_roll * 8 // 100))
                machine.forced = PrinterStatus.PAPER_LOW
            elif change == "out":
                machine.remaining = 0
                machine.forced = PrinterStatus.PAPER_OUT
            else:
                machine.remaining = machine.cfg.tickets_per_roll
                machine.forced = None
            self._send_state(machine.dev)
            return
        kiosk = self._kiosk_by_id[device_id]
        if change == "low":
            kiosk.remaining_paper_pct = min(kiosk.remaining_paper_pct, 8)
        elif change == "out":
            kiosk.remaining_paper_pct, kiosk.paper_out = 0, True
        else:
            kiosk.remaining_paper_pct, kiosk.paper_out = 100, False
        self._send_state(kiosk.dev)

    def _screen_blank(self, screen: _Screen, blank: bool) -> None:
        screen.blank = blank
        if blank:
            self._event(screen.dev, "display.error", {"code": "blank"})
        self._send_state(screen.dev)

    # -- cameras --------------------------------------------------------------------------------------------

    def _occupancy(self, cam: _CameraRun, period_ms: int) -> None:
        zones: dict[str, int] = {}
        staff: dict[str, bool] = {}
        rng = self._rng_camera
        for zone in cam.cfg.zones:
            if zone.kind is ZoneKind.WAITING:
                count = self._zone_people[zone.id]
            elif zone.kind is ZoneKind.KIOSK:
                count = sum(
                    int(k.busy) + len(k.line) + k.guided
                    for k in self._kiosks
                    if not zone.kiosks or k.cfg.id in zone.kiosks
                )
            elif zone.kind is ZoneKind.STAFF_SEAT:
                w = self._window_by_id[zone.windows[0]]
                staff[w.cfg.id] = w.staff_present()
                count = int(staff[w.cfg.id])
            else:
                count = sum(1 for wid in zone.windows if self._window_by_id[wid].phase == "serving")
            if self._hall_open and zone.background > 0:
                count += _poisson(rng, zone.background)
            zones[zone.id] = count
        self._zone_truth.update(zones)
        if cam.dev.online:
            self._event(cam.dev, "occupancy", {"zones": zones, "staff_present": staff})
        self._at(self._now + period_ms, partial(self._occupancy, cam, period_ms))


def _ms(moment: datetime) -> int:
    return round(moment.astimezone(UTC).timestamp() * 1000)


def _span_ms(span: timedelta) -> int:
    return round(span.total_seconds() * 1000)


__all__ = [
    "WILL_PAYLOAD",
    "CommandAction",
    "Controller",
    "Fields",
    "GuideAction",
    "GuideCommand",
    "HallSimulation",
    "HallTruth",
    "MessageKind",
    "PauseReason",
    "ScenarioLunch",
    "SimMessage",
    "WindowCommand",
    "WindowStatus",
    "day_bounds",
    "scenario_lunches",
]
