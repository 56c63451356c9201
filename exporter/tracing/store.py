"""Kept traces as §3.1 documents, and an in-memory ring of the most recent ones.

A document is the shape of §3.1: {"traceId", "spans": [{"spanId", "parentSpanId",
"operationName", "startTime", "endTime", "durationMs", "status", "attributes", "events"}]}.
Ids are OpenTelemetry's own (32 and 16 lowercase hex digits), not the seed's "tr-"/"sp-"
examples, so that one id finds the trace in the log lines, in Jaeger and here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

_STATUS = {StatusCode.UNSET: "OK", StatusCode.OK: "OK", StatusCode.ERROR: "ERROR"}


def iso_time(nanoseconds: int | None) -> str | None:
    if nanoseconds is None:
        return None
    moment = datetime.fromtimestamp(nanoseconds / 1e9, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def span_document(span: ReadableSpan) -> dict[str, Any]:
    context, parent = span.context, span.parent
    start, end = span.start_time, span.end_time
    document: dict[str, Any] = {
        "spanId": f"{context.span_id:016x}" if context is not None else None,
        "parentSpanId": f"{parent.span_id:016x}" if parent is not None else None,
        "operationName": span.name,
        "startTime": iso_time(start),
        "endTime": iso_time(end),
        "durationMs": round((end - start) / 1e6, 3) if start is not None and end is not None else None,
        "status": _STATUS[span.status.status_code],
        "attributes": {key: _plain(value) for key, value in (span.attributes or {}).items()},
    }
    if span.events:
        document["events"] = [{"name": event.name, "timestamp": iso_time(event.timestamp),
                               "attributes": {k: _plain(v) for k, v in (event.attributes or {}).items()}}
                              for event in span.events]
    return document


def trace_document(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """The §3.1 document of one trace's spans, in start order (the root first when it started first)."""
    ordered = sorted(spans, key=lambda s: s.start_time or 0)
    trace_id = ordered[0].context.trace_id if ordered and ordered[0].context is not None else 0
    return {"traceId": f"{trace_id:032x}", "spans": [span_document(span) for span in ordered]}


class TraceStore:
    """The last `capacity` kept traces, by trace id; `recent()` lists them newest first.

    Spans that end after their trace was stored (stragglers) join the stored trace.
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._lock = threading.Lock()
        self._traces: OrderedDict[str, list[ReadableSpan]] = OrderedDict()

    def add(self, spans: Sequence[ReadableSpan]) -> None:
        if self.capacity == 0 or not spans or spans[0].context is None:
            return
        trace_id = f"{spans[0].context.trace_id:032x}"
        with self._lock:
            held = self._traces.get(trace_id)
            if held is None:
                self._traces[trace_id] = list(spans)
                if len(self._traces) > self.capacity:
                    self._traces.popitem(last=False)
            else:
                held.extend(spans)

    def get(self, trace_id: str) -> dict[str, Any] | None:
        """The §3.1 document of `trace_id` (32 hex digits), or None when not held."""
        with self._lock:
            spans = list(self._traces.get(trace_id.lower(), ()))
        return trace_document(spans) if spans else None

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """Summaries of the newest traces first: traceId, root operation, start, duration, span count."""
        with self._lock:
            newest = list(reversed(self._traces.items()))[:limit]
        summaries = []
        for trace_id, spans in newest:
            root = next((s for s in spans if s.parent is None), spans[0])
            start, end = root.start_time, root.end_time
            summaries.append({"traceId": trace_id, "operationName": root.name, "startTime": iso_time(start),
                              "durationMs": round((end - start) / 1e6, 3) if start and end else None,
                              "spanCount": len(spans), "status": _STATUS[root.status.status_code]})
        return summaries

    def __len__(self) -> int:
        return len(self._traces)
