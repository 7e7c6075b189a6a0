"""A key written twice in a YAML file a person edits (the gateway's configuration, a rule file) is refused with its
line, never read as the last one: PyYAML keeps the last silently, so a second `staff: {S1001: …}` or a threshold
pasted over an old one would change what the file means without a word."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from devices.errors import ConfigError
from edge.api.rules import read_rules
from edge.config import load_config


def test_a_configuration_naming_a_staff_member_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        "hall:\n  id: county-01\nstaff:\n  S1001: {name: 张敏}\n  S1002: {name: 李强}\n  S1001: {name: 王芳}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (problem,) = caught.value.problems
    assert "line 6" in problem.message and "'S1001' is given twice (first on line 4)" in problem.message


def test_the_same_key_in_two_mappings_is_no_repeat(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("hall:\n  id: county-01\n  name: 示范县\nstaff:\n  S1: {name: 张敏}\n  S2: {name: 李强}\n")
    cfg = load_config(path)
    assert cfg.hall.id == "county-01"


def test_a_rule_text_with_a_threshold_written_twice_is_refused_at_its_line() -> None:
    text = (
        "version: 1\n"
        "rules:\n"
        "  - id: wait-30\n"
        "    when: {metric: queue.longest_wait_min, op: '>=', value: 30, value: 300}\n"
        "    then: [{alert: {to: hall_manager}}]\n"
    )
    with pytest.raises(yaml.YAMLError) as caught:
        read_rules(text, "source")
    assert "'value' is given twice" in str(caught.value)
    assert caught.value.problem_mark.line + 1 == 4  # type: ignore[attr-defined]
