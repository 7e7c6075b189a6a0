"""The scenario file of the hall simulator: the hall, its services, windows, devices and the day's incidents.

Owns the pydantic models of a scenario YAML and `load_scenario`, which validates a file (or a packaged scenario
named `county` / `city`) and reports every problem with its dotted field path, structural errors and bad
cross-references alike. It knows nothing about MQTT or the simulation itself.

Times of day are quoted "HH:MM" strings in the hall's time zone; durations are strings like "90s", "20m",
"1h30m". `docs/simulator.md` describes every field.

Why about 650 lines: a scenario is one document whose ~40 models and whose cross-reference check (services,
windows, devices, incidents naming each other) read best next to each other, as `docs/simulator.md` lists them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveFloat,
    ValidationError,
)

from devices import units
from devices.contract import KioskOutcome, ServiceOutcome
from devices.errors import ConfigError, Problem
from devices.units import Weekday
from devices.validation import UniqueKeyLoader

PACKAGED = Path(__file__).parent / "scenarios"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


# ---------------------------------------------------------------------------------------------- scalar types


def parse_time_of_day(value: object) -> time:
    """ "HH:MM" or "HH:MM:SS" → time. YAML turns an unquoted 10:30 into the number 630, hence the hint."""
    if isinstance(value, time):
        return value
    if not isinstance(value, str):
        raise ValueError('a time of day is a quoted "HH:MM" string (YAML reads an unquoted 10:30 as a number)')
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", value.strip())
    if match is None:
        raise ValueError(f'{value!r} is not a time of day "HH:MM"')
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"{value!r} is not a valid time of day")
    return time(hour, minute, second)


def parse_duration(value: object) -> timedelta:
    """ "90s", "20m", "1.5h", "1h30m" → timedelta: the scenario's grammar of `devices.units.parse_duration` (strings
    only, decimals allowed, positive)."""
    return units.parse_duration(value, positive=True, decimals=True, numbers=False)


def _check_id(value: object) -> object:
    if isinstance(value, str) and not _ID.match(value):
        raise ValueError(f"{value!r} is not a valid id (letters, digits, '_', '-', '.'; at most 64)")
    return value


TimeOfDay = Annotated[time, BeforeValidator(parse_time_of_day)]
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
DeviceId = Annotated[str, BeforeValidator(_check_id)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------------- hall


class Span(_Config):
    """A time span within one day, e.g. a shift or a lunch break."""

    start: TimeOfDay = Field(description='start, "HH:MM" hall time')
    end: TimeOfDay = Field(description='end, "HH:MM" hall time, after start')


class Hall(_Config):
    id: DeviceId = Field(description="hall id, the `{hall_id}` of every topic")
    name: str = Field(description="the hall's Chinese name, e.g. 某县政务服务中心")
    name_en: str = Field(description="the hall's English name")
    timezone: str = Field(description="IANA time zone of the hall, e.g. Asia/Shanghai")
    opens: TimeOfDay = Field(description="doors open and ticket machines start issuing")
    closes: TimeOfDay = Field(description="end of the scheduled day (windows' default shift end)")
    last_ticket: TimeOfDay | None = Field(
        default=None, description="last ticket issued (default: 30 minutes before closing)"
    )
    lunch: Span | None = Field(
        default=None, description="the default lunch break of windows (午休); a window may cover it instead"
    )
    open_weekdays: tuple[Weekday, ...] = Field(
        default=(Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI),
        description="days the hall is staffed; on other days devices stay online but nobody comes",
    )
    overtime: Duration = Field(
        default=timedelta(hours=1),
        description="windows serve the tickets left at shift end for at most this long; the rest are cancelled",
    )


class ArrivalProfile(_Config):
    """How the arrival rate varies: rate(t) = arrivals_per_hour × weekday[day] × time_of_day(t)."""

    weekday: dict[Weekday, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="multiplier per weekday (missing days: 1.0)"
    )
    time_of_day: dict[str, Annotated[float, Field(ge=0)]] = Field(
        description='piecewise-linear multiplier over the day: {"HH:MM": factor}, at least one point'
    )


class DistributionKind(StrEnum):
    LOGNORMAL = "lognormal"
    EXPONENTIAL = "exponential"
    FIXED = "fixed"


class ServiceTime(_Config):
    """Handling time at the window (from `service.started` to `service.completed`)."""

    distribution: DistributionKind = Field(default=DistributionKind.LOGNORMAL)
    mean_min: PositiveFloat = Field(description="mean handling time in minutes (AHT)")
    cv: Annotated[float, Field(ge=0, le=5)] = Field(
        default=0.6, description="coefficient of variation (lognormal only)"
    )


class Transfer(_Config):
    share: Share = Field(description="share of services that end with `ticket.transferred`")
    to: tuple[str, ...] = Field(min_length=1, description="service codes the ticket is transferred to")


class Service(_Config):
    """A business type (事项 / 业务类型) with its own queue."""

    code: Annotated[str, Field(min_length=1, max_length=64)] = Field(description="business type code")
    name: str = Field(description="Chinese name, e.g. 社会保险")
    name_en: str = Field(description="English name")
    prefix: Annotated[str, Field(pattern=r"^[A-Z]{1,3}$")] = Field(
        description="letter(s) in front of ticket numbers, A023"
    )
    arrivals_per_hour: Annotated[float, Field(ge=0)] = Field(
        description="arrival rate when the profile's multipliers are 1"
    )
    profile: str = Field(default="default", description="name of an entry of `arrival_profiles`")
    appointment_share: Share = Field(default=0.0, description="share of arrivals with an appointment (预约)")
    priority_share: Share = Field(default=0.0, description="share of arrivals from special groups (priority)")
    service_time: ServiceTime
    no_show_per_call: Share = Field(
        default=0.05, description="chance that a person who is still in the hall misses one call"
    )
    outcomes: dict[ServiceOutcome, Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: {ServiceOutcome.DONE: 1.0},
        description="relative weights of `service.completed` outcomes",
    )
    transfer: Transfer | None = Field(default=None, description="some services end in a transfer")
    self_service_share: Share = Field(
        default=0.0,
        description="share of arrivals whose business a self-service kiosk can do: a guide (流动岗) who meets them "
        "sends them to a kiosk offering the service (0: the guide sends nobody there)",
    )


class Window(_Config):
    """A service window (窗口) and its terminal: the device id is the window id."""

    id: DeviceId
    name: str = Field(default="", description="display name, e.g. 社保1号窗")
    name_en: str = Field(default="", description="display name in English, e.g. Social insurance window 1")
    services: tuple[str, ...] = Field(min_length=1, description="service codes this window serves")
    staff_id: DeviceId = Field(description="staff member logged in at this window")
    staff_name: str = Field(default="", description="that staff member's name, e.g. 张敏 (the demo's roster)")
    staff_name_en: str = Field(default="", description="… in English, e.g. Zhang Min")
    shift: Span | None = Field(default=None, description="logged in from/to (default: hall opens–closes)")
    lunch: Span | None = Field(default=None, description="this window's lunch break (default: the hall's)")
    covers_lunch: bool = Field(default=False, description="午休不休: this window stays open over lunch")
    reserve: bool = Field(
        default=False, description="a tidal/reserve window (潮汐窗口): online but closed until someone opens it"
    )
    location: str | None = None
    skills: tuple[str, ...] = Field(
        default=(), description="services its staff member can serve besides the window's (跨岗技能), for a controller"
    )
    partner: str | None = Field(default=None, description="the staff id of this staff member's AB partner (AB岗)")


class StaffMember(_Config):
    """Someone without a window of their own whom a controller may call to one: a back-office approver (后台审批) or a
    mobile post (流动岗). The simulation never moves them by itself."""

    id: DeviceId
    name: str = ""
    name_en: str = ""
    kind: Literal["approver", "mobile", "comprehensive"] = "approver"
    skills: tuple[str, ...] = Field(min_length=1, description="services they can serve")


class TicketMachine(_Config):
    """取号机. Arrivals pick an online machine with paper at random."""

    id: DeviceId
    location: str | None = None
    paper_pct: Annotated[int, Field(ge=0, le=100)] = Field(default=100, description="paper at the start")
    tickets_per_roll: Annotated[int, Field(ge=10)] = Field(default=1500, description="tickets a full roll prints")


class CallScreen(_Config):
    """叫号屏. While it is blank or offline, people miss the calls of its windows more often."""

    id: DeviceId
    location: str | None = None
    windows: tuple[str, ...] = Field(default=(), description="windows it shows (empty: all)")
    no_show_factor_when_down: Annotated[float, Field(ge=1)] = Field(
        default=3.0, description="multiplier of no_show_per_call while the screen is down"
    )


class Kiosk(_Config):
    """自助终端."""

    id: DeviceId
    location: str | None = None
    sessions_per_hour: Annotated[float, Field(ge=0)] = Field(description="session rate when multipliers are 1")
    profile: str = Field(default="default", description="name of an entry of `arrival_profiles`")
    services: tuple[str, ...] = Field(default=(), description="services offered (empty: none named)")
    session_min: PositiveFloat = Field(default=4.0, description="mean session length in minutes")
    outcomes: dict[KioskOutcome, Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: {
            KioskOutcome.SUCCESS: 0.78,
            KioskOutcome.ABANDON: 0.12,
            KioskOutcome.ERROR: 0.04,
            KioskOutcome.HANDED_TO_WINDOW: 0.06,
        },
        description="relative weights of session outcomes; handed_to_window sends the person to take a ticket",
    )
    help_share: Share = Field(default=0.08, description="share of sessions with `kiosk.help_requested`")
    paper_pct: Annotated[int, Field(ge=0, le=100)] = 100


class Evaluator(_Config):
    """好差评评价器, at one window or shared by several."""

    id: DeviceId
    windows: tuple[str, ...] = Field(min_length=1, description="windows whose services it rates")
    participation: Share = Field(default=0.7, description="share of completed services that get a rating")
    scores: dict[Annotated[int, Field(ge=1, le=5)], Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: {5: 0.86, 4: 0.09, 3: 0.03, 2: 0.01, 1: 0.01},
        description="relative weights of scores 1–5",
    )
    location: str | None = None


class ZoneKind(StrEnum):
    WAITING = "waiting"  # 等候区: people holding tickets of `services`, their companions, passers-by
    KIOSK = "kiosk"  # 自助区: people using or queueing for `kiosks`
    STAFF_SEAT = "staff_seat"  # the seat behind one window: 1 when staff sit there
    COUNTER = "counter"  # in front of `windows`: people being served


class Zone(_Config):
    id: DeviceId
    kind: ZoneKind
    name: str = Field(default="", description="display name, e.g. 等候区A (staff seats: named after their window)")
    name_en: str = Field(default="", description="display name in English, e.g. Waiting area A")
    services: tuple[str, ...] = Field(default=(), description="waiting: services seated here (empty: all)")
    kiosks: tuple[str, ...] = Field(default=(), description="kiosk: kiosks in view (empty: all)")
    windows: tuple[str, ...] = Field(default=(), description="staff_seat: exactly one window; counter: windows")
    background: Annotated[float, Field(ge=0)] = Field(
        default=0.0, description="mean people without a ticket here while the hall is open (companions aside)"
    )


class Camera(_Config):
    id: DeviceId
    location: str | None = None
    fps: PositiveFloat = 1.0
    zones: tuple[Zone, ...] = Field(min_length=1)


class HeartbeatPeriods(_Config):
    """Seconds between `hb` messages, per device type."""

    ticket_machine: PositiveFloat = 30.0
    window: PositiveFloat = 30.0
    call_screen: PositiveFloat = 30.0
    kiosk: PositiveFloat = 30.0
    evaluator: PositiveFloat = 30.0
    camera: PositiveFloat = 30.0


class Calling(_Config):
    """How windows call tickets (叫号)."""

    max_calls: Annotated[int, Field(ge=1, le=20)] = Field(default=3, description="calls before `ticket.no_show`")
    recall_after_s: PositiveFloat = Field(default=60.0, description="seconds between calls of one ticket")
    walk_s: tuple[PositiveFloat, PositiveFloat] = Field(
        default=(15.0, 90.0), description="[min, max] seconds from the call to `service.started`"
    )
    wrap_up_s: Annotated[float, Field(ge=0)] = Field(
        default=20.0, description="seconds after a completion before the next call"
    )
    boost_min: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: {"green_channel": 30.0, "priority": 20.0, "appointment": 10.0},
        description="minutes a channel is moved ahead of walk-ins (FIFO on issue time minus boost)",
    )


class People(_Config):
    """How the people holding tickets behave."""

    patience_min: PositiveFloat = Field(
        default=90.0, description="mean minutes a person waits before leaving (lognormal, cv 0.5)"
    )
    cancel_share: Share = Field(default=0.3, description="share of people leaving who cancel their ticket")
    return_share: Share = Field(
        default=0.4, description="share of no-shows still in the hall who come back (ticket.reactivated)"
    )
    return_after_min: tuple[PositiveFloat, PositiveFloat] = Field(
        default=(3.0, 20.0), description="[min, max] minutes after the no-show until they ask to be re-activated"
    )
    away_share: Share = Field(
        default=0.04, description="share of people who have stepped out when called and miss every call"
    )
    companion_share: Share = Field(default=0.25, description="share of ticket holders with one companion")


class Guide(_Config):
    """A guide (流动岗) a controller posts to the queue area (docs/simulator.md, "The mobile post"): they meet each
    arriving person while free, one at a time, before the person takes a ticket."""

    triage_min: tuple[PositiveFloat, PositiveFloat] = Field(
        default=(1.0, 2.0), description="[min, max] minutes the guide spends with one person (uniform)"
    )
    catch_returned: Share = Field(
        default=0.0,
        description="chance that the guide finds a met person's documents missing (their window service would end "
        "`returned`) and they leave before taking a ticket (一次性告知)",
    )


class Bookings(_Config):
    """The queue system's booking side (预约): before opening, the first ticket machine publishes the day's bookings
    (`appointment.booked`); the booked people come around their slot, check in and take a ticket of the appointment
    channel. With it, each service's `appointment_share` of its arrivals are these booked people (drawn for the whole
    day ahead), the rest come as walk-ins; without it, an appointment is only seen when the person checks in."""

    publish_at: TimeOfDay = Field(default=time(7, 30), description="when the day's bookings are published")
    slot_min: Annotated[int, Field(ge=5, le=240)] = Field(default=30, description="length of a booking slot")
    no_show_share: Share = Field(default=0.1, description="share of bookings whose person never comes")
    arrive_min: tuple[Annotated[float, Field(ge=-240, le=240)], Annotated[float, Field(ge=-240, le=240)]] = Field(
        default=(-10.0, 20.0),
        description="[min, max] minutes from the slot's start at which a booked person comes (uniform; negative: "
        "early)",
    )


# ---------------------------------------------------------------------------------------------- incidents


class _Incident(_Config):
    at: TimeOfDay = Field(description='when it starts, "HH:MM" hall time')


class DeviceOffline(_Incident):
    """The device drops off the network; the broker publishes its last will; it reconnects after `duration`."""

    kind: Literal["device_offline"]
    device: str
    duration: Duration


class PrinterPaperOut(_Incident):
    """A ticket machine (or kiosk) printer reports paper_low, then paper_out at `at`, until refilled."""

    kind: Literal["printer_paper_out"]
    device: str
    duration: Duration = Field(description="until the paper is refilled")
    low_before: Duration = Field(default=timedelta(minutes=20), description="paper_low this long before")


class ScreenBlank(_Incident):
    kind: Literal["screen_blank"]
    device: str
    duration: Duration


class KioskErrorBurst(_Incident):
    kind: Literal["kiosk_error_burst"]
    device: str
    count: Annotated[int, Field(ge=1, le=1000)]
    over: Duration
    code: Annotated[str, Field(min_length=1, max_length=64)] = "ui_freeze"


class StaffLeaves(_Incident):
    """Staff walk away from an open window: still logged in, no calls, the camera sees an empty seat."""

    kind: Literal["staff_leaves"]
    window: str
    duration: Duration


class ArrivalSurge(_Incident):
    kind: Literal["arrival_surge"]
    service: str
    duration: Duration
    factor: Annotated[float, Field(gt=0, le=50)]


Incident = Annotated[
    DeviceOffline | PrinterPaperOut | ScreenBlank | KioskErrorBurst | StaffLeaves | ArrivalSurge,
    Field(discriminator="kind"),
]
INCIDENT_KINDS = frozenset(
    {"device_offline", "printer_paper_out", "screen_blank", "kiosk_error_burst", "staff_leaves", "arrival_surge"}
)


# ---------------------------------------------------------------------------------------------- scenario


class Scenario(_Config):
    """One hall and its day."""

    description: str = ""
    hall: Hall
    arrival_profiles: dict[str, ArrivalProfile] = Field(min_length=1)
    services: tuple[Service, ...] = Field(min_length=1)
    windows: tuple[Window, ...] = Field(min_length=1)
    ticket_machines: tuple[TicketMachine, ...] = Field(min_length=1)
    call_screens: tuple[CallScreen, ...] = ()
    kiosks: tuple[Kiosk, ...] = ()
    evaluators: tuple[Evaluator, ...] = ()
    cameras: tuple[Camera, ...] = ()
    heartbeat_s: HeartbeatPeriods = HeartbeatPeriods()
    occupancy_s: PositiveFloat = Field(default=5.0, description="seconds between camera `occupancy` events")
    calling: Calling = Calling()
    people: People = People()
    incidents: tuple[Incident, ...] = ()
    staff: tuple[StaffMember, ...] = Field(default=(), description="staff without a window of their own")
    guide: Guide = Field(default=Guide(), description="what a guide posted by a controller does (流动岗)")
    bookings: Bookings | None = Field(
        default=None, description="the day's appointments published ahead (预约); none: seen only at check-in"
    )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.hall.timezone)

    @property
    def last_ticket(self) -> time:
        if self.hall.last_ticket is not None:
            return self.hall.last_ticket
        minutes = max(self.hall.closes.hour * 60 + self.hall.closes.minute - 30, 0)
        return time(minutes // 60, minutes % 60)

    def device_ids(self) -> list[str]:
        return [
            d.id
            for group in (
                self.ticket_machines,
                self.windows,
                self.call_screens,
                self.kiosks,
                self.evaluators,
                self.cameras,
            )
            for d in group
        ]


# ---------------------------------------------------------------------------------------------- loading


def load_scenario(path_or_name: str | Path) -> Scenario:
    """Read and validate a scenario file; `county` / `city` name the packaged ones. Raises ConfigError."""
    path = resolve_scenario_path(path_or_name)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [Problem("", f"cannot read the scenario: {exc.strerror or exc}")]) from None
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)  # (a SafeLoader that refuses a key given twice)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [Problem("", f"not valid YAML: {exc}")]) from None
    return parse_scenario(data, source=source)


def resolve_scenario_path(path_or_name: str | Path) -> Path:
    """A bare packaged name (`county`, `city`) → its file; anything else is a path."""
    if isinstance(path_or_name, str) and re.fullmatch(r"[a-z][a-z0-9_-]*", path_or_name):
        packaged = PACKAGED / f"{path_or_name}.yaml"
        if packaged.exists() and not Path(path_or_name).exists():
            return packaged
    return Path(path_or_name)


def parse_scenario(data: object, *, source: str = "scenario") -> Scenario:
    """Validate already-parsed YAML (a mapping). Raises ConfigError listing every problem with its path."""
    if not isinstance(data, dict):
        raise ConfigError(source, [Problem("", "a scenario is a YAML mapping (hall:, services:, windows: …)")])
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [_problem(err["loc"], err["msg"]) for err in exc.errors()]) from None
    problems = list(check_references(scenario))
    if problems:
        raise ConfigError(source, problems)
    return scenario


def _problem(loc: tuple[int | str, ...], message: str) -> Problem:
    path = ""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif index >= 2 and loc[0] == "incidents" and index == 2 and part in INCIDENT_KINDS:
            continue  # pydantic adds the union tag to the location; the user never wrote it
        else:
            path += f".{part}" if path else str(part)
    return Problem(path, message.removeprefix("Value error, "))


def check_references(scenario: Scenario) -> Iterator[Problem]:  # noqa: C901, PLR0912, PLR0915 - a list of checks
    """Cross-field checks pydantic cannot do field by field: references, uniqueness, time order."""
    hall = scenario.hall
    try:
        ZoneInfo(hall.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        yield Problem("hall.timezone", f"{hall.timezone!r} is not an IANA time zone (e.g. Asia/Shanghai)")
    if hall.closes <= hall.opens:
        yield Problem("hall.closes", "the hall closes before it opens")
    if hall.last_ticket is not None and not hall.opens <= hall.last_ticket <= hall.closes:
        yield Problem("hall.last_ticket", "the last ticket must be between opening and closing")
    if hall.lunch is not None:
        yield from _check_span(hall.lunch, "hall.lunch")

    for name, profile in scenario.arrival_profiles.items():
        if not profile.time_of_day:
            yield Problem(f"arrival_profiles.{name}.time_of_day", "needs at least one point")
        for key in profile.time_of_day:
            try:
                parse_time_of_day(key)
            except ValueError as exc:
                yield Problem(f"arrival_profiles.{name}.time_of_day.{key}", str(exc))

    codes: dict[str, int] = {}
    prefixes: dict[str, int] = {}
    for i, service in enumerate(scenario.services):
        if service.code in codes:
            yield Problem(f"services[{i}].code", f"duplicate service code {service.code!r}")
        codes[service.code] = i
        if service.prefix in prefixes:
            yield Problem(f"services[{i}].prefix", f"prefix {service.prefix!r} is already used")
        prefixes[service.prefix] = i
        if service.profile not in scenario.arrival_profiles:
            yield Problem(f"services[{i}].profile", f"unknown arrival profile {service.profile!r}")
        if service.appointment_share + service.priority_share > 1:
            yield Problem(f"services[{i}].priority_share", "appointment_share + priority_share exceed 1")
        if not any(w > 0 for w in service.outcomes.values()):
            yield Problem(f"services[{i}].outcomes", "at least one outcome needs a positive weight")
    for i, service in enumerate(scenario.services):
        if service.transfer is not None:
            for j, code in enumerate(service.transfer.to):
                if code not in codes:
                    yield Problem(f"services[{i}].transfer.to[{j}]", f"unknown service {code!r}")
                elif code == service.code:
                    yield Problem(f"services[{i}].transfer.to[{j}]", "a service cannot transfer to itself")

    seen: dict[str, str] = {}
    for group_name, ids in (
        ("ticket_machines", [d.id for d in scenario.ticket_machines]),
        ("windows", [d.id for d in scenario.windows]),
        ("call_screens", [d.id for d in scenario.call_screens]),
        ("kiosks", [d.id for d in scenario.kiosks]),
        ("evaluators", [d.id for d in scenario.evaluators]),
        ("cameras", [d.id for d in scenario.cameras]),
    ):
        for i, device_id in enumerate(ids):
            if device_id in seen:
                yield Problem(f"{group_name}[{i}].id", f"device id {device_id!r} is already used in {seen[device_id]}")
            seen.setdefault(device_id, group_name)

    window_ids = {w.id for w in scenario.windows}
    kiosk_ids = {k.id for k in scenario.kiosks}
    for i, window in enumerate(scenario.windows):
        for j, code in enumerate(window.services):
            if code not in codes:
                yield Problem(f"windows[{i}].services[{j}]", f"unknown service {code!r}")
        if window.shift is not None:
            yield from _check_span(window.shift, f"windows[{i}].shift")
        if window.lunch is not None:
            yield from _check_span(window.lunch, f"windows[{i}].lunch")
        for j, code in enumerate(window.skills):
            if code not in codes:
                yield Problem(f"windows[{i}].skills[{j}]", f"unknown service {code!r}")
    people = {w.staff_id for w in scenario.windows} | {m.id for m in scenario.staff}
    for i, window in enumerate(scenario.windows):
        if window.partner is not None and (window.partner not in people or window.partner == window.staff_id):
            yield Problem(f"windows[{i}].partner", f"{window.partner!r} is not another staff member of the hall")
    for i, member in enumerate(scenario.staff):
        if member.id in {w.staff_id for w in scenario.windows}:
            yield Problem(f"staff[{i}].id", f"{member.id!r} already works at a window")
        for j, code in enumerate(member.skills):
            if code not in codes:
                yield Problem(f"staff[{i}].skills[{j}]", f"unknown service {code!r}")
    if scenario.bookings is not None and scenario.bookings.arrive_min[1] < scenario.bookings.arrive_min[0]:
        yield Problem("bookings.arrive_min", "the latest arrival is earlier than the earliest")
    if scenario.guide.triage_min[1] < scenario.guide.triage_min[0]:
        yield Problem("guide.triage_min", "the longest triage is shorter than the shortest")
    for i, kiosk in enumerate(scenario.kiosks):
        if kiosk.profile not in scenario.arrival_profiles:
            yield Problem(f"kiosks[{i}].profile", f"unknown arrival profile {kiosk.profile!r}")
        for j, code in enumerate(kiosk.services):
            if code not in codes:
                yield Problem(f"kiosks[{i}].services[{j}]", f"unknown service {code!r}")
        if not any(w > 0 for w in kiosk.outcomes.values()):
            yield Problem(f"kiosks[{i}].outcomes", "at least one outcome needs a positive weight")
    for i, screen in enumerate(scenario.call_screens):
        for j, wid in enumerate(screen.windows):
            if wid not in window_ids:
                yield Problem(f"call_screens[{i}].windows[{j}]", f"unknown window {wid!r}")
    rated: dict[str, int] = {}
    for i, evaluator in enumerate(scenario.evaluators):
        for j, wid in enumerate(evaluator.windows):
            if wid not in window_ids:
                yield Problem(f"evaluators[{i}].windows[{j}]", f"unknown window {wid!r}")
            elif wid in rated:
                yield Problem(f"evaluators[{i}].windows[{j}]", f"window {wid!r} already has evaluator {rated[wid]}")
            else:
                rated[wid] = i
        if not any(w > 0 for w in evaluator.scores.values()):
            yield Problem(f"evaluators[{i}].scores", "at least one score needs a positive weight")
    zone_ids: set[str] = set()
    for i, camera in enumerate(scenario.cameras):
        for j, zone in enumerate(camera.zones):
            path = f"cameras[{i}].zones[{j}]"
            if zone.id in zone_ids:
                yield Problem(f"{path}.id", f"zone id {zone.id!r} is already used")
            zone_ids.add(zone.id)
            for k, code in enumerate(zone.services):
                if code not in codes:
                    yield Problem(f"{path}.services[{k}]", f"unknown service {code!r}")
            for k, kid in enumerate(zone.kiosks):
                if kid not in kiosk_ids:
                    yield Problem(f"{path}.kiosks[{k}]", f"unknown kiosk {kid!r}")
            for k, wid in enumerate(zone.windows):
                if wid not in window_ids:
                    yield Problem(f"{path}.windows[{k}]", f"unknown window {wid!r}")
            if zone.kind is ZoneKind.STAFF_SEAT and len(zone.windows) != 1:
                yield Problem(f"{path}.windows", "a staff_seat zone names exactly one window")

    machine_ids = {m.id for m in scenario.ticket_machines}
    screen_ids = {s.id for s in scenario.call_screens}
    for i, incident in enumerate(scenario.incidents):
        path = f"incidents[{i}]"
        if isinstance(incident, DeviceOffline) and incident.device not in seen:
            yield Problem(f"{path}.device", f"unknown device {incident.device!r}")
        elif isinstance(incident, PrinterPaperOut) and incident.device not in machine_ids | kiosk_ids:
            yield Problem(f"{path}.device", f"{incident.device!r} is not a ticket machine or kiosk")
        elif isinstance(incident, ScreenBlank) and incident.device not in screen_ids:
            yield Problem(f"{path}.device", f"{incident.device!r} is not a call screen")
        elif isinstance(incident, KioskErrorBurst) and incident.device not in kiosk_ids:
            yield Problem(f"{path}.device", f"{incident.device!r} is not a kiosk")
        elif isinstance(incident, StaffLeaves) and incident.window not in window_ids:
            yield Problem(f"{path}.window", f"unknown window {incident.window!r}")
        elif isinstance(incident, ArrivalSurge) and incident.service not in codes:
            yield Problem(f"{path}.service", f"unknown service {incident.service!r}")


def _check_span(span: Span, path: str) -> Iterator[Problem]:
    if span.end <= span.start:
        yield Problem(f"{path}.end", "ends before it starts")


__all__ = [
    "ArrivalProfile",
    "ArrivalSurge",
    "CallScreen",
    "Calling",
    "Camera",
    "DeviceOffline",
    "Evaluator",
    "Guide",
    "Hall",
    "HeartbeatPeriods",
    "Incident",
    "Kiosk",
    "KioskErrorBurst",
    "People",
    "PrinterPaperOut",
    "Scenario",
    "ScreenBlank",
    "Service",
    "ServiceTime",
    "Span",
    "StaffLeaves",
    "TicketMachine",
    "Transfer",
    "Window",
    "Zone",
    "ZoneKind",
    "load_scenario",
    "parse_duration",
    "parse_scenario",
    "parse_time_of_day",
]
