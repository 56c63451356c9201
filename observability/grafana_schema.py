"""Validate dashboards against Grafana's own JSON Schema, generated from the pinned npm
package @grafana/schema by tools/grafana-schema/build.sh.

The dashboard is checked against the Dashboard type as it stands. Each panel's options and
fieldConfig.defaults.custom are checked against that panel type's Options / FieldConfig with
`required` lifted: Grafana fills options left out with its defaults, but an unknown or legacy
key, or a wrong type, is still refused.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

DEPRECATED_PANEL_TYPES = {"graph", "singlestat", "table-old", "grafana-piechart-panel", "grafana-worldmap-panel"}


@lru_cache(maxsize=None)
def _validator(schema_dir: str, name: str, lift_required: bool) -> jsonschema.Draft7Validator | None:
    path = Path(schema_dir) / f"{name}.json"
    if not path.exists():
        return None
    schema = json.loads(path.read_text(encoding="utf-8"))
    if lift_required:
        for definition in schema.get("definitions", {}).values():
            definition.pop("required", None)
    return jsonschema.Draft7Validator(schema)


def schema_version(schema_dir: str | Path) -> str:
    return (Path(schema_dir) / "VERSION").read_text(encoding="utf-8").strip()


def validate_dashboard(document: dict[str, Any], schema_dir: str | Path) -> list[str]:
    """Every way the dashboard departs from Grafana's schema, as 'path: message' lines."""
    schema_dir = str(schema_dir)
    dashboard = _validator(schema_dir, "Dashboard", False)
    if dashboard is None:
        raise FileNotFoundError(f"{schema_dir}/Dashboard.json: run tools/grafana-schema/build.sh")
    problems = [f"{'/'.join(map(str, e.absolute_path)) or '(dashboard)'}: {e.message}"
                for e in dashboard.iter_errors(document)]
    for index, panel in enumerate(document.get("panels", [])):
        kind = panel.get("type", "")
        if kind in DEPRECATED_PANEL_TYPES:
            problems.append(f"panels/{index}: panel type '{kind}' is deprecated in current Grafana")
        for part, name, value in (("options", "Options", panel.get("options", {})),
                                  ("fieldConfig/defaults/custom", "FieldConfig",
                                   panel.get("fieldConfig", {}).get("defaults", {}).get("custom", {}))):
            validator = _validator(schema_dir, kind.capitalize() + name, True)
            if validator is None:
                continue
            problems += [f"panels/{index}/{part}/{'/'.join(map(str, e.absolute_path))}: {e.message}"
                         for e in validator.iter_errors(value)]
    return problems
