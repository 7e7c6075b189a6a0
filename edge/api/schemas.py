"""The HTTP API's bodies: every request body and every JSON response, as pydantic models (the OpenAPI document).

Owns the shape of what goes over HTTP, and nothing else: no route, no gateway access, no I/O.

Many responses are records the decision layer already writes as JSON (an alert, a ticket, a recommendation: what
the MQTT topics, webhooks and live stream carry, and what the store keeps of them). Their models (`_Record`) describe
that JSON and pass it through unchanged: times stay the strings they were written as (`Timestamp`), a number stays an
integer or a decimal as written (`Number`), a key a record from an earlier release lacks stays absent (the routes
serialise with `response_model_exclude_unset`) and a key not described here passes through (`extra="allow"`).
A key is required when every record of its kind has carried it since the kind was introduced.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, WithJsonSchema

from devices.topics import DeviceType
from edge.auth import Role
from rules.commands import CommandStatus
from rules.engine import AlertState
from rules.hall import DeviceView
from rules.kpi import Kpis
from rules.language import Severity
from rules.tickets import TicketKind, TicketPriority, TicketStatus
from rules.tidal import RecommendationKind

Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
"""An RFC 3339 time in the hall's time zone, as the record was written."""
Number = Annotated[int | float, WithJsonSchema({"type": "number"})]
"""A number as written: an integer stays an integer (a `float` field would turn 3 into 3.0)."""
Reading = Number | bool | str | None
"""A metric's value in an alert's evidence."""

# ---------------------------------------------------------------------------------------------- requests


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AckBody(_Body):
    by: str | None = Field(
        default=None, min_length=1, max_length=64, description="who takes it; default (and with users: always) you"
    )


LabelName = Annotated[str, Field(min_length=1, max_length=64)]
LabelPattern = Annotated[str, Field(max_length=128)]


class SilenceBody(_Body):
    rule: str = Field(
        min_length=1, max_length=64, description="rule id; * and ? are wildcards; must match a rule in force"
    )
    labels: dict[LabelName, LabelPattern] = Field(
        default_factory=dict, max_length=16, description="label values to match; wildcards allowed"
    )
    minutes: float = Field(gt=0, le=7 * 24 * 60, description="how long, from now")
    by: str | None = Field(default=None, min_length=1, max_length=64)
    comment: str = Field(min_length=1, max_length=500, description="why (kept with the silence)")


class TicketBody(_Body):
    by: str | None = Field(default=None, min_length=1, max_length=64, description="the technician; default you")
    note: str = Field(default="", max_length=2000, description="what was done (required to resolve)")


class DecisionBody(_Body):
    by: str | None = Field(default=None, min_length=1, max_length=64)
    reason: str = Field(default="", max_length=500, description="why (for a rejection)")


class LoginBody(_Body):
    user: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class VersionBody(_Body):
    source: str = Field(min_length=1, max_length=1 << 20, description="the rule file (YAML)")
    comment: str = Field(default="", max_length=500, description="what changed and why")


class CommentBody(_Body):
    comment: str = Field(default="", max_length=500)


class BacktestBody(_Body):
    from_: datetime = Field(alias="from", description="start (ISO 8601; without an offset: hall time)")
    to: datetime = Field(description="end (ISO 8601), at most 31 days after the start")
    version: int | None = Field(default=None, ge=1, description="the candidate: a stored version …")
    source: str | None = Field(default=None, min_length=1, max_length=1 << 20, description="… or a rule file (YAML)")
    against: int | None = Field(default=None, ge=1, description="compare with this version (default: the active)")


# ---------------------------------------------------------------------------------------------- session, gateway


class Me(BaseModel):
    user: str
    role: Role
    name: str | None
    open: bool = Field(description="no users configured: everyone on this machine is the administrator")
    hall: str
    hall_name: str | None
    hall_name_en: str | None
    timezone: str


class UserOut(BaseModel):
    user: str
    role: Role
    name: str | None
    source: Literal["config", "database"]


class UserBody(_Body):
    user: str = Field(min_length=1, max_length=64, description="the name to sign in with: letters, digits, . _ -")
    name: str | None = Field(default=None, max_length=64, description="the name the UI shows, e.g. 王经理")
    role: Role
    password: str = Field(min_length=1, max_length=256, description="the first password (the password policy applies)")


class UserChangeBody(_Body):
    role: Role | None = None
    name: str | None = Field(default=None, max_length=64, description='the name the UI shows ("": none)')


class PasswordBody(_Body):
    password: str = Field(min_length=1, max_length=256, description="the new password (the password policy applies)")


class PasswordPolicyOut(BaseModel):
    min_chars: int = Field(description="a password has at least this many characters")
    min_distinct: int = Field(description="… and this many different ones; it is not the user name nor a common one")


class IngestCounters(BaseModel):
    received: int
    accepted: int
    duplicates: int
    ignored: int
    rejected_total: int
    rejected: dict[str, int]


class TaskHealth(BaseModel):
    """A background task as it reports itself (edge/supervisor.py)."""

    name: str = Field(description="ingest, decisions, outbox, housekeeping, live, bundles")
    state: Literal["starting", "running", "paused", "stalled", "failed", "stopped"]
    reason: str = Field(description="why it is paused or failed: storage_error, broker_disconnected, crashed …")
    detail: str = Field(description="the cause in words")
    since_s: float = Field(description="seconds in this state")
    beat_age_s: float | None = Field(description="seconds since it last came round its loop (none: it has no loop)")


class StorageOut(BaseModel):
    ok: bool = Field(description="ingest's writes succeed")
    cause: str | None = Field(description="while they fail: the error, e.g. `OperationalError: database is locked`")
    since: datetime | None
    attempts: int = Field(description="writes tried since the fault began")
    faults: int = Field(description="storage faults since the gateway started")


class DiskOut(BaseModel):
    """The database against its disk budget, and what lies beside it (edge/upkeep.py, measured every minute)."""

    level: Literal["ok", "warning", "critical"] = Field(
        description="warning: 80 % of the budget, or the filesystem's free space under storage.disk_free_min_mb; "
        "critical: 95 %, or under half that floor; also a warning while retention is paused (the box's clock far "
        "ahead of the stored rows). Beyond the budget the oldest events are deleted"
    )
    used_bytes: int = Field(
        description="the database: file + wal (what the budget holds; backups and other files are not in it)"
    )
    budget_bytes: int = Field(description="storage.disk_budget_mb")
    share: float = Field(description="used / budget (above 1 while over it)")
    db_bytes: int = Field(description="the database file")
    db_free_bytes: int = Field(description="of it, free pages: deleted rows' space, reused or given back")
    wal_bytes: int = Field(description="its -wal and -shm")
    backups_bytes: int = Field(description="the backups folder (storage.backups_dir): reported, not in the budget")
    other_bytes: int = Field(description="anything else in the data directory: reported, not in the budget")
    filesystem_free_bytes: int = Field(description="what the filesystem still gives the gateway")
    free_min_bytes: int = Field(description="storage.disk_free_min_mb")
    auto_vacuum: str = Field(description="incremental: the file gives freed space back; none: run `hallops db vacuum`")
    events: int = Field(description="rows in the event log")
    bytes_per_event: float = Field(description="the file's live bytes per event")
    days_fit: float | None = Field(description="days of the log the budget holds at the last 24 hours' rate")
    oldest_event_at: datetime | None = Field(description="how far back the log goes now")
    budget_pruned: int = Field(description="events the budget deleted since the gateway started")
    measured_at: datetime


class LivenessOut(BaseModel):
    """Whether the gateway hears the hall now (edge/liveness.py): what the web UI's header and banner say."""

    state: Literal["live", "stale", "broken"] = Field(
        description="broken: not connected to the broker, or ingest paused by a storage fault; stale: connected, the "
        "hall open, and no device message taken for `stale_after_s` (counted from the connection, when that is "
        "later); live: otherwise (a quiet hall outside its opening hours is live)"
    )
    cause: Literal["broker", "storage", "devices", "refused"] | None = Field(
        description="why it is not live; stale for `refused`: messages came within `stale_after_s` and every one "
        "was refused (`refused_reason`), for `devices`: none came"
    )
    broker_connected: bool
    broker_since: datetime | None = Field(
        description="hall time of the last connect or loss (none: not connected since the gateway started)"
    )
    broker_for_s: float = Field(description="real seconds connected, or not (since the start before a first connect)")
    device_at: datetime | None = Field(description="hall time of the newest device message taken since the start")
    device_age_s: float | None = Field(description="real seconds since that message")
    hall_open: bool = Field(description="inside the rules' `hall_day` schedule (always, without one)")
    stale_after_s: float
    refused_since_taken: int = Field(
        description="messages refused (dead letters, rate-limited ones) since the newest message taken"
    )
    refused_reason: str | None = Field(description="the newest of those refusals' reason (`counters.rejected`)")


class CloudStreamOut(BaseModel):
    stream: str
    last_seq: int = Field(description="the newest record numbered")
    confirmed: int = Field(description="the cloud holds every record up to this number")
    held: int = Field(description="records waiting for the cloud's confirmation")
    held_bytes: int
    dropped: int = Field(description="records the disk budget dropped unsent (telemetry samples only)")
    oldest_s: float | None = Field(description="age of the oldest record waiting")


class CloudOut(BaseModel):
    connected: bool = Field(description="the uplink is connected to the cloud engine")
    endpoint: str | None = Field(description="host:port of the engine's node connected to, or last tried")
    connected_since: datetime | None
    last_error: str | None = Field(description="why the last connection failed or ended")
    last_confirmation_at: datetime | None = Field(description="when the cloud last confirmed records")
    backlog: int = Field(description="records waiting for the cloud's confirmation, all streams")
    backlog_bytes: int
    budget_bytes: int = Field(description="the disk budget (cloud.budget_mb): beyond it samples are dropped")
    oldest_s: float | None = Field(description="age of the oldest record waiting")
    dropped: int = Field(description="telemetry samples dropped unsent by the disk budget, ever")
    streams: list[CloudStreamOut]
    counters: dict[str, int] = Field(
        description="since the start: connects, batches, records sent, batches resent, confirmations, records "
        "confirmed, statuses sent, confirmations refused"
    )


class Health(BaseModel):
    status: Literal["ok", "degraded", "storage_error", "failed"] = Field(
        description="ok: every task runs and the broker is connected; storage_error: the database refuses writes "
        "(ingest paused, nothing lost); degraded: anything else not running; failed: a task died, the gateway is "
        "stopping to be restarted"
    )
    problems: list[str] = Field(description="what keeps the status from ok, in words")
    hall: str
    version: str
    broker_connected: bool
    broker_connects: int
    broker_sessions_lost: int = Field(
        description="times the broker came back without the gateway's session: what it held for the gateway may be lost"
    )
    started_at: datetime
    uptime_s: float
    counters: IngestCounters
    events_logged: int
    dead_letters: dict[str, int]
    rules_version: int = Field(description="the rule version in force")
    rules_shadow: int | None = Field(description="the rule version running in shadow, if any")
    bundles: dict[str, int] | None = Field(
        description="signed rule bundles from the cloud since the start "
        "(received, applied, pending approval at the hall, refused, repeated), when a key is configured"
    )
    tasks: list[TaskHealth]
    storage: StorageOut
    liveness: LivenessOut
    cloud: CloudOut | None = Field(
        default=None, description="the uplink to the city/province tier and what waits for it, when configured"
    )
    disk: DiskOut | None = Field(
        default=None, description="the data directory against its disk budget (none until first measured)"
    )


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    reason: str
    path: str
    detail: str
    size: int
    payload: str  # the first bytes as text (undecodable bytes replaced)


# ---------------------------------------------------------------------------------------------- records


class _Record(BaseModel):
    """JSON the decision layer wrote, passed through as written (module docstring)."""

    model_config = ConfigDict(extra="allow")


class WordsOut(BaseModel):
    """A text in both languages of the UI, rendered by the gateway (edge/wording)."""

    zh: str
    en: str


class AlertOut(_Record):
    """An alert as the API, the MQTT alert topic, webhooks and the live stream show it (edge.decisions.alert_json)."""

    hall: str
    fingerprint: str
    rule: str
    description: str
    severity: Severity
    state: AlertState
    labels: dict[str, str]
    reason: str = Field(description="the condition in words, with the values that made it true")
    evidence: dict[str, Reading] = Field(description="the metric values behind it (null: not finite)")
    active_since: Timestamp = Field(description="since when the condition has held")
    fired_at: Timestamp | None
    resolved_at: Timestamp | None
    acknowledged_at: Timestamp | None
    acknowledged_by: str | None
    escalation_level: int
    occurrences: int = Field(description="event alerts: how many events matched while it was open")
    muted_by: str | None = Field(description='while muted: "silence:<id>" or "inhibited:<fingerprint>"')
    title: WordsOut | None = Field(default=None, description="its rule's short name")
    text: WordsOut | None = Field(
        default=None,
        description="the alert in words for the staff, from its rule's template: display names, numbers with units, "
        "the time it began (a record from before issue 19 gets them when it is read)",
    )
    public: WordsOut | None = Field(default=None, description="its words for the public wall screen; null: not public")
    facts: dict[str, list[str]] = Field(
        default_factory=dict,
        description="per language, each value behind it by name with its unit: the evidence in words",
    )
    names: dict[str, str] = Field(
        default_factory=dict, description="the display name of who acknowledged it, by user name, where there is one"
    )


class AlertEnded(BaseModel):
    """An acknowledged alert that ended with it (an event alert: a help request, a bad rating)."""

    fingerprint: str
    state: Literal["resolved"]


class AlertDetail(BaseModel):
    alert: AlertOut = Field(description="the alert now, or its last recorded state")
    history: list[AlertOut] = Field(description="its recorded state changes, newest first")


class TicketStep(_Record):
    at: Timestamp
    status: TicketStatus
    by: str
    note: str


class TicketFault(_Record):
    rule_id: str
    fingerprint: str | None
    since: Timestamp = Field(description="when it joined the ticket, or last fired again")
    firing: bool
    priority: TicketPriority | None = Field(description="the ticket's priority once it joined (null: before issue 19)")


class TicketOut(_Record):
    """A fault or rectification ticket as it stands (rules.tickets.Ticket, edge.decisions.ticket_json)."""

    id: str = Field(description="T-<the local date it opened>-<its number that day>")
    kind: TicketKind
    priority: TicketPriority
    priority_reason: str
    status: TicketStatus
    rule_id: str
    subject: str = Field(description="with rule_id, what makes two alerts the same problem")
    title: str
    detail: str = Field(description="the alert's reason and evidence when it opened (or last recurred)")
    opened_at: Timestamp
    device: str | None
    device_type: str | None
    location: str | None
    window: str | None
    rating_ticket: str | None = Field(description="rectification: the queue ticket whose service was rated badly")
    priority_auto: bool = Field(description="assessed from the impact (and re-assessed), not fixed by the rule")
    alert_fingerprint: str | None
    alert_active: bool = Field(description="the alert behind it still fires")
    verifying_since: Timestamp | None = Field(description="the alert cleared and the device has been healthy since")
    acknowledged_at: Timestamp | None
    acknowledged_by: str | None
    started_at: Timestamp | None
    started_by: str | None
    resolved_at: Timestamp | None
    resolved_by: str | None
    resolution_note: str | None
    resolved_auto: bool
    closed_at: Timestamp | None
    closed_by: str | None
    ack_due: Timestamp | None
    resolve_due: Timestamp | None
    ack_overdue: bool
    resolve_overdue: bool
    escalation_level: int
    occurrences: int
    reopened: int
    notified: list[str] = Field(description="the roles told about it so far: they hear how it ends")
    history: list[TicketStep]
    faults: list[TicketFault] = Field(
        default_factory=list,
        description="every alert behind it, the one that opened it first: another fault of the device while it is "
        "open joins it (`escalated`) instead of opening a second ticket (records before issue 19: none)",
    )
    text: WordsOut | None = Field(
        default=None, description="the ticket in words: what, about which device or window (`title` is machine text)"
    )
    problem: WordsOut | None = Field(default=None, description="what it is: the titles of the rules behind it")
    names: dict[str, str] = Field(
        default_factory=dict,
        description="the display names of the people it names (acknowledged_by … closed_by, its history), by user "
        "name, for those who have one: what the UI shows instead of the login",
    )


class RecommendationOut(_Record):
    """A tidal-window recommendation (潮汐窗口) with the numbers behind it (rules.tidal.Recommendation). Waits are
    minutes (null: unbounded, no open window serves the group); service levels the share called within the target.
    Records stored before pooling lack `serves`, `arriving`, `late` and `late_after`."""

    id: str
    kind: RecommendationKind
    hall_id: str
    services: list[str]
    windows: list[str] = Field(description="open: the proposed windows (none: find them by hand)")
    staff: list[str] = Field(description="the proposed staff, in the windows' order (may be shorter)")
    n: int
    current_servers: int
    serves: list[str] = Field(default_factory=list, description="open: what the new windows will call")
    arriving: int = Field(default=0, description="windows approved earlier and on their way")
    needed_servers: int
    erlang_servers: int
    backlog_servers: int
    model: str
    backlog: int = Field(description="tickets waiting now")
    late: int = Field(default=0, description="tickets projected past the target with the current windows")
    late_after: int = Field(default=0, description="… with the recommended change")
    in_service: int
    arrivals_live_per_h: Number
    arrivals_profile_per_h: Number | None
    arrivals_per_h: Number = Field(
        description="blended: what the sizing used (of the walk-ins when the hall's bookings are known)"
    )
    aht_min: Number
    aht_learned: bool
    projected_wait_min: Number | None
    projected_wait_after_min: Number | None
    worst_wait_min: Number | None
    worst_wait_after_min: Number | None
    service_level_now: Number | None
    service_level_after: Number | None
    reason_code: str | None = Field(
        default=None,
        description="what kind of proposal: open, close, cover (an AB partner to a paused window, AB岗顶岗), saved "
        "(restored from state format 1); absent in records stored before issue 20",
    )
    reason_en: str
    reason_zh: str
    created_at: Timestamp
    expires_at: Timestamp
    appointments: int = Field(default=0, description="booked people expected within the horizon, besides the walk-ins")
    status: str = Field(description="pending (awaiting a decision), or what happened to it: approved, rejected, …")
    decided_by: str | None = Field(default=None, description="stored records: who approved or rejected it")


class SilenceOut(BaseModel):
    id: str
    rule: str
    labels: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    active: bool


# ---------------------------------------------------------------------------------------------- hall


class RecentMessage(BaseModel):
    at: Timestamp
    type: str
    payload: str = Field(description="the message as text, cut at 400 characters")


class DeviceDetail(BaseModel):
    device: DeviceView
    recent: list[RecentMessage] = Field(description="its latest messages of the last 24 h, heartbeats left out")
    tickets: list[TicketOut] = Field(description="its tickets, newest first")


class CommandOut(BaseModel):
    """A command the gateway sent a device, and what became of it (docs/contract.md, "Commands and
    acknowledgements")."""

    cmd_id: str
    device: str
    device_type: DeviceType
    type: str = Field(description="the command's type: nudge, recall, call.announce, restart, window.assign …")
    status: CommandStatus = Field(
        description="pending: sent, no answer yet; acknowledged: the device answered ok; failed: it answered ok: "
        "false (see error); unacknowledged: no answer after every send"
    )
    attempts: int = Field(description="times it was sent (the same cmd_id and payload each time)")
    sent_at: datetime = Field(description="the first send")
    last_sent_at: datetime
    next_at: datetime | None = Field(description="pending: when it is sent again, or given up")
    settled_at: datetime | None = Field(description="when it got its status: the device's answer, or giving up")
    error: str | None = Field(description="failed: the device's error, e.g. unsupported")
    superseded: bool = Field(
        description="failed or unacknowledged, but a later command of its type to its device was acknowledged"
    )
    payload: JsonValue = Field(description="the command as sent")


# ---------------------------------------------------------------------------------------------- rules


class RuleOut(BaseModel):
    id: str
    description: str
    title: dict[str, str] = Field(
        default_factory=dict, description="its short name, {zh, en}: its `title`, else from its description"
    )
    severity: str
    kind: str
    subject: str
    enabled: bool


class RuleProblem(BaseModel):
    path: str
    message: str
    line: int | None = Field(description="the YAML line it is on (1-based)")


class RulesCheck(BaseModel):
    ok: bool
    rules: int
    problems: list[RuleProblem] = Field(description="each with path, message and the YAML line (1-based)")


class VersionOut(BaseModel):
    """A stored rule version (edge.versions.RuleVersion.summary)."""

    number: int
    hash: str = Field(description="of the YAML: the same file is the same version")
    created_at: float = Field(description="UNIX seconds")
    author: str
    comment: str
    origin: str = Field(description="web, cli, config:<file>, bundle:<n>")
    rules: int = Field(description="how many rules it has")


class VersionAdded(VersionOut):
    created: bool = Field(description="false: this very YAML was already a version (returned as it is)")


class VersionSource(VersionOut):
    source: str = Field(description="the rule file (YAML)")


class ActivationOut(BaseModel):
    id: int
    at: float = Field(description="UNIX seconds")
    number: int
    kind: str = Field(description="activate, rollback, promote, shadow, shadow_off")
    by: str
    comment: str


class VersionsOut(BaseModel):
    active: int = Field(description="the version in force")
    shadow: int | None = Field(description="the version running in shadow, if any")
    versions: list[VersionOut] = Field(description="newest first")
    activations: list[ActivationOut] = Field(description="the latest 50, newest first")


class VersionDiffOut(BaseModel):
    old: int
    new: int
    added: list[str] = Field(description="rule ids")
    removed: list[str]
    changed: list[str] = Field(description="the rule's definition differs (its fields or the schedule it runs in)")
    unified: str = Field(description="the YAML as a unified diff")
    settings_changed: bool = Field(description="schedules or inhibitions differ")


class FiredOut(BaseModel):
    """One alert as it fired in a run (rules.firings.Fired)."""

    fingerprint: str
    rule: str
    labels: dict[str, str]
    severity: str
    fired_at: Timestamp
    resolved_at: Timestamp | None
    reason: str


class RuleTally(BaseModel):
    both: int
    only_active: int
    only_candidate: int


class FiringsDiff(BaseModel):
    """Firings of two runs matched (rules.firings.Diff): the same alert firing within the tolerance."""

    same: bool
    per_rule: dict[str, RuleTally]
    both: int = Field(description="firings of both runs")
    only_active: list[FiredOut]
    only_candidate: list[FiredOut]


class ShadowReport(BaseModel):
    number: int = Field(description="the version in shadow")
    started_at: Timestamp
    compared_since: Timestamp = Field(description="the start, or the oldest firing still kept")
    now: Timestamp
    active_per_rule: dict[str, int]
    shadow_per_rule: dict[str, int]
    shadow_firing: list[str] = Field(description="the shadow's alerts firing now: rule and labels")
    diff: FiringsDiff


class BacktestRun(BaseModel):
    """What one version did in a replay; the ids of its tickets and recommendations start `BT-` (none is a live one)."""

    alerts: list[FiredOut]
    alerts_per_rule: dict[str, int]
    tickets: list[TicketOut]
    recommendations: list[RecommendationOut]
    evaluations: int


class RecordedFirings(BaseModel):
    alerts_per_rule: dict[str, int]
    alerts: int


class BacktestOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: Timestamp = Field(alias="from", description="the span replayed: the first event recorded in the period")
    to: Timestamp = Field(description="… to the second after the last (no evaluation past the recording)")
    asked_from: Timestamp = Field(description="the period asked")
    asked_to: Timestamp
    tolerance_s: float = Field(description="two runs' firings of an alert this close in time are the same firing")
    events: int
    warmup_events: int = Field(description="replayed before the start to settle the hall and the rules' clocks")
    seconds: float = Field(description="how long the replay took")
    events_per_s: int
    active: BacktestRun
    candidate: BacktestRun
    diff: FiringsDiff = Field(description="the candidate against the active version")
    recorded: RecordedFirings = Field(description="what the live gateway fired in the span")
    replay_vs_recorded: FiringsDiff = Field(
        description="the live firings (`only_active`) against the active version's replay (`only_candidate`)"
    )


class BacktestPeriod(BaseModel):
    """What the event log holds, and the period a backtest form starts with (all null: nothing recorded yet)."""

    model_config = ConfigDict(populate_by_name=True)

    first: Timestamp | None = Field(description="the oldest event the log holds (as received)")
    last: Timestamp | None = Field(description="the newest")
    from_: str | None = Field(alias="from", description="hall time to the minute: the midnight before `last`")
    to: str | None = Field(description="hall time to the minute: the minute after `last`")


# ---------------------------------------------------------------------------------------------- reports


TARGETS = "the least each figure should reach, by its name (sl_pct: tidal.service_level as a percentage)"


class DayReportOut(BaseModel):
    """One day's KPIs (rules.kpi.DayReport) and the upper bounds of its wait histograms' buckets."""

    hall_id: str
    day: date
    timezone: str
    generated_at: datetime
    target_wait_min: float
    hall: Kpis = Field(description="the whole day so far")
    services: tuple[Kpis, ...] = Field(description="per service, the whole day so far, by code")
    hours: tuple[Kpis, ...] = Field(description="per hour with any activity: the hall row, then its services")
    waiting: tuple[tuple[datetime, int], ...] = Field(description="people waiting, every 5 min")
    arrivals: tuple[tuple[datetime, int], ...] = Field(description="tickets issued per 15-min slot")
    arrivals_by_service: dict[str, tuple[int, ...]] = Field(description="the same slots, per service")
    wait_histogram: dict[str, tuple[int, ...]] = Field(description="per service: waits per bucket")
    service_names: dict[str, str]
    buckets: list[Number | None] = Field(description="each bucket's upper bound in minutes (null: no bound)")
    targets: dict[str, Number] = Field(description=TARGETS)


class KpiToday(BaseModel):
    """Today's KPIs so far (a DayReportOut without the hours) and the learned forecast."""

    hall_id: str
    day: date
    timezone: str
    generated_at: datetime
    target_wait_min: float
    hall: Kpis
    services: tuple[Kpis, ...]
    waiting: tuple[tuple[datetime, int], ...]
    arrivals: tuple[tuple[datetime, int], ...]
    arrivals_by_service: dict[str, tuple[int, ...]]
    wait_histogram: dict[str, tuple[int, ...]]
    service_names: dict[str, str]
    buckets: list[Number | None]
    forecast: list[tuple[Timestamp, Number]] = Field(description="tickets expected per 15-min slot")
    targets: dict[str, Number] = Field(description=TARGETS)


class KpiDayOut(BaseModel):
    day: date
    hall: Kpis | None = Field(description="the day's figures for the whole hall; null while it is being rebuilt")


class KpiRangeOut(BaseModel):
    """The hall's KPIs per day over the last days, today (so far) last."""

    days: list[KpiDayOut]
    pending: list[date] = Field(description="days still being rebuilt from the log: ask again in a moment")
    target_wait_min: float
    targets: dict[str, Number] = Field(description=TARGETS)


class KpiHoursOut(BaseModel):
    """One day's KPIs for the whole hall, per hour with any activity."""

    day: date
    target_wait_min: float
    targets: dict[str, Number] = Field(description=TARGETS)
    hours: tuple[Kpis, ...]


class AuditEntryOut(BaseModel):
    id: int
    at: Timestamp
    actor: str
    action: str
    subject: str
    detail: dict[str, JsonValue]


class AuditAnchorOut(BaseModel):
    at: Timestamp | None = Field(description="when the head was signed, as signed (UTC); null: unreadable")
    count: int | None = Field(description="rows of the chain it covers; null: unreadable")
    matches: bool = Field(description="row `count` still has the anchored hash, and the signature verifies")
    problem: str | None = Field(default=None, description="why it does not match")


class AuditOut(BaseModel):
    intact: bool = Field(description="the whole hash chain verifies (and matches the newest anchor, if any)")
    findings: list[str] = Field(description="every break in the chain, and the newest anchor's mismatch")
    anchor: AuditAnchorOut | None = Field(
        default=None, description="the newest signed head in audit.anchor_file (none configured or written yet: null)"
    )
    entries: list[AuditEntryOut] = Field(description="newest first")
