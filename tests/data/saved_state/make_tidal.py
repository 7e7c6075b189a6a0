"""How `tidal-tracker-v1.json`, `demand-profile-v1.json` and `tidal-expected-v1.json` here were made: run at commit
149f632 (2026-12-05, state format 1, before issue 15 moved the tidal words out of rules/) with

    PYTHONPATH=<that tree> .venv/bin/python tests/data/saved_state/make_tidal.py tests/data/saved_state

The tracker and profile files are the bytes `TidalTracker.dump()` and `DemandProfile.dump()` wrote. The tracker is the
morning of `play` (also in tests/unit/rules/test_tidal_saved.py, which replays it with the code of today): an approved
and checked opening of W11 (SB) with its close pending, a rejected ZB opening, a pending YB opening, and an approved QB
opening (W15) whose check is still due. `tidal-expected-v1.json` is what that code said: the pending recommendations
and opened windows after a restart, the events (with their English and Chinese words) before the save and after it,
and the demand profile's answers, with the recommendation it gives the lunch hall of tests/unit/rules/test_tidal.py.
It uses the API of format 1 (`to_dict`, `reason_en`), so it runs only on that code.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

from rules.tidal import DemandProfile, TidalEvent, TidalSettings, TidalTracker
from tests.unit.rules.feed import T0
from tests.unit.rules.test_tidal import MONDAY, Hall, at, learned_profile, lunch_hall, usual_monday

SETTINGS = TidalSettings(close_after_min=5)


def morning() -> Hall:
    h = Hall(
        {
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
        },
        services=("SB", "YB", "ZB", "QB"),
    )
    h.settings = TidalSettings(min_tickets_helped=1)
    for w, s in (("W1", "SB"), ("W2", "SB"), ("W3", "YB"), ("W4", "ZB"), ("W5", "QB")):
        h.open(0, w, s)
    return h


def play(h: Hall, tracker: TidalTracker) -> list[tuple[int, TidalEvent]]:
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


def event_json(t: int, e: TidalEvent) -> dict[str, object]:
    return {
        "t": t,
        "kind": str(e.kind),
        "rec_id": e.rec_id,
        "services": list(e.services),
        "windows": list(e.windows),
        "reason_en": e.reason_en,
        "reason_zh": e.reason_zh,
        "wait_at_approval_min": e.wait_at_approval_min,
        "wait_now_min": e.wait_now_min,
        "windows_not_open": list(e.windows_not_open),
        "recommendation": None if e.recommendation is None else e.recommendation.to_dict(),
    }


def main(out: Path) -> None:
    h = morning()
    tracker = TidalTracker(SETTINGS)
    before = play(h, tracker)
    dump = tracker.dump()
    (out / "tidal-tracker-v1.json").write_bytes(dump)
    loaded = TidalTracker.load(SETTINGS, dump)
    deadline = loaded.next_deadline()
    assert deadline is not None
    expected: dict[str, object] = {
        "_about": "made at commit 149f632 (state format 1) by tests/data/saved_state/make_tidal.py",
        "pending": [r.to_dict() for r in loaded.pending()],
        "opened": [ow.to_dict() for ow in loaded.opened()],
        "arriving": {k: list(v) for k, v in loaded.arriving().items()},
        "next_deadline": deadline.isoformat(),
        "events_before": [event_json(t, e) for t, e in before],
        "events_after": [event_json(t, e) for t in (1000, 1200, 1330, 1500) for e in loaded.check(h.snap(t), at(t))],
    }

    profile = learned_profile({4: 8, 3: 10, 2: 12, 1: 10})
    for k in range(1, 5):
        for minute in range(0, 8 * 60, 10):  # 09:00-17:00
            profile.add("SB", T0 - timedelta(weeks=k) + timedelta(minutes=minute))
    for w in ("W1", "W2"):
        usual_monday(profile, w, ("08:30", "11:30"), ("12:45", "17:00"))
    profile.window("W1", True, T0.replace(hour=8, minute=30))  # open since this morning
    (out / "demand-profile-v1.json").write_bytes(profile.dump())
    again = DemandProfile.load(profile.dump())
    lunch = lunch_hall(DemandProfile("Asia/Shanghai"))
    expected["profile"] = {
        "days": [d.isoformat() for d in again.days],
        "rate_SB_10_05": again.rate("SB", MONDAY + timedelta(minutes=5)),
        "rate_over_SB_10_05_30": again.rate_over("SB", MONDAY + timedelta(minutes=5), 30),
        "usually_open_W1_11_20": again.usually_open("W1", T0.replace(hour=11, minute=20)),
        "usually_open_W1_11_35": again.usually_open("W1", T0.replace(hour=11, minute=35)),
        "closed_from_16_50": again.closed_from(T0.replace(hour=16, minute=50), 30),
        "lunch_recommendations": [r.to_dict() for r in lunch.recommend(2 * 3600 + 1500, profile=again)],
    }
    text = json.dumps(expected, ensure_ascii=False, indent=1, default=str)
    (out / "tidal-expected-v1.json").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
