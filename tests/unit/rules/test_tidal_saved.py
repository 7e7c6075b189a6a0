"""A gateway upgraded over a restart keeps its tidal state: a tracker and a demand profile saved by state format 1
(tests/data/saved_state/tidal-tracker-v1.json and demand-profile-v1.json, made by make_tidal.py there with the code
before issue 15) load with the code of today. The pending recommendations, the tidal windows and the next deadline are
the same; a recommendation of format 1 shows the words it was saved with; after the restart the checks and closes,
with their English and Chinese words, are those the earlier release made; the profile answers as before.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from edge.wording.tidal import recommendation_json, render_event
from rules.tidal import DemandProfile, Recommendation, SavedReason, TidalEvent, TidalSettings, TidalTracker
from tests.unit.rules.feed import T0
from tests.unit.rules.test_tidal import MONDAY, Hall, at, lunch_hall

SAVED = Path(__file__).resolve().parents[2] / "data" / "saved_state"
EXPECTED = json.loads((SAVED / "tidal-expected-v1.json").read_text(encoding="utf-8"))
SETTINGS = TidalSettings(close_after_min=5)


def morning() -> Hall:
    """SB (W1, W2; reserve W11), YB (W3; W12, W13), ZB (W4; W14), QB (W5; W15): as in make_tidal.py."""
    windows = {
        "W1": ("SB",),
        "W2": ("SB",),
        "W11": ("SB",),
        "W3": ("YB",),
        "W12": ("YB",),
        "W13": ("YB",),
        "W4": ("ZB",),
        "W14": ("ZB",),
        "W5": ("QB",),
        "W15": ("QB",),
    }
    h = Hall(windows, services=("SB", "YB", "ZB", "QB"))
    h.settings = TidalSettings(min_tickets_helped=1)
    for w, s in (("W1", "SB"), ("W2", "SB"), ("W3", "YB"), ("W4", "ZB"), ("W5", "QB")):
        h.open(0, w, s)
    return h


def play(h: Hall, tracker: TidalTracker) -> list[tuple[int, TidalEvent]]:
    """The morning up to the save (09:15), as in make_tidal.py: W11 opened, checked and its close pending; a ZB
    opening rejected; a YB opening pending; a QB opening (W15) approved, its check due at 09:22:10."""
    events: list[tuple[int, TidalEvent]] = []

    def check(t: int) -> None:
        events.extend((t, e) for e in tracker.check(h.snap(t), at(t)))

    h.queue(60, 8)
    (sb,) = tracker.offer(h.recommend(120, staff_pool=("S21",)), at(120))
    tracker.approve(sb.id, "manager-1", at(130))
    h.open(300, "W11")
    for i, w in enumerate(("W1", "W2", "W11", "W1", "W2", "W11", "W1", "W2")):
        h.serve(400 + i * 10, w, f"t{i + 1}", 300)
    check(500)
    h.queue(520, 12, "ZB")
    (zb,) = tracker.offer(h.recommend(560, staff_pool=("S41",)), at(560))
    tracker.reject(zb.id, "manager-1", "staff in a meeting", at(570))
    h.queue(580, 20, "YB")
    tracker.offer([r for r in h.recommend(600, staff_pool=("S31", "S32")) if r.services == ("YB",)], at(600))
    check(700)
    h.queue(700, 10, "QB")
    (qb,) = tracker.offer([r for r in h.recommend(720, staff_pool=("S51",)) if r.services == ("QB",)], at(720))
    tracker.approve(qb.id, "manager-2", at(730))
    check(730)
    check(900)
    return events


def as_json(value: object) -> object:
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def as_recorded(rec: Recommendation) -> dict[str, object]:
    """A recommendation's JSON as the earlier release made it: issue 20 added `reason_code` (what kind of proposal)
    and `appointments` (booked people expected: none without bookings)."""
    out = recommendation_json(rec)
    out.pop("reason_code")
    assert out.pop("appointments") == 0
    return out


def event_json(t: int, e: TidalEvent) -> object:
    """An event as make_tidal.py recorded it (its words as the gateway's notifications and log lines show them)."""
    said = render_event(e)
    rec = None if e.recommendation is None else as_recorded(e.recommendation)
    return as_json(
        {
            "t": t,
            "kind": str(e.kind),
            "rec_id": e.rec_id,
            "services": list(e.services),
            "windows": list(e.windows),
            "reason_en": said.en,
            "reason_zh": said.zh,
            "wait_at_approval_min": e.wait_at_approval_min,
            "wait_now_min": e.wait_now_min,
            "windows_not_open": list(e.windows_not_open),
            "recommendation": rec,
        }
    )


def saved_tracker() -> TidalTracker:
    return TidalTracker.load(SETTINGS, (SAVED / "tidal-tracker-v1.json").read_bytes())


def test_a_tracker_saved_by_format_1_keeps_its_recommendations_windows_and_words() -> None:
    tracker = saved_tracker()
    pending = [recommendation_json(r) for r in tracker.pending()]
    assert {r.pop("reason_code") for r in pending} == {"saved"}  # issue 20 added the kind; format 1 kept no code
    assert {r.pop("appointments") for r in pending} == {0}  # … and the booked people expected (format 1: none)
    assert [as_json(r) for r in pending] == EXPECTED["pending"]
    assert all(isinstance(r.reason, SavedReason) for r in tracker.pending()), "format 1 kept the words only"
    opened = [
        {
            "window_id": ow.window_id,
            "services": list(ow.services),
            "serves": list(ow.serves),
            "staff_id": ow.staff_id,
            "rec_id": ow.rec_id,
            "opened_at": ow.opened_at.isoformat(),
            "seen_open": ow.seen_open,
        }
        for ow in tracker.opened()
    ]
    assert opened == EXPECTED["opened"]
    assert as_json(tracker.arriving()) == EXPECTED["arriving"]
    deadline = tracker.next_deadline()
    assert deadline is not None and deadline.isoformat() == EXPECTED["next_deadline"]


def test_after_the_restart_checks_and_closes_say_what_the_earlier_release_said() -> None:
    h = morning()
    before = play(h, TidalTracker(SETTINGS))
    assert [event_json(t, e) for t, e in before] == EXPECTED["events_before"], "the same morning, the same words"
    tracker = saved_tracker()
    after = [event_json(t, e) for t in (1000, 1200, 1330, 1500) for e in tracker.check(h.snap(t), at(t))]
    assert after == EXPECTED["events_after"]
    assert [e["kind"] for e in after] == ["escalate", "close"], "QB's check escalates; W11's close comes back"


def test_a_restored_format_1_tracker_is_saved_in_format_2_and_reads_back_the_same() -> None:
    tracker = saved_tracker()
    dumped = tracker.dump()
    assert json.loads(dumped)["schema"] == 2
    again = TidalTracker.load(SETTINGS, dumped)
    assert again.dump() == dumped
    assert again.pending() == tracker.pending() and again.opened() == tracker.opened()
    assert again.next_deadline() == tracker.next_deadline()


def test_a_demand_profile_saved_by_format_1_answers_as_before() -> None:
    profile = DemandProfile.load((SAVED / "demand-profile-v1.json").read_bytes())
    expected = EXPECTED["profile"]
    assert [d.isoformat() for d in profile.days] == expected["days"]
    assert profile.rate("SB", MONDAY + timedelta(minutes=5)) == expected["rate_SB_10_05"]
    assert profile.rate_over("SB", MONDAY + timedelta(minutes=5), 30) == expected["rate_over_SB_10_05_30"]
    assert profile.usually_open("W1", T0.replace(hour=11, minute=20)) == expected["usually_open_W1_11_20"]
    assert profile.usually_open("W1", T0.replace(hour=11, minute=35)) == expected["usually_open_W1_11_35"]
    assert profile.closed_from(T0.replace(hour=16, minute=50), 30) == expected["closed_from_16_50"]
    lunch = lunch_hall(DemandProfile("Asia/Shanghai"))
    recs = lunch.recommend(2 * 3600 + 1500, profile=profile)
    assert [as_json(as_recorded(r)) for r in recs] == expected["lunch_recommendations"]
    assert {recommendation_json(r)["reason_code"] for r in recs} == {"open"}
    assert DemandProfile.load(profile.dump()).dump() == profile.dump()
    assert json.loads(profile.dump())["schema"] == 2
