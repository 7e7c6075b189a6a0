"""`line_of`: the editor shows each problem beside the line of the YAML it names, or of the nearest parent."""

from __future__ import annotations

import pytest

from devices.validation import line_of

RULES = """\
# hall rules, edited in the web UI
rules:
  - id: long-queue
    when:
      metric: queue.waiting
      above: 20
  - id: printer-jam
    when:
      metric: device.printer
      equals: jam
    for: 2m
    actions:
      - notify: manager
      - ticket: technician
"""


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("", 2),  # the whole file: its first node, after the comment
        ("rules", 2),
        ("rules[0]", 3),
        ("rules[0].id", 3),
        ("rules[0].when", 4),
        ("rules[0].when.above", 6),
        ("rules[1].when.metric", 9),
        ("rules[1].for", 11),
        ("rules[1].actions[1]", 14),
        ("rules[1].actions[1].ticket", 14),
    ],
)
def test_a_path_names_the_line_of_its_node(path: str, line: int) -> None:
    assert line_of(RULES, path) == line


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("rules[1].when.for", 8),  # a missing key: the mapping that should hold it
        ("rules[1].severity", 7),  # a missing key of a sequence item: the item
        ("rules[0].when.metric.name", 5),  # a key under a scalar: the scalar's key
        ("notify", 2),  # a missing top-level key: the document
        ("rules[5]", 2),  # an index past the end: the sequence's key
        ("rules[5].when.metric", 2),
        ("rules[1].actions[2]", 12),
        ("rules.when", 2),  # a key into a sequence
        ("rules[0].when[0]", 4),  # an index into a mapping
    ],
)
def test_a_path_that_does_not_exist_names_its_nearest_parent(path: str, line: int) -> None:
    assert line_of(RULES, path) == line


def test_a_flow_mapping_on_one_line_points_to_that_line() -> None:
    text = "hall: {id: h1}\nusers:\n  wang: {role: operator, password_hash: x}\n"
    assert line_of(text, "users.wang.role") == 3
    assert line_of(text, "hall.id") == 1


@pytest.mark.parametrize(
    "text",
    [
        "rules: [unclosed\n",
        "rules:\n  - id: a\n - id: b\n",  # bad indentation
        "key: value\n---\nsecond: document\n",  # more than one document
        "",  # nothing to point at
    ],
    ids=["unclosed", "indentation", "two-documents", "empty"],
)
def test_text_that_is_not_yaml_has_no_line(text: str) -> None:
    assert line_of(text, "rules[0].id") is None
    assert line_of(text, "") is None
