"""The rule language: YAML rule files, validated strictly, compiled into `RuleSet`.

A rule file is a mapping:

    version: 1
    schedules:                       # named time windows in the hall's time zone
      opening_hours: {weekdays: [mon, tue, wed, thu, fri], hours: ["08:30-12:00", "13:30-17:30"]}
    inhibit:                         # while a source alert fires, matching target alerts stay quiet
      - {source: call-screen-offline, target: no-show-rate-high}
    rules:
      - id: wait-30
        when: {metric: queue.longest_wait_min, op: ">=", value: 30}
        for: 1m
        keep_firing_for: 5m
        severity: warning
        during: opening_hours
        then: [{alert: {to: floor_guide}}]
        escalate: [{after: 15m, to: hall_manager}]

Conditions (`when`) compare a metric of `rules.metrics` per subject (`{metric, op, value, where}`), and combine
with `all`, `any` and `not` over one kind of subject (hall metrics combine with any). A threshold may depend on a
label: `value: {by: device_type, values: {kiosk: 120}, default: 90}`. Event rules (`on`) react to one contract
event, optionally filtered by its fields: `on: {event: rating.submitted, where: {score: {"<=": 2}}}`.
Every mistake — unknown keys, unknown metrics or labels, an operator the metric's type does not have, a
reference to a schedule or rule that does not exist — is a `ConfigError` with the field path of each problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from devices.contract import EVENTS_BY_DEVICE, event_type
from devices.errors import ConfigError, Problem
from devices.units import Weekday as Weekday  # noqa: PLC0414 - re-exported: the rule language's weekdays
from devices.units import parse_duration as parse_duration  # noqa: PLC0414 - its defaults: the rule grammar
from devices.validation import UniqueKeyLoader, problems_from, read_yaml
from rules.metrics import METRICS, Kind, Subject
from rules.schedule import Schedule as Schedule  # noqa: PLC0414 - re-exported: a rule file's `schedules:`

RULE_ID = r"^[a-z0-9][a-z0-9_.\-]{0,63}$"

LABELS: dict[Subject, frozenset[str]] = {
    Subject.SERVICE: frozenset({"service"}),
    Subject.WINDOW: frozenset({"window"}),
    Subject.DEVICE: frozenset({"device", "device_type"}),
    Subject.ZONE: frozenset({"zone", "camera"}),
    Subject.HALL: frozenset(),
}
EVENT_MODELS = {event_type(m): m for models in EVENTS_BY_DEVICE.values() for m in models}


# '90s', '5m', '1h30m' in whole numbers, zero allowed, or a number of seconds: `parse_duration`'s defaults
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class Severity(StrEnum):
    CRITICAL = "critical"  # P1
    MAJOR = "major"  # P2
    WARNING = "warning"  # P3
    INFO = "info"


class Role(StrEnum):
    HALL_MANAGER = "hall_manager"  # 大厅负责人
    FLOOR_GUIDE = "floor_guide"  # 导办员
    TECHNICIAN = "technician"  # 运维
    ADMINISTRATOR = "administrator"
    DIRECTOR = "director"  # 中心主任
    WINDOW_STAFF = "window_staff"  # the staff member at the window in question
    SECURITY = "security"
    CITIZEN = "citizen"  # the called number's holder: told only through an SMS gateway that serves the queue system


class Op(StrEnum):
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    EQ = "=="
    NE = "!="
    IN = "in"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _as_list(value: object) -> object:
    """`to: hall_manager` means `to: [hall_manager]`."""
    return [value] if isinstance(value, str) else value


Roles = Annotated[list[Role], BeforeValidator(_as_list), Field(min_length=1)]


class ByLabel(_Strict):
    """A threshold that depends on a label of the subject, e.g. the heartbeat timeout per device type."""

    by: str
    values: dict[str, float | str | bool]
    default: float | str | bool | None = None


Threshold = float | bool | str | list[str] | ByLabel


class Condition(_Strict):
    """Either a comparison (`metric`, `op`, `value`, `where`) or one of `all`, `any`, `not`."""

    metric: str | None = None
    op: Op | None = None
    value: Threshold | None = None
    where: dict[str, str] = Field(default_factory=dict, description="label filters; * and ? are wildcards")
    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(default=None, alias="not")

    @model_validator(mode="after")
    def _one_form(self) -> Condition:
        forms = [self.metric is not None, self.all is not None, self.any is not None, self.not_ is not None]
        if sum(forms) != 1:
            raise ValueError("a condition is exactly one of: {metric, op, value}, all, any, not")
        if self.metric is not None and (self.op is None or self.value is None):
            raise ValueError("a comparison needs metric, op and value")
        if self.metric is None and (self.op is not None or self.value is not None or self.where):
            raise ValueError("op, value and where belong to a comparison with a metric")
        for group in (self.all, self.any):
            if group is not None and not group:
                raise ValueError("all/any need at least one condition")
        return self


class EventTrigger(_Strict):
    event: str = Field(description="a contract event type, e.g. rating.submitted")
    where: dict[str, dict[Op, float | str | bool | list[str]] | float | str | bool] = Field(default_factory=dict)


class AlertAction(_Strict):
    to: Roles
    message: str | None = None


class TicketAction(_Strict):
    kind: Literal["device_fault", "rectification"] = "device_fault"
    priority: Literal["auto", "P1", "P2", "P3"] = "auto"


class CommandAction(_Strict):
    """A command over MQTT: to the alert's own device (`subject`: the window, kiosk, screen…), to every call screen
    of the hall, or to the queue system."""

    type: Literal["nudge", "recall", "call.announce", "message.show", "restart", "self_test", "ticket.reactivate"]
    target: Literal["subject", "call_screens", "qms"] = "subject"
    message: str | None = None


class Action(_Strict):
    """Exactly one of `alert`, `ticket`, `command`, `recommend`."""

    alert: AlertAction | None = None
    ticket: TicketAction | None = None
    command: CommandAction | None = None
    recommend: Literal["tidal.open", "tidal.close"] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Action:
        if sum(x is not None for x in (self.alert, self.ticket, self.command, self.recommend)) != 1:
            raise ValueError("an action is exactly one of: alert, ticket, command, recommend")
        return self


class Escalation(_Strict):
    after: Duration = Field(description="time since the alert fired")
    unacknowledged: bool = Field(default=True, description="only if nobody has acknowledged it by then")
    to: Roles
    severity: Severity | None = Field(default=None, description="raise the alert to this severity")


WORDS_MAX = 500  # characters of one language of a rule's title, text or public words: a few sentences, not a page


class Words(_Strict):
    """A text in both languages of the UI. In a rule's `title`, `text` and `public`, `{name}` is a placeholder the
    alert fills (`placeholders`): a label as its display name, a metric's value with its unit, `since`, `value`."""

    zh: Annotated[str, Field(min_length=1, max_length=WORDS_MAX, description="Chinese (简体)")]
    en: Annotated[str, Field(min_length=1, max_length=WORDS_MAX, description="English")]


class Rule(_Strict):
    id: Annotated[str, Field(pattern=RULE_ID)]
    description: str = ""
    title: Words | None = Field(default=None, description="a few words naming the problem (rule lists, ticket titles)")
    text: Words | None = Field(default=None, description="the alert for the staff, with placeholders")
    public: Words | None = Field(default=None, description="the alert on the public wall screen; none: not shown")
    when: Condition | None = None
    on: EventTrigger | None = None
    for_: Duration = Field(default=timedelta(0), alias="for", description="how long the condition must hold")
    keep_firing_for: Duration = Field(default=timedelta(0), description="keep firing this long after it clears")
    severity: Severity
    during: str | None = Field(default=None, description="a schedule name; outside it the rule is not evaluated")
    then: list[Action] = Field(min_length=1)
    escalate: list[Escalation] = Field(default_factory=list)
    repeat_every: Duration | None = Field(default=None, description="re-notify while firing and unacknowledged")
    labels: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True

    @model_validator(mode="after")
    def _one_trigger(self) -> Rule:
        if (self.when is None) == (self.on is None):
            raise ValueError("a rule has exactly one of: when (a condition), on (an event)")
        if self.on is not None and self.for_:
            raise ValueError("an event rule fires at once: 'for' applies to conditions only")
        return self


class Inhibition(_Strict):
    source: str = Field(description="rule id whose firing alerts inhibit")
    target: str = Field(description="rule id whose alerts are inhibited")
    equal: list[str] = Field(default_factory=list, description="labels that must match between the two alerts")


class RuleFile(_Strict):
    version: Literal[1] = 1
    schedules: dict[str, Schedule] = Field(default_factory=dict)
    inhibit: list[Inhibition] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------- checking


def _subject_of(cond: Condition, path: str, problems: list[Problem]) -> Subject | None:
    """The kind of subject a condition talks about (HALL when it only uses hall metrics); collects problems."""
    if cond.metric is not None:
        metric = METRICS.get(cond.metric)
        if metric is None:
            close = [n for n in METRICS if n.split(".")[0] == cond.metric.split(".")[0]]
            hint = f" (known: {', '.join(sorted(close))})" if close else f" (known kinds: {', '.join(Subject)})"
            problems.append(Problem(f"{path}.metric", f"unknown metric {cond.metric!r}{hint}"))
            return None
        _check_comparison(cond, metric.kind, metric.choices, metric.subject, path, problems)
        return metric.subject
    parts = cond.all if cond.all is not None else cond.any if cond.any is not None else [cond.not_]
    key = "all" if cond.all is not None else "any" if cond.any is not None else "not"
    kinds: set[Subject] = set()
    for i, sub in enumerate(parts):
        assert sub is not None
        kind = _subject_of(sub, f"{path}.{key}[{i}]" if key != "not" else f"{path}.not", problems)
        if kind is not None:
            kinds.add(kind)
    specific = kinds - {Subject.HALL}
    if len(specific) > 1:
        problems.append(
            Problem(f"{path}.{key}", f"combines metrics of different subjects ({', '.join(sorted(specific))})")
        )
        return None
    return specific.pop() if specific else Subject.HALL if kinds else None


def _check_comparison(
    cond: Condition, kind: Kind, choices: tuple[str, ...], subject: Subject, path: str, problems: list[Problem]
) -> None:
    op, value = cond.op, cond.value
    assert op is not None
    for label in cond.where:
        if label not in LABELS[subject]:
            problems.append(Problem(f"{path}.where.{label}", f"{subject} subjects have no label {label!r}"))
    values: list[object]
    if isinstance(value, ByLabel):
        if value.by not in LABELS[subject]:
            problems.append(Problem(f"{path}.value.by", f"{subject} subjects have no label {value.by!r}"))
        values = [*value.values.values(), *([value.default] if value.default is not None else [])]
    elif isinstance(value, list):
        values = list(value)
    else:
        values = [value]
    if kind is Kind.NUMBER:
        if op is Op.IN:
            problems.append(Problem(f"{path}.op", "'in' compares with a list of names; this metric is a number"))
        elif any(isinstance(v, bool) or not isinstance(v, int | float) for v in values):
            problems.append(Problem(f"{path}.value", f"{cond.metric} is a number; compare it with a number"))
    elif kind is Kind.BOOL:
        if op not in (Op.EQ, Op.NE):
            problems.append(Problem(f"{path}.op", f"{cond.metric} is true/false: use == or !="))
        elif any(not isinstance(v, bool) for v in values):
            problems.append(Problem(f"{path}.value", f"{cond.metric} is true/false; compare it with true or false"))
    elif op not in (Op.EQ, Op.NE, Op.IN):
        problems.append(Problem(f"{path}.op", f"{cond.metric} is one of {', '.join(choices)}: use ==, != or in"))
    elif op is Op.IN and not isinstance(value, list):
        problems.append(Problem(f"{path}.value", "'in' needs a list of names"))
    else:
        for v in values:
            if v not in choices:
                problems.append(Problem(f"{path}.value", f"{v!r} is not one of {', '.join(choices)} ({cond.metric})"))


def _check_event(trigger: EventTrigger, path: str, problems: list[Problem]) -> None:
    model = EVENT_MODELS.get(trigger.event)
    if model is None:
        problems.append(Problem(f"{path}.event", f"unknown event type {trigger.event!r}"))
        return
    for name in trigger.where:
        if name not in model.model_fields or name in ("v", "ts", "seq", "type"):
            fields = ", ".join(n for n in model.model_fields if n not in ("v", "ts", "seq", "type"))
            problems.append(
                Problem(f"{path}.where.{name}", f"{trigger.event} has no field {name!r} (fields: {fields})")
            )


PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
COMMON_PLACEHOLDERS = frozenset({"since", "value", "subject", "hall"})
COMMAND_LABELS = frozenset({"cmd_id", "command", "device"})
EVENT_LABELS = frozenset({"device", "device_type", "window", "ticket"})  # rules.conditions.event_labels
EXTRA_LABELS: dict[str, frozenset[str]] = {"device": frozenset({"location"})}  # what a label brings along
# What the public wall screen's words (`public`) may name: whom it is about by display name (a device by its kind
# and place, a zone by its name, a ticket by the number a call screen shows) and the metrics' values — never a
# staff member, a command's id or a field a device sent in an event (`where`), which the wall would show as sent.
PUBLIC_LABELS = frozenset(
    {"service", "window", "device", "device_type", "location", "zone", "camera", "ticket", "command"}
)


def _metric_names(cond: Condition) -> list[str]:
    if cond.metric is not None:
        return [cond.metric]
    parts = cond.all if cond.all is not None else cond.any if cond.any is not None else [cond.not_]
    return [name for part in parts if part is not None for name in _metric_names(part)]


def placeholders(rule: Rule) -> frozenset[str]:
    """What a rule's `title`, `text` and `public` may name: `since` (when it began, HH:MM), `value` (its first
    metric's value), `subject` (whom it is about), `hall`; the labels of its subject (`window`, `service`, `device`,
    `device_type`, `location`, `zone`, `camera`, `ticket`…); its metrics by full and short name
    (`queue.longest_wait_min`, `longest_wait_min`); an event rule's filtered fields (`score`)."""
    names = set(COMMON_PLACEHOLDERS)
    if rule.on is not None:
        labels = set(EVENT_LABELS)
        names |= set(rule.on.where) or {"type"}
    elif rule.when is not None:
        kind = _subject_of(rule.when, "", []) or Subject.HALL
        labels = set(COMMAND_LABELS if kind is Subject.COMMAND else LABELS.get(kind, frozenset()))
        for metric in _metric_names(rule.when):
            names |= {metric, metric.split(".", 1)[-1]}
    else:
        labels = set()
    for label in list(labels):
        labels |= EXTRA_LABELS.get(label, frozenset())
    return frozenset(names | labels)


def _public_placeholders(rule: Rule, known: frozenset[str]) -> frozenset[str]:
    metrics = {m for name in _metric_names(rule.when) for m in (name, name.split(".", 1)[-1])} if rule.when else set()
    return known & (COMMON_PLACEHOLDERS | PUBLIC_LABELS | metrics)


def _check_words(rule: Rule, path: str, problems: list[Problem]) -> None:
    known = placeholders(rule)
    public = _public_placeholders(rule, known)
    for field in ("title", "text", "public"):
        words: Words | None = getattr(rule, field)
        for lang in ("zh", "en"):
            text = getattr(words, lang) if words is not None else ""
            for name in PLACEHOLDER.findall(text):
                if field == "public" and name in known and name not in public:
                    problems.append(
                        Problem(
                            f"{path}.{field}.{lang}",
                            f"{{{name}}} is not for the public wall screen (its words may name: "
                            f"{', '.join(sorted(public))})",
                        )
                    )
                elif name not in known:
                    problems.append(
                        Problem(
                            f"{path}.{field}.{lang}",
                            f"unknown placeholder {{{name}}} (this rule fills: {', '.join(sorted(known))})",
                        )
                    )


def check(rules: RuleFile, indices: list[int] | None = None, other_ids: set[str] | None = None) -> list[Problem]:
    """Cross-field checks pydantic cannot do: references, metric names, operator types.

    `indices` are the rules' positions in the file (when some rules were dropped as invalid) and `other_ids` the
    ids of those dropped rules, so that references to them are not reported a second time."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    positions = indices if indices is not None else list(range(len(rules.rules)))
    for i, rule in zip(positions, rules.rules, strict=True):
        path = f"rules[{i}]"
        if rule.id in seen:
            problems.append(Problem(f"{path}.id", f"duplicate rule id {rule.id!r} (also rules[{seen[rule.id]}])"))
        seen.setdefault(rule.id, i)
        if rule.when is not None:
            _subject_of(rule.when, f"{path}.when", problems)
        if rule.on is not None:
            _check_event(rule.on, f"{path}.on", problems)
        _check_words(rule, path, problems)
        if rule.during is not None and rule.during not in rules.schedules and rule.during != "always":
            known = ", ".join(["always", *rules.schedules]) or "none"
            problems.append(Problem(f"{path}.during", f"unknown schedule {rule.during!r} (defined: {known})"))
        steps = [e.after for e in rule.escalate]
        if steps != sorted(steps):
            problems.append(Problem(f"{path}.escalate", "steps must be in order of 'after'"))
    known_ids = set(seen) | (other_ids or set())
    for i, inh in enumerate(rules.inhibit):
        for side in ("source", "target"):
            rid = getattr(inh, side)
            if rid not in known_ids:
                problems.append(Problem(f"inhibit[{i}].{side}", f"unknown rule {rid!r}"))
    return problems


def parse_rules(data: object, source: str = "rules") -> RuleFile:
    """Validate a parsed YAML document as a rule file. Raises ConfigError with every problem.

    Each rule is validated on its own, so one broken rule does not hide the mistakes in the others."""
    if isinstance(data, list):  # a bare list of rules is accepted too
        data = {"rules": data}
    if not isinstance(data, dict):
        raise ConfigError(source, [Problem("", "a rule file is a mapping with 'rules:' (or a list of rules)")])
    raw_rules = data.get("rules", [])
    problems: list[Problem] = []
    if not isinstance(raw_rules, list):
        problems.append(Problem("rules", "must be a list of rules"))
        raw_rules = []
    try:
        frame = RuleFile.model_validate({**data, "rules": []})
    except ValidationError as exc:
        problems += _readable(problems_from(exc))
        frame = RuleFile()
    good: list[Rule] = []
    indices: list[int] = []
    broken_ids: set[str] = set()
    for i, item in enumerate(raw_rules):
        # YAML 1.1 reads a bare `on:` key as the boolean true; in a rule it can only mean the event trigger
        raw = _on_key(item)
        try:
            good.append(Rule.model_validate(raw))
            indices.append(i)
        except ValidationError as exc:
            problems += _readable(problems_from(exc, ("rules", i)))
            if isinstance(raw, dict):
                if isinstance(raw.get("id"), str):
                    broken_ids.add(raw["id"])
                problems += _check_loose_condition(raw.get("when"), f"rules[{i}].when")
    parsed = frame.model_copy(update={"rules": good})
    problems += check(parsed, indices, broken_ids)
    if problems:
        raise ConfigError(source, problems)
    return parsed


def _check_loose_condition(raw: object, path: str) -> list[Problem]:
    """The metric checks of a rule that failed elsewhere, so that all its mistakes are reported at once."""
    try:
        cond = Condition.model_validate(raw)
    except ValidationError:
        return []  # already reported with the rule
    problems: list[Problem] = []
    _subject_of(cond, path, problems)
    return problems


def _on_key(rule: object) -> object:
    if isinstance(rule, dict) and True in rule and "on" not in rule:
        return {("on" if k is True else k): v for k, v in rule.items()}
    return rule


def _readable(problems: list[Problem]) -> list[Problem]:
    """pydantic names union branches in paths (`value.float`, `value.ByLabel`); drop them."""
    out = []
    for p in problems:
        path = re.sub(r"\.(float|bool|str|list\[str\]|ByLabel|int)(?=\.|$|\[)", "", p.path)
        out.append(Problem(path, p.message))
    # one problem per path is enough when pydantic tried several union branches
    unique: dict[str, Problem] = {}
    for p in out:
        unique.setdefault(p.path, p)
    return list(unique.values())


def load_rules(path: Path) -> RuleFile:
    return parse_rules(read_yaml(path), str(path))


# A rule file nests about eight levels deep (rules → a rule → when → all → a condition → value → values) and holds a
# few thousand values; a text sent over the API is refused well before what it could cost grows out of bounds.
MAX_DEPTH = 64
MAX_NODES = 100_000  # an alias counted as a copy of what it names


class RuleTextError(ConfigError):
    """A rule file's text past a bound (nesting deeper than `MAX_DEPTH`, more than `MAX_NODES` values): not read at
    all. One problem (path ""); `line` is where it was found (1-based), when known."""

    def __init__(self, source: str, message: str, line: int | None) -> None:
        super().__init__(source, [Problem("", message)])
        self.line = line


class _BoundedLoader(UniqueKeyLoader):
    """PyYAML's safe loader without repeated keys (UniqueKeyLoader), refusing while it composes a node nested deeper
    than `MAX_DEPTH` (its composer recurses once per level: 50,000 levels are a RecursionError) and a document of more
    than `MAX_NODES` nodes with each alias expanded (a few nested aliases name billions of values for whatever walks
    the data, pydantic included)."""

    def __init__(self, text: str, source: str) -> None:
        super().__init__(text)
        self._source = source
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id of each node composed so far → its nodes, aliases expanded

    def fetch_flow_collection_start(self, token: type[yaml.Token]) -> None:
        # each `[` or `{` of a line stays a possible key for 1,024 characters, and the scanner goes over all of them
        # at every token: a line of 1,000 `[` took 1.7 s before the composer got to count its levels, so they are
        # counted as they are scanned
        super().fetch_flow_collection_start(token)
        if self.flow_level > MAX_DEPTH:
            raise self._refused(f"nested deeper than {MAX_DEPTH} levels", self.get_mark())

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        alias = self.check_event(yaml.AliasEvent)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise self._refused(f"nested deeper than {MAX_DEPTH} levels", mark)
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is None:
            return None
        if alias:
            if id(node) not in self._sizes:
                raise self._refused("an alias names a node it is part of", mark)
            return node
        if isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._sizes[id(child)] for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        else:
            size = 1
        if size > MAX_NODES:
            raise self._refused(f"more than {MAX_NODES} values (an alias counts as a copy of what it names)", mark)
        self._sizes[id(node)] = size
        return node

    def _refused(self, message: str, mark: yaml.Mark | None) -> RuleTextError:
        return RuleTextError(self._source, message, mark.line + 1 if mark is not None else None)


def read_rule_text(text: str, source: str = "rules") -> object:
    """`yaml.safe_load` of a rule file's text within `MAX_DEPTH` and `MAX_NODES`, so that what a text sent by a person
    costs is bounded: `RuleTextError` for a text past a bound, `yaml.YAMLError` for bad syntax (as `safe_load`)."""
    loader = _BoundedLoader(text, source)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


BUILTIN = Path(__file__).with_name("pack") / "builtin.yaml"


def builtin_rules() -> RuleFile:
    """The built-in rule pack shipped with hallops (rules/pack/builtin.yaml)."""
    return load_rules(BUILTIN)


@dataclass(frozen=True, slots=True)
class RuleSummary:
    id: str
    severity: Severity
    kind: str  # condition | event
    subject: str


def summarise(rules: RuleFile) -> list[RuleSummary]:
    out = []
    for r in rules.rules:
        if r.on is not None:
            out.append(RuleSummary(r.id, r.severity, "event", r.on.event))
        else:
            assert r.when is not None
            subject = _subject_of(r.when, "", []) or Subject.HALL
            out.append(RuleSummary(r.id, r.severity, "condition", subject.value))
    return out


__all__ = [
    "BUILTIN",
    "EVENT_MODELS",
    "LABELS",
    "MAX_DEPTH",
    "MAX_NODES",
    "PLACEHOLDER",
    "RULE_ID",
    "Action",
    "AlertAction",
    "ByLabel",
    "CommandAction",
    "Condition",
    "Duration",
    "Escalation",
    "EventTrigger",
    "Inhibition",
    "Op",
    "Role",
    "Roles",
    "Rule",
    "RuleFile",
    "RuleSummary",
    "RuleTextError",
    "Schedule",
    "Severity",
    "Threshold",
    "TicketAction",
    "Weekday",
    "Words",
    "builtin_rules",
    "check",
    "load_rules",
    "parse_duration",
    "parse_rules",
    "placeholders",
    "read_rule_text",
    "summarise",
]
