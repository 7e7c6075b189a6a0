"""The Grafana dashboards in deploy/grafana are what scripts/dashboards.py generates, and each panel is usable by the
offices that read them: a query, a unit, a Chinese title with the English in its description, the chosen halls only.
Their queries are run against a real VictoriaMetrics in tests/integration/test_dashboards.py."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
CJK = re.compile(r"[\u4e00-\u9fff]")
WORD = re.compile(r"\b[A-Za-z]{2,}\b")  # an English word (not a series name like hall_windows_open)


def _english(text: str) -> bool:
    return len(WORD.findall(text)) >= 3


UNITS = {"short", "none", "s", "m", "percent"}


def _script(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """scripts/dashboards.py as a module (scripts/ is not a package); registered while the test runs."""
    spec = importlib.util.spec_from_file_location("hallops_dashboards", ROOT / "scripts" / "dashboards.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _board(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GRAFANA / name).read_text(encoding="utf-8"))
    return data


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    flat: list[dict[str, Any]] = []
    for p in board["panels"]:
        flat += [p, *p.get("panels", [])]
    return flat


def test_the_committed_dashboards_are_current() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/dashboards.py", "--check"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_check_names_a_stale_or_missing_dashboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = _script(monkeypatch)
    monkeypatch.setattr(script, "ROOT", tmp_path)
    monkeypatch.setattr(script, "OUT", tmp_path / "deploy" / "grafana")
    assert script.main(["--check"]) == 1  # nothing generated yet
    assert script.main([]) == 0
    assert script.main(["--check"]) == 0
    hall = tmp_path / "deploy" / "grafana" / "hall.json"
    hall.write_text(hall.read_text(encoding="utf-8").replace("hall_queue_waiting", "hall_queue_wating"))
    assert script.main(["--check"]) == 1


@pytest.mark.parametrize("name", ["province.json", "hall.json"])
def test_every_panel_has_a_query_a_unit_and_titles_in_both_languages(name: str) -> None:
    board = _board(name)
    assert CJK.search(board["title"]) and _english(board["description"])
    panels = [p for p in _panels(board) if p["type"] != "row"]
    assert len(panels) >= 15
    problems = []
    for p in panels:
        title = p.get("title", "")
        if not CJK.search(title):
            problems.append(f"{title!r}: the title is not Chinese")
        if not _english(p.get("description", "")):
            problems.append(f"{title}: no English description")
        if p.get("fieldConfig", {}).get("defaults", {}).get("unit") not in UNITS:
            problems.append(f"{title}: no unit")
        for o in p.get("fieldConfig", {}).get("overrides", []):
            units = [q["value"] for q in o["properties"] if q["id"] == "unit"]
            if units and units[0] not in UNITS:
                problems.append(f"{title}: column {o['matcher']['options']} has unit {units[0]!r}")
        targets = p.get("targets") or []
        if not targets or not all(t.get("expr", "").strip() for t in targets):
            problems.append(f"{title}: a panel without a query")
        for t in targets:
            if '{hall=~"$hall"' not in t["expr"] and 'hall=~"$hall"}' not in t["expr"]:
                problems.append(f"{title} [{t['refId']}]: not narrowed to the chosen halls")
            if t.get("datasource", {}).get("uid") != "${ds}":
                problems.append(f"{title} [{t['refId']}]: not on the dashboard's datasource")
        if p.get("interval") != "60s":
            problems.append(f"{title}: min interval is not the halls' minute")
    assert not problems, "\n".join(problems)
    ids = [p["id"] for p in _panels(board)]
    assert len(ids) == len(set(ids)), "panel ids repeat"


def test_the_hall_variable_picks_several_halls_on_the_province_board_and_one_on_the_hall_board() -> None:
    province = {v["name"]: v for v in _board("province.json")["templating"]["list"]}
    hall = {v["name"]: v for v in _board("hall.json")["templating"]["list"]}
    assert province["ds"]["type"] == hall["ds"]["type"] == "datasource"
    assert province["ds"]["query"] == hall["ds"]["query"] == "prometheus"
    assert province["hall"]["query"] == hall["hall"]["query"] == "label_values(hall_windows_open, hall)"
    assert province["hall"]["multi"] and province["hall"]["includeAll"] and province["hall"]["allValue"] == ".*"
    assert not hall["hall"]["multi"] and not hall["hall"].get("includeAll")
    assert hall["service"]["query"] == 'label_values(hall_queue_waiting{hall=~"$hall"}, service)'
    assert all(CJK.search(v["label"]) for v in [*province.values(), *hall.values()])


def test_the_province_table_sorts_worst_first_and_opens_the_hall_board() -> None:
    hall_uid = _board("hall.json")["uid"]
    tables = [p for p in _panels(_board("province.json")) if p["type"] == "table"]
    worst = next(p for p in tables if "最差" in p["title"])
    sort = worst["options"]["sortBy"][0]
    renames = next(t for t in worst["transformations"] if t["id"] == "organize")["options"]["renameByName"]
    assert sort == {"displayName": renames["Value #A"], "desc": True}
    assert worst["targets"][0]["expr"].startswith("max by (hall) (hall_queue_longest_wait_s")
    assert renames["Value #B"].startswith("排队人数")  # people waiting: the next column
    # every table's sort column is one of its columns (a typo would leave the table unsorted)
    for t in tables:
        names = next(x for x in t["transformations"] if x["id"] == "organize")["options"]["renameByName"].values()
        assert t["options"]["sortBy"][0]["displayName"] in names, t["title"]
    links = [
        q["value"][0]["url"] for o in worst["fieldConfig"]["overrides"] for q in o["properties"] if q["id"] == "links"
    ]
    assert links and links[0].startswith(f"/d/{hall_uid}?var-hall=${{__value.raw}}")


def test_provisioning_files_point_grafana_at_victoria_metrics_and_the_dashboards() -> None:
    ds = yaml.safe_load((GRAFANA / "datasource.yaml").read_text(encoding="utf-8"))["datasources"][0]
    assert ds["type"] == "prometheus" and ds["jsonData"]["timeInterval"] == "60s"
    providers = yaml.safe_load((GRAFANA / "dashboards.yaml").read_text(encoding="utf-8"))["providers"]
    assert providers[0]["type"] == "file" and providers[0]["options"]["path"]
    readme = (GRAFANA / "README.md").read_text(encoding="utf-8")
    assert "datasource.yaml" in readme and "dashboards.yaml" in readme and "scripts/dashboards.py" in readme
