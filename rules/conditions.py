"""Conditions of the rules, tested against the hall: which subjects match a rule, with what evidence, since when.

    compile_condition(condition) → Test: (labels, view, hall, now, crossings) → (evidence, since) | None

Owns compiling a `when:` condition into one closure (`compile_condition`, the engine's inner loop), the comparison
of a value against a rule's operand (`_compare`), what a condition reads (`condition_needs`, `subject_kind`), the
subjects of one snapshot with their labels (`SubjectListing`), the tests of an event rule (`event_matches`,
`event_labels`) and the text of a match (`describe`). Pure: must not keep alerts, clocks or any state between
evaluations (that is `rules.engine`).
"""

from __future__ import annotations

import fnmatch
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from devices.codec import DeviceMessage
from rules.alerts import Labels
from rules.hall import HallSnapshot
from rules.language import ByLabel, Condition, EventTrigger, Op
from rules.metrics import METRICS, Subject, Value, View, subjects


@dataclass(frozen=True, slots=True)
class Match:
    labels: Labels
    evidence: dict[str, Value]
    since: datetime | None  # when the condition became true, where the metrics tell it


@dataclass(frozen=True, slots=True)
class ListedSubject:
    """One subject of a snapshot as the compiled conditions take it."""

    labels: Labels
    named: dict[str, str]  # the same labels by name (read only)
    device: str | None  # its device id, if it is a device (a heartbeat makes its predicted crossings stale)
    view: View


class SubjectListing:
    """The subjects of one snapshot, listed once per kind for every rule of an evaluation that asks for them.

    Made from the listing of the snapshot before: a subject whose view is the very object it was then (the hall
    model keeps the views of what did not change) keeps its entry, so an evaluation lists again only what changed.
    It keeps nothing older than that snapshot."""

    __slots__ = ("_before", "_hall", "_kinds", "_listed")

    def __init__(self, hall: HallSnapshot, before: SubjectListing | None = None) -> None:
        self._hall = hall
        self._kinds: dict[Subject, list[ListedSubject]] = {}
        self._listed: dict[int, ListedSubject] = {}  # id of a view → its entry (which holds the view: the id is its)
        self._before = before._listed if before is not None else {}

    def of(self, kind: Subject) -> list[ListedSubject]:
        """Every subject of a kind with its labels (as a tuple and as a read-only dict) and its device id."""
        listed = self._kinds.get(kind)
        if listed is None:
            listed = self._kinds[kind] = [self._entry(labels, view) for labels, view in subjects(kind, self._hall)]
        return listed

    def _entry(self, labels: Labels, view: View) -> ListedSubject:
        key = id(view)
        entry = self._before.get(key)
        if entry is None or entry.view is not view:
            named = dict(labels)
            entry = ListedSubject(labels, named, named.get("device"), view)
        self._listed[key] = entry
        return entry


def condition_needs(cond: Condition) -> frozenset[Subject] | None:
    """The kinds of subject a snapshot must hold to test the condition (None: the whole hall)."""
    if cond.metric is not None:
        return METRICS[cond.metric].needs
    kinds: set[Subject] = set()
    for part in cond.all or cond.any or ([cond.not_] if cond.not_ else []):
        need = condition_needs(part)
        if need is None:
            return None
        kinds |= need
    return frozenset(kinds)


def subject_kind(cond: Condition) -> Subject:
    """The kind of subject the condition is tested on (the hall, if it reads nothing else)."""
    if cond.metric is not None:
        return METRICS[cond.metric].subject
    parts = cond.all or cond.any or ([cond.not_] if cond.not_ else [])
    kinds = {subject_kind(p) for p in parts if p is not None} - {Subject.HALL}
    return kinds.pop() if kinds else Subject.HALL


Test = Callable[
    [dict[str, str], View, HallSnapshot, datetime, list[datetime]], tuple[dict[str, Value], datetime | None] | None
]
"""A compiled condition: None if false; else the evidence and, if known, since when it has been true. It appends to
the list the moments it would become true if nothing but time changed (a wait crossing its threshold)."""


def compile_condition(cond: Condition) -> Test:
    """The condition as one closure, its lookups done once: the engine tests every subject of the hall with it on
    every evaluation (a city hall: ~1,500 tests a second), so this is its inner loop."""
    if cond.metric is not None:
        return _compile_metric(cond)
    if cond.all is not None:
        parts = [compile_condition(p) for p in cond.all]

        def all_(
            labels: dict[str, str], view: View, hall: HallSnapshot, now: datetime, deadlines: list[datetime]
        ) -> tuple[dict[str, Value], datetime | None] | None:
            evidence: dict[str, Value] = {}
            starts: list[datetime | None] = []
            for part in parts:
                r = part(labels, view, hall, now, deadlines)
                if r is None:
                    return None
                evidence.update(r[0])
                starts.append(r[1])
            known = [s for s in starts if s is not None]
            # all parts hold since the latest of their starts; unknown starts mean "now" (see RuleEngine._hold)
            return evidence, (max(known) if known and len(known) == len(starts) else None)

        return all_
    if cond.any is not None:
        options = [compile_condition(p) for p in cond.any]

        def any_(
            labels: dict[str, str], view: View, hall: HallSnapshot, now: datetime, deadlines: list[datetime]
        ) -> tuple[dict[str, Value], datetime | None] | None:
            evidence: dict[str, Value] | None = None
            first: datetime | None = None
            for option in options:  # every option is tested: each may predict when it will hold
                r = option(labels, view, hall, now, deadlines)
                if r is not None:
                    evidence = {**evidence, **r[0]} if evidence is not None else dict(r[0])
                    if r[1] is not None and (first is None or r[1] < first):
                        first = r[1]
            return None if evidence is None else (evidence, first)

        return any_
    assert cond.not_ is not None
    inner = compile_condition(cond.not_)

    def not_(
        labels: dict[str, str], view: View, hall: HallSnapshot, now: datetime, deadlines: list[datetime]
    ) -> tuple[dict[str, Value], datetime | None] | None:
        return ({}, None) if inner(labels, view, hall, now, []) is None else None

    return not_


def _compile_metric(cond: Condition) -> Test:
    assert cond.metric is not None and cond.op is not None
    name, op = cond.metric, cond.op
    metric = METRICS[name]
    read, since_of = metric.read, metric.since
    on_hall = metric.subject is Subject.HALL
    unit = timedelta(seconds=1) if metric.per_second else timedelta(minutes=1)
    growing = since_of is not None and op in (Op.GE, Op.GT)
    where = list(cond.where.items())
    by = cond.value if isinstance(cond.value, ByLabel) else None
    fixed = cond.value
    # the common case — a float metric against a fixed number — compared directly (same result as _compare)
    direct = _ORDER.get(op) if by is None and isinstance(fixed, int | float) and not isinstance(fixed, bool) else None

    if not where and by is None and not growing:  # the common case, without what it does not use

        def simple(
            labels: dict[str, str], view: View, hall: HallSnapshot, now: datetime, deadlines: list[datetime]
        ) -> tuple[dict[str, Value], datetime | None] | None:
            value = read(hall if on_hall else view, hall, now)
            if fixed is None or not (
                direct(value, fixed) if direct is not None and value.__class__ is float else _compare(value, op, fixed)
            ):
                return None
            return {name: plain(value)}, None

        return simple

    def test(
        labels: dict[str, str], view: View, hall: HallSnapshot, now: datetime, deadlines: list[datetime]
    ) -> tuple[dict[str, Value], datetime | None] | None:
        for k, pat in where:
            if not fnmatch.fnmatchcase(labels.get(k, ""), pat):
                return None
        target = hall if on_hall else view
        value = read(target, hall, now)
        want = fixed if by is None else by.values.get(labels.get(by.by, ""), by.default)
        crossing: datetime | None = None
        if growing and isinstance(want, int | float):
            assert since_of is not None
            start = since_of(target, hall, now)
            if start is not None:
                crossing = start + unit * float(want)
        if want is None or not (
            direct(value, want) if direct is not None and value.__class__ is float else _compare(value, op, want)
        ):
            if crossing is not None and crossing > now:
                deadlines.append(crossing)  # it will become true then, if nothing changes
            return None
        return {name: plain(value)}, crossing

    return test


_ORDER: dict[Op, Callable[[Any, Any], bool]] = {
    Op.GT: operator.gt,
    Op.GE: operator.ge,
    Op.LT: operator.lt,
    Op.LE: operator.le,
}


def _compare(value: Value | object, op: Op, want: object) -> bool:  # noqa: PLR0911 - one return per operator
    if value is None:
        return False
    if op is Op.IN:
        return isinstance(want, list) and value in want
    if op is Op.EQ:
        return bool(value == want)
    if op is Op.NE:
        return bool(value != want)
    if isinstance(value, bool) or not isinstance(value, int | float) or not isinstance(want, int | float):
        return False
    if op is Op.GT:
        return value > want
    if op is Op.GE:
        return value >= want
    if op is Op.LT:
        return value < want
    return value <= want


def plain(value: object) -> Value:
    """A value as evidence: None, a bool or text as it is, a number as a float (NaN as None), anything else as text."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        v = float(value)
        return v if math.isfinite(v) else None if math.isnan(v) else v
    return str(value)


def describe(match: Match) -> str:
    """The reason an alert shows for a match: its evidence and its labels."""
    parts = []
    for name, value in match.evidence.items():
        shown = (
            "∞"
            if isinstance(value, float) and math.isinf(value)
            else (f"{value:.1f}" if isinstance(value, float) else str(value))
        )
        parts.append(f"{name} = {shown}")
    where = ", ".join(f"{k}={v}" for k, v in match.labels)
    return f"{'; '.join(parts)}" + (f" ({where})" if where else "")


# -- event rules ------------------------------------------------------------------------------------------


def event_matches(on: EventTrigger, msg: DeviceMessage) -> bool:
    """Whether the event's payload passes every test of the rule's `where:`."""
    for name, test in on.where.items():
        actual = plain(getattr(msg.payload, name, None))
        tests = test if isinstance(test, dict) else {Op.EQ: test}
        if not all(_compare(actual, Op(op), want) for op, want in tests.items()):
            return False
    return True


def event_labels(msg: DeviceMessage) -> Labels:
    """The labels of an event's alert: its device, and the window and ticket it is about."""
    labels = {"device": msg.device_id, "device_type": msg.device_type.value}
    for key in ("window_id", "ticket_id"):
        value = getattr(msg.payload, key, None)
        if value is not None:
            labels[key.removesuffix("_id")] = str(value)
    return tuple(sorted(labels.items()))
