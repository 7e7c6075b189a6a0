"""Who can serve what (issue 20), as the administrator configures it: each person's post, skills, AB partner and
kind reach the decider's skills model and the tidal pool; a roster naming a window, service or person the hall
does not have is refused with the field path to fix."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from devices.errors import ConfigError
from edge.config import GatewayConfig, load_config
from edge.decisions.settings import settings_for, skill_book, tidal_pool
from rules.rota import PostKind

HALL = """\
hall: {id: h1}
services: {MZ: {}, WS: {}, JT: {}}
windows:
  W49: {services: [MZ, WS]}
  W55: {services: [JT]}
tidal: {staff_pool: [S257]}
"""


def load(tmp_path: Path, staff: str) -> GatewayConfig:
    path = tmp_path / "gateway.yaml"
    path.write_text(HALL + staff, encoding="utf-8")
    return load_config(path)


def test_the_roster_says_who_can_serve_what_and_who_may_be_called_to_a_window(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        """\
staff:
  S249: {name: 任静, post: W49, skills: [JT], partner: S255}
  S255: {name: 钟华, post: W55}
  S301: {name: 孔丽, kind: approver, skills: [MZ, WS]}
  S302: {name: 贺军, kind: mobile, skills: [JT]}
""",
    )
    settings = settings_for(cfg)
    book = skill_book(settings)
    assert book.skills("S249") == {"MZ", "WS", "JT"}  # the post's services and their own
    assert book.skills("S255") == {"JT"}
    assert book.partner("S255") == "S249"  # AB partners cover each other
    assert book.kind("S301") is PostKind.APPROVER
    assert tidal_pool(settings) == ("S257", "S301", "S302")  # the configured pool, then the staff off the windows


@pytest.mark.parametrize(
    ("staff", "path", "message"),
    [
        ("S1: {name: 甲, post: W99}", "staff.S1.post", "'W99' is not a configured window"),
        ("S1: {name: 甲, partner: S9}", "staff.S1.partner", "not another person"),
        ("S1: {name: 甲, partner: S1}", "staff.S1.partner", "not another person"),
        ("S1: {name: 甲, skills: [XX]}", "staff.S1.skills[0]", "'XX' is not a configured service"),
        ("S1: {name: 甲, kind: boss}", "staff.S1.kind", "Input should be"),
        ("S1: {name: 甲, skills: MZ}", "staff.S1.skills", "valid list"),
        ("S1: {name: 甲, lunch_min: 60}", "staff.S1.lunch_min", "needs a post"),
        ("S1: {name: 甲, post: W49, lunch_min: 200}", "staff.S1.lunch_min", "less than or equal to 180"),
        ("S1: {name: 甲, post: W49, lunch_min: 5}", "staff.S1.lunch_min", "greater than or equal to 15"),
        (
            "S1: {name: 甲, post: W49, lunch_min: 60}\n  S2: {name: 乙, post: W49, lunch_min: 60}",
            "staff.S2.lunch_min",
            "W49 is also S1's post",
        ),
    ],
)
def test_a_roster_naming_what_the_hall_does_not_have_is_refused_with_its_path(
    tmp_path: Path, staff: str, path: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f"staff:\n  {staff}\n")
    found = {p.path: p.message for p in caught.value.problems}
    assert path in found, found
    assert message in found[path]


def test_a_windows_staffed_hours_reach_the_hall_model_for_the_extended_hours_alert(tmp_path: Path) -> None:
    cfg = load(tmp_path, "").model_copy()
    path = tmp_path / "extended.yaml"
    path.write_text(
        HALL.replace("W55: {services: [JT]}", 'W55: {services: [JT], shifts: ["17:30-19:00", "12:00-13:30"]}')
    )
    windows = {w.window_id: w for w in load_config(path).profile().windows}
    assert windows["W55"].shifts == ((time(12, 0), time(13, 30)), (time(17, 30), time(19, 0)))
    assert windows["W49"].shifts == () and cfg.windows["W49"].shifts == []
    path.write_text(HALL.replace("W55: {services: [JT]}", 'W55: {services: [JT], shifts: ["19:00-17:30"]}'))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert [p.path for p in err.value.problems] == ["windows.W55.shifts"]
