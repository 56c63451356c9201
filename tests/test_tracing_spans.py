"""Our light spans (exporter/tracing/spans.py) against opentelemetry-sdk's: the same API calls give
the same exported ReadableSpans (names, parents, attributes after the SDK's cleaning and limits,
events, links, status, kind), and parents from another process follow the SDK's default sampler."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags,
                                 set_span_in_context)

from exporter.catalogue import load_for_exporter
from exporter.tracing import Tracing
from exporter.tracing.spans import RecordedSpan
from observability.load import Loaded


@pytest.fixture(scope="module")
def loaded(root: Path) -> Loaded:
    return load_for_exporter(root / "observability.yaml")


def ours(loaded: Loaded) -> tuple[Tracing, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    base = loaded.model.runtime.tracing
    config = base.model_copy(update={"enabled": True, "exporters": [], "sampling": base.sampling.model_copy(
        update={"default": 1.0, "parallel_operations": 1.0, "agent_tasks": 1.0, "rules": []})})
    return Tracing(config, exporters={"memory": memory}), memory


def sdk() -> tuple[trace_api.Tracer, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider.get_tracer("orchestrator"), memory


def exercise(tracer: Any) -> None:
    """Every Span API call the orchestrator's code (and other instrumentation) may make."""
    many = {f"key.{i}": i for i in range(140)}  # past the 128-attribute limit
    with tracer.start_as_current_span("orchestrator.execute_request", attributes={"request.type": "x"}) as root:
        root.set_attribute("list", [1, 2, 3])
        root.set_attributes({"mixed": [1, "a"], "none": None, "ok": True})
        root.add_event("plain", {"k": "v", "n": 1.5})
        root.update_name("orchestrator.execute_request")
        with tracer.start_as_current_span("agent.read_file", kind=SpanKind.CLIENT, attributes=many) as child:
            child.add_link(root.get_span_context(), {"why": "test"})
            child.set_status(Status(StatusCode.OK))
            child.set_status(StatusCode.ERROR, "ignored: OK stays")
        with pytest.raises(RuntimeError), tracer.start_as_current_span("agent.edit_file"):
            raise RuntimeError("boom")
        late = tracer.start_span("agent.search", links=[trace_api.Link(root.get_span_context())])
        late.set_status(StatusCode.ERROR, "E_SEARCH")
        late.record_exception(ValueError("bad pattern"), {"extra": 1})
        late.end()
        late.end()  # a second end is ignored
        late.set_attribute("after", "end")  # ignored too


def shape(span: ReadableSpan) -> tuple[Any, ...]:
    events = tuple((e.name, tuple(sorted((k, v) for k, v in (e.attributes or {}).items()
                                         if k != "exception.stacktrace"))) for e in span.events)
    links = tuple((link.context.span_id != 0, dict(link.attributes or {})) for link in span.links)
    return (span.name, span.kind, span.parent is not None, dict(span.attributes or {}), span.dropped_attributes,
            events, links, span.status.status_code, span.status.description, span.context.trace_flags,
            span.instrumentation_scope.name if span.instrumentation_scope else None)


def test_the_same_api_calls_export_the_same_spans_as_the_sdk(loaded: Loaded) -> None:
    tracing, ours_memory = ours(loaded)
    exercise(tracing.tracer)
    tracing.shutdown()
    sdk_tracer, sdk_memory = sdk()
    exercise(sdk_tracer)
    mine = sorted(ours_memory.get_finished_spans(), key=lambda s: s.name)
    theirs = sorted(sdk_memory.get_finished_spans(), key=lambda s: s.name)
    assert [shape(s) for s in mine] == [shape(s) for s in theirs]
    by_name = {s.name: s for s in mine}
    root = by_name["orchestrator.execute_request"]
    assert all(s.context.trace_id == root.context.trace_id for s in mine)
    assert by_name["agent.read_file"].parent.span_id == root.context.span_id  # type: ignore[union-attr]
    assert by_name["agent.read_file"].dropped_attributes == 140 - 128
    assert root.resource.attributes["service.name"] == loaded.model.runtime.tracing.service_name


def remote(sampled: bool) -> context_api.Context:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    parent = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=flags)
    return set_span_in_context(NonRecordingSpan(parent))


def test_a_remote_sampled_parent_starts_a_local_root_in_its_trace(loaded: Loaded) -> None:
    tracing, memory = ours(loaded)
    span = tracing.tracer.start_span("orchestrator.execute_request", context=remote(True))
    assert isinstance(span, RecordedSpan) and span.is_root
    span.end()
    tracing.shutdown()
    (exported,) = memory.get_finished_spans()
    assert exported.context.trace_id == 0xABC and exported.parent is not None
    assert exported.parent.span_id == 0xDEF and exported.parent.is_remote


def test_a_remote_unsampled_parent_gives_a_non_recording_span_as_the_sdk_does(loaded: Loaded) -> None:
    tracing, memory = ours(loaded)
    with tracing.tracer.start_as_current_span("orchestrator.execute_request", context=remote(False)) as span:
        assert not span.is_recording()
        assert span.get_span_context().trace_id == 0xABC
    tracing.shutdown()
    assert memory.get_finished_spans() == ()
    sdk_tracer, _ = sdk()
    assert not sdk_tracer.start_span("x", context=remote(False)).is_recording()


def test_the_current_span_is_ours_through_the_opentelemetry_api(loaded: Loaded) -> None:
    tracing, _ = ours(loaded)
    with tracing.span("orchestrator.execute_request") as span:
        assert trace_api.get_current_span() is span
        with trace_api.use_span(span):
            assert trace_api.get_current_span() is span
    assert trace_api.get_current_span() is trace_api.INVALID_SPAN
    tracing.shutdown()


def exported(tracer: Any, memory: InMemorySpanExporter, tracing: Tracing | None, name: str) -> ReadableSpan:
    if tracing is not None:
        tracing.flush()
    return [s for s in memory.get_finished_spans() if s.name == name][-1]


def test_past_the_events_limit_the_newest_are_kept_as_the_sdk_does(loaded: Loaded) -> None:
    tracing, mine = ours(loaded)
    sdk_tracer, theirs = sdk()
    results = []
    for tracer, memory, owner in ((tracing.tracer, mine, tracing), (sdk_tracer, theirs, None)):
        with pytest.raises(ValueError), tracer.start_as_current_span("busy") as span:
            for i in range(130):
                span.add_event(f"e{i}")
            raise ValueError("boom")
        busy = exported(tracer, memory, owner, "busy")
        results.append(([e.name for e in busy.events], busy.dropped_events))
    tracing.shutdown()
    assert results[0] == results[1]
    names, dropped = results[0]
    assert len(names) == 128 and names[0] == "e3" and names[-1] == "exception" and dropped == 3


def test_log_events_past_the_limit_keep_the_newest(loaded: Loaded) -> None:
    tracing, memory = ours(loaded)
    with tracing.span("busy") as span:
        for i in range(130):
            span.log_event(f"log{i}", {"i": i}, dict)
    busy = exported(tracing.tracer, memory, tracing, "busy")
    tracing.shutdown()
    assert [e.name for e in busy.events][:1] == ["log2"] and busy.events[-1].name == "log129"
    assert busy.dropped_events == 2


def test_start_span_exception_flags_are_honoured_as_the_sdk_does(loaded: Loaded) -> None:
    tracing, mine = ours(loaded)
    sdk_tracer, theirs = sdk()
    results = []
    for tracer, memory, owner in ((tracing.tracer, mine, tracing), (sdk_tracer, theirs, None)):
        for record, status in ((False, False), (True, False), (False, True)):
            with pytest.raises(ValueError), tracer.start_span(f"r-{record}-{status}", record_exception=record,
                                                              set_status_on_exception=status):
                raise ValueError("x")
            span = exported(tracer, memory, owner, f"r-{record}-{status}")
            results.append(([e.name for e in span.events], span.status.status_code))
    tracing.shutdown()
    assert results[:3] == results[3:]
    assert results[0] == ([], StatusCode.UNSET)


def test_an_attribute_set_again_is_the_newest_and_lists_are_read_when_set(loaded: Loaded) -> None:
    tracing, mine = ours(loaded)
    sdk_tracer, theirs = sdk()
    results = []
    for tracer, memory, owner in ((tracing.tracer, mine, tracing), (sdk_tracer, theirs, None)):
        files, bulk, initial = ["a"], ["x"], ["s"]
        span = tracer.start_span("attrs", attributes={**{f"k{i}": i for i in range(127)}, "initial": initial})
        span.set_attribute("k0", "updated")
        span.set_attributes({"k1": "again", "files": files})
        span.set_attributes({"bulk": bulk})
        files.append("b")
        bulk.append("y")
        initial.append("t")
        span.set_attribute("new", 1)
        span.end()
        results.append(dict(exported(tracer, memory, owner, "attrs").attributes or {}))
    tracing.shutdown()
    assert results[0] == results[1]
    assert list(results[0])[-5:] == ["k0", "k1", "files", "bulk", "new"]
    assert results[0]["files"] == ("a",) and results[0]["bulk"] == ("x",) and results[0]["initial"] == ("s",)


def test_set_attributes_below_the_limit_moves_keys_set_again_to_the_end_as_the_sdk_does(loaded: Loaded) -> None:
    tracing, mine = ours(loaded)
    sdk_tracer, theirs = sdk()
    results = []
    for tracer, memory, owner in ((tracing.tracer, mine, tracing), (sdk_tracer, theirs, None)):
        span = tracer.start_span("order", attributes={"a": 1, "b": 2, "c": 3})
        span.set_attributes({"a": 10, "d": 4})
        span.set_attributes({"e": 5})
        span.end()
        results.append(list((exported(tracer, memory, owner, "order").attributes or {}).items()))
    tracing.shutdown()
    assert results[0] == results[1] == [("b", 2), ("c", 3), ("a", 10), ("d", 4), ("e", 5)]
