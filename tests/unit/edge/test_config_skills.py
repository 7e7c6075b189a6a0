"""Who can serve what (issue 20), as the administrator configures it: each person's post, skills, AB partner and
kind reach the decider's skills model and the tidal pool; a roster naming a window, service or person the hall
does not have is refused with the field path to fix."""

from __future__ import annotations

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
