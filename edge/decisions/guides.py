"""The mobile post (流动岗) in the gateway: a guide proposed when arrivals jump (rules.tidal.recommend_guide), posted
when the hall manager says so (or at once with `tidal.auto_approve`), called back when the arrivals are back to usual
(rules.tidal.guide_over) — each step told in words on the MQTT topic `<topic>/guides` and the live stream (`guide`).

Owns `GuideBoard` (the proposal waiting for the manager, the guides posted, proposals declined; saved as the decision
state `guides`), `guide_row` and `guide_words`. Must not decide when arrivals jump (rules/tidal/guide.py does) nor
send anything itself: the decider (loop.py) delivers what `step` and the manager's actions return.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rules.hall import HallProfile
from rules.tidal import GuidePost, GuideProposal, GuideReason, ServiceName

OFFER_VALID_MIN = 10.0  # a proposal not taken up within this is withdrawn (the jump is old news)
DECLINED_MIN = 30.0  # a proposal declined is not made again for the same person within this


@dataclass
class GuideOffer:
    proposal: GuideProposal
    at: datetime


@dataclass
class GuideBoard:
    """The guide proposed (at most one at a time), the guides posted, and who was declined until when."""

    offer: GuideOffer | None = None
    posts: dict[str, GuidePost] = field(default_factory=dict)  # staff id → their post
    last: dict[str, tuple[datetime, GuideReason]] = field(default_factory=dict)  # staff → why they were last sent
    declined: dict[str, datetime] = field(default_factory=dict)  # staff id → not proposed again until

    def expire(self, now: datetime) -> GuideOffer | None:
        """Withdraw a proposal older than `OFFER_VALID_MIN` (the expired one, or None): not taken up, its person is
        not proposed again for `DECLINED_MIN` (a manager who let it lapse is not asked again every 10 min)."""
        if self.offer is not None and now - self.offer.at >= timedelta(minutes=OFFER_VALID_MIN):
            old, self.offer = self.offer, None
            self.declined[old.proposal.staff_id] = now + timedelta(minutes=DECLINED_MIN)
            return old
        return None

    def blocked(self, now: datetime) -> set[str]:
        self.declined = {s: until for s, until in self.declined.items() if until > now}
        return set(self.declined)

    def post(self, staff_id: str, now: datetime) -> GuidePost:
        """The manager sends the proposed guide (ValueError: nobody of that id is proposed)."""
        if self.offer is None or self.offer.proposal.staff_id != staff_id:
            raise ValueError(f"no guide proposal for {staff_id!r} is waiting")
        proposal = self.offer.proposal
        self.offer = None
        post = GuidePost.of(proposal, now)
        self.posts[staff_id] = post
        self.last[staff_id] = (now, proposal.reason)
        return post

    def decline(self, staff_id: str, now: datetime) -> GuideProposal:
        if self.offer is None or self.offer.proposal.staff_id != staff_id:
            raise ValueError(f"no guide proposal for {staff_id!r} is waiting")
        proposal = self.offer.proposal
        self.offer = None
        self.declined[staff_id] = now + timedelta(minutes=DECLINED_MIN)
        return proposal

    def recall(self, staff_id: str, now: datetime | None) -> GuidePost:
        """A guide comes back: called back by the manager at `now` (not proposed again for `DECLINED_MIN`), or
        (None) because the arrivals calmed or they were pulled to a window."""
        post = self.posts.pop(staff_id, None)
        if post is None:
            raise ValueError(f"{staff_id!r} is not posted as a guide")
        if now is not None:
            self.declined[staff_id] = now + timedelta(minutes=DECLINED_MIN)
        return post

    # -- saved state -----------------------------------------------------------------------------------

    def dump(self) -> str:
        return json.dumps(
            {
                "offer": None if self.offer is None else {**_proposal(self.offer.proposal), "at": self.offer.at},
                "posts": [_post(p) for p in self.posts.values()],
                "last": {s: {"at": at, "reason": _reason(r)} for s, (at, r) in self.last.items()},
                "declined": self.declined,
            },
            ensure_ascii=False,
            default=lambda x: x.isoformat(),
            sort_keys=True,
        )

    @classmethod
    def load(cls, text: str) -> GuideBoard:
        """A board as `dump` saved it (ValueError: not one)."""
        try:
            body = json.loads(text)
            offer = body.get("offer")
            return cls(
                offer=None if offer is None else GuideOffer(_proposal_of(offer), _when(offer["at"])),
                posts={p["staff_id"]: _post_of(p) for p in body.get("posts", [])},
                last={s: (_when(v["at"]), _reason_of(v["reason"])) for s, v in body.get("last", {}).items()},
                declined={s: _when(t) for s, t in body.get("declined", {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"the saved guides are not readable: {exc}") from None


def guide_row(
    staff_id: str, reason: GuideReason, profile: HallProfile, zones: dict[str, tuple[str, str | None]]
) -> dict[str, Any]:
    """A guide's proposal or post as the API, the live stream and the MQTT topic show it, with display names."""
    person = next((p for p in profile.staff if p.staff_id == staff_id), None)
    zone = zones.get(reason.zone) if reason.zone else None
    return {
        "staff_id": staff_id,
        "staff_name": person.name if person else None,
        "staff_name_en": person.name_en if person else None,
        "zone": reason.zone,
        "zone_name": zone[0] if zone else None,
        "zone_name_en": zone[1] if zone else None,
        "services": [n.code for n in reason.names],
        "service_names": [n.name or n.code for n in reason.names],
        "service_names_en": [n.name_en or n.name or n.code for n in reason.names],
        "arrivals_15m": reason.arrivals_15m,
        "live_rate_per_h": reason.live_rate_per_h,
        "usual_rate_per_h": reason.usual_rate_per_h,
        "growth_15m": reason.growth_15m,
        "waiting": reason.waiting,
    }


def guide_words(row: dict[str, Any], event: str) -> tuple[str, str]:
    """What a guide event says (Chinese, English): proposed, posted, back, pulled (to a window), declined or
    expired."""
    who_zh = row["staff_name"] or row["staff_id"]
    who_en = row["staff_name_en"] or row["staff_name"] or row["staff_id"]
    where_zh = row["zone_name"] or row["zone"] or "排队区"
    where_en = row["zone_name_en"] or row["zone_name"] or row["zone"] or "the queue area"
    services_zh = "、".join(row["service_names"][:4]) + ("等" if len(row["services"]) > 4 else "")
    services_en = ", ".join(row["service_names_en"][:4]) + (" …" if len(row["services"]) > 4 else "")
    usual = row["usual_rate_per_h"]
    why_zh = (
        f"近 15 分钟{services_zh}取号 {row['arrivals_15m']} 人"
        + (
            f"（平时约每小时 {usual:g} 人，现每小时 {row['live_rate_per_h']:g} 人）"
            if usual is not None
            else f"（排队增加 {row['growth_15m']} 人）"
        )
        + f"，{row['waiting']} 人等候"
    )
    why_en = (
        f"{row['arrivals_15m']} tickets for {services_en} in the last 15 min"
        + (
            f" ({row['live_rate_per_h']:g}/h against the usual {usual:g}/h)"
            if usual is not None
            else f" (the queue grew by {row['growth_15m']})"
        )
        + f", {row['waiting']} waiting"
    )
    if event == "proposed":
        return (
            f"客流突增：{why_zh} → 建议派流动岗 {who_zh} 到{where_zh}引导分流（自助办理、一次性告知材料）",
            f"Arrivals jumped: {why_en} → send the mobile post {who_en} to {where_en} to guide people (self-service, "
            "documents checked before they queue)",
        )
    if event == "posted":
        return (
            f"流动岗 {who_zh} 已派往{where_zh}引导分流（{why_zh}）",
            f"{who_en} sent to {where_en} as a guide ({why_en})",
        )
    if event == "back":
        return (
            f"客流已回落：流动岗 {who_zh} 可从{where_zh}回到原岗位",
            f"Arrivals are back to usual: {who_en} can come back from {where_en}",
        )
    if event == "pulled":
        return (
            f"流动岗 {who_zh} 已到窗口办理，{where_zh}的引导结束",
            f"{who_en} is serving at a window now: guiding at {where_en} has ended",
        )
    if event == "recalled":
        return (
            f"流动岗 {who_zh} 已从{where_zh}召回（30 分钟内不再建议）",
            f"{who_en} called back from {where_en} (not proposed again for 30 min)",
        )
    if event == "declined":
        return (f"已不派流动岗 {who_zh}（30 分钟内不再建议）", f"{who_en} not sent (not proposed again for 30 min)")
    return (f"派流动岗 {who_zh} 的建议已过期", f"The proposal to send {who_en} has expired")


# -- saved forms ----------------------------------------------------------------------------------------------


def _reason(r: GuideReason) -> dict[str, Any]:
    return {
        "names": [[n.code, n.name, n.name_en] for n in r.names],
        "arrivals_15m": r.arrivals_15m,
        "live_rate_per_h": r.live_rate_per_h,
        "usual_rate_per_h": r.usual_rate_per_h,
        "growth_15m": r.growth_15m,
        "waiting": r.waiting,
        "zone": r.zone,
        "staff_id": r.staff_id,
    }


def _reason_of(v: dict[str, Any]) -> GuideReason:
    return GuideReason(
        names=tuple(ServiceName(str(c), n, e) for c, n, e in v["names"]),
        arrivals_15m=int(v["arrivals_15m"]),
        live_rate_per_h=float(v["live_rate_per_h"]),
        usual_rate_per_h=None if v["usual_rate_per_h"] is None else float(v["usual_rate_per_h"]),
        growth_15m=int(v["growth_15m"]),
        waiting=int(v["waiting"]),
        zone=v["zone"],
        staff_id=str(v["staff_id"]),
    )


def _proposal(p: GuideProposal) -> dict[str, Any]:
    return {"staff_id": p.staff_id, "zone": p.zone, "services": list(p.services), "reason": _reason(p.reason)}


def _proposal_of(v: dict[str, Any]) -> GuideProposal:
    return GuideProposal(str(v["staff_id"]), v["zone"], _codes(v["services"]), _reason_of(v["reason"]))


def _when(text: object) -> datetime:
    at = datetime.fromisoformat(str(text))
    if at.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return at


def _codes(v: object) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(c, str) for c in v):
        raise ValueError(f"services must be a list of codes, got {v!r}")
    return tuple(v)


def _post(p: GuidePost) -> dict[str, Any]:
    return {
        "staff_id": p.staff_id,
        "zone": p.zone,
        "services": list(p.services),
        "since": p.since,
        "calm_since": p.calm_since,
    }


def _post_of(v: dict[str, Any]) -> GuidePost:
    calm = v.get("calm_since")
    return GuidePost(
        str(v["staff_id"]),
        v["zone"],
        _codes(v["services"]),
        _when(v["since"]),
        None if calm is None else _when(calm),
    )
