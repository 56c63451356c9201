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


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def strict_json(line: str) -> Any:
    """json.loads without the NaN/Infinity extension: what a strict JSON parser accepts."""
    def reject(token: str) -> Any:
        raise ValueError(f"not JSON: {token}")
    return json.loads(line, parse_constant=reject)


@pytest.mark.parametrize("values", [
    ("2026-01-01T00:00:00.000Z", "INFO", "corr-1", "sess-1", "orchestrator", "Coder", "sonnet", "task_started",
     None, {"task_id": "task-1", "attempt": 2}, None, []),
    ("2026-01-01T00:00:00.000Z", "WARN", None, None, "orchestrator", None, None, None, 'say "hé"\n\tok',
     {}, 12.345, ["a", "ü"]),
    ("2026-01-01T00:00:00.000Z", "ERROR", "c", "s", Opaque(), 7, True, "e", "m",
     {"nested": {"list": [1, 2.5, None, False]}, "path": Opaque()}, 3, ("x",)),
])
def test_the_json_line_is_the_encoding_of_the_record(values: tuple[Any, ...]) -> None:
    line = _json_line(*values)
    expected = dict(zip(RECORD_KEYS, values))
    expected["tags"] = list(expected["tags"])
    assert line == _ENCODER.encode(expected) + "\n"
    assert list(strict_json(line)) == list(RECORD_KEYS)


def test_non_finite_numbers_are_written_as_null_so_the_line_is_strict_json() -> None:
    nan, inf = float("nan"), float("inf")
    line = _json_line("t", "INFO", None, None, "c", None, None, None, "m",
                      {"nan": nan, "nested": {"list": [1.5, -inf]}, "trace_id": "ab" * 16}, inf, ["x", nan])
    record = strict_json(line)
    assert record["metadata"] == {"nan": None, "nested": {"list": [1.5, None]}, "trace_id": "ab" * 16}
    assert record["duration_ms"] is None and record["tags"] == ["x", None]


def test_a_circular_metadata_value_keeps_the_line() -> None:
    loop: list[Any] = []
    loop.append(loop)
    line = strict_json(_json_line("t", "INFO", None, None, "c", None, None, None, "m", {"data": loop}, None, []))
    assert line["message"] == "m" and line["metadata"] == {"data": "[[...]]"}


def test_only_the_values_that_fail_to_encode_are_replaced() -> None:
    metadata = {"task_id": "task-1", "count": 2, "bad": Unprintable(), "keys": {(1, 2): "tuple key", 3: "int key"},
                "trace_id": "ab" * 16, "span_id": "cd" * 8}
    record = strict_json(_json_line("t", "INFO", None, None, "c", None, None, None, "m", metadata, None, []))
    assert record["metadata"] == {"task_id": "task-1", "count": 2, "bad": "<unprintable Unprintable>",
                                  "keys": {"(1, 2)": "tuple key", "3": "int key"},
                                  "trace_id": "ab" * 16, "span_id": "cd" * 8}
    keyed = {(1, 2): "tuple key", "trace_id": "ab" * 16, "span_id": "cd" * 8}
    record = strict_json(_json_line("t", "INFO", None, None, "c", None, None, None, "m", keyed, None, []))
    assert record["metadata"] == {"(1, 2)": "tuple key", "trace_id": "ab" * 16, "span_id": "cd" * 8}


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


def instrumented(loaded: Loaded, memory: InMemorySpanExporter, console: io.StringIO | None = None,
                 warnings: list[str] | None = None) -> Instrumentation:
    tracing = loaded.model.runtime.tracing.model_copy(update={"enabled": True, "exporters": []})
    logging = loaded.model.runtime.logging.model_copy(update={
        "outputs": [type(loaded.model.runtime.logging.outputs[0])(type="console", format="json", level="DEBUG")]})
    obs = Instrumentation.from_model(loaded.model, CollectorRegistry(), tracing=tracing, logger_config=logging,
                                     logger_streams={"console": console or io.StringIO()},
                                     trace_exporters={"otlp": memory})
    assert obs.logger is not None and obs.tracing is not None
    if warnings is not None:
        obs.tracing.warn._warn = warnings.append  # type: ignore[attr-defined]
    return obs


def test_a_value_changed_after_the_log_call_does_not_change_the_span_event(loaded: Loaded) -> None:
    memory = InMemorySpanExporter()
    obs = instrumented(loaded, memory)
    meta, files = {"step": "plan"}, ["a.py"]
    with obs.request("critical"):
        with obs.tracing.span("mcp.invoke_tool"):  # type: ignore[union-attr]
            obs.logger.event("mcp_tool_invoked", plugin="git", tool_name="diff", metadata=meta,  # type: ignore[union-attr]
                             files=files)
            obs.logger.log("INFO", "again", event="mcp_tool_invoked", plugin="git", tool_name="diff",  # type: ignore[union-attr]
                           metadata=meta)
            meta["step"] = "edit"
            files.append("b.py")
    obs.close()
    tool = next(s for s in memory.get_finished_spans() if s.name == "mcp.invoke_tool")
    assert [dict(e.attributes or {}) for e in tool.events] == [
        {"plugin": "git", "tool_name": "diff", "step": "plan", "files": "['a.py']"},
        {"plugin": "git", "tool_name": "diff", "step": "plan"}]


def test_a_value_whose_str_raises_neither_breaks_the_root_nor_loses_the_trace(loaded: Loaded) -> None:
    memory = InMemorySpanExporter()
    console = io.StringIO()
    obs = instrumented(loaded, memory, console)
    with obs.request("critical"):
        with obs.tracing.span("mcp.invoke_tool"):  # type: ignore[union-attr]
            obs.logger.event("mcp_tool_invoked", plugin="git", tool_name="diff", obj=Unprintable(),  # type: ignore[union-attr]
                             metadata={Unprintable(): 1})
    obs.close()
    tool = next(s for s in memory.get_finished_spans() if s.name == "mcp.invoke_tool")
    assert dict(tool.events[0].attributes or {}) == {"plugin": "git", "tool_name": "diff",
                                                     "obj": "<unprintable Unprintable>",
                                                     "<unprintable Unprintable>": 1}
    lines = [strict_json(line) for line in console.getvalue().splitlines()]
    invoked = next(line for line in lines if line["event"] == "mcp_tool_invoked")
    assert invoked["metadata"]["obj"] == "<unprintable Unprintable>"


def test_a_kept_trace_that_fails_to_convert_is_counted_and_never_raised(loaded: Loaded) -> None:
    memory = InMemorySpanExporter()
    warnings: list[str] = []
    obs = instrumented(loaded, memory, warnings=warnings)

    def broken(fields: Any) -> Any:
        raise RuntimeError("converter bug")

    with obs.request("critical"):
        with obs.tracing.span("mcp.invoke_tool") as span:  # type: ignore[union-attr]
            span.log_event("odd", {}, broken)
    obs.close()
    assert memory.get_finished_spans() == ()
    registry = obs.metrics.registry
    assert registry.get_sample_value("orchestrator_trace_export_errors_total", {"exporter": "otlp"}) == 1
    assert registry.get_sample_value("orchestrator_trace_spans_dropped_total",
                                     {"exporter": "otlp", "reason": "export_failed"}) == 2
    assert any("RuntimeError: converter bug" in warning for warning in warnings)
