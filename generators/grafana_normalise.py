"""Turn grafanalib's output into current Grafana dashboard JSON, in one place.

grafanalib (0.7) still writes keys from old Grafana versions (`__inputs`, `hideControls`,
a panel's `span` and `error`, a target's `intervalFactor`, threshold steps with `op` and
`yaxis`, ...) and nulls where Grafana expects nothing. We keep only the keys Grafana's
current schema knows, drop nulls, and set each panel's unit, range and thresholds from the
model, because grafanalib spells them differently for every panel type.
"""

from __future__ import annotations

from typing import Any

from observability.model_dashboards import Dashboard, Panel

SCHEMA_VERSION = 41
_REDUCE = {"calcs": ["lastNotNull"], "fields": "", "values": False}
# Panel options as current Grafana writes them; grafanalib's carry removed keys (fieldOptions, ...).
PANEL_OPTIONS: dict[str, dict[str, Any]] = {
    "timeseries": {"legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True},
                   "tooltip": {"mode": "multi", "sort": "desc"}},
    "stat": {"reduceOptions": _REDUCE, "orientation": "auto", "textMode": "auto", "colorMode": "value",
             "graphMode": "area", "justifyMode": "auto", "wideLayout": True, "showPercentChange": False},
    "gauge": {"reduceOptions": _REDUCE, "orientation": "auto", "showThresholdLabels": False,
              "showThresholdMarkers": True},
    "bargauge": {"reduceOptions": _REDUCE, "orientation": "horizontal", "displayMode": "gradient",
                 "showUnfilled": True, "valueMode": "color", "namePlacement": "auto"},
    "piechart": {"reduceOptions": _REDUCE, "pieType": "donut", "displayLabels": ["percent"],
                 "legend": {"calcs": [], "displayMode": "table", "placement": "right", "showLegend": True,
                            "values": ["value"]},
                 "tooltip": {"mode": "single", "sort": "none"}},
    "table": {"showHeader": True, "cellHeight": "sm"},
}

DASHBOARD_KEYS = {"annotations", "description", "editable", "graphTooltip", "links", "panels", "refresh",
                  "schemaVersion", "tags", "templating", "time", "timepicker", "timezone", "title", "uid", "version"}
PANEL_KEYS = {"datasource", "description", "fieldConfig", "gridPos", "id", "links", "options", "targets",
              "title", "transformations", "type"}
ROW_KEYS = {"collapsed", "gridPos", "id", "panels", "title", "type"}
TARGET_KEYS = {"datasource", "expr", "format", "instant", "legendFormat", "range", "refId"}
VARIABLE_KEYS = {"allValue", "current", "datasource", "description", "hide", "includeAll", "label", "multi",
                 "name", "options", "query", "refresh", "regex", "skipUrlSync", "sort", "type"}
FIELD_DEFAULT_KEYS = {"color", "custom", "decimals", "mappings", "max", "min", "noValue", "thresholds", "unit"}


def _pick(data: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    return {k: _drop_nulls(v) for k, v in data.items() if k in keys and v is not None}


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def normalise(raw: dict[str, Any], model: Dashboard) -> dict[str, Any]:
    panels_by_id = {p.id: p for p in model.panels}
    out = _pick(raw, DASHBOARD_KEYS)
    out["schemaVersion"] = SCHEMA_VERSION
    out["version"] = 1
    out["graphTooltip"] = 1  # shared crosshair: compare panels at one instant
    out["annotations"] = {"list": []}
    out.pop("timepicker", None)  # grafanalib's carries the removed time_options
    out["panels"] = [_row(p) if p.get("type") == "row" else _panel(p, panels_by_id[p["id"]]) for p in raw["panels"]]
    out["templating"] = {"list": [_pick(v, VARIABLE_KEYS) for v in raw["templating"]["list"]]}
    for variable in out["templating"]["list"]:
        variable.setdefault("options", [])
        current = variable.get("current") or {}
        variable["current"] = {k: current[k] for k in ("selected", "text", "value") if k in current}
    return out


def _row(raw: dict[str, Any]) -> dict[str, Any]:
    row = _pick(raw, ROW_KEYS)
    row["collapsed"] = False
    row["panels"] = []
    return row


def _panel(raw: dict[str, Any], model: Panel) -> dict[str, Any]:
    panel = _pick(raw, PANEL_KEYS)
    panel["options"] = PANEL_OPTIONS[model.type]
    panel["targets"] = [_pick(t, TARGET_KEYS) for t in raw.get("targets", [])]
    for target in panel["targets"]:
        target["range"] = not target.get("instant", False)
    field_config = raw.get("fieldConfig") or {}
    defaults = _pick(field_config.get("defaults") or {}, FIELD_DEFAULT_KEYS)
    defaults["unit"] = model.unit
    for bound in ("min", "max"):
        value = getattr(model, bound)
        if value is None:
            defaults.pop(bound, None)
        else:
            defaults[bound] = value
    defaults["thresholds"] = {"mode": "absolute", "steps": _steps(model)}
    defaults.setdefault("mappings", [])
    defaults.setdefault("color", {"mode": "thresholds" if model.type in ("stat", "gauge", "bargauge") else "palette-classic"})
    panel["fieldConfig"] = {"defaults": defaults, "overrides": []}
    return panel


def _steps(model: Panel) -> list[dict[str, Any]]:
    if not model.thresholds:
        return [{"color": "green", "value": None}]
    # Grafana's base step has value null: it is the colour below the first threshold.
    return [{"color": color, "value": None if i == 0 else value} for i, (color, value) in enumerate(model.thresholds)]
