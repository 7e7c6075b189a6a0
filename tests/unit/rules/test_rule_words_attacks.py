"""A rule's words (`title`, `text`, `public`) as a person or a bundle writes them: a format-spec, an attribute, an
index or an empty placeholder is refused with its field path (the renderer substitutes names, it never runs
str.format), a missing language is refused, and a page-long text is refused before it reaches every alert."""

from __future__ import annotations

import pytest

from devices.errors import ConfigError
from rules.language import parse_rules


def rule(**words: object) -> dict[str, object]:
    return {
        "rules": [
            {
                "id": "long-wait",
                "severity": "warning",
                "when": {"metric": "queue.longest_wait_min", "op": ">=", "value": 30},
                "then": [{"alert": {"to": "floor_guide"}}],
                **words,
            }
        ]
    }


@pytest.mark.parametrize(
    "template", ["{0}", "{a.__class__}", "{value:>99999999}", "{value!r}", "{}", "{since.__globals__}", "{service[0]}"]
)
def test_a_placeholder_that_is_not_a_name_is_refused_with_its_path(template: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_rules(rule(text={"zh": template, "en": "ok"}))
    assert "rules[0].text.zh" in str(e.value) and "unknown placeholder" in str(e.value)


def test_a_missing_language_is_refused_with_its_path() -> None:
    with pytest.raises(ConfigError) as e:
        parse_rules(rule(title={"zh": "等候过长"}))
    assert "rules[0].title.en" in str(e.value)


@pytest.mark.parametrize("field", ["title", "text", "public"])
def test_a_page_long_text_is_refused_with_its_path(field: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_rules(rule(**{field: {"zh": "等" * 10_000, "en": "ok"}}))
    assert f"rules[0].{field}.zh" in str(e.value)


def test_known_names_are_taken() -> None:
    parsed = parse_rules(
        rule(text={"zh": "{service}已等候{longest_wait_min}（{since}起）", "en": "{service}: {value}"})
    )
    assert parsed.rules[0].text is not None
