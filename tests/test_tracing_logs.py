"""Log lines and span events on the traced path: the hand-built JSON line is byte for byte the
record dict's encoding, and log events on our RecordedSpan become span attributes only for kept
traces, with the same values the SDK path gets."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from exporter.catalogue import load_for_exporter
from exporter.instrument import Instrumentation
from exporter.logs import _ENCODER, RECORD_KEYS, _json_line, _span_event_attributes
from observability.load import Loaded


class Opaque:
    def __str__(self) -> str:
        return "opaque"


@pytest.mark.parametrize("values", [
    ("2026-01-01T00:00:00.000Z", "INFO", "corr-1", "sess-1", "orchestrator", "Coder", "sonnet", "task_started",
     None, {"task_id": "task-1", "attempt": 2}, None, []),
    ("2026-01-01T00:00:00.000Z", "WARN", None, None, "orchestrator", None, None, None, 'say "hé"\n\tok',
     {}, 12.345, ["a", "ü"]),
    ("2026-01-01T00:00:00.000Z", "ERROR", "c", "s", Opaque(), 7, True, "e", "m",
     {"nested": {"list": [1, 2.5, None, False]}, "path": Opaque(), "nan": float("nan")}, 3, ("x",)),
])
def test_the_json_line_is_the_encoding_of_the_record(values: tuple[Any, ...]) -> None:
    line = _json_line(*values)
    expected = dict(zip(RECORD_KEYS, values))
    expected["tags"] = list(expected["tags"])
    assert line == _ENCODER.encode(expected) + "\n"
    assert list(json.loads(line)) == list(RECORD_KEYS)


def test_a_circular_metadata_value_keeps_the_line() -> None:
    loop: list[Any] = []
    loop.append(loop)
    line = json.loads(_json_line("t", "INFO", None, None, "c", None, None, None, "m", {"data": loop}, None, []))
    assert line["message"] == "m" and line["metadata"] == {"data": "[[...]]"}


@pytest.fixture(scope="module")
def loaded(root: Path) -> Loaded:
    return load_for_exporter(root / "observability.yaml")


def test_log_events_become_the_same_span_event_attributes_on_kept_traces(loaded: Loaded) -> None:
    memory = InMemorySpanExporter()
    tracing = loaded.model.runtime.tracing.model_copy(update={"enabled": True, "exporters": []})
    logging = loaded.model.runtime.logging.model_copy(update={
        "outputs": [type(loaded.model.runtime.logging.outputs[0])(type="console", format="json", level="INFO")]})
    obs = Instrumentation.from_model(loaded.model, CollectorRegistry(), tracing=tracing, logger_config=logging,
                                     logger_streams={"console": io.StringIO()}, trace_exporters={"otlp": memory})
    assert obs.logger is not None and obs.tracing is not None
    fields = {"plugin": "git", "tool_name": "diff", "metadata": {"lines": 3, 4: Opaque()}, "skipped": None}
    with obs.request("critical"):
        with obs.tracing.span("mcp.invoke_tool") as span:
            obs.logger.event("mcp_tool_invoked", **dict(fields))
            obs.logger.event("task_started", task_id="task-1", agent="Coder", where=Opaque())
            span.add_event("plain", {"k": "v"})
        span.add_event("late", {"k": "v"})  # ended: not recorded
    obs.close()
    tool = next(s for s in memory.get_finished_spans() if s.name == "mcp.invoke_tool")
    events = {event.name: dict(event.attributes or {}) for event in tool.events}
    assert events == {"mcp_tool_invoked": _span_event_attributes(dict(fields)),
                      "task_started": {"task_id": "task-1", "agent": "Coder", "where": "opaque"},
                      "plain": {"k": "v"}}
    assert events["mcp_tool_invoked"] == {"plugin": "git", "tool_name": "diff", "lines": 3, "4": "opaque"}
