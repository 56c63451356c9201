"""OpenTelemetry tracing (§3): spans of §3.2, sampling of §3.3, export of §3.4, profiles of §4.3.

Names are imported on first use: the spec loader imports `exporter.tracing.conditions` to check
sampling rules, and must not pay for importing opentelemetry-sdk.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Condition": "conditions",
    "ConditionError": "conditions",
    "parse": "conditions",
    "SamplingPolicy": "sampling",
    "TailSampler": "sampling",
    "keeps": "sampling",
    "TraceStore": "store",
    "trace_document": "store",
    "Tracing": "tracer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'exporter.tracing' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
