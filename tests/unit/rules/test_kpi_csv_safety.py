"""The daily and hourly CSV reports are opened in spreadsheet programs: a service code a device sent (or a configured
name) that starts like a formula is shown as text, never evaluated; the figures stay numbers, a negative one too.

Messages go through the real decoder (hall time T0 + seconds); no clock."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from rules.hall import HallProfile, ServiceProfile
from rules.kpi import DayBook, DayReport, csv_daily, csv_hourly
from tests.unit.rules.feed import T0, Feed, issue

HOSTILE = ['=HYPERLINK("http://x","y")', "+1", "-1+2", "@SUM(A1)", "\tcmd", "\r=1+1"]


def report_of(*services: str, names: dict[str, str] | None = None) -> DayReport:
    profile = HallProfile("h1", services=tuple(ServiceProfile(code, name) for code, name in (names or {}).items()))
    book = DayBook(profile, T0.date())
    f = Feed()
    for i, code in enumerate(services):
        book.apply(issue(f, i, f"t{i}", code))
    return book.report(T0 + timedelta(minutes=5))


def cells(text: str, column: str) -> list[str]:
    return [row[column] for row in csv.DictReader(io.StringIO(text))]


@pytest.mark.parametrize("write", [csv_daily, csv_hourly])
def test_a_service_code_that_starts_like_a_formula_is_text_in_the_spreadsheet(
    write: Callable[[DayReport], str],
) -> None:
    text = write(report_of(*HOSTILE))
    codes = [c for c in cells(text, "service") if c]
    assert sorted(codes) == sorted("'" + code for code in HOSTILE)
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in codes)


def test_a_configured_service_name_and_a_plain_code_are_left_as_they_are_unless_they_start_like_a_formula() -> None:
    text = csv_daily(report_of("tax", "land", names={"tax": "税务", "land": "=1+1"}))
    rows = {row["service"]: row["service_name"] for row in csv.DictReader(io.StringIO(text)) if row["service"]}
    assert rows == {"tax": "税务", "land": "'=1+1"}


def test_the_figures_stay_numbers_a_negative_one_too() -> None:
    report = report_of("-5")
    hall = replace(report.hall, mean_wait_min=-1.5)  # (a wait is never negative; the writer must not care)
    row = next(csv.DictReader(io.StringIO(csv_daily(replace(report, hall=hall)))))
    assert (row["mean_wait_min"], row["issued"]) == ("-1.5", "1")
    assert cells(csv_daily(report), "service")[1] == "'-5"  # a code is text, whatever it looks like
