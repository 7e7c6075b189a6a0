"""A rule file's text from a person is read within bounds: nesting, values with aliases expanded, an alias inside what
it names. Each is refused with the line, before it costs a RecursionError or minutes of work; a real rule file reads
exactly as `yaml.safe_load` reads it."""

from __future__ import annotations

import time

import pytest
import yaml

from rules.language import BUILTIN, MAX_DEPTH, MAX_NODES, RuleTextError, read_rule_text

BOMB = "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("[" * 50_000 + "]" * 50_000, f"nested deeper than {MAX_DEPTH} levels", 1),
        ("{a: " * 50_000 + "1" + "}" * 50_000, f"nested deeper than {MAX_DEPTH} levels", 1),
        ("- " * 50_000 + "x", f"nested deeper than {MAX_DEPTH} levels", 1),
        ("".join(" " * i + "a:\n" for i in range(100)), f"nested deeper than {MAX_DEPTH} levels", 64),
        (BOMB, f"more than {MAX_NODES} values (an alias counts as a copy of what it names)", 5),
        ("a: &x [1, *x]\n", "an alias names a node it is part of", 1),
    ],
    ids=["flow-lists", "flow-maps", "block-lists", "indentation", "alias-bomb", "alias-loop"],
)
def test_a_text_past_a_bound_is_refused_with_its_line(text: str, message: str, line: int) -> None:
    began = time.perf_counter()
    with pytest.raises(RuleTextError) as caught:
        read_rule_text(text, "body")
    assert [(p.path, p.message) for p in caught.value.problems] == [("", message)]
    assert (caught.value.source, caught.value.line) == ("body", line)
    assert time.perf_counter() - began < 1.0  # (measured: 20–80 ms; a line of 1,000 `[` took 1.7 s unbounded)


def test_nesting_up_to_the_bound_and_the_shipped_rules_read_as_safe_load_reads_them() -> None:
    assert read_rule_text("[" * MAX_DEPTH + "]" * MAX_DEPTH) == yaml.safe_load("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    text = BUILTIN.read_text(encoding="utf-8")
    assert read_rule_text(text) == yaml.safe_load(text)
    anchors = "base: &b {metric: queue.waiting, op: '>=', value: 5}\nrules: [{when: *b}, {when: *b}]\n"
    assert read_rule_text(anchors) == yaml.safe_load(anchors)


def test_bad_syntax_is_the_yaml_error_safe_load_raises() -> None:
    with pytest.raises(yaml.YAMLError):
        read_rule_text("rules: [\n")
