"""Payload models of the device contract v1, one per event, state, heartbeat and command.

Every payload is a JSON object with `v` (contract version, 1), `ts` (RFC 3339 with offset) and `seq` (a per-device
counter); events add `type`. Unknown extra fields are ignored (devices may send more than we read); missing or
mistyped required fields reject the message. The models are frozen: after validation they are the facts the rest
of hallops reasons about.

Every number is bounded to what the gateway can store and compute with (`seq` fits SQLite's signed 64-bit INTEGER,
counts stay below `MAX_COUNT`, floats are finite) and every time has a UNIX timestamp and a local time in every zone
(`EARLIEST` ≤ UTC < `LATEST`): a value outside is an `invalid_value` here, not an OverflowError in the store or a 500
from the API. Whether a time is *plausible* (near the box's clock) is the gateway's question (`devices.codec`).

`payload_adapter(device_type, channel)` gives the validator for one topic kind; `docs/contract.md` documents
every field and `hallops devices schema` writes the JSON Schema generated from these classes.

Why about 600 lines: it is the contract itself, one small model per event, state and command of the six device
types, in the order `docs/contract.md` lists them; a reader checks a device against it top to bottom.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    TypeAdapter,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from devices.topics import Channel, DeviceType

CONTRACT_VERSION = 1

MAX_SEQ = 2**63 - 1  # SQLite's INTEGER is signed 64-bit: the event log stores `seq` as one
MAX_COUNT = 100_000  # people in a zone, tickets left in a quota: far above any hall, far below any overflow
MAX_DURATION_S = 86_400  # a handling time or kiosk session over a day is a broken timer, and would swamp the AHT
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)  # a UNIX timestamp is not negative
LATEST = datetime(9999, 12, 30, tzinfo=UTC)  # a day short of datetime.max: a local time exists in every zone


def _representable(at: datetime) -> datetime:
    """A time the gateway can store and show: in UTC between `EARLIEST` and `LATEST` (a ValueError otherwise, which
    the codec reports as `invalid_value`). The device's own offset is kept."""
    try:
        utc = at.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 is in year 0 in UTC, 9999-12-31T23:59-12:00 in year 10000
        raise ValueError("the time is outside what a UTC time can hold") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError(f"the time must be from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d} (UTC)")
    return at


Timestamp = Annotated[AwareDatetime, AfterValidator(_representable)]
Seq = Annotated[int, Strict(), Field(ge=0, le=MAX_SEQ)]


def _not_a_bool(v: object) -> object:
    if isinstance(v, bool):  # JSON `true` equals 1 to Python: it is not the version number 1
        raise ValueError("the contract version is the number 1, not a boolean")
    return v


Version = Annotated[Literal[1], BeforeValidator(_not_a_bool)]
Count = Annotated[int, Strict(), Field(ge=0, le=MAX_COUNT)]
NonNegativeFinite = Annotated[
    float, Strict(), Field(ge=0, allow_inf_nan=False)
]  # JSON's 1e400 is infinity to a parser: refused
DurationS = Annotated[float, Strict(), Field(ge=0, le=MAX_DURATION_S, allow_inf_nan=False)]

Id = Annotated[str, Field(min_length=1, max_length=64)]
ServiceCode = Annotated[str, Field(min_length=1, max_length=64, description="business type code (事项/业务类型)")]
BOOT = (
    "optional; the counter epoch `seq` belongs to: a new id each time the counter starts again (a boot, a reset), "
    "sent on every message until the next; duplicates are the same `boot` and `seq`"
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    # Read from the validated fields: pydantic's getattr for a field a model lacks is slow, and these are asked of
    # every event on the ingest path.
    @property
    def named_ticket(self) -> str | None:
        """The ticket this message names (its `ticket_id`), None for a kind without one."""
        ticket: str | None = self.__dict__.get("ticket_id")
        return ticket

    @property
    def named_window(self) -> str | None:
        """The window this message names (its `window_id`), None for a kind without one."""
        window: str | None = self.__dict__.get("window_id")
        return window


class Envelope(_Model):
    """Fields every payload carries."""

    v: Version = Field(description="contract version")
    ts: Timestamp = Field(description="when it happened, RFC 3339 with UTC offset, device clock (NTP-synced)")
    seq: Seq = Field(description="per-device counter, +1 per message; duplicates are dropped")
    boot: Id | None = Field(default=None, description=BOOT)
    device_id: Id | None = Field(
        default=None, description="optional; when present it must equal the device id in the topic"
    )


# ---------------------------------------------------------------------------------------------- enumerations


class TicketChannel(StrEnum):
    WALK_IN = "walk_in"
    APPOINTMENT = "appointment"  # 预约
    PRIORITY = "priority"  # special groups: elderly, disabled, …
    GREEN_CHANNEL = "green_channel"  # 绿色通道, e.g. a missed number re-activated


class ServiceOutcome(StrEnum):
    DONE = "done"  # 即办件 completed
    ACCEPTED = "accepted"  # 承诺件 accepted, completes later
    RETURNED = "returned"  # documents missing
    REFERRED = "referred"
    FALLBACK = "fallback"  # 办不成事 window


class DisplayCode(StrEnum):
    BLANK = "blank"
    NO_SIGNAL = "no_signal"
    STALE = "stale"
    PLAYER_CRASH = "player_crash"


class KioskOutcome(StrEnum):
    SUCCESS = "success"
    ABANDON = "abandon"
    ERROR = "error"
    HANDED_TO_WINDOW = "handed_to_window"


class PrinterStatus(StrEnum):
    OK = "ok"
    PAPER_LOW = "paper_low"
    PAPER_OUT = "paper_out"
    JAM = "jam"


class DisplayStatus(StrEnum):
    OK = "ok"
    BLANK = "blank"
    NO_SIGNAL = "no_signal"
    STALE = "stale"


# ---------------------------------------------------------------------------------------------- events


class TicketIssued(Envelope):
    """A ticket (取号) was printed or issued by phone; it joins the queue of `service`."""

    type: Literal["ticket.issued"]
    ticket_id: Id
    number: Annotated[str, Field(min_length=1, max_length=16, description="the number shown to the person, A023")]
    service: ServiceCode
    channel: TicketChannel = TicketChannel.WALK_IN
    appointment_id: Id | None = None


class TicketCancelled(Envelope):
    type: Literal["ticket.cancelled"]
    ticket_id: Id
    reason: str | None = None


class TicketReactivated(Envelope):
    """A missed ticket (漏号) is put back at the front after an identity check: the green channel."""

    type: Literal["ticket.reactivated"]
    ticket_id: Id
    reason: str = "missed"
    service: ServiceCode | None = None


class AppointmentCheckedIn(Envelope):
    type: Literal["appointment.checked_in"]
    appointment_id: Id
    service: ServiceCode
    slot: Timestamp | None = Field(default=None, description="start of the booked slot")
    ticket_id: Id | None = Field(default=None, description="the ticket issued for the appointment, if any")


class AppointmentBooked(Envelope):
    """An appointment (预约) booked for a slot: a known future arrival; the same `appointment_id` again moves it.

    The queue system's booking side publishes one when a booking is made or moved, and may publish the day's bookings
    again at opening; the gateway counts them in the arrivals it sizes the windows for. A booking belongs to the
    device that published it (another cannot move or cancel it); ids are unique within a day; the gateway keeps at
    most 20,000 waiting, 200 per service and 15-minute slot, none more than 14 days ahead."""

    type: Literal["appointment.booked"]
    appointment_id: Id
    service: ServiceCode
    slot: Timestamp = Field(description="start of the booked slot")
    slot_min: Annotated[int, Strict(), Field(ge=5, le=240)] = Field(
        default=30, description="length of the booked slot in minutes"
    )


class AppointmentCancelled(Envelope):
    """A booking withdrawn before the visit (by the person, or moved out of the hall's day)."""

    type: Literal["appointment.cancelled"]
    appointment_id: Id
    reason: str | None = None


class _WindowEvent(Envelope):
    window_id: Id | None = Field(
        default=None,
        description="the window; from a window terminal it must equal the device id, from a qms it is required",
    )


class WindowOpened(_WindowEvent):
    """Staff logged in: the window serves `services` from now on."""

    type: Literal["window.opened"]
    staff_id: Id | None = None
    services: tuple[ServiceCode, ...] = Field(default=(), description="services this window serves now")


class WindowClosed(_WindowEvent):
    type: Literal["window.closed"]
    reason: str | None = None


class WindowPaused(_WindowEvent):
    """暂停: break, meeting, back-office work…"""

    type: Literal["window.paused"]
    reason: str | None = None


class WindowResumed(_WindowEvent):
    type: Literal["window.resumed"]


class TicketCalled(_WindowEvent):
    """叫号: the window called a ticket (attempt > 1 is a re-call)."""

    type: Literal["ticket.called"]
    ticket_id: Id
    attempt: Annotated[int, Strict(), Field(ge=1, le=20)] = 1


class ServiceStarted(_WindowEvent):
    type: Literal["service.started"]
    ticket_id: Id


class ServiceCompleted(_WindowEvent):
    type: Literal["service.completed"]
    ticket_id: Id
    outcome: ServiceOutcome = ServiceOutcome.DONE
    duration_s: DurationS | None = Field(default=None, description="handling time as the terminal measured it")


class TicketNoShow(_WindowEvent):
    """过号: called `attempt` times and nobody came."""

    type: Literal["ticket.no_show"]
    ticket_id: Id
    attempt: Annotated[int, Strict(), Field(ge=1, le=20)] = 1


class TicketTransferred(_WindowEvent):
    type: Literal["ticket.transferred"]
    ticket_id: Id
    to_service: ServiceCode


class DisplayError(Envelope):
    type: Literal["display.error"]
    code: DisplayCode


class KioskSession(Envelope):
    type: Literal["kiosk.session"]
    service: ServiceCode | None = None
    outcome: KioskOutcome
    duration_s: DurationS
    step: str | None = Field(default=None, description="last step reached: identity, upload, print …")


class KioskError(Envelope):
    type: Literal["kiosk.error"]
    code: Annotated[str, Field(min_length=1, max_length=64)]
    step: str | None = None


class KioskHelpRequested(Envelope):
    type: Literal["kiosk.help_requested"]
    step: str | None = None


class RatingSubmitted(Envelope):
    """好差评: 1 very dissatisfied … 5 very satisfied."""

    type: Literal["rating.submitted"]
    window_id: Id
    ticket_id: Id | None = None
    score: Annotated[int, Strict(), Field(ge=1, le=5)]


class RatingSkipped(Envelope):
    type: Literal["rating.skipped"]
    window_id: Id
    ticket_id: Id | None = None


class Occupancy(Envelope):
    """People counted per zone, and whether staff sit at each window, about once a second."""

    type: Literal["occupancy"]
    zones: dict[Id, Count] = Field(default_factory=dict)
    staff_present: dict[Id, StrictBool] = Field(default_factory=dict)


TICKET_EVENTS = (
    TicketIssued,
    TicketCancelled,
    TicketReactivated,
    AppointmentCheckedIn,
    AppointmentBooked,
    AppointmentCancelled,
)
WINDOW_EVENTS = (
    WindowOpened,
    WindowClosed,
    WindowPaused,
    WindowResumed,
    TicketCalled,
    ServiceStarted,
    ServiceCompleted,
    TicketNoShow,
    TicketTransferred,
)

EVENTS_BY_DEVICE: dict[DeviceType, tuple[type[Envelope], ...]] = {
    DeviceType.TICKET_MACHINE: TICKET_EVENTS,
    DeviceType.WINDOW: WINDOW_EVENTS,
    DeviceType.CALL_SCREEN: (DisplayError,),
    DeviceType.KIOSK: (KioskSession, KioskError, KioskHelpRequested),
    DeviceType.EVALUATOR: (RatingSubmitted, RatingSkipped),
    DeviceType.CAMERA: (Occupancy,),
    DeviceType.QMS: TICKET_EVENTS + WINDOW_EVENTS,
}

Event = (
    TicketIssued
    | TicketCancelled
    | TicketReactivated
    | AppointmentCheckedIn
    | AppointmentBooked
    | AppointmentCancelled
    | WindowOpened
    | WindowClosed
    | WindowPaused
    | WindowResumed
    | TicketCalled
    | ServiceStarted
    | ServiceCompleted
    | TicketNoShow
    | TicketTransferred
    | DisplayError
    | KioskSession
    | KioskError
    | KioskHelpRequested
    | RatingSubmitted
    | RatingSkipped
    | Occupancy
)


def event_type(model: type[Envelope]) -> str:
    """The `type` string of an event class."""
    return str(model.model_fields["type"].annotation.__args__[0])  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------- state


class DeviceState(_Model):
    """Retained device state. A last will is just `{"v": 1, "online": false}`: it is composed when the device
    connects, so `ts` and `seq` are optional when `online` is false and the gateway stamps it on receipt."""

    v: Version
    online: StrictBool
    ts: Timestamp | None = Field(default=None, validate_default=True)  # validated when absent: `_stamped_when_online`
    seq: Seq | None = Field(default=None, validate_default=True)
    boot: Id | None = Field(default=None, description=BOOT)
    device_id: Id | None = None
    error_code: str | None = Field(default=None, description="a vendor error code; present means faulty")
    firmware: str | None = None
    location: str | None = Field(default=None, description="location code (精准定位编号), e.g. 1F-A-03")

    @field_validator("ts", "seq")
    @classmethod
    def _stamped_when_online(cls, value: object, info: ValidationInfo) -> object:
        # an error of the field, not of the whole state: the codec reports `missing_field` at `ts` (or `seq`)
        if value is None and info.data.get("online") is True:
            raise PydanticCustomError("missing", "Field required when online is true (only a last will may omit it)")
        return value


class Retirement(_Model):
    """An empty retained state: the device's retained `state` was cleared (a retained message of zero bytes), which
    is how a device is retired. Not JSON and no fields: `devices.codec` makes it from the empty payload."""


class TicketMachineState(DeviceState):
    printer: PrinterStatus | None = None
    paper_pct: Annotated[int, Strict(), Field(ge=0, le=100)] | None = None
    quota: dict[ServiceCode, Count] | None = Field(
        default=None, description="remaining tickets today per service, where the hall caps issuing"
    )


class WindowTerminalState(DeviceState):
    pass


class CallScreenState(DeviceState):
    display: DisplayStatus | None = None
    content_version: str | None = None


class KioskState(DeviceState):
    printer: PrinterStatus | None = None
    paper_pct: Annotated[int, Strict(), Field(ge=0, le=100)] | None = None
    app_version: str | None = None


class EvaluatorState(DeviceState):
    battery_pct: Annotated[int, Strict(), Field(ge=0, le=100)] | None = None


class CameraState(DeviceState):
    fps: NonNegativeFinite | None = None
    last_frame_age_s: NonNegativeFinite | None = None


class QmsState(DeviceState):
    pass


STATE_BY_DEVICE: dict[DeviceType, type[DeviceState]] = {
    DeviceType.TICKET_MACHINE: TicketMachineState,
    DeviceType.WINDOW: WindowTerminalState,
    DeviceType.CALL_SCREEN: CallScreenState,
    DeviceType.KIOSK: KioskState,
    DeviceType.EVALUATOR: EvaluatorState,
    DeviceType.CAMERA: CameraState,
    DeviceType.QMS: QmsState,
}

AnyState = (
    TicketMachineState | WindowTerminalState | CallScreenState | KioskState | EvaluatorState | CameraState | QmsState
)


class Heartbeat(Envelope):
    uptime_s: NonNegativeFinite | None = None


# ---------------------------------------------------------------------------------------------- commands


class _Command(_Model):
    v: Literal[1] = 1
    ts: Timestamp
    cmd_id: Id


class NudgeCommand(_Command):
    """Window: people are waiting for you (shown on the staff terminal)."""

    type: Literal["nudge"] = "nudge"
    waiting: Count
    message: str | None = None


class RecallCommand(_Command):
    """Window: call this ticket again."""

    type: Literal["recall"] = "recall"
    ticket_id: Id


class WindowAssignCommand(_Command):
    """qms: open `window_id` for `services` (the tidal-window action, 潮汐窗口)."""

    type: Literal["window.assign"] = "window.assign"
    window_id: Id
    services: tuple[ServiceCode, ...]
    staff_id: Id | None = None


class TicketReactivateCommand(_Command):
    type: Literal["ticket.reactivate"] = "ticket.reactivate"
    ticket_id: Id


class CallAnnounceCommand(_Command):
    """Call screen: show the number and announce it through the speaker."""

    type: Literal["call.announce"] = "call.announce"
    number: str
    window_id: Id


class MessageShowCommand(_Command):
    type: Literal["message.show"] = "message.show"
    text: str
    seconds: Annotated[int, Strict(), Field(ge=1, le=3600)] = 30


class KioskRestartCommand(_Command):
    """Kiosk or call screen: restart the application (the kiosk's, the screen's player)."""

    type: Literal["restart"] = "restart"


class KioskSelfTestCommand(_Command):
    type: Literal["self_test"] = "self_test"


class QuotaSetCommand(_Command):
    type: Literal["quota.set"] = "quota.set"
    service: ServiceCode
    remaining: Count


AnyCommand = (
    NudgeCommand
    | RecallCommand
    | WindowAssignCommand
    | TicketReactivateCommand
    | CallAnnounceCommand
    | MessageShowCommand
    | KioskRestartCommand
    | KioskSelfTestCommand
    | QuotaSetCommand
)

COMMANDS_BY_DEVICE: dict[DeviceType, tuple[type[_Command], ...]] = {
    DeviceType.WINDOW: (NudgeCommand, RecallCommand),
    DeviceType.QMS: (WindowAssignCommand, TicketReactivateCommand),
    DeviceType.CALL_SCREEN: (CallAnnounceCommand, MessageShowCommand, KioskRestartCommand),  # a blank screen
    DeviceType.KIOSK: (KioskRestartCommand, KioskSelfTestCommand),
    DeviceType.TICKET_MACHINE: (QuotaSetCommand,),
    DeviceType.EVALUATOR: (),
    DeviceType.CAMERA: (),
}


class CommandAck(_Model):
    v: Version
    ts: Timestamp
    cmd_id: Id
    ok: StrictBool
    error: str | None = None


# ---------------------------------------------------------------------------------------------- validators

Payload = Event | AnyState | Heartbeat | CommandAck | Retirement


def _union(models: tuple[type[BaseModel], ...]) -> Any:
    if len(models) == 1:
        return models[0]
    return Annotated[Union[models], Field(discriminator="type")]  # noqa: UP007 - built at run time


@cache
def payload_adapter(device_type: DeviceType, channel: Channel) -> TypeAdapter[Any] | None:
    """The validator for messages a device of `device_type` sends on `channel` (None: not a device channel)."""
    if channel is Channel.EVT:
        return TypeAdapter(_union(EVENTS_BY_DEVICE[device_type]))
    if channel is Channel.STATE:
        return TypeAdapter(STATE_BY_DEVICE[device_type])
    if channel is Channel.HB:
        return TypeAdapter(Heartbeat)
    if channel is Channel.CMD_ACK:
        return TypeAdapter(CommandAck)
    return None


def command_adapter(device_type: DeviceType) -> TypeAdapter[Any] | None:
    models = COMMANDS_BY_DEVICE[device_type]
    return TypeAdapter(_union(models)) if models else None


def payload_time(payload: Payload, received: datetime) -> datetime:
    """When a payload happened: its own `ts`, or the receive time for a last will without one."""
    ts = getattr(payload, "ts", None)
    return ts if ts is not None else received


__all__ = [
    "COMMANDS_BY_DEVICE",
    "CONTRACT_VERSION",
    "EARLIEST",
    "EVENTS_BY_DEVICE",
    "LATEST",
    "MAX_COUNT",
    "MAX_DURATION_S",
    "MAX_SEQ",
    "STATE_BY_DEVICE",
    "TICKET_EVENTS",
    "WINDOW_EVENTS",
    "AnyCommand",
    "AnyState",
    "AppointmentBooked",
    "AppointmentCancelled",
    "AppointmentCheckedIn",
    "CallAnnounceCommand",
    "CallScreenState",
    "CameraState",
    "CommandAck",
    "DeviceState",
    "DisplayCode",
    "DisplayError",
    "DisplayStatus",
    "Envelope",
    "EvaluatorState",
    "Event",
    "Heartbeat",
    "Id",
    "KioskError",
    "KioskHelpRequested",
    "KioskOutcome",
    "KioskRestartCommand",
    "KioskSelfTestCommand",
    "KioskSession",
    "KioskState",
    "MessageShowCommand",
    "NudgeCommand",
    "Occupancy",
    "Payload",
    "PrinterStatus",
    "QmsState",
    "QuotaSetCommand",
    "RatingSkipped",
    "RatingSubmitted",
    "RecallCommand",
    "Retirement",
    "ServiceCode",
    "ServiceCompleted",
    "ServiceOutcome",
    "ServiceStarted",
    "TicketCalled",
    "TicketCancelled",
    "TicketChannel",
    "TicketIssued",
    "TicketMachineState",
    "TicketNoShow",
    "TicketReactivateCommand",
    "TicketReactivated",
    "TicketTransferred",
    "WindowAssignCommand",
    "WindowClosed",
    "WindowOpened",
    "WindowPaused",
    "WindowResumed",
    "WindowTerminalState",
    "command_adapter",
    "event_type",
    "payload_adapter",
    "payload_time",
]
