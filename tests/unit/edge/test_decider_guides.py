"""The mobile post (流动岗) in the gateway: a jump in arrivals proposes the roster's mobile-post person as a guide, in
words, on the MQTT topic and the live stream; the manager sends them (audited, kept over a restart); once arrivals
are back to usual for 15 minutes the gateway says the guide can come back. Real SQLite file, FixedClock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.config import load_config
from edge.decisions.guides import GuideBoard
from tests.unit.edge.test_decider_commands import Hall

HALL = {
    "hall": {"id": "h1"},
    "services": {"SB": {"name": "社会保险", "name_en": "Social insurance"}},
    "windows": {"W1": {"services": ["SB"]}},
    "staff": {
        "S1": {"name": "张敏", "post": "W1"},
        "M1": {"name": "方圆", "name_en": "Fang Yuan", "kind": "mobile", "skills": ["SB"]},
    },
}
WEEK = 7 * 24 * 3600


def surge(tmp_path: Path) -> Hall:
    """Last Monday two tickets for 社会保险 between 09:00 and 09:15; today twelve, and the clock at 09:15."""
    cfg = load_config(None, {**HALL, "storage": {"path": str(tmp_path / "g.db")}})
    h = Hall(tmp_path, cfg=cfg)
    h.hear("window", "W1", -WEEK, type="window.opened", staff_id="S1", services=["SB"])
    for i in range(2):
        h.hear("ticket_machine", "tm1", -WEEK + 60 + 300 * i, type="ticket.issued", ticket_id=f"old{i}",
               number=f"A{i:03d}", service="SB")  # fmt: skip
    h.hear("window", "W1", 0, type="window.opened", staff_id="S1", services=["SB"])
    for i in range(12):
        h.hear("ticket_machine", "tm1", 30 + 70 * i, type="ticket.issued", ticket_id=f"t{i}", number=f"B{i:03d}",
               service="SB")  # fmt: skip
    h.at(15 * 60)
    return h


def guide_messages(h: Hall) -> list[dict[str, object]]:
    """What the gateway said about guides on `<notify.topic>/guides`."""
    return h.sent_to(f"{h.cfg.notify.topic.replace('{hall}', 'h1')}/guides")


def test_a_jump_in_arrivals_proposes_the_mobile_post_and_the_manager_sends_them(tmp_path: Path) -> None:
    h = surge(tmp_path)
    now = h.decider.guides_now()
    proposed = now["proposed"]
    assert isinstance(proposed, dict) and proposed["staff_id"] == "M1" and now["posted"] == []
    assert proposed["arrivals_15m"] == 12 and proposed["usual_rate_per_h"] == 8.0  # 2 in 15 min last Monday
    assert "客流突增" in str(proposed["text_zh"]) and "方圆" in str(proposed["text_zh"])
    assert "send the mobile post Fang Yuan to the queue area" in str(proposed["text_en"])
    said = guide_messages(h)
    assert [m["event"] for m in said] == ["proposed"]

    row = h.decider.guide_decision("M1", "post", "wang")
    assert row["staff_id"] == "M1"
    h.at(16 * 60)
    assert [m["event"] for m in guide_messages(h)] == ["proposed", "posted"]
    assert [p["staff_id"] for p in h.decider.guides_now()["posted"]] == ["M1"]  # type: ignore[index]
    assert h.decider.guides_now()["proposed"] is None
    with pytest.raises(ValueError, match="no guide proposal"):
        h.decider.guide_decision("M1", "post", "wang")

    decider = h.restart()  # the post is kept over a restart
    assert list(decider.guides.posts) == ["M1"]

    h.at(32 * 60)  # 09:32: no arrivals since 09:14 — calm from now …
    assert decider.guides.posts
    h.at(48 * 60)  # … for 16 minutes: the guide can come back
    assert decider.guides.posts == {}
    back = [m for m in guide_messages(h) if m["event"] == "back"]
    assert len(back) == 1 and "方圆" in str(back[0]["text_zh"]) and "可从排队区回到原岗位" in str(back[0]["text_zh"])


def test_a_declined_guide_is_not_proposed_again_for_half_an_hour(tmp_path: Path) -> None:
    h = surge(tmp_path)
    h.decider.guide_decision("M1", "decline", "wang")
    h.at(17 * 60)
    assert h.decider.guides_now()["proposed"] is None
    with pytest.raises(ValueError, match="not posted"):
        h.decider.guide_decision("M1", "recall", "wang")
    with pytest.raises(ValueError, match="unknown guide action"):
        h.decider.guide_decision("M1", "dance", "wang")


def test_without_a_mobile_post_nothing_is_proposed(tmp_path: Path) -> None:
    staff = {"S1": HALL["staff"]["S1"]}  # type: ignore[index]
    cfg = load_config(None, {**HALL, "staff": staff, "storage": {"path": str(tmp_path / "g.db")}})
    h = Hall(tmp_path, cfg=cfg)
    for i in range(12):
        h.hear("ticket_machine", "tm1", 30 + 70 * i, type="ticket.issued", ticket_id=f"t{i}", number=f"B{i:03d}",
               service="SB")  # fmt: skip
    h.at(15 * 60)
    assert h.decider.guides_now() == {"enabled": False, "proposed": None, "posted": []}
    assert json.loads(h.decider.guides.dump())["offer"] is None


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[]",
        '{"posts": [{"staff_id": "M1"}]}',
        '{"declined": {"M1": 5}}',
        '{"declined": {"M1": "2026-11-23T09:00:00"}}',  # no time zone: would fail later, in the loop
        '{"posts": [{"staff_id": "M1", "zone": null, "services": "SB", "since": "2026-11-23T09:00:00+08:00"}]}',
    ],
)
def test_a_damaged_saved_board_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError, match="the saved guides are not readable"):
        GuideBoard.load(text)


def test_a_saved_board_comes_back_as_it_was(tmp_path: Path) -> None:
    h = surge(tmp_path)
    h.decider.guide_decision("M1", "post", "wang")
    board = h.decider.guides
    again = GuideBoard.load(board.dump())
    assert again.posts == board.posts and again.last == board.last and again.offer == board.offer


def test_a_guide_who_logs_in_at_a_window_ends_the_post_and_the_words_say_why(tmp_path: Path) -> None:
    h = surge(tmp_path)
    h.decider.guide_decision("M1", "post", "wang")
    h.hear("window", "W1", 17 * 60, type="window.opened", staff_id="M1", services=["SB"])  # called to serve
    h.at(17 * 60)
    assert h.decider.guides.posts == {}
    (pulled,) = [m for m in guide_messages(h) if m["event"] == "pulled"]
    assert "已到窗口办理" in str(pulled["text_zh"]) and "serving at a window" in str(pulled["text_en"])


def test_a_guide_called_back_mid_surge_is_told_as_called_back_and_not_proposed_again_at_once(tmp_path: Path) -> None:
    h = surge(tmp_path)
    h.decider.guide_decision("M1", "post", "wang")
    h.decider.guide_decision("M1", "recall", "wang")
    (recalled,) = [m for m in guide_messages(h) if m["event"] == "recalled"]
    assert "召回" in str(recalled["text_zh"]) and "回落" not in str(recalled["text_zh"])  # arrivals did not calm
    h.at(17 * 60)
    assert h.decider.guides_now()["proposed"] is None  # the surge goes on, but the manager said no for now


def test_a_proposal_left_to_lapse_is_not_made_again_at_the_same_moment(tmp_path: Path) -> None:
    h = surge(tmp_path)
    h.at(26 * 60)  # 09:26: eleven minutes without an answer
    assert [m["event"] for m in guide_messages(h)] == ["proposed", "expired"]
    assert h.decider.guides_now()["proposed"] is None


def test_a_person_proposed_for_a_window_is_not_proposed_as_a_guide(tmp_path: Path) -> None:
    """With a closed window for 社会保险 and M1 in the tidal pool, the twelve waiting get M1 at a window: the tidal
    pass runs first, and nobody is sent to two places."""
    cfg = load_config(
        None,
        {
            **HALL,
            "windows": {"W1": {"services": ["SB"]}, "W2": {"services": ["SB"]}},
            "tidal": {"staff_pool": ["M1"]},
            "storage": {"path": str(tmp_path / "g.db")},
        },
    )
    h = Hall(tmp_path, cfg=cfg)
    h.hear("window", "W2", 0, on="state", online=True)
    h.hear("window", "W1", 0, type="window.opened", staff_id="S1", services=["SB"])
    for i in range(12):
        h.hear("ticket_machine", "tm1", 30 + 70 * i, type="ticket.issued", ticket_id=f"t{i}", number=f"B{i:03d}",
               service="SB")  # fmt: skip
    h.at(15 * 60)
    (rec,) = h.decider.tidal.pending()
    assert rec.staff == ("M1",)
    assert h.decider.guides_now()["proposed"] is None


def test_a_person_at_a_window_cannot_be_sent_as_a_guide(tmp_path: Path) -> None:
    h = surge(tmp_path)
    h.hear("window", "W1", 15 * 60 + 10, type="window.opened", staff_id="M1", services=["SB"])  # before the answer
    with pytest.raises(ValueError, match="is at window W1 now"):
        h.decider.guide_decision("M1", "post", "wang")
    assert h.decider.guides.posts == {}
