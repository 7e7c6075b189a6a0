"""The words of the rules (issue 19): every built-in rule has a title and a text in Chinese and English, and a rule
file's templates are checked when it is read — an unknown placeholder or a missing language is a ConfigError with the
field path, not an alert that shows `{oops}` on the floor."""

from __future__ import annotations

import pytest

from devices.errors import ConfigError
from rules.language import PLACEHOLDER, builtin_rules, parse_rules, placeholders


def _rule(**words: object) -> dict[str, object]:
    return {
        "id": "long-wait",
        "when": {"metric": "queue.longest_wait_min", "op": ">=", "value": 20},
        "severity": "warning",
        "then": [{"alert": {"to": "floor_guide"}}],
        **words,
    }


def test_every_built_in_rule_has_a_title_and_a_text_in_both_languages_and_public_words_only_where_meant() -> None:
    rules = builtin_rules().rules
    assert len(rules) == 36
    for rule in rules:
        assert rule.title is not None and rule.text is not None, rule.id
        for words in (rule.title, rule.text, rule.public):
            if words is not None:
                assert words.zh.strip() and words.en.strip(), rule.id
                assert any("\u4e00" <= c <= "\u9fff" for c in words.zh), rule.id  # Chinese, not a copy of the English
    public = {r.id for r in rules if r.public is not None}
    # what the public must never read about: a person's rating, a nudge to the staff, the gateway's own faults
    assert not public & {"bad-rating", "idle-window-nudge", "empty-post", "gateway-storage-error", "device-offline"}
    assert {"printer-paper-out", "ticket-machines-down", "call-system-down", "wait-60"} <= public


def test_the_built_in_templates_name_only_what_each_rule_can_fill() -> None:
    for rule in builtin_rules().rules:
        known = placeholders(rule)
        for words in (rule.title, rule.text, rule.public):
            for text in (words.zh, words.en) if words is not None else ():
                assert set(PLACEHOLDER.findall(text)) <= known, rule.id
    # the public words of a device rule name the device (by its kind and place when rendered), never its id label
    paper = next(r for r in builtin_rules().rules if r.id == "printer-paper-out")
    assert paper.public is not None and "{device_type}" in paper.public.zh


def test_a_template_that_names_what_the_rule_cannot_fill_is_refused_with_its_path() -> None:
    with pytest.raises(ConfigError) as err:
        parse_rules({"rules": [_rule(text={"zh": "{service}等了{longest_wait_min}", "en": "{service} waited {oops}"})]})
    paths = {p.path: p.message for p in err.value.problems}
    assert set(paths) == {"rules[0].text.en"}
    assert paths["rules[0].text.en"].startswith("unknown placeholder {oops}")
    assert "service" in paths["rules[0].text.en"]  # says what it could have used


def test_a_template_without_english_or_chinese_is_refused_with_its_path() -> None:
    with pytest.raises(ConfigError) as err:
        parse_rules({"rules": [_rule(text={"zh": "等候过长"}, public={"en": "Long waits", "zh": ""})]})
    paths = {p.path for p in err.value.problems}
    assert {"rules[0].text.en", "rules[0].public.zh"} <= paths


def test_an_event_rule_fills_its_event_labels_and_filtered_fields_and_a_rule_without_words_is_still_valid() -> None:
    rules = parse_rules(
        {
            "rules": [
                {
                    "id": "low-score",
                    "on": {"event": "rating.submitted", "where": {"score": {"<=": 2}}},
                    "severity": "major",
                    "then": [{"alert": {"to": "hall_manager"}}],
                    "text": {"zh": "{window}评分{score}（{since}）", "en": "{window} rated {score} ({since})"},
                },
                _rule(),
            ]
        }
    )
    assert {"window", "ticket", "device", "score", "since"} <= placeholders(rules.rules[0])
    assert rules.rules[1].text is None
