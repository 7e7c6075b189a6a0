"""Configured display names (`zones:`, `staff:`, a window's `name_en`, issue 19) are what the wall, the floor and the
reports show in place of an id: a blank, a page-long or a multi-line name is refused at start with its field path,
never shown as an empty tile, a wall of text or a line that breaks a robot's message."""

from __future__ import annotations

import pytest

from devices.errors import ConfigError
from edge.config import load_config


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ({"zones": {"wait-a": {"name": "   "}}}, "zones.wait-a.name"),
        ({"zones": {"wait-a": {"name": "等候区A", "name_en": ""}}}, "zones.wait-a.name_en"),
        ({"zones": {"wait-a": {"name": "x" * 10_000}}}, "zones.wait-a.name"),
        ({"zones": {"wait-a": {"name": "等候区\nA"}}}, "zones.wait-a.name"),
        ({"staff": {"s1": {"name": "王芳\u202e"}}}, "staff.s1.name"),
        ({"staff": {"s1": {"name": "王芳", "name_en": "Wang\r\nFang"}}}, "staff.s1.name_en"),
        ({"windows": {"W01": {"name_en": "y" * 10_000}}}, "windows.W01.name_en"),
    ],
)
def test_a_name_no_screen_can_show_is_refused_with_its_path(section: dict[str, object], path: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(None, {"hall": {"id": "h"}, **section})
    assert path in str(e.value), str(e.value)


def test_names_people_write_are_taken_as_written_trimmed() -> None:
    cfg = load_config(
        None,
        {
            "hall": {"id": "h"},
            "zones": {"wait-a": {"name": " 等候区A ", "name_en": "Waiting area A"}},
            "staff": {"s1": {"name": "<b>王芳</b>", "name_en": "=Wang Fang"}},  # shown as text, kept as written
            "windows": {"W01": {"name": "1号窗", "name_en": "Window 1"}},
        },
    )
    assert cfg.zones["wait-a"].name == "等候区A"
    assert cfg.staff["s1"].name == "<b>王芳</b>" and cfg.staff["s1"].name_en == "=Wang Fang"
