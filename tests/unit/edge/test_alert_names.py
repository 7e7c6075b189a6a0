"""Alerts name what the hall's configuration names (issue 19): a window by its English name in English, a camera zone
by its configured name in both languages, a staff member by the roster; and the public (wall) words never show a
zone's id, even for a zone named nowhere."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from edge.decisions.records import alert_json
from edge.wording.alerts import Names
from rules.alerts import Alert, AlertState
from rules.hall import HallProfile, StaffProfile, WindowProfile, ZoneProfile
from rules.language import Severity, builtin_rules

TZ = ZoneInfo("Asia/Shanghai")
BEGAN = datetime(2026, 12, 5, 1, 11, 30, tzinfo=UTC)  # 09:11 in the hall
NAMED = HallProfile(
    "city-01",
    name="示范市政务服务中心",
    windows=(WindowProfile("W04", "不动产1号窗", ("BDC",), "Real estate window 1"),),
    zones=(ZoneProfile("atrium", "中庭休息区", "Atrium seating"), ZoneProfile("wait-a", "一楼东侧等候区")),
    staff=(StaffProfile("S1004", "刘洋", "Liu Yang"), StaffProfile("S1005", "陈静")),
)
UNNAMED = HallProfile("city-01", name="示范市政务服务中心")
RULES = {r.id: r for r in builtin_rules().rules}


def _alert(hall: HallProfile, rule: str, labels: dict[str, str], evidence: dict[str, object]) -> dict[str, object]:
    a = Alert("fp-" + rule, rule, labels, Severity.MAJOR, AlertState.FIRING, BEGAN, BEGAN, fired_at=BEGAN)
    a.evidence = dict(evidence)
    return alert_json(a, description="", hall=hall.hall_id, tz=TZ, rule=RULES[rule], profile=hall)


def test_a_configured_zone_reads_by_its_name_for_the_staff_and_on_the_wall() -> None:
    body = _alert(NAMED, "crowding", {"zone": "atrium", "camera": "CAM-8"}, {"zone.count": 45.0})
    assert body["text"] == {
        "zh": "中庭休息区有45人，人员过多（09:11起）",
        "en": "Atrium seating holds 45 people, too many (since 09:11)",
    }
    assert body["public"] == {
        "zh": "中庭休息区人员较多，请有序等候",
        "en": "Atrium seating is crowded, please wait in an orderly way",
    }


def test_a_configured_name_comes_before_the_guess_from_the_id_and_falls_back_to_chinese() -> None:
    body = _alert(NAMED, "crowding", {"zone": "wait-a", "camera": "CAM-1"}, {"zone.count": 41.0})
    assert body["text"] == {
        "zh": "一楼东侧等候区有41人，人员过多（09:11起）",  # not the guess 等候区A
        "en": "一楼东侧等候区 holds 41 people, too many (since 09:11)",  # no English name: the Chinese one
    }


def test_the_wall_never_shows_the_id_of_a_zone_named_nowhere() -> None:
    body = _alert(UNNAMED, "crowding", {"zone": "atrium", "camera": "CAM-8"}, {"zone.count": 45.0})
    assert body["public"] == {
        "zh": "部分区域人员较多，请有序等候",
        "en": "One area is crowded, please wait in an orderly way",
    }
    assert body["text"] == {  # the staff still learn which zone it is
        "zh": "区域 atrium有45人，人员过多（09:11起）",
        "en": "Zone atrium holds 45 people, too many (since 09:11)",
    }


@pytest.mark.parametrize("rule", sorted(r.id for r in builtin_rules().rules if r.public is not None))
def test_no_public_words_of_a_built_in_rule_name_a_zone_or_device_id(rule: str) -> None:
    labels = {"zone": "atrium", "camera": "CAM-8", "device": "TM02", "device_type": "ticket_machine"}
    body = _alert(UNNAMED, rule, labels, {})
    public = body["public"]
    assert isinstance(public, dict)
    for text in public.values():
        for ident in ("atrium", "CAM-8", "TM02"):
            assert ident not in text, (rule, text)


def test_a_window_reads_by_its_english_name_in_english() -> None:
    body = _alert(NAMED, "empty-post", {"window": "W04"}, {"window.status": "open", "window.staff_present": False})
    assert body["text"] == {
        "zh": "不动产1号窗开放中，但座位上没有工作人员（09:11起）",
        "en": "Real estate window 1 is open but nobody is at the seat (since 09:11)",
    }


def test_staff_and_seats_by_the_roster_and_the_window_names() -> None:
    names = Names(NAMED)
    assert [names.staff("S1004", lang) for lang in ("zh", "en")] == ["刘洋", "Liu Yang"]
    assert [names.staff("S1005", lang) for lang in ("zh", "en")] == ["陈静", "陈静"]
    assert names.staff("S9999", "zh") == "S9999"  # not on the roster: its id, for the staff only
    assert [names.zone("seat-W04", lang) for lang in ("zh", "en")] == [
        "不动产1号窗座位",
        "seat of Real estate window 1",
    ]
    assert names.zone("wait-b", "en", public=True) == "waiting area B"  # the guess from the id is words, not the id
