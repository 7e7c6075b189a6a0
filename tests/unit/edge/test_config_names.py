"""The names people read instead of ids (issue 19): a window's English name, the camera zones' names (`zones:`) and
the staff roster (`staff:`) reach the hall profile; a bad entry stops the gateway with the field path to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.errors import ConfigError
from edge.config import GatewayConfig, load_config
from rules.hall import StaffProfile, WindowProfile, ZoneProfile


def load(tmp_path: Path, yaml_text: str) -> GatewayConfig:
    path = tmp_path / "gateway.yaml"
    path.write_text("hall: {id: h1}\n" + yaml_text, encoding="utf-8")
    return load_config(path)


def problems(tmp_path: Path, yaml_text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, yaml_text)
    return {p.path: p.message for p in caught.value.problems}


def test_window_zone_and_staff_names_reach_the_hall_profile(tmp_path: Path) -> None:
    profile = load(
        tmp_path,
        """\
windows:
  W01: {name: 不动产1号窗, name_en: Real estate window 1}
zones:
  wait-a: {name: 等候区A, name_en: Waiting area A}
  atrium: {name: 中庭休息区}
staff:
  S1001: {name: 张敏, name_en: Zhang Min}
  S1002: {name: 李娜}
""",
    ).profile()
    assert profile.windows == (WindowProfile("W01", "不动产1号窗", (), "Real estate window 1"),)
    assert profile.zones == (ZoneProfile("wait-a", "等候区A", "Waiting area A"), ZoneProfile("atrium", "中庭休息区"))
    assert profile.staff == (StaffProfile("S1001", "张敏", "Zhang Min"), StaffProfile("S1002", "李娜"))


@pytest.mark.parametrize(
    ("yaml_text", "path", "message"),
    [
        ("zones: {wait-a: {name_en: Waiting area A}}", "zones.wait-a.name", "Field required"),
        ("zones: {wait-a: {name: ''}}", "zones.wait-a.name", "at least 1 character"),
        ("zones: {wait-a: {name: 等候区A, label: A}}", "zones.wait-a.label", "unknown key"),
        ("zones: {wait-a: 等候区A}", "zones.wait-a", "valid dictionary"),
        ("zones: {'wait a': {name: 等候区A}}", "zones.wait a.[key]", ""),
        ("staff: {S1001: {name_en: Zhang Min}}", "staff.S1001.name", "Field required"),
        ("staff: {S1001: {name: 张敏, phone: '138'}}", "staff.S1001.phone", "unknown key"),
        ("windows: {W01: {name_en: 7}}", "windows.W01.name_en", "valid string"),
    ],
)
def test_a_bad_name_entry_is_refused_with_its_path(tmp_path: Path, yaml_text: str, path: str, message: str) -> None:
    found = problems(tmp_path, yaml_text + "\n")
    assert path in found, found
    assert message in found[path]
