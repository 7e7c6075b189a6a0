"""The alert history (GET /api/alerts/history, issue 19): the county morning played into the gateway with the
built-in rules, in-process on the hall's clock (tests/hallday.py), then asked as a manager would — by severity, rule,
device, state and time, searched by the words people read, paged, and with every bad parameter refused by name."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

CST = timezone(timedelta(hours=8))
DAY = datetime(2026, 11, 23, tzinfo=CST)  # a Monday
URL = "/api/alerts/history"


def at(hhmm: str) -> datetime:
    h, m = hhmm.split(":")
    return DAY.replace(hour=int(h), minute=int(m))


async def history(http: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    r = await http.get(URL, params={"limit": 200, **params})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_the_morning_is_there_in_words_newest_first_and_filters_narrow_it(http: httpx.AsyncClient) -> None:
    everything = await history(http)
    items = everything["items"]
    assert everything["total"] == len(items) > 20
    starts = [i["started_at"] for i in items]
    assert starts == sorted(starts, reverse=True)
    paper = [i for i in items if i["rule"].startswith("printer-paper")]
    assert {i["rule"] for i in paper} == {"printer-paper-low", "printer-paper-out"}
    out = next(i for i in paper if i["rule"] == "printer-paper-out")
    assert (out["state"], out["labels"]["device"]) == ("resolved", "TM02")
    assert out["started_at"].startswith("2026-11-23T09:40") and out["ended_at"].startswith("2026-11-23T10:05")
    assert 24 * 60 < out["duration_s"] < 26 * 60
    assert "TM02" in out["subject"]["zh"] and out["text"]["zh"] and out["text"]["en"]

    major = await history(http, severity="major")
    assert major["items"] and {i["severity"] for i in major["items"]} == {"major"}
    assert major["total"] < everything["total"]
    assert {i["rule"] for i in (await history(http, rule="missed-ticket"))["items"]} == {"missed-ticket"}
    assert {i["labels"]["device"] for i in (await history(http, device="TM02"))["items"]} == {"TM02"}
    resolved = await history(http, state="resolved")
    assert resolved["items"] and all(i["ended_at"] for i in resolved["items"])
    active = await history(http, state="active")
    assert all(i["state"] != "resolved" and i["ended_at"] is None for i in active["items"])
    assert resolved["total"] + active["total"] == everything["total"]
    early = await history(http, **{"from": "2026-11-23T08:30:00+08:00", "to": "2026-11-23T09:00:00+08:00"})
    assert early["items"] and all(i["started_at"] < "2026-11-23T09:00" for i in early["items"])
    assert early["total"] < everything["total"]


async def test_search_finds_the_words_people_read_in_either_language(http: httpx.AsyncClient) -> None:
    paper_zh = await history(http, q="纸")
    assert {i["rule"] for i in paper_zh["items"]} == {"printer-paper-low", "printer-paper-out"}
    paper_en = await history(http, q="PAPER tm02")  # every word, any case
    assert {i["fingerprint"] for i in paper_en["items"]} == {i["fingerprint"] for i in paper_zh["items"]}
    assert (await history(http, q="no such thing at all"))["items"] == []


async def test_event_alerts_start_anew_rather_than_fire_all_morning(http: httpx.AsyncClient) -> None:
    help_asked = (await history(http, rule="kiosk-help-requested"))["items"]
    assert help_asked
    for i in help_asked:
        end = datetime.fromisoformat(i["ended_at"]) if i["ended_at"] else at("11:30")
        assert end - datetime.fromisoformat(i["started_at"]) <= timedelta(hours=2), i


async def test_who_took_an_alert_is_named_by_display_name(http: httpx.AsyncClient) -> None:
    [open_one, *_] = (await history(http, state="firing"))["items"]
    r = await http.post(f"/api/alerts/{open_one['fingerprint']}/ack", json={})
    assert r.status_code == 200, r.text
    taken = next(i for i in (await history(http))["items"] if i["fingerprint"] == open_one["fingerprint"])
    assert (taken["acknowledged_by"], taken["names"]) == ("wang", {"wang": "王经理"})
    assert (await history(http, q="王经理"))["total"] >= 1


async def test_pages_follow_each_other_without_gaps_or_repeats(http: httpx.AsyncClient) -> None:
    everything = [i["fingerprint"] + i["started_at"] for i in (await history(http))["items"]]
    seen: list[str] = []
    before = None
    while True:
        page = await history(http, limit=7, **({"before": before} if before else {}))
        assert len(page["items"]) <= 7 and page["total"] == len(everything)
        seen += [i["fingerprint"] + i["started_at"] for i in page["items"]]
        before = page["next"]
        if before is None:
            break
    assert seen == everything


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"state": "open"}, "state"),
        ({"severity": "loud"}, "severity"),
        ({"rule": "../etc"}, "rule"),
        ({"window": "W 1"}, "window"),
        ({"service": "x" * 65}, "service"),
        ({"device": ""}, "device"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-11-23T12:00:00+08:00", "to": "2026-11-23T11:00:00+08:00"}, "from"),
        ({"from": "2026-01-01T00:00:00+08:00", "to": "2026-11-23T11:00:00+08:00"}, "from"),
        ({"q": "x" * 101}, "q"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"before": "not-a-cursor"}, "before"),
    ],
)
async def test_a_bad_parameter_is_refused_by_name(http: httpx.AsyncClient, params: dict[str, Any], field: str) -> None:
    r = await http.get(URL, params=params)
    assert r.status_code == 422, r.text
    assert [d["loc"] for d in r.json()["detail"]] == [["query", field]]
