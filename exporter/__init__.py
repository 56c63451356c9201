"""Runtime instrumentation the orchestrator imports: metrics, structured logs, correlation context.

    from prometheus_client import CollectorRegistry
    from exporter import ExporterServer, Instrumentation, load_for_exporter

    loaded = load_for_exporter("observability.yaml")      # SpecError with file:line errors
    registry = CollectorRegistry()
    obs = Instrumentation.from_model(loaded.model, registry, logger_config=loaded.model.runtime.logging)
    server = ExporterServer.from_runtime(registry, obs.health, loaded.model.runtime.exporter).start()

With `tracing=loaded.model.runtime.tracing` the same calls also make the spans of §3.2 (see
exporter/instrument.py); `obs.tracing.store` holds recent kept traces and
`profile_trace(document)` gives their §4.3 profile.

Names are imported on first use, so that `import exporter.scenarios` (the CLI) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MetricSet": "metrics",
    "OVERFLOW": "guard",
    "Instrumentation": "instrument",
    "TaskTracker": "tasks",
    "QueuedTask": "tasks",
    "HealthBoard": "health",
    "ExporterServer": "http",
    "render_text": "exposition",
    "encoder_for": "exposition",
    "load_for_exporter": "catalogue",
    "FEEDS": "catalogue",
    "Demo": "demo",
    "SCENARIO_ALERTS": "scenarios",
    "StructuredLogger": "logs",
    "correlation": "context",
    "current": "context",
    "wrap": "context",
    "ContextThreadPoolExecutor": "context",
    "Tracing": "tracing.tracer",
    "TraceStore": "tracing.store",
    "profile_trace": "tracing.profile",
    "identify_bottlenecks": "tracing.profile",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'exporter' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
