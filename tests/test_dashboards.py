"""Generated dashboards: Grafana's own schema, current JSON only, units, datasources and
variables on every panel, and the §6.1/§6.2 layout of the main dashboard."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from generators.grafana_dashboards import dashboard as render_dashboard
from generators.grafana_normalise import normalise
from observability import stack
from observability.grafana_schema import validate_dashboard
from observability.load import load

ROOT = Path(__file__).resolve().parent.parent
MODEL = load(ROOT / "observability.yaml").model
FILES = sorted((ROOT / "dashboards").glob("*.json")) + sorted((ROOT / "tests/golden").glob("*/dashboards/*.json"))
BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range"}
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_]\w*)(?::\w+)?\}|([A-Za-z_]\w*))")


def _panels(doc: dict) -> list[dict]:
    return [p for p in doc["panels"] if p["type"] != "row"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_valid_against_grafana_schema(path: Path, grafana_schema: Path) -> None:
    problems = validate_dashboard(json.loads(path.read_text()), grafana_schema)
    assert not problems, "\n".join(problems)


def test_schema_version_matches_the_grafana_image(grafana_schema: Path) -> None:
    package = json.loads((ROOT / "tools/grafana-schema/package.json").read_text())
    assert package["devDependencies"]["@grafana/schema"] == stack.GRAFANA_VERSION
    assert (grafana_schema / "VERSION").read_text().strip() == stack.GRAFANA_VERSION
    assert stack.GRAFANA_IMAGE.endswith(f":{stack.GRAFANA_VERSION}")


def test_schema_check_catches_legacy_json(grafana_schema: Path) -> None:
    doc = json.loads((ROOT / "dashboards/orchestrator-v10.json").read_text())
    doc["panels"][1]["type"] = "graph"
    doc["panels"][3]["span"] = 6  # a panel is Panel or RowPanel: the error names the panel
    doc["__inputs"] = []
    doc["panels"][2]["options"]["fieldOptions"] = {}
    problems = "\n".join(validate_dashboard(doc, grafana_schema))
    for expected in ("panels/1: panel type 'graph' is deprecated", "panels/3: ", "'__inputs' was unexpected",
                     "panels/2/options/: Additional properties are not allowed ('fieldOptions' was unexpected)"):
        assert expected in problems
    assert "panels/4" not in problems


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_panel_has_unit_datasource_and_known_variables(path: Path) -> None:
    doc = json.loads(path.read_text())
    text = path.read_text()
    assert "${DS_" not in text and "__inputs" not in doc
    defined = {v["name"] for v in doc["templating"]["list"]} | BUILTIN_VARIABLES
    assert "datasource" in defined
    for panel in _panels(doc):
        assert panel["type"] not in ("graph", "singlestat"), panel["title"]
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{panel['title']}: no unit"
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            for braced, plain in _VARIABLE.findall(target["expr"]):
                name = braced or plain
                assert name in defined or name.isdigit(), f"{panel['title']}: unknown variable ${name}"


def test_datasource_variable_defaults_to_the_fixed_uid() -> None:
    for path in sorted((ROOT / "dashboards").glob("*.json")):
        (variable,) = [v for v in json.loads(path.read_text())["templating"]["list"] if v["name"] == "datasource"]
        assert variable["type"] == "datasource" and variable["query"] == "prometheus"
        assert variable["current"]["value"] == stack.GRAFANA_DATASOURCES["prometheus"]["uid"]


def test_main_dashboard_follows_the_seed() -> None:
    doc = json.loads((ROOT / "dashboards/orchestrator-v10.json").read_text())
    assert doc["uid"] == "orchestrator-v10" and doc["refresh"] == "30s"
    assert {"orchestrator", "observability", "agents"} <= set(doc["tags"])
    assert [v["name"] for v in doc["templating"]["list"]] == ["datasource", "agent", "model", "status"]
    titles = {p["title"]: p for p in _panels(doc)}
    for title in ("Health", "Tasks / min", "P95 latency", "Errors", "Task throughput", "Latency percentiles",
                  "Success rate", "Active agents", "Error rate by agent", "Queue depth", "Agent utilisation",
                  "Active alerts"):
        assert title in titles, title
    stat_row = [p for p in _panels(doc) if p["gridPos"]["y"] == 1]
    assert [p["type"] for p in stat_row] == ["stat"] * 4
    assert [t["legendFormat"] for t in titles["Latency percentiles"]["targets"]] == ["p50", "p95", "p99"]
    steps = lambda title: [s["value"] for s in titles[title]["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert steps("Success rate") == [None, 0.9, 0.95]
    assert steps("Queue depth") == [None, 10, 25]
    for panel in _panels(doc):
        for target in panel["targets"]:
            if "orchestrator_tasks_total" in target["expr"]:
                assert '$agent' in target["expr"] and '$model' in target["expr"], panel["title"]


def test_exporter_health_dashboard() -> None:
    doc = json.loads((ROOT / "dashboards/orchestrator-exporter-health.json").read_text())
    exprs = " ".join(t["expr"] for p in _panels(doc) for t in p["targets"])
    for series in ("scrape_duration_seconds", "scrape_samples_scraped", "orchestrator_exporter_series",
                   "orchestrator_exporter_folded_samples_total", "orchestrator_log_write_errors_total",
                   "orchestrator_trace_export_errors_total"):
        assert series in exprs


def test_panels_do_not_overlap() -> None:
    for dashboard in MODEL.dashboards:
        cells: set[tuple[int, int]] = set()
        doc = render_dashboard(dashboard)
        for panel in doc["panels"]:
            g = panel["gridPos"]
            assert g["x"] + g["w"] <= 24
            mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
            assert not (mine & cells), panel["title"]
            cells |= mine


def test_normaliser_removes_grafanalib_legacy_keys_and_nulls() -> None:
    dashboard = MODEL.dashboards[0]
    panel = dashboard.panels[0]
    raw = {
        "__inputs": [], "hideControls": False, "gnetId": None, "id": None, "title": "t", "uid": "u",
        "timepicker": {"time_options": []},
        "templating": {"list": [{"name": "v", "current": {"text": "a", "value": "a", "tags": []}, "useTags": False,
                                 "auto_count": 30}]},
        "panels": [{"id": panel.id, "type": panel.type, "span": 6, "error": False, "height": None,
                    "targets": [{"expr": "up", "refId": "A", "intervalFactor": 2, "step": 10, "hide": False}],
                    "fieldConfig": {"defaults": {"decimals": None, "thresholds": {"steps": [{"op": "gt", "yaxis": "left"}]}}}}],
    }
    out = normalise(raw, dashboard)
    assert set(out) <= {"annotations", "graphTooltip", "panels", "schemaVersion", "templating", "title", "uid", "version"}
    (variable,) = out["templating"]["list"]
    assert variable == {"name": "v", "current": {"text": "a", "value": "a"}, "options": []}
    (p,) = out["panels"]
    assert "span" not in p and "error" not in p and "height" not in p
    assert p["targets"] == [{"expr": "up", "refId": "A", "range": True}]
    assert p["fieldConfig"]["defaults"]["unit"] == panel.unit
    assert p["fieldConfig"]["defaults"]["thresholds"]["steps"][0] == {"color": panel.thresholds[0][0], "value": None}
