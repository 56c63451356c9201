"""Sampling of §3.3 from the spec: rates over 10,000 seeded traces, always-keep rules, whole
traces kept or dropped together, bounded pending memory, and the safe condition parser."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode, set_span_in_context
from prometheus_client import CollectorRegistry

from exporter.catalogue import load_for_exporter
from exporter.instrument import Instrumentation
from exporter.metrics import MetricSet
from exporter.tracing import Tracing, keeps
from exporter.tracing.conditions import ConditionError, parse
from observability.load import Loaded, load
from observability.problems import SpecError
from observability.spec import TracingRuntime

TRACES = 10_000
TOLERANCE = 0.02


class SeededIds(IdGenerator):
    def __init__(self, seed: int):
        self._random = random.Random(seed)

    def generate_span_id(self) -> int:
        return self._random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._random.getrandbits(128) or 1


@pytest.fixture(scope="module")
def loaded(root: Path) -> Loaded:
    return load_for_exporter(root / "observability.yaml")


def config(loaded: Loaded, sampling: dict[str, Any] | None = None, **changes: Any) -> TracingRuntime:
    base = loaded.model.runtime.tracing
    return base.model_copy(update={"enabled": True, "exporters": [], "store_traces": 0,
                                   "sampling": base.sampling.model_copy(update=sampling or {}), **changes})


def traced(loaded: Loaded, seed: int, cfg: TracingRuntime | None = None) -> Instrumentation:
    return Instrumentation.from_model(loaded.model, CollectorRegistry(), tracing=cfg or config(loaded),
                                      trace_exporters={}, trace_ids=SeededIds(seed))


def decisions(obs: Instrumentation) -> dict[str, float]:
    return {d: obs.metrics.registry.get_sample_value("orchestrator_trace_decisions_total", {"decision": d}) or 0.0
            for d in ("error", "slow", "critical", "rate", "dropped")}


def request_trace(obs: Instrumentation, request_type: str = "implementation", parallel: bool = False) -> None:
    assert obs.tracing is not None
    with obs.tracing.span("orchestrator.execute_request", {"request.type": request_type, "parallel": parallel}):
        with obs.tracing.span("orchestrator.decompose"):
            pass


def task_trace(obs: Instrumentation, agent: str) -> None:
    queued = obs.tasks.enqueue("task-1", agent=agent)  # no span current: the task is its own trace
    with obs.tasks.run(queued, model="sonnet"):
        with obs.read_file("a.py"):
            pass


CLASSES = [
    ("default", 0.1, lambda obs: request_trace(obs)),
    ("parallel_operations", 0.2, lambda obs: request_trace(obs, parallel=True)),
    ("agent_tasks", 0.15, lambda obs: task_trace(obs, "Coder")),
    ("rule agent == 'Architect'", 0.5, lambda obs: task_trace(obs, "Architect")),
    ("rule request.type == 'critical'", 1.0, lambda obs: request_trace(obs, "critical")),
]


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize(("name", "rate", "make"), CLASSES, ids=[c[0] for c in CLASSES])
def test_each_rate_of_the_spec_holds_within_two_points_over_10000_traces(loaded: Loaded, name: str, rate: float,
                                                                         make: Any, seed: int) -> None:
    obs = traced(loaded, seed)
    try:
        for _ in range(TRACES):
            make(obs)
    finally:
        obs.close()
    counted = decisions(obs)
    kept = TRACES - counted["dropped"]
    assert sum(counted.values()) == TRACES
    assert abs(kept / TRACES - rate) <= TOLERANCE, f"{name}: kept {kept / TRACES:.4f}, expected {rate}"


def test_the_decision_is_the_same_for_the_same_trace_ids(loaded: Loaded) -> None:
    runs = []
    for _ in range(2):
        memory = InMemorySpanExporter()
        obs = Instrumentation.from_model(loaded.model, CollectorRegistry(), tracing=config(loaded),
                                         trace_exporters={"file": memory}, trace_ids=SeededIds(42))
        for _ in range(2000):
            request_trace(obs)
        obs.close()
        runs.append(sorted({s.context.trace_id for s in memory.get_finished_spans()}))
    assert runs[0] == runs[1] and 150 < len(runs[0]) < 250
    assert all(keeps(trace_id, 0.1) for trace_id in runs[0])


ALWAYS_ZERO = {"default": 0.0, "parallel_operations": 0.0, "agent_tasks": 0.0, "rules": []}


def test_error_slow_and_critical_traces_are_kept_every_time_even_at_rate_zero(loaded: Loaded) -> None:
    obs = traced(loaded, 3, config(loaded, ALWAYS_ZERO))
    tracing = obs.tracing
    assert tracing is not None
    for _ in range(1000):
        with tracing.span("orchestrator.execute_request"):
            with tracing.span("agent.execute_task") as task:
                task.set_status(Status(StatusCode.ERROR, "E_TIMEOUT"))
    for _ in range(1000):  # an exception raised through a span marks it ERROR as well
        with pytest.raises(RuntimeError), tracing.span("orchestrator.execute_request"):
            raise RuntimeError("boom")
    for _ in range(1000):
        root = tracing.tracer.start_span("orchestrator.execute_request", start_time=1_000_000_000_000)
        root.end(end_time=1_000_000_000_000 + 5_100_000_000)  # 5.1 s: past slower_than_seconds
    for _ in range(1000):
        queued = obs.tasks.enqueue("task-c", agent="Coder", priority="critical")
        with obs.tasks.run(queued, model="haiku"):
            pass
    for _ in range(1000):
        request_trace(obs)
    obs.close()
    assert decisions(obs) == {"error": 2000, "slow": 1000, "critical": 1000, "rate": 0, "dropped": 1000}


def test_all_spans_of_a_trace_are_kept_or_dropped_together(loaded: Loaded) -> None:
    memory = InMemorySpanExporter()
    cfg = config(loaded, {"default": 0.5, "rules": []})
    obs = Instrumentation.from_model(loaded.model, CollectorRegistry(), tracing=cfg,
                                     trace_exporters={"otlp": memory}, trace_ids=SeededIds(5))
    roots = []
    assert obs.tracing is not None
    for _ in range(2000):
        with obs.tracing.span("orchestrator.execute_request") as root:
            for _ in range(3):
                with obs.tracing.span("agent.read_file"):
                    pass
        roots.append(root.get_span_context().trace_id)
    obs.close()
    per_trace: dict[int, int] = {}
    for span in memory.get_finished_spans():
        per_trace[span.context.trace_id] = per_trace.get(span.context.trace_id, 0) + 1
    assert set(per_trace.values()) == {4}
    assert set(per_trace) == {t for t in roots if keeps(t, 0.5)}


def test_a_span_ending_after_its_root_follows_the_traces_decision(loaded: Loaded) -> None:
    memory = InMemorySpanExporter()
    obs = Instrumentation.from_model(loaded.model, CollectorRegistry(), tracing=config(loaded, {"default": 1.0}),
                                     trace_exporters={"otlp": memory}, trace_ids=SeededIds(6))
    tracing = obs.tracing
    assert tracing is not None
    with tracing.span("orchestrator.execute_request"):
        late = tracing.tracer.start_span("agent.search")
    late.end()
    obs.close()
    assert sorted(s.name for s in memory.get_finished_spans()) == ["agent.search", "orchestrator.execute_request"]
    assert tracing.sampler.pending_traces == 0


def pending_tracing(loaded: Loaded, clock: list[float], *, sampling: dict[str, Any] | None = None,
                    exporters: dict[str, Any] | None = None, **pending: Any) -> tuple[Tracing, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = MetricSet.from_model(loaded.model, registry)
    cfg = config(loaded, sampling, pending=loaded.model.runtime.tracing.pending.model_copy(update=pending))
    return Tracing(cfg, metrics=metrics, exporters=exporters or {}, id_generator=SeededIds(7),
                   clock=lambda: clock[0]), registry


def end_child(tracing: Tracing, root: Any, name: str = "agent.read_file") -> None:
    tracing.tracer.start_span(name, context=set_span_in_context(root)).end()


def swept_at(tracing: Tracing, registry: CollectorRegistry, clock: list[float], seconds: float) -> tuple[int, float]:
    """Pending traces and orphan evictions after a sweep at `seconds` on the fake clock."""
    clock[0] = seconds
    tracing.sampler.sweep()
    return tracing.sampler.pending_traces, evicted(registry, "orphaned")


def evicted(registry: CollectorRegistry, reason: str) -> float:
    return registry.get_sample_value("orchestrator_traces_evicted_total", {"reason": reason}) or 0.0


def test_pending_traces_stay_under_the_cap_when_roots_never_end(loaded: Loaded) -> None:
    clock = [0.0]
    tracing, registry = pending_tracing(loaded, clock, max_traces=100)
    never_ended = []
    for _ in range(TRACES):
        root = tracing.tracer.start_span("orchestrator.execute_request")
        never_ended.append(root)
        end_child(tracing, root)
        assert tracing.sampler.pending_traces <= 100
    assert tracing.sampler.pending_spans == 100
    assert evicted(registry, "cap") == TRACES - 100
    tracing.shutdown()


def test_a_trace_past_the_span_cap_is_evicted_and_its_later_spans_not_held(loaded: Loaded) -> None:
    clock = [0.0]
    tracing, registry = pending_tracing(loaded, clock, max_spans_per_trace=50)
    with tracing.span("orchestrator.execute_request"):
        for _ in range(500):
            with tracing.span("agent.read_file"):
                assert tracing.sampler.pending_spans <= 50
    assert evicted(registry, "span_cap") == 1
    assert tracing.sampler.pending_traces == 0
    tracing.shutdown()


def test_orphaned_traces_are_evicted_after_the_timeout_and_counted(loaded: Loaded) -> None:
    clock = [0.0]
    tracing, registry = pending_tracing(loaded, clock, orphan_timeout_seconds=60)
    for _ in range(10):
        end_child(tracing, tracing.tracer.start_span("orchestrator.execute_request"))
    assert swept_at(tracing, registry, clock, 30.0) == (10, 0)
    assert swept_at(tracing, registry, clock, 61.0) == (0, 10)
    tracing.shutdown()


def test_a_trace_whose_spans_keep_ending_is_not_an_orphan(loaded: Loaded) -> None:
    """The orphan timeout runs from the trace's last activity, not from its first span."""
    clock = [0.0]
    tracing, registry = pending_tracing(loaded, clock, orphan_timeout_seconds=60)
    root = tracing.tracer.start_span("orchestrator.execute_request")
    end_child(tracing, root)
    clock[0] = 50.0
    end_child(tracing, root, "agent.edit_file")
    assert swept_at(tracing, registry, clock, 100.0) == (1, 0)
    assert swept_at(tracing, registry, clock, 111.0) == (0, 1)
    tracing.shutdown()


def test_a_slow_root_outliving_the_orphan_timeout_is_still_kept(loaded: Loaded) -> None:
    """Its idle children are evicted (counted), but the root is decided when it ends: slow, kept,
    with the spans that ended after the eviction."""
    clock = [0.0]
    memory = InMemorySpanExporter()
    tracing, registry = pending_tracing(loaded, clock, sampling={"default": 0.0}, exporters={"otlp": memory},
                                        orphan_timeout_seconds=60)
    root = tracing.tracer.start_span("orchestrator.execute_request", start_time=0)
    end_child(tracing, root)
    assert swept_at(tracing, registry, clock, 61.0) == (0, 1)
    end_child(tracing, root, "agent.edit_file")
    root.end(end_time=int(120e9))  # two minutes: past slower_than_seconds
    tracing.shutdown()
    assert sorted(s.name for s in memory.get_finished_spans()) == ["agent.edit_file", "orchestrator.execute_request"]


def test_spans_under_another_tracers_span_are_decided_when_our_outermost_span_ends(loaded: Loaded) -> None:
    """An orchestrator running inside an auto-instrumented server span (opentelemetry-sdk's, a local
    parent we do not record): our outermost span is the root of our tail decision, not an orphan."""
    memory = InMemorySpanExporter()
    tracing, _ = pending_tracing(loaded, [0.0], sampling={"default": 1.0}, exporters={"otlp": memory})
    server = TracerProvider().get_tracer("server")
    with server.start_as_current_span("POST /requests") as outer:
        with tracing.span("orchestrator.execute_request"):
            with tracing.span("agent.execute_task"):
                pass
    tracing.shutdown()
    assert tracing.sampler.pending_traces == 0
    spans = {s.name: s for s in memory.get_finished_spans()}
    assert sorted(spans) == ["agent.execute_task", "orchestrator.execute_request"]
    assert spans["orchestrator.execute_request"].parent.span_id == outer.get_span_context().span_id
    assert {s.context.trace_id for s in spans.values()} == {outer.get_span_context().trace_id}


# -- conditions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "attributes", "expected"), [
    ("request.type == 'critical'", {"request.type": "critical"}, True),
    ("request.type == 'critical'", {"request.type": "normal"}, False),
    ("request.type == 'critical'", {}, False),
    ("agent == \"Architect\"", {"agent": "Architect"}, True),
    ("agent != 'Architect'", {"agent": "Coder"}, True),
    ("agent != 'Architect'", {}, True),
    ("agent == 'Coder' and model == 'haiku'", {"agent": "Coder", "model": "haiku"}, True),
    ("agent == 'Coder' and model == 'haiku'", {"agent": "Coder", "model": "sonnet"}, False),
    ("agent == 'Coder' or agent == 'DevOps'", {"agent": "DevOps"}, True),
    ("(agent == 'Coder' or agent == 'DevOps') and parallel == true", {"agent": "Coder", "parallel": True}, True),
    ("(agent == 'Coder' or agent == 'DevOps') and parallel == true", {"agent": "Coder", "parallel": False}, False),
    ("batch.size == 3", {"batch.size": 3}, True),
    ("a == 'x' or b == 'y' and c == 'z'", {"a": "x"}, True),  # and binds tighter than or
])
def test_conditions_evaluate_without_eval(text: str, attributes: dict[str, Any], expected: bool) -> None:
    assert parse(text).matches(attributes) is expected


@pytest.mark.parametrize("text", ["", "agent", "agent ==", "agent = 'x'", "agent == 'x' extra", "(agent == 'x'",
                                  "and == 'x'", "__import__('os') == 1", "agent == 'x' or", "agent == x"])
def test_bad_conditions_are_refused(text: str) -> None:
    with pytest.raises(ConditionError):
        parse(text)


def test_a_bad_condition_in_the_spec_is_an_error_at_its_line(root: Path, tmp_path: Path) -> None:
    text = (root / "observability.yaml").read_text()
    good = "- {condition: \"agent == 'Architect'\", rate: 0.5}"
    assert good in text
    spec = tmp_path / "observability.yaml"
    spec.write_text(text.replace(good, "- {condition: \"agent = 'Architect'\", rate: 0.5}"))
    line = text[:text.index(good)].count("\n") + 1
    with pytest.raises(SpecError) as error:
        load(spec, display_name="observability.yaml")
    message = "\n".join(error.value.lines)
    assert f"observability.yaml:{line}:" in message and "rules[1]" in message, message
    assert "unexpected" in message
