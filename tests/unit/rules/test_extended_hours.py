"""Extended hours (延时服务, issue 20): a window configured with staffed periods of its own — here a lunch window,
12:00–13:30, and an evening one, 17:30–19:00 — that is not open 5 min into one raises the built-in
`window-not-open-on-time` alert for the hall manager, naming the window and how long; open (or
paused: someone is at it) on time, or outside its periods, it raises nothing; closed in the middle of one, it counts
from the closing."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from edge.wording.alerts import alert_words
from rules.engine import Notify, RuleEngine
from rules.hall import HallProfile, HallState, ServiceProfile, WindowProfile
from rules.language import builtin_rules
from tests.unit.rules.feed import T0, Feed, opened, win

NOON = T0.replace(hour=12)  # the Monday, hall time
LUNCH, EVENING = (time(12, 0), time(13, 30)), (time(17, 30), time(19, 0))
RULE = "window-not-open-on-time"


class Hall:
    def __init__(self) -> None:
        self.profile = HallProfile(
            "h1",
            "Asia/Shanghai",
            services=(ServiceProfile("SB", "社会保险"),),
            windows=(
                WindowProfile("W9", "延时服务窗", ("SB",), "Extended-hours window", (LUNCH, EVENING)),
                WindowProfile("W1", "社保1号窗", ("SB",)),  # no periods of its own: never alerted
            ),
        )
        self.state = HallState(self.profile)
        self.engine = RuleEngine(builtin_rules())
        self.feed = Feed()

    def hear(self, minutes_after_noon: float, window: str, event: str, **fields: object) -> None:
        t = (NOON - T0).total_seconds() + minutes_after_noon * 60
        self.state.apply(win(self.feed, t, window, event, **fields))

    def firing(self, minutes_after_noon: float) -> list[Notify]:
        now = NOON + timedelta(minutes=minutes_after_noon)
        notes = self.engine.evaluate(self.state.snapshot(now), now)
        return [d for d in notes if isinstance(d, Notify) and d.alert.rule_id == RULE]


def test_a_lunch_window_not_open_five_minutes_in_is_alerted_with_its_start() -> None:
    h = Hall()
    h.state.apply(opened(h.feed, 0, "W1", "SB"))  # 09:00: the ordinary window opens; W9 stays closed
    h.hear(-180, "W9", "window.closed")
    assert h.firing(-30) == []  # 11:30: outside W9's periods
    assert h.firing(4) == []  # 12:04: not 5 min yet
    (note,) = h.firing(6)
    assert note.alert.labels["window"] == "W9" and note.reason.value == "firing"
    words = alert_words(
        h.engine.rule(RULE), RULE, note.alert.labels, note.alert.evidence, note.alert.active_since, h.profile,
        ZoneInfo("Asia/Shanghai"),
    )  # fmt: skip
    assert words.text["zh"] == "延时服务窗在其服务时段内已6分钟未开放（延时/午间服务）"
    assert words.text["en"].startswith("Extended-hours window has not been open for 6 min of its staffed hours")
    assert note.roles == ("hall_manager",)


def test_open_or_paused_on_time_nothing_and_a_closing_mid_period_counts_from_then() -> None:
    h = Hall()
    h.hear(1, "W9", "window.opened", staff_id="S9", services=["SB"])  # 12:01: on time
    assert h.firing(10) == []
    h.hear(20, "W9", "window.paused", reason="break")  # someone is at it
    assert h.firing(30) == []
    h.hear(40, "W9", "window.resumed")
    h.hear(60, "W9", "window.closed")  # 13:00, half an hour before the period ends
    assert h.firing(63) == []  # counted from the closing, not from 12:00
    (note,) = h.firing(66)
    assert note.alert.active_since == datetime(2026, 11, 23, 13, 5, tzinfo=NOON.tzinfo)  # 5 min after it closed
    assert [n.reason.value for n in h.firing(95)] == ["resolved"]  # 13:35: the period is over


def test_the_evening_period_counts_too() -> None:
    h = Hall()
    h.hear(0, "W9", "window.opened", staff_id="S9", services=["SB"])
    h.hear(89, "W9", "window.closed")  # 13:29, as planned
    assert h.firing(5 * 60 + 34) == []  # 17:34
    (note,) = h.firing(5 * 60 + 36)  # 17:36: the evening service has not started
    assert note.alert.labels["window"] == "W9"


def test_touching_periods_are_one_stretch_and_an_offline_terminal_is_not_alerted_as_closed() -> None:
    h = Hall()
    h.profile = HallProfile(
        "h1",
        "Asia/Shanghai",
        services=(ServiceProfile("SB", "社会保险"),),
        windows=(WindowProfile("W9", "延时服务窗", ("SB",), None, ((time(8, 30), time(12, 0)), LUNCH)),),
    )
    h.state = HallState(h.profile)
    h.hear(-180, "W9", "window.closed")  # closed from 09:00 on
    (note,) = h.firing(-150)  # 09:30
    assert note.reason.value == "firing"
    assert [n.reason.value for n in h.firing(5)] == []  # at 12:05 the same alert goes on: no resolve, no new one
    assert [a.state.value for a in h.engine.alerts.values() if a.rule_id == RULE] == ["firing"]
    off = Hall()
    off.hear(-180, "W9", "window.opened", staff_id="S9", services=["SB"])
    off.state.apply(off.feed("window", "W9", (NOON - T0).total_seconds() + 60, on="state", will=True))
    assert off.firing(10) == []  # its terminal is away: device-offline says so, not "not open for 90 min"
