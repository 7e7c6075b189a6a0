"""Who can serve what (技能与岗位): the hall's staff, the services each can serve, their post and their AB partner.

Owns `StaffSkills` (what the roster says of one person), `PostKind`, `SkillBook` (the roster plus what was learned
from who served what) and `SkillLearner` (what teaches it from the hall's events). Must not decide who goes where: the
tidal recommender and the break planner ask it.

A person's skills are the roster's `skills`, the services of their home window (`post`), and every service they were
seen completing at least `learn_after` times (a person the roster does not list is learned the same way). AB posts
(AB岗互补) are symmetric: naming B as A's partner makes A B's partner too, unless B names someone else.
"""

from __future__ import annotations

import json
from collections import Counter, OrderedDict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from devices.codec import DeviceMessage
from devices.contract import (
    ServiceCompleted,
    ServiceOutcome,
    TicketIssued,
    TicketTransferred,
    WindowClosed,
    WindowOpened,
)

MAX_SEEN = 2000  # people learned from the messages at most (the roster's are always learned)


class PostKind(StrEnum):
    WINDOW = "window"  # at a window of their own (the A post)
    COMPREHENSIVE = "comprehensive"  # 综合窗口: a window for many services, the first to be asked to help
    APPROVER = "approver"  # 后台审批: in the back office, can be called to a window
    MOBILE = "mobile"  # 流动岗: a guide on the floor (triage, self-service help), can be called to a window


@dataclass(frozen=True, slots=True)
class StaffSkills:
    """One person as the roster has them."""

    staff_id: str
    skills: frozenset[str] = frozenset()  # services they can serve besides their post's
    post: str | None = None  # their home window (A post), if any
    partner: str | None = None  # their AB partner's staff id (B post: covers them, and they cover the partner)
    kind: PostKind = PostKind.WINDOW


class SkillBook:
    """The roster's skills and posts, and what was learned from completed tickets."""

    def __init__(
        self,
        roster: Iterable[StaffSkills] = (),
        windows: Mapping[str, Collection[str]] | None = None,
        *,
        learn_after: int = 3,
    ) -> None:
        """`windows`: window id → its configured services (a person's post adds its services to their skills)."""
        if learn_after < 1:
            raise ValueError(f"learn_after must be ≥ 1, got {learn_after!r}")
        self._staff: dict[str, StaffSkills] = {}
        for person in roster:
            if person.staff_id in self._staff:
                raise ValueError(f"staff {person.staff_id!r} is listed twice")
            self._staff[person.staff_id] = person
        self._windows = {w: frozenset(s) for w, s in (windows or {}).items()}
        self._learn_after = learn_after
        self._seen: dict[str, Counter[str]] = {}
        self._partner: dict[str, str] = {}
        for person in self._staff.values():
            if person.partner and person.partner != person.staff_id:
                self._partner[person.staff_id] = person.partner
        for person in self._staff.values():  # symmetric, unless the partner names someone else
            if person.partner and person.partner not in self._partner and person.partner != person.staff_id:
                self._partner[person.partner] = person.staff_id

    def observe(self, staff_id: str, service: str) -> None:
        """`staff_id` completed a ticket of `service` (someone new beyond MAX_SEEN people seen is not learned: the
        staff ids come from devices)."""
        if staff_id not in self._seen and len(self._seen) >= MAX_SEEN and staff_id not in self._staff:
            return
        self._seen.setdefault(staff_id, Counter())[service] += 1

    def dump_seen(self) -> str:
        """What was learned (staff → service → tickets completed), for `load_seen` after a restart."""
        return json.dumps({s: dict(sorted(c.items())) for s, c in sorted(self._seen.items())}, ensure_ascii=False)

    def load_seen(self, text: str) -> None:
        """Take a `dump_seen`: ValueError (and nothing taken) when it is not one."""
        data = json.loads(text)
        if not isinstance(data, dict) or sum(1 for s in data if s not in self._staff) > MAX_SEEN:
            raise ValueError(f"not a map of the roster's people and at most {MAX_SEEN} others")
        seen: dict[str, Counter[str]] = {}
        for staff, counts in data.items():
            if not isinstance(counts, dict) or not all(
                isinstance(c, str) and isinstance(n, int) and not isinstance(n, bool) and n >= 0
                for c, n in counts.items()
            ):
                raise ValueError(f"staff {staff!r}: not a map of service → count")
            seen[str(staff)] = Counter(counts)
        self._seen = seen

    def skills(self, staff_id: str) -> frozenset[str]:
        """The services `staff_id` can serve: the roster's, their post's and the learned ones."""
        return self._configured(staff_id) | self._seen_enough(staff_id)

    def learned(self, staff_id: str) -> frozenset[str]:
        """The services `staff_id` can serve only because they were seen serving them."""
        return self._seen_enough(staff_id) - self._configured(staff_id)

    def _configured(self, staff_id: str) -> frozenset[str]:
        """The roster's skills of `staff_id` and their post's services."""
        person = self._staff.get(staff_id)
        if person is None:
            return frozenset()
        return person.skills | (self._windows.get(person.post, frozenset()) if person.post else frozenset())

    def _seen_enough(self, staff_id: str) -> frozenset[str]:
        seen = self._seen.get(staff_id)
        return frozenset(s for s, n in seen.items() if n >= self._learn_after) if seen else frozenset()

    def knows(self, staff_id: str) -> bool:
        """Is anything known of `staff_id`: listed in the roster, or seen completing a ticket?"""
        return staff_id in self._staff or staff_id in self._seen

    def can_serve(self, staff_id: str, services: Collection[str]) -> bool:
        return set(services) <= self.skills(staff_id)

    def who_can(self, services: Collection[str]) -> list[str]:
        """Everyone known who can serve all of `services`, in roster order, then learned ones by id."""
        ids = [*self._staff, *sorted(s for s in self._seen if s not in self._staff)]
        return [s for s in ids if self.can_serve(s, services)]

    def partner(self, staff_id: str) -> str | None:
        return self._partner.get(staff_id)

    def post(self, staff_id: str) -> str | None:
        person = self._staff.get(staff_id)
        return person.post if person else None

    def kind(self, staff_id: str) -> PostKind:
        person = self._staff.get(staff_id)
        return person.kind if person else PostKind.WINDOW

    def off_window(self) -> list[str]:
        """Staff without a window of their own (approvers, mobile posts): the first to call to a window."""
        return [s.staff_id for s in self._staff.values() if s.post is None]

    def staff(self) -> list[str]:
        return list(self._staff)


class SkillLearner:
    """Teaches a `SkillBook` from the hall's events: who is logged in at each window (`window.opened`), which service
    each ticket is (`ticket.issued`), and each ticket done or accepted (`service.completed`) by the person at its
    window (a transferred ticket counts for the service it was transferred to). Remembers at most `keep` tickets not
    yet completed (the oldest are forgotten)."""

    def __init__(self, book: SkillBook, keep: int = 4096) -> None:
        self._book = book
        self._keep = keep
        self._service: OrderedDict[str, str] = OrderedDict()
        self._at: dict[str, str] = {}

    def seat(self, window_id: str, staff_id: str) -> None:
        """`staff_id` is at `window_id` (the hall as it stands after a restart, before any `window.opened`)."""
        self._at[window_id] = staff_id

    def learn(self, msg: DeviceMessage) -> None:
        p = msg.payload
        if isinstance(p, TicketIssued):
            self._service[p.ticket_id] = p.service
            self._service.move_to_end(p.ticket_id)
            while len(self._service) > self._keep:
                self._service.popitem(last=False)
        elif isinstance(p, TicketTransferred):  # it is now a ticket of the other service
            if p.ticket_id in self._service:
                self._service[p.ticket_id] = p.to_service
        elif isinstance(p, WindowOpened):
            window = p.window_id or msg.device_id
            if p.staff_id:
                self._at[window] = p.staff_id
            else:
                self._at.pop(window, None)
        elif isinstance(p, WindowClosed):
            self._at.pop(p.window_id or msg.device_id, None)
        elif isinstance(p, ServiceCompleted):
            service = self._service.pop(p.ticket_id, None)
            staff = self._at.get(p.window_id or msg.device_id)
            if service and staff and p.outcome in (ServiceOutcome.DONE, ServiceOutcome.ACCEPTED):
                self._book.observe(staff, service)
