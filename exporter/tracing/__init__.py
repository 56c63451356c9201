"""OpenTelemetry tracing (§3): spans of §3.2, sampling of §3.3, export of §3.4, profiles of §4.3."""

from .conditions import Condition, ConditionError, parse
from .sampling import SamplingPolicy, TailSampler, keeps
from .store import TraceStore, trace_document
from .tracer import Tracing

__all__ = ["Condition", "ConditionError", "SamplingPolicy", "TailSampler", "TraceStore", "Tracing", "keeps",
           "parse", "trace_document"]
