"""The web UI has words, in Chinese and in English, for every code it shows where people read: each event type of
the device contract (an event rule's trigger in the administrator's rules in force), each subject a condition rule
can be about, and each problem the hall model can give a device (the floor's device list). A code without words
would reach the screen as machine text (`kiosk.help_requested`, `printer.paper_low`)."""

from __future__ import annotations

import re
from pathlib import Path

from devices.contract import DisplayCode, DisplayStatus, PrinterStatus
from rules.language import EVENT_MODELS
from rules.metrics import Subject

I18N = Path(__file__).resolve().parents[3] / "edge" / "web" / "i18n.js"


def keys() -> tuple[set[str], set[str]]:
    text = I18N.read_text("utf-8")
    zh, en = text.split("\nconst en = {", 1)
    key = re.compile(r'(?:^|[{,\s])"?([A-Za-z_][\w.]*)"?\s*:', re.M)
    return set(key.findall(zh)), set(key.findall(en))


def test_every_event_type_and_rule_subject_has_words_in_both_languages() -> None:
    zh, en = keys()
    wanted = {f"ev_{e}" for e in EVENT_MODELS} | {f"rs_{s.value}" for s in Subject} | {"rk_event", "rk_condition"}
    assert not wanted - zh, f"no Chinese words for {sorted(wanted - zh)}"
    assert not wanted - en, f"no English words for {sorted(wanted - en)}"


def test_every_device_problem_of_the_hall_model_has_words_in_both_languages() -> None:
    # rules/hall/views.py `_build_device_view`: printer.<status>, display.<status>, display.<code>, battery.low;
    # error.<code> is the device's own code, worded "device error" with the code beside it
    problems = (
        {f"printer.{s.value}" for s in PrinterStatus if s is not PrinterStatus.OK}
        | {f"display.{s.value}" for s in DisplayStatus if s is not DisplayStatus.OK}
        | {f"display.{c.value}" for c in DisplayCode}
        | {"battery.low"}
    )
    wanted = {f"tp_{p}" for p in problems} | {"devProbError", "devProbOther"}
    zh, en = keys()
    assert not wanted - zh, f"no Chinese words for {sorted(wanted - zh)}"
    assert not wanted - en, f"no English words for {sorted(wanted - en)}"
