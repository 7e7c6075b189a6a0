"""The Grafana dashboards in deploy/grafana (scripts/dashboards.py) against a real VictoriaMetrics.

Three halls' two hours — queues per service each minute, windows, zones, hourly KPIs (the running hour sent
twice), 好差评 ratings, devices up and one going down, alerts firing and resolving — go in through the consumer's
own path: `wire.Batch` → `cloud_sync.series.lines_of` → `SeriesWriter` (influxdb-client's batching write API,
VictoriaMetrics' /api/v2/write). Then every target of every panel runs as Grafana would run it — the template
variables substituted (`$hall` a regex of two of the three halls or "All" on the province dashboard, one hall on the
hall dashboard, `$service` "All" or two services; `$__range`, `$__interval` fixed), a range query with the panel's
step or an instant query — and must return data; a panel whose query returns nothing (a metric name the consumer
does not write, a label it does not carry) fails with its title, and so does one showing a hall or service not
chosen. What a user notices: no panel of either dashboard says "No data" on a fleet that sends everything, each
shows only the halls picked, and the hall picker lists the halls.
"""

from __future__ import annotations

import json
import math
import re
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from cloud_sync import series, wire
from cloud_sync.settings import SeriesSection
from tests.harness import wait_until
from tests.integration.cloud_engines import VictoriaMetrics

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
HALLS = ("city-01", "city-02", "county-07")
SERVICES = {"A": 9, "B": 4, "C": 2}  # queue service → how busy it is
ZONES = ("entrance", "waiting")
SPAN_S = 7200  # the dashboards' time range in this test: the last two hours
STEP_S = 60  # the panels' min interval (and the datasource's timeInterval)
# the time the dashboards look at: fixed (VictoriaMetrics here keeps 100 years), 26 minutes 40 s into an hour
NOW = 1_780_000_000.0


# -- the fleet's last two hours, as the halls' boxes send them --------------------------------------------------------


def _records(hall_no: int, now: float) -> dict[wire.Stream, list[tuple[float, str, dict[str, Any]]]]:
    start = now - SPAN_S
    out: dict[wire.Stream, list[tuple[float, str, dict[str, Any]]]] = {s: [] for s in series.SERIES_STREAMS}
    tele = out[wire.Stream.TELEMETRY]
    for m in range(SPAN_S // 60):
        at = start + 60 * m + 30
        load = (1 + hall_no) * (1 + math.sin(m / 20))  # a morning peak, bigger in the bigger halls
        waiting_total = 0
        for code, busy in SERVICES.items():
            waiting = round(busy * load / 3)
            waiting_total += waiting
            fields = {"waiting": waiting, "longest_wait_s": 60.0 * waiting, "arrivals_15m": busy + m % 5, "serving": 2}
            tele.append((at, "sample", {"measurement": "hall_queue", "tags": {"service": code}, "fields": fields}))
        windows = {"open": 6 + hall_no, "paused": m % 3 == 0, "closed": 2, "offline": 0, "waiting": waiting_total,
                   "devices_offline": hall_no % 2, "devices_faulty": 1 if m > 60 else 0}  # fmt: skip
        tele.append((at, "sample", {"measurement": "hall_windows", "tags": {}, "fields": windows}))
        for z, zone in enumerate(ZONES):
            fields = {"people": waiting_total + 3 * z}
            tele.append((at, "sample", {"measurement": "hall_zone", "tags": {"zone": zone}, "fields": fields}))
    hour = now - now % 3600
    for h, at in enumerate((hour - 7200, hour - 3600, hour, hour)):  # the running hour sent twice (newest wins)
        kpi = {"start": "", "service": None, "issued": 80 + h, "called": 75, "served": 70, "no_shows": 3,
               "sl_pct": 70.0 + 5 * h + hall_no, "p95_wait_min": 22.0 - h, "mean_wait_min": 8.5,
               "max_wait_min": 31.0, "utilisation_pct": 82.0, "availability_pct": 99.0, "ratings": 12,
               "satisfaction_pct": 91.5 - hall_no}  # fmt: skip
        out[wire.Stream.KPIS].append((at, "kpi_hour", kpi))
    for i in range(20):
        rating = {"device": f"pad-{i % 4}", "window": f"W{i % 4 + 1:02d}", "ticket": f"A{i:03d}",
                  "score": 5 - (i + hall_no) % 3, "service": "A", "service_item": None}  # fmt: skip
        out[wire.Stream.RATINGS].append((start + 300 * i + 17, "rating", rating))
    for d, (device, kind) in enumerate((("screen-1", "display"), ("kiosk-1", "kiosk"), ("pad-1", "rating_pad"))):
        out[wire.Stream.DEVICES].append(
            (start + 100 + d, "availability", {"device": device, "device_type": kind, "up": True, "since": ""})
        )
    down = {"device": "kiosk-1", "device_type": "kiosk", "up": False, "since": "", "reason": "offline"}
    out[wire.Stream.DEVICES].append((now - 1800, "availability", down))
    for rule, severity, states in (("queue_long_wait", "warning", ("firing",)),
                                   ("device_down", "critical", ("firing", "resolved"))):  # fmt: skip
        for k, state in enumerate(states):
            body = {"fingerprint": f"{rule}-1", "rule": rule, "state": state, "severity": severity, "alert": {}}
            out[wire.Stream.ALERTS].append((now - 3000 + 600 * k, "alert", body))
    return out


def _feed(vm: VictoriaMetrics, now: float) -> int:
    """Every hall's records through the consumer's own series path; returns the lines written."""
    writer = series.SeriesWriter(SeriesSection(url=vm.url, flush_interval_ms=200))
    total = 0
    try:
        for hall_no, hall in enumerate(HALLS):
            for stream, recs in _records(hall_no, now).items():
                if not recs:
                    continue
                records = [
                    {"seq": i + 1, "at": at, "kind": kind, "body": body} for i, (at, kind, body) in enumerate(recs)
                ]
                batch = wire.Batch.model_validate(
                    {
                        "format": "hallops-sync/1",
                        "hall": hall,
                        "stream": stream,
                        "lo": 0,
                        "hi": len(records),
                        "sent_at": now,
                        "records": records,
                    }
                )
                lines, problems = series.lines_of(batch)
                assert not problems, problems
                writer.write(lines)
                total += len(lines)
    finally:
        writer.close()  # waits for the batching thread to write everything
    assert writer.counters()["failed"] == 0, writer.counters()
    return total


@pytest.fixture
def fleet(victoria: VictoriaMetrics) -> float:
    """The three halls' last two hours in VictoriaMetrics, searchable; returns the time the dashboards look at."""
    now = NOW
    assert _feed(victoria, now) > len(HALLS) * SPAN_S // 60 * (len(SERVICES) + 1 + len(ZONES))

    def arrived() -> bool:
        victoria.flush()
        return len(victoria.query("count by (hall) (hall_windows_open)", at=now)) == len(HALLS)

    wait_until(arrived, 30, "every hall's samples in VictoriaMetrics")
    return now


# -- running the dashboards' queries as Grafana does -----------------------------------------------------------------


def _get(vm: VictoriaMetrics, path: str, params: dict[str, str] | list[tuple[str, str]]) -> Any:
    url = f"{vm.url}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=30) as resp:
        data = json.loads(resp.read())
    assert data.get("status") == "success", f"{url}: {data}"
    return data["data"]


def _substitute(expr: str, variables: dict[str, str]) -> str:
    """Grafana's interpolation of a Prometheus query: template variables and the built-in intervals."""
    builtins = {"__range": f"{SPAN_S}s", "__interval": f"{STEP_S}s", "__rate_interval": f"{4 * STEP_S}s"}
    out = re.sub(
        r"\$\{(\w+)\}|\$(\w+)",
        lambda m: (variables | builtins)[m.group(1) or m.group(2)],
        expr,
    )
    assert "$" not in out, f"{expr!r}: a variable the test does not know"
    return out


def _panels(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    board = json.loads((GRAFANA / name).read_text(encoding="utf-8"))
    flat: list[dict[str, Any]] = []
    for p in board["panels"]:
        flat += [p, *p.get("panels", [])]
    return board, [p for p in flat if p["type"] != "row"]


def _run_target(vm: VictoriaMetrics, target: dict[str, Any], variables: dict[str, str], now: float) -> list[Any]:
    expr = _substitute(target["expr"], variables)
    if target.get("instant"):
        return list(_get(vm, "/api/v1/query", {"query": expr, "time": f"{now:.3f}"})["result"])
    step = int(target.get("interval", f"{STEP_S}s").rstrip("s"))
    params = {"query": expr, "start": f"{now - SPAN_S:.3f}", "end": f"{now:.3f}", "step": str(step)}
    return list(_get(vm, "/api/v1/query_range", params)["result"])


def _has_values(result: list[Any]) -> bool:
    for row in result:
        values = row.get("values") or [row.get("value")]
        if any(v is not None and not math.isnan(float(v[1])) for v in values):
            return True
    return False


def _variable_values(vm: VictoriaMetrics, query: str, variables: dict[str, str], now: float) -> list[str]:
    """A `label_values(selector, label)` variable, as Grafana asks it of a Prometheus datasource."""
    m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
    assert m, f"{query!r} is not label_values(selector, label)"
    params = [("match[]", _substitute(m.group(1), variables)), ("start", f"{now - SPAN_S:.0f}"), ("end", f"{now:.0f}")]
    return sorted(_get(vm, f"/api/v1/label/{m.group(2)}/values", params))


@pytest.mark.parametrize(
    ("dashboard", "variables", "chosen"),
    [
        ("province.json", {"hall": "(city-01|county-07)", "ds": "vm"}, {"city-01", "county-07"}),
        ("province.json", {"hall": ".*", "ds": "vm"}, set(HALLS)),  # "All": the variable's allValue
        ("hall.json", {"hall": "city-02", "service": ".*", "ds": "vm"}, {"city-02"}),
        ("hall.json", {"hall": "county-07", "service": "(A|C)", "ds": "vm"}, {"county-07"}),
    ],
    ids=["province-two-halls", "province-all-halls", "hall-all-services", "hall-two-services"],
)
def test_every_panel_query_returns_data_for_the_chosen_halls(
    victoria: VictoriaMetrics, fleet: float, dashboard: str, variables: dict[str, str], chosen: set[str]
) -> None:
    now = fleet
    board, panels = _panels(dashboard)
    # the template variables list what the halls send
    templating = {v["name"]: v for v in board["templating"]["list"]}
    assert _variable_values(victoria, templating["hall"]["query"], variables, now) == sorted(HALLS)
    if "service" in templating:
        assert _variable_values(victoria, templating["service"]["query"], variables, now) == sorted(SERVICES)

    empty, leaked, ran = [], [], 0
    for panel in panels:
        for target in panel["targets"]:
            result = _run_target(victoria, target, variables, now)
            ran += 1
            if not _has_values(result):
                empty.append(f"{panel['title']} [{target['refId']}]: {target['expr']}")
            halls = {row["metric"]["hall"] for row in result if "hall" in row["metric"]}
            if not halls <= chosen:
                leaked.append(f"{panel['title']} [{target['refId']}]: {sorted(halls - chosen)}")
            services = {row["metric"]["service"] for row in result if "service" in row["metric"]}
            others = {x for x in services if not re.fullmatch(variables.get("service", ".*"), x)}
            if others:
                leaked.append(f"{panel['title']} [{target['refId']}]: services {sorted(others)}")
    assert ran >= len(panels) >= 15
    assert not empty, "panels without data:\n" + "\n".join(empty)
    assert not leaked, "panels showing halls or services not chosen:\n" + "\n".join(leaked)


def test_the_province_table_puts_the_worst_hall_first(victoria: VictoriaMetrics, fleet: float) -> None:
    """The halls table is sorted by its longest-wait column, and that column's query ranks the busiest hall first."""
    now = fleet
    _, panels = _panels("province.json")
    table = next(p for p in panels if p["type"] == "table" and "最差" in p["title"])
    column = table["options"]["sortBy"][0]
    assert column["desc"] is True
    renames = next(t for t in table["transformations"] if t["id"] == "organize")["options"]["renameByName"]
    ref = next(k for k, v in renames.items() if v == column["displayName"]).removeprefix("Value #")
    target = next(t for t in table["targets"] if t["refId"] == ref)
    rows = _run_target(victoria, target, {"hall": ".*"}, now)
    ranked = sorted(rows, key=lambda r: -float(r["value"][1]))
    assert [r["metric"]["hall"] for r in ranked] == ["county-07", "city-02", "city-01"]  # hall_no 2, 1, 0
