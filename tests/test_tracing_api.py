"""The instrumentation API with tracing: one call records the metric, the log lines and the
span; the JSON file export in §3.1's shape; the trace store; task profiles (§4.3) and
`orchestrator traces profile`; the demo's traces."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from exporter.catalogue import load_for_exporter
from exporter.demo import Demo
from exporter.instrument import Instrumentation
from exporter.tracing.profile import find_trace_in_file, identify_bottlenecks, profile_trace
from exporter.tracing.store import TraceStore
from observability.cli import main
from observability.load import Loaded
from observability.spec import TracingRuntime

SPAN_KEYS = ["spanId", "parentSpanId", "operationName", "startTime", "endTime", "durationMs", "status", "attributes"]


@pytest.fixture(scope="module")
def loaded(root: Path) -> Loaded:
    return load_for_exporter(root / "observability.yaml")


def file_tracing(loaded: Loaded, path: Path, **changes: Any) -> TracingRuntime:
    return loaded.model.runtime.tracing.model_copy(update={"enabled": True, "exporters": ["file"],
                                                           "file": str(path), **changes})


def instrumented(loaded: Loaded, tracing: TracingRuntime, console: io.StringIO) -> Instrumentation:
    logging = loaded.model.runtime.logging.model_copy(update={
        "outputs": [type(loaded.model.runtime.logging.outputs[0])(type="console", format="json", level="INFO")]})
    return Instrumentation.from_model(loaded.model, CollectorRegistry(), tracing=tracing, logger_config=logging,
                                      logger_streams={"console": console})


def test_one_call_records_its_metric_its_log_line_and_its_span(loaded: Loaded, tmp_path: Path) -> None:
    console = io.StringIO()
    obs = instrumented(loaded, file_tracing(loaded, tmp_path / "traces.jsonl"), console)
    with obs.request("critical") as request:
        queued = obs.tasks.enqueue("task-7", agent="Coder")
        with obs.tasks.run(queued, model="sonnet"):
            with obs.read_file("src/a.py", size_bytes=10):
                pass
            with obs.edit_file("src/a.py") as edit:
                edit.fail("E_CONFLICT")
    obs.close()
    registry = obs.metrics.registry
    assert registry.get_sample_value("orchestrator_file_operations_total", {"operation": "read", "status": "success"}) == 1
    assert registry.get_sample_value("orchestrator_file_operations_total", {"operation": "write", "status": "failed"}) == 1
    assert registry.get_sample_value("orchestrator_tasks_total", {"agent": "Coder", "status": "success",
                                                                  "model": "sonnet"}) == 1
    assert request.span is not None
    trace_id = f"{request.span.get_span_context().trace_id:032x}"
    document = obs.tracing.store.get(trace_id) if obs.tracing else None
    assert document is not None
    spans = {span["operationName"]: span for span in document["spans"]}
    assert spans["agent.edit_file"]["status"] == "ERROR"
    task_span = spans["agent.execute_task"]
    assert [e["name"] for e in task_span["events"]] == ["task_dispatched", "task_started", "task_completed"]
    assert task_span["attributes"]["cpu_time_ms"] >= 0
    lines = [json.loads(line) for line in console.getvalue().splitlines()]
    completed = next(line for line in lines if line["event"] == "task_completed")
    # §2.1's twelve keys stay as they are; the trace ids are inside metadata.
    assert list(completed) == ["timestamp", "level", "correlation_id", "session_id", "component", "agent", "model",
                               "event", "message", "metadata", "duration_ms", "tags"]
    assert completed["metadata"]["trace_id"] == trace_id
    assert completed["metadata"]["span_id"] == task_span["spanId"]
    assert completed["correlation_id"] == spans["orchestrator.execute_request"]["attributes"]["correlation.id"]


def test_log_lines_outside_any_span_carry_no_trace_ids(loaded: Loaded, tmp_path: Path) -> None:
    console = io.StringIO()
    obs = instrumented(loaded, file_tracing(loaded, tmp_path / "t.jsonl"), console)
    queued = obs.tasks.enqueue("task-1", agent="Coder")
    obs.tasks.drop(queued)
    with obs.agent("Coder", mode="persistent"):
        pass
    obs.close()
    lines = [json.loads(line) for line in console.getvalue().splitlines()]
    assert lines and all("trace_id" not in line["metadata"] for line in lines)


def test_the_file_export_is_one_section_3_1_document_per_kept_trace(loaded: Loaded, tmp_path: Path) -> None:
    path = tmp_path / "nested" / "traces.jsonl"
    obs = instrumented(loaded, file_tracing(loaded, path), io.StringIO())
    trace_ids = []
    for _ in range(3):
        with obs.request("critical") as request:
            with obs.decompose(1):
                pass
        assert request.span is not None
        trace_ids.append(f"{request.span.get_span_context().trace_id:032x}")
    obs.close()
    documents = [json.loads(line) for line in path.read_text().splitlines()]
    assert [d["traceId"] for d in documents] == trace_ids
    for document in documents:
        assert list(document) == ["traceId", "spans"]
        root, child = document["spans"]
        assert list(root)[:len(SPAN_KEYS)] == SPAN_KEYS
        assert root["parentSpanId"] is None and child["parentSpanId"] == root["spanId"]
        assert root["operationName"] == "orchestrator.execute_request" and root["status"] == "OK"
        assert root["startTime"].endswith("Z") and root["durationMs"] >= child["durationMs"]


def test_the_store_keeps_the_newest_traces_and_lists_them_newest_first(loaded: Loaded, tmp_path: Path) -> None:
    obs = instrumented(loaded, file_tracing(loaded, tmp_path / "t.jsonl", store_traces=3), io.StringIO())
    ids = []
    for number in range(5):
        with obs.request("critical", number=number) as request:
            pass
        assert request.span is not None
        ids.append(f"{request.span.get_span_context().trace_id:032x}")
    store = obs.tracing.store if obs.tracing else TraceStore(0)
    assert [s["traceId"] for s in store.recent()] == ids[:1:-1]
    assert store.get(ids[0]) is None and store.get(ids[4].upper()) is not None
    obs.close()


def document(*spans: tuple[str, str | None, str, float, dict[str, Any]]) -> dict[str, Any]:
    return {"traceId": "ab" * 16, "spans": [{"spanId": i, "parentSpanId": p, "operationName": n, "durationMs": d,
                                              "attributes": a} for i, p, n, d, a in spans]}


def test_a_profile_breaks_the_wall_time_into_phases_and_finds_llm_latency() -> None:
    trace = document(("r", None, "orchestrator.execute_request", 30_000, {}),
                     ("p", "r", "orchestrator.decompose", 1500, {}),
                     ("t", "r", "agent.execute_task", 28_000, {"task.id": "task-1", "cpu_time_ms": 900.0}),
                     ("f1", "t", "agent.read_file", 1200, {}), ("f2", "t", "agent.search", 2000, {}),
                     ("e", "t", "agent.edit_file", 1000, {}), ("v", "t", "agent.validate", 1200, {}),
                     ("l", "t", "llm.call", 22_000, {}), ("m", "t", "mcp.invoke_tool", 50, {}))
    profile = profile_trace(trace)
    assert profile.wall_time_ms == 30_000 and profile.cpu_time_ms == 900.0
    assert profile.breakdown == [("planning", 1500), ("file_reads", 3200), ("edits", 1000), ("validation", 1200),
                                 ("llm_calls", 22_000)]
    assert profile.io_wait_ms == 4200 and profile.file_ops == 3 and profile.network_ops == 2
    assert [b.type for b in profile.bottlenecks] == ["llm_latency"]
    assert profile.bottlenecks[0].suggestion == "Model may be overloaded, consider haiku for simple tasks"
    task = profile_trace(trace, task_id="task-1")
    assert task.wall_time_ms == 28_000 and dict(task.breakdown)["planning"] == 0


def test_the_bottleneck_rules_are_strictly_above_their_shares() -> None:
    def bottlenecks(io_ms: float, llm_ms: float) -> list[str]:
        profile = profile_trace(document(("r", None, "agent.execute_task", 1000, {}),
                                         ("f", "r", "agent.read_file", io_ms, {}), ("l", "r", "llm.call", llm_ms, {})))
        return [b.type for b in identify_bottlenecks(profile)]

    assert bottlenecks(500, 0) == [] and bottlenecks(501, 0) == ["io_bound"]
    assert bottlenecks(0, 700) == [] and bottlenecks(0, 701) == ["llm_latency"]
    assert bottlenecks(600, 800) == ["io_bound", "llm_latency"]
    with pytest.raises(ValueError, match="no agent.execute_task span for task task-9"):
        profile_trace(document(("r", None, "agent.execute_task", 1, {})), task_id="task-9")


def test_orchestrator_traces_profile_reads_the_trace_file(loaded: Loaded, tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    obs = instrumented(loaded, file_tracing(loaded, path), io.StringIO())
    with obs.request("critical") as request:
        queued = obs.tasks.enqueue("task-1", agent="Coder")
        with obs.tasks.run(queued, model="sonnet"):
            with obs.read_file("a.py"), obs.llm_call("sonnet"), obs.validate():
                pass
    obs.close()
    assert request.span is not None
    trace_id = f"{request.span.get_span_context().trace_id:032x}"
    assert find_trace_in_file(path, trace_id) is not None
    result = CliRunner().invoke(main, ["traces", "profile", trace_id, "--file", str(path)])
    assert result.exit_code == 0, result.output
    assert f"trace {trace_id}: wall" in result.output and "llm_calls" in result.output
    result = CliRunner().invoke(main, ["traces", "profile", trace_id, "--file", str(path), "--json",
                                       "--task", "task-1"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["task_id"] == "task-1"
    missing = CliRunner().invoke(main, ["traces", "profile", "0" * 32, "--file", str(path)])
    assert missing.exit_code == 1 and "no trace" in missing.output


def test_the_demo_sends_its_traces_where_the_spec_says(loaded: Loaded, tmp_path: Path) -> None:
    tracing = loaded.model.runtime.tracing.model_copy(update={"exporters": ["file"]})
    runtime = loaded.model.runtime.model_copy(update={"tracing": tracing})
    demo_loaded = replace(loaded, model=replace(loaded.model, runtime=runtime))
    demo = Demo(demo_loaded, "error-spike", speed=400, port=0, log_dir=tmp_path, console_stream=io.StringIO(), seed=3)
    demo.start()
    try:
        demo.wait(2.0)
    finally:
        demo.stop()
    trace_file = tmp_path / Path(tracing.file or "").name
    documents = [json.loads(line) for line in trace_file.read_text().splitlines()]
    names = {span["operationName"] for d in documents for span in d["spans"]}
    assert {"agent.execute_task", "agent.read_file", "mcp.invoke_tool", "llm.call"} <= names
    # error-spike fails tasks: every failed task's trace is kept.
    assert any(span["status"] == "ERROR" for d in documents for span in d["spans"])


def test_the_trace_file_rotates_with_the_logs_settings_and_an_unwritable_one_is_a_counted_failure(
        loaded: Loaded, tmp_path: Path) -> None:
    from exporter.tracing.export import JsonFileSpanExporter

    rotation = loaded.model.runtime.logging.rotation.model_copy(update={"max_size_mb": 0.001, "compress": False})
    path = tmp_path / "traces.jsonl"
    obs = instrumented(loaded, file_tracing(loaded, path), io.StringIO())
    assert obs.tracing is not None
    obs.tracing.sink.exporters["file"] = JsonFileSpanExporter(path, rotation)
    for _ in range(20):
        with obs.request("critical"):
            with obs.decompose(1):
                pass
        obs.tracing.flush(5)
    obs.close()
    assert (tmp_path / "traces.jsonl.1").exists() and path.stat().st_size <= 2 * 1024

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    obs = instrumented(loaded, file_tracing(loaded, blocked / "traces.jsonl"), io.StringIO())
    with obs.request("critical"):
        pass
    obs.close()
    registry = obs.metrics.registry
    assert registry.get_sample_value("orchestrator_trace_export_errors_total", {"exporter": "file"}) == 1
    assert registry.get_sample_value("orchestrator_trace_spans_dropped_total",
                                     {"exporter": "file", "reason": "export_failed"}) == 1


def test_a_standard_event_logged_at_another_level_is_a_span_event_too(loaded: Loaded, tmp_path: Path) -> None:
    console = io.StringIO()
    obs = instrumented(loaded, file_tracing(loaded, tmp_path / "t.jsonl"), console)
    assert obs.logger is not None
    with obs.request("critical") as request:
        obs.logger.log("ERROR", "the alert fired", event="alert_fired", alert_name="queue_backlog", severity="HIGH")
        obs.logger.info("not a standard event", event="custom_thing")
    obs.close()
    assert request.span is not None and obs.tracing is not None
    document = obs.tracing.store.get(f"{request.span.get_span_context().trace_id:032x}")
    assert document is not None
    events = document["spans"][0]["events"]
    assert [(e["name"], e["attributes"]) for e in events] == [
        ("alert_fired", {"alert_name": "queue_backlog", "severity": "HIGH"})]
