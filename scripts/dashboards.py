"""Generate the Grafana dashboards of the city/province tier (deploy/grafana/*.json) from code, so they cannot drift.

.venv/bin/python scripts/dashboards.py          # rewrite deploy/grafana/province.json and hall.json
.venv/bin/python scripts/dashboards.py --check  # exit 1 if a committed file differs from what this generates

They read the time series that `hallops cloud consume` writes to VictoriaMetrics (cloud_sync/series.py, docs/sync.md)
through Grafana's Prometheus datasource (deploy/grafana/datasource.yaml):

    hall_queue_{waiting,longest_wait_s,arrivals_15m,serving}{hall,service}     each minute
    hall_windows_{open,paused,closed,offline,waiting,devices_offline,devices_faulty}{hall}
    hall_zone_people{hall,zone}
    hall_kpi_{issued,served,no_shows,sl_pct,p95_wait_min,mean_wait_min,max_wait_min,utilisation_pct,
              availability_pct,ratings,satisfaction_pct}{hall}                 at each hour's start
    hall_rating_score{hall,window,service}                                     one point per rating
    hall_device_up{hall,device,device_type}                                    when a device goes down or comes back
    hall_alert_firing{hall,rule,severity}                                      each change of an alert's state

The series carry no province, city or district label (only `hall`), so the one template variable is `$hall`.
Titles are Chinese (the users are Chinese offices); each description says the same in English and what it reads.
Plain PromQL only (no MetricsQL), so a Prometheus-compatible store other than VictoriaMetrics answers them too.
Built with grafana-foundation-sdk (PyPI, Apache-2.0), the dashboard schema of Grafana 11.6.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import bargauge, common, dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_m
from grafana_foundation_sdk.models import dashboard as dash_m
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "deploy" / "grafana"

DS = dash_m.DataSourceRef(type_val="prometheus", uid="${ds}")  # the `ds` variable: any Prometheus-type datasource
HALL = 'hall=~"$hall"'
MIN_INTERVAL = "60s"  # the halls sample each minute (the datasource's timeInterval says the same)
PROVINCE_UID, HALL_UID = "hallops-province", "hallops-hall"
# sparse series (written on change only) are read with last_over_time over a window this long
CHANGES_WINDOW = "30d"
HOUR_WINDOW = "1h"  # hourly figures (at the hour's start) hold for their hour
# table columns: the series' labels in both languages
LABELS = {
    "hall": "大厅 hall",
    "service": "业务 service",
    "window": "窗口 window",
    "device": "设备 device",
    "device_type": "设备类型 device type",
    "rule": "告警规则 rule",
    "severity": "级别 severity",
}
DEVICE_STATE, ALERT_STATE = "状态 state", "告警状态 alert state"
STATES = {  # 1/0 columns shown in words
    DEVICE_STATE: dash_m.ValueMap(
        {"1": dash_m.ValueMappingResult(text="在线 up", color="green", index=0),
         "0": dash_m.ValueMappingResult(text="离线 down", color="red", index=1)}
    ),
    ALERT_STATE: dash_m.ValueMap(
        {"1": dash_m.ValueMappingResult(text="告警中 firing", color="red", index=0),
         "0": dash_m.ValueMappingResult(text="已恢复 resolved", color="green", index=1)}
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Q:
    """One query of a panel: PromQL, the legend ({{label}}), and whether it is an instant (table/stat) query."""

    expr: str
    legend: str = ""
    instant: bool = False


def _target(q: Q, ref: str, *, as_table: bool) -> prometheus.Dataquery:
    t = prometheus.Dataquery().expr(q.expr).ref_id(ref).datasource(DS).interval(MIN_INTERVAL)
    if q.legend:
        t = t.legend_format(q.legend)
    t = t.instant() if q.instant else t.range()
    if as_table:
        t = t.format(PromQueryFormat.TABLE)
    return t


class _Ids:
    def __init__(self) -> None:
        self.n = 0

    def next(self) -> int:
        self.n += 1
        return self.n


def _common(p: Any, ids: _Ids, title: str, en: str, unit: str, qs: list[Q], w: int, h: int, *, as_table: bool) -> Any:
    p = p.id(ids.next()).title(title).description(en).unit(unit).datasource(DS).span(w).height(h)
    p = p.interval(MIN_INTERVAL)
    for i, q in enumerate(qs):
        p = p.with_target(_target(q, chr(ord("A") + i), as_table=as_table))
    return p


def series(
    ids: _Ids, title: str, en: str, unit: str, qs: list[Q], *, w: int = 12, h: int = 8, stacked: bool = False
) -> timeseries.Panel:
    p = _common(timeseries.Panel(), ids, title, en, unit, qs, w, h, as_table=False)
    p = p.fill_opacity(10).line_width(1).span_nulls(False).min(0)
    p = p.legend(
        common.VizLegendOptions()
        .display_mode(common_m.LegendDisplayMode.TABLE)
        .placement(common_m.LegendPlacement.RIGHT)
        .show_legend(True)
        .calcs(["lastNotNull", "max"])
    )
    p = p.tooltip(
        common.VizTooltipOptions().mode(common_m.TooltipDisplayMode.MULTI).sort(common_m.SortOrder.DESCENDING)
    )
    if stacked:
        p = p.stacking(common.StackingConfig().mode(common_m.StackingMode.NORMAL)).fill_opacity(40)
    assert isinstance(p, timeseries.Panel)
    return p


def hourly(ids: _Ids, title: str, en: str, unit: str, qs: list[Q], *, w: int = 12, h: int = 8) -> timeseries.Panel:
    """Hourly figures as steps: each hour's value from its start until the next hour's."""
    p = series(ids, title, en, unit, qs, w=w, h=h)
    return p.line_interpolation(common_m.LineInterpolation.STEP_AFTER).fill_opacity(0)


def big(ids: _Ids, title: str, en: str, unit: str, qs: list[Q], *, w: int = 4, h: int = 4) -> stat.Panel:
    p = _common(stat.Panel(), ids, title, en, unit, qs, w, h, as_table=False)
    p = p.graph_mode(common_m.BigValueGraphMode.AREA).color_mode(common_m.BigValueColorMode.VALUE)
    p = p.reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    assert isinstance(p, stat.Panel)
    return p


def ranking(ids: _Ids, title: str, en: str, unit: str, qs: list[Q], *, w: int = 12, h: int = 8) -> bargauge.Panel:
    """A bar per series (e.g. per hall), largest first: instant queries."""
    p = _common(bargauge.Panel(), ids, title, en, unit, qs, w, h, as_table=False)
    p = p.display_mode(common_m.BarGaugeDisplayMode.BASIC).orientation(common_m.VizOrientation.HORIZONTAL)
    p = p.reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    p = p.min(0)
    assert isinstance(p, bargauge.Panel)
    return p


def grid(
    ids: _Ids,
    title: str,
    en: str,
    unit: str,
    columns: list[tuple[Q, str, str]],
    *,
    sort: str,
    desc: bool = True,
    hide: tuple[str, ...] = (),
    link_hall: bool = False,
    w: int = 24,
    h: int = 10,
) -> table.Panel:
    """A table of instant queries merged on their labels: `columns` are (query, column title, unit); sorted by the
    column `sort`. `hide`: label columns not shown. `link_hall`: the hall column opens the hall dashboard."""
    p = _common(table.Panel(), ids, title, en, unit, [c[0] for c in columns], w, h, as_table=True)
    # Grafana names a table query's value column "Value" when it is the only query, else "Value #<refId>"
    values = ["Value"] if len(columns) == 1 else [f"Value #{chr(ord('A') + i)}" for i in range(len(columns))]
    rename = dict(zip(values, (name for _, name, _ in columns), strict=True)) | LABELS
    exclude = {"Time": True, "__name__": True} | {k: True for k in hide}
    p = p.with_transformation(dash_m.DataTransformerConfig(id_val="merge", options={}))
    p = p.with_transformation(
        dash_m.DataTransformerConfig(id_val="organize", options={"renameByName": rename, "excludeByName": exclude})
    )
    for _, name, col_unit in columns:
        props = [dash_m.DynamicConfigValue(id_val="unit", value=col_unit)]
        if name in STATES:
            props.append(dash_m.DynamicConfigValue(id_val="mappings", value=[STATES[name]]))
        p = p.override_by_name(name, props)
    if link_hall:
        link = {
            "title": "大厅详情 Hall dashboard",
            "url": f"/d/{HALL_UID}?var-hall=${{__value.raw}}&${{__url_time_range}}",
        }
        p = p.override_by_name(LABELS["hall"], [dash_m.DynamicConfigValue(id_val="links", value=[link])])
    p = p.sort_by([common.TableSortByFieldState().display_name(sort).desc(desc)])
    p = p.filterable(True)
    assert isinstance(p, table.Panel)
    return p


def _row(ids: _Ids, title: str) -> dashboard.Row:
    return dashboard.Row(title).id(ids.next())


def _datasource_var() -> dashboard.DatasourceVariable:
    return (
        dashboard.DatasourceVariable("ds")
        .label("数据源 Data source")
        .type("prometheus")
        .description("VictoriaMetrics (a Prometheus-type datasource) that hallops cloud consume writes to")
    )


def _hall_var(*, multi: bool) -> dashboard.QueryVariable:
    v = (
        dashboard.QueryVariable("hall")
        .label("大厅 Hall")
        .description("The hall id(s), as the halls report them (label `hall`)")
        .datasource(DS)
        .query("label_values(hall_windows_open, hall)")
        .refresh(dash_m.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dash_m.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
        .multi(multi)
    )
    if multi:
        v = v.include_all(True).all_value(".*")
    return v


def _dashboard(uid: str, title: str, en: str, tags: list[str]) -> dashboard.Dashboard:
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(en)
        .tags(["hallops", *tags])
        .timezone("browser")
        .time("now-24h", "now")
        .refresh("1m")
        .tooltip(dash_m.DashboardCursorSync.CROSSHAIR)
        .editable()
        .link(
            dashboard.DashboardLink("政务服务大厅 dashboards")
            .type(dash_m.DashboardLinkType.DASHBOARDS)
            .tags(["hallops"])
            .as_dropdown(False)
            .include_vars(False)
            .keep_time(True)
            .icon("external link")
        )
        .with_variable(_datasource_var())
    )


def province() -> dashboard.Dashboard:
    ids = _Ids()
    d = _dashboard(
        PROVINCE_UID,
        "政务服务大厅 · 全省（市）总览",
        "Every government service hall of the province or city: who is worst now, queues, windows, devices, "
        "ratings and the hours' service levels. Pick halls with the Hall variable; a hall's name opens its dashboard.",
        ["province", "fleet"],
    ).with_variable(_hall_var(multi=True))
    d = d.with_row(_row(ids, "当前 Now"))
    d = d.with_panel(
        big(ids, "排队人数", "People waiting now in the chosen halls (sum of hall_windows_waiting).", "short",
            [Q(f"sum(hall_windows_waiting{{{HALL}}})")])
    ).with_panel(
        big(ids, "最长等待", "The longest wait of anyone waiting now, over the chosen halls.", "s",
            [Q(f"max(hall_queue_longest_wait_s{{{HALL}}})")])
    ).with_panel(
        big(ids, "开放窗口", "Windows open now (staffed and serving), over the chosen halls.", "short",
            [Q(f"sum(hall_windows_open{{{HALL}}})")])
    ).with_panel(
        big(ids, "上报大厅数", "Halls whose minute sample reached the time series in the last 5 minutes.",
            "short", [Q(f"count(max by (hall) (last_over_time(hall_windows_open{{{HALL}}}[5m])))")])
    ).with_panel(
        big(ids, "离线/故障设备", "Devices offline or faulty now, over the chosen halls.", "short",
            [Q(f"sum(hall_windows_devices_offline{{{HALL}}}) + sum(hall_windows_devices_faulty{{{HALL}}})")])
    ).with_panel(
        big(ids, "告警中", "Alerts firing now (their newest state change was to firing), over the chosen halls.",
            "short", [Q(f"sum(last_over_time(hall_alert_firing{{{HALL}}}[{CHANGES_WINDOW}]))")])
    )  # fmt: skip
    d = d.with_panel(
        grid(
            ids,
            "各大厅排队情况（最差在前）",
            "Every hall now, worst first by its longest wait (click a column to sort by people waiting): longest "
            "wait, people waiting, windows open, waiting per open window, devices offline or faulty, and the "
            "newest hour's SL15. Click a hall to open its dashboard.",
            "short",
            [
                (Q(f"max by (hall) (hall_queue_longest_wait_s{{{HALL}}})", instant=True), "最长等待 longest wait", "s"),
                (Q(f"sum by (hall) (hall_windows_waiting{{{HALL}}})", instant=True), "排队人数 waiting", "short"),
                (Q(f"sum by (hall) (hall_windows_open{{{HALL}}})", instant=True), "开放窗口 windows open", "short"),
                (
                    Q(
                        f"sum by (hall) (hall_windows_waiting{{{HALL}}}) / "
                        f"clamp_min(sum by (hall) (hall_windows_open{{{HALL}}}), 1)",
                        instant=True,
                    ),
                    "每窗口排队 per window",
                    "short",
                ),
                (
                    Q(
                        f"sum by (hall) (hall_windows_devices_offline{{{HALL}}} "
                        f"+ hall_windows_devices_faulty{{{HALL}}})",
                        instant=True,
                    ),
                    "离线/故障设备 devices down",
                    "short",
                ),
                (
                    Q(f"max by (hall) (last_over_time(hall_kpi_sl_pct{{{HALL}}}[{HOUR_WINDOW}]))", instant=True),
                    "最新一小时SL15 newest hour's SL15",
                    "percent",
                ),
            ],
            sort="最长等待 longest wait",
            link_hall=True,
        )
    )
    d = d.with_row(_row(ids, "排队 Queues"))
    d = d.with_panel(
        series(ids, "排队人数（前10个大厅）",
               "People waiting over time in the ten halls with the most at each moment (hall_windows_waiting).",
               "short", [Q(f"topk(10, sum by (hall) (hall_windows_waiting{{{HALL}}}))", "{{hall}}")])
    ).with_panel(
        series(ids, "最长等待（前10个大厅）",
               "The longest wait of anyone waiting, over time, in the ten halls where it is longest.", "s",
               [Q(f"topk(10, max by (hall) (hall_queue_longest_wait_s{{{HALL}}}))", "{{hall}}")])
    ).with_panel(
        series(ids, "开放窗口与排队人数",
               "Windows open against people waiting, over the chosen halls: when waiting climbs and windows do not, "
               "open more (tidal windows).", "short",
               [Q(f"sum(hall_windows_open{{{HALL}}})", "开放窗口 windows open"),
                Q(f"sum(hall_windows_waiting{{{HALL}}})", "排队人数 people waiting"),
                Q(f"sum(hall_windows_paused{{{HALL}}})", "暂停窗口 windows paused")])
    ).with_panel(
        ranking(ids, "每窗口排队人数（按大厅）",
                "People waiting per open window now, by hall, largest first: where staff is shortest.", "short",
                [Q(f"sort_desc(sum by (hall) (hall_windows_waiting{{{HALL}}}) / "
                   f"clamp_min(sum by (hall) (hall_windows_open{{{HALL}}}), 1))", "{{hall}}", instant=True)])
    )  # fmt: skip
    d = d.with_row(_row(ids, "设备 Devices"))
    d = d.with_panel(
        series(ids, "离线/故障设备（按大厅）",
               "Devices offline and faulty over time, by hall (hall_windows_devices_offline, _faulty).", "short",
               [Q(f"sum by (hall) (hall_windows_devices_offline{{{HALL}}})", "{{hall}} 离线 offline"),
                Q(f"sum by (hall) (hall_windows_devices_faulty{{{HALL}}})", "{{hall}} 故障 faulty")], stacked=True)
    ).with_panel(
        ranking(ids, "设备不可用数（按大厅）",
                "Devices whose newest availability record says down, by hall (hall_device_up; a device that never "
                "changed state since the consumer started is not counted).", "short",
                [Q(f"sort_desc(sum by (hall) (1 - last_over_time(hall_device_up{{{HALL}}}[{CHANGES_WINDOW}])))",
                   "{{hall}}", instant=True)])
    )  # fmt: skip
    d = d.with_row(_row(ids, "每小时指标与评价 Hours and ratings"))
    d = d.with_panel(
        hourly(ids, "每小时服务水平 SL15（按大厅）",
               "Each hour's service level by hall: tickets called within the target wait (15 min) ÷ tickets called or "
               "given up (hall_kpi_sl_pct, the hall's own figure).", "percent",
               [Q(f"last_over_time(hall_kpi_sl_pct{{{HALL}}}[{HOUR_WINDOW}])", "{{hall}}")])
    ).with_panel(
        hourly(ids, "每小时P95等待（按大厅）",
               "Each hour's 95th percentile wait by hall, minutes (hall_kpi_p95_wait_min).", "m",
               [Q(f"last_over_time(hall_kpi_p95_wait_min{{{HALL}}}[{HOUR_WINDOW}])", "{{hall}}")])
    ).with_panel(
        hourly(ids, "每小时满意率（按大厅）",
               "Each hour's satisfaction by hall: 好差评 ratings scoring 4 or 5 ÷ all ratings "
               "(hall_kpi_satisfaction_pct).", "percent",
               [Q(f"last_over_time(hall_kpi_satisfaction_pct{{{HALL}}}[{HOUR_WINDOW}])", "{{hall}}")])
    ).with_panel(
        grid(ids, "好差评（所选时段，按大厅）",
             "好差评 ratings in the chosen time range by hall: how many and the mean score (1–5), lowest mean first "
             "(hall_rating_score, one point per rating).", "short",
             [(Q(f"sum by (hall) (count_over_time(hall_rating_score{{{HALL}}}[$__range]))", instant=True),
               "评价数 ratings", "short"),
              (Q(f"sum by (hall) (sum_over_time(hall_rating_score{{{HALL}}}[$__range])) / "
                 f"sum by (hall) (count_over_time(hall_rating_score{{{HALL}}}[$__range]))", instant=True),
               "平均分 mean score", "none")],
             sort="平均分 mean score", desc=False, link_hall=True, w=12, h=8)
    )  # fmt: skip
    return d


def hall() -> dashboard.Dashboard:
    ids = _Ids()
    svc = f'{HALL},service=~"$service"'
    d = _dashboard(
        HALL_UID,
        "政务服务大厅 · 单个大厅",
        "One government service hall: its queues per service, windows, zones, devices, alerts, hourly figures and "
        "ratings, from the time series its box sends each minute.",
        ["hall"],
    ).with_variable(_hall_var(multi=False))
    d = d.with_variable(
        dashboard.QueryVariable("service")
        .label("业务 Service")
        .description("The hall's queue services (label `service`)")
        .datasource(DS)
        .query(f"label_values(hall_queue_waiting{{{HALL}}}, service)")
        .refresh(dash_m.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dash_m.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )
    d = d.with_row(_row(ids, "当前 Now"))
    d = d.with_panel(
        big(ids, "排队人数", "People waiting now (all services).", "short", [Q(f"sum(hall_windows_waiting{{{HALL}}})")])
    ).with_panel(
        big(ids, "最长等待", "The longest wait of anyone waiting now.", "s",
            [Q(f"max(hall_queue_longest_wait_s{{{HALL}}})")])
    ).with_panel(
        big(ids, "开放窗口", "Windows open now.", "short", [Q(f"sum(hall_windows_open{{{HALL}}})")])
    ).with_panel(
        big(ids, "离线/故障设备", "Devices offline or faulty now.", "short",
            [Q(f"sum(hall_windows_devices_offline{{{HALL}}} + hall_windows_devices_faulty{{{HALL}}})")])
    ).with_panel(
        big(ids, "最新一小时SL15", "The newest hour's service level (the running hour's so far; hall_kpi_sl_pct).",
            "percent",
            [Q(f"max(last_over_time(hall_kpi_sl_pct{{{HALL}}}[{HOUR_WINDOW}]))")])
    ).with_panel(
        big(ids, "告警中", "Alerts firing now.", "short",
            [Q(f"sum(last_over_time(hall_alert_firing{{{HALL}}}[{CHANGES_WINDOW}]))")])
    )  # fmt: skip
    d = d.with_row(_row(ids, "排队 Queues"))
    d = d.with_panel(
        series(ids, "各业务排队人数", "People waiting per queue service over time (hall_queue_waiting).", "short",
               [Q(f"sum by (service) (hall_queue_waiting{{{svc}}})", "{{service}}")])
    ).with_panel(
        series(ids, "各业务最长等待",
               "The longest wait of anyone waiting, per queue service (hall_queue_longest_wait_s).", "s",
               [Q(f"max by (service) (hall_queue_longest_wait_s{{{svc}}})", "{{service}}")])
    ).with_panel(
        series(ids, "各业务近15分钟取号",
               "Tickets issued in the last 15 minutes, per service (hall_queue_arrivals_15m): the demand coming in.",
               "short",
               [Q(f"sum by (service) (hall_queue_arrivals_15m{{{svc}}})", "{{service}}")])
    ).with_panel(
        series(ids, "各业务办理中", "Tickets being served at a window now, per service (hall_queue_serving).", "short",
               [Q(f"sum by (service) (hall_queue_serving{{{svc}}})", "{{service}}")])
    )  # fmt: skip
    d = d.with_row(_row(ids, "窗口、区域与设备 Windows, zones and devices"))
    d = d.with_panel(
        series(ids, "窗口状态", "Windows open, paused, closed and offline over time (hall_windows_*).", "short",
               [Q(f"sum(hall_windows_open{{{HALL}}})", "开放 open"),
                Q(f"sum(hall_windows_paused{{{HALL}}})", "暂停 paused"),
                Q(f"sum(hall_windows_closed{{{HALL}}})", "关闭 closed"),
                Q(f"sum(hall_windows_offline{{{HALL}}})", "离线 offline")], stacked=True)
    ).with_panel(
        series(ids, "各区域人数", "People counted in each zone of the hall (hall_zone_people).", "short",
               [Q(f"sum by (zone) (hall_zone_people{{{HALL}}})", "{{zone}}")])
    ).with_panel(
        series(ids, "离线/故障设备", "Devices offline and faulty over time (hall_windows_devices_offline, _faulty).",
               "short", [Q(f"sum(hall_windows_devices_offline{{{HALL}}})", "离线 offline"),
                         Q(f"sum(hall_windows_devices_faulty{{{HALL}}})", "故障 faulty")], stacked=True)
    )  # fmt: skip
    d = d.with_panel(
        grid(
            ids,
            "设备可用性（不可用在前）",
            "Each device's newest availability record, down first (hall_device_up: 1 up, 0 down; a device that "
            "never changed state since the consumer started is not listed).",
            "none",
            [
                (
                    Q(f"last_over_time(hall_device_up{{{HALL}}}[{CHANGES_WINDOW}])", instant=True),
                    DEVICE_STATE,
                    "none",
                )
            ],
            sort=DEVICE_STATE,
            desc=False,
            hide=("hall",),
            w=12,
        )
    )
    d = d.with_panel(
        grid(
            ids,
            "告警（告警中在前）",
            "Each alert rule's newest state, firing first (hall_alert_firing: 1 firing, 0 not firing).",
            "none",
            [
                (
                    Q(f"last_over_time(hall_alert_firing{{{HALL}}}[{CHANGES_WINDOW}])", instant=True),
                    ALERT_STATE,
                    "none",
                )
            ],
            sort=ALERT_STATE,
            hide=("hall",),
            w=12,
        )
    )
    d = d.with_row(_row(ids, "每小时指标与评价 Hours and ratings"))
    d = d.with_panel(
        hourly(ids, "每小时服务水平与满意率",
               "Each hour's SL15 (called within 15 min), satisfaction (ratings 4–5), window utilisation and device "
               "availability, % (hall_kpi_*).", "percent",
               [Q(f"last_over_time(hall_kpi_sl_pct{{{HALL}}}[{HOUR_WINDOW}])", "SL15"),
                Q(f"last_over_time(hall_kpi_satisfaction_pct{{{HALL}}}[{HOUR_WINDOW}])", "满意率 satisfaction"),
                Q(f"last_over_time(hall_kpi_utilisation_pct{{{HALL}}}[{HOUR_WINDOW}])", "窗口利用率 utilisation"),
                Q(f"last_over_time(hall_kpi_availability_pct{{{HALL}}}[{HOUR_WINDOW}])", "设备可用率 availability")])
    ).with_panel(
        hourly(ids, "每小时等待时间", "Each hour's P95, mean and longest wait, minutes (hall_kpi_*_wait_min).", "m",
               [Q(f"last_over_time(hall_kpi_p95_wait_min{{{HALL}}}[{HOUR_WINDOW}])", "P95"),
                Q(f"last_over_time(hall_kpi_mean_wait_min{{{HALL}}}[{HOUR_WINDOW}])", "平均 mean"),
                Q(f"last_over_time(hall_kpi_max_wait_min{{{HALL}}}[{HOUR_WINDOW}])", "最长 longest")])
    ).with_panel(
        hourly(ids, "每小时取号与办结", "Each hour's tickets issued, served and no-shows (hall_kpi_issued, _served, "
               "_no_shows).", "short",
               [Q(f"last_over_time(hall_kpi_issued{{{HALL}}}[{HOUR_WINDOW}])", "取号 issued"),
                Q(f"last_over_time(hall_kpi_served{{{HALL}}}[{HOUR_WINDOW}])", "办结 served"),
                Q(f"last_over_time(hall_kpi_no_shows{{{HALL}}}[{HOUR_WINDOW}])", "过号 no-shows")])
    ).with_panel(
        grid(ids, "好差评（所选时段，按窗口）",
             "好差评 ratings in the chosen time range by window: how many and the mean score (1–5), lowest mean first "
             "(hall_rating_score).", "short",
             [(Q(f"sum by (window) (count_over_time(hall_rating_score{{{HALL}}}[$__range]))", instant=True),
               "评价数 ratings", "short"),
              (Q(f"sum by (window) (sum_over_time(hall_rating_score{{{HALL}}}[$__range])) / "
                 f"sum by (window) (count_over_time(hall_rating_score{{{HALL}}}[$__range]))", instant=True),
               "平均分 mean score", "none")],
             sort="平均分 mean score", desc=False, w=12, h=8)
    )  # fmt: skip
    return d


DASHBOARDS: dict[str, Any] = {"province.json": province, "hall.json": hall}


def render(builder: Builder[Any]) -> str:
    return json.dumps(builder.build(), cls=JSONEncoder, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    stale = []
    for name, make in DASHBOARDS.items():
        text = render(make())
        path = OUT / name
        if "--check" in argv:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale: {', '.join(stale)}; run .venv/bin/python scripts/dashboards.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
