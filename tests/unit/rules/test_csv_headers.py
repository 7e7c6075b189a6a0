"""The daily and hourly CSV reports speak to the manager who opens them: a header in Chinese or in English, every
figure with its unit, the service level named after the hall's own target wait; the rows are the same whichever
header they carry.

Messages go through the real decoder (hall time T0 + seconds); no clock."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import timedelta

import pytest

from rules.hall import HallProfile, ServiceProfile
from rules.kpi import CSV_COLUMNS, CsvLanguage, DayBook, DayReport, csv_daily, csv_header, csv_hourly
from tests.unit.rules.feed import T0, Feed, issue, opened, win

MIN = 60.0
TEXT_COLUMNS = {"hall", "start", "end", "service", "service_name"}  # no unit: a name, a code, a time
UNIT = {"zh": re.compile(r"（(张|分钟|%|次|条)）$|（.+，%）$"), "en": re.compile(r"\((tickets|min|%|count)\)$|, %\)$")}


def report_of(target_wait_min: float = 15.0) -> DayReport:
    """Two tax tickets at 09:30: one called after 10 min and served, one waiting for 25 min."""
    book = DayBook(HallProfile("h1", services=(ServiceProfile("tax", "税务"),)), T0.date(), target_wait_min)
    f = Feed()
    for msg in (
        opened(f, 0, "W1"),
        issue(f, 0, "a1"),
        issue(f, 5 * MIN, "a2"),
        win(f, 10 * MIN, "W1", "ticket.called", ticket_id="a1"),
        win(f, 11 * MIN, "W1", "service.started", ticket_id="a1"),
        win(f, 20 * MIN, "W1", "service.completed", ticket_id="a1"),
    ):
        book.apply(msg)
    return book.report(T0 + timedelta(minutes=30))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_figure_has_its_unit_in_the_header(lang: CsvLanguage) -> None:
    header = dict(zip(CSV_COLUMNS, csv_header(lang, 15), strict=True))
    assert len(set(header.values())) == len(header), "each column has its own name"
    without = [column for column, name in header.items() if column not in TEXT_COLUMNS and not UNIT[lang].search(name)]
    assert without == []
    assert not any("_" in name for name in header.values()), "no column id is left for a person to decode"


def test_the_service_level_is_named_after_the_halls_target_wait() -> None:
    assert "服务水平（15分钟内叫号，%）" in csv_header("zh", 15.0)
    assert "Service level (called within 15 min, %)" in csv_header("en", 15.0)
    assert "服务水平（7.5分钟内叫号，%）" in csv_header("zh", 7.5)
    zh = next(csv.reader(io.StringIO(csv_daily(report_of(10.0), "zh"))))
    assert zh[CSV_COLUMNS.index("sl_pct")] == "服务水平（10分钟内叫号，%）"


@pytest.mark.parametrize("write", [csv_daily, csv_hourly])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_rows_are_the_same_under_either_header(write: Callable[..., str], lang: CsvLanguage) -> None:
    report = report_of()
    ids = list(csv.reader(io.StringIO(write(report))))
    named = list(csv.reader(io.StringIO(write(report, lang))))
    assert named[0] == list(csv_header(lang, 15.0)) and ids[0] == list(CSV_COLUMNS)
    assert named[1:] == ids[1:]
    rows = list(csv.DictReader(io.StringIO(write(report, lang))))
    issued, sl = (
        ("取号（张）", "服务水平（15分钟内叫号，%）")
        if lang == "zh"
        else (
            "Issued (tickets)",
            "Service level (called within 15 min, %)",
        )
    )
    assert (rows[0][issued], rows[0][sl]) == ("2", "50.0")  # a2, waiting for 25 min, missed the 15 min


def test_the_header_names_the_target_the_figure_is_counted_against() -> None:
    rows = list(csv.DictReader(io.StringIO(csv_daily(report_of(target_wait_min=30.0), "en"))))
    assert rows[0]["Service level (called within 30 min, %)"] == "100.0"  # a2's 25 min are within 30
