"""What tracing costs the orchestrator, against raw opentelemetry-sdk doing the same work.

1. Cost per span: a trace of one root and nine children (`with ...span(...)`, each with two
   attributes), divided by ten. Ours: exporter.tracing.Tracing.span (a light RecordedSpan,
   current in the OpenTelemetry context) -> TailSampler (spans held until the root ends, then
   the whole trace decided) -> kept traces made into the SDK's ReadableSpans (attributes cleaned
   and limited as the SDK does) -> TraceStore + ExportSink queue. Raw: a TracerProvider with a
   BatchSpanProcessor, `start_as_current_span`. Both export to the same exporter that accepts
   and discards (the encoding and the network are not measured, they run off-thread in both). Sampled: every trace kept (rate 1.0 for us, ALWAYS_ON for raw).
   Not sampled: rate 0.0 for us; raw is shown twice, recording every span (what a tail decision
   needs: the error/slow rules of §3.3 can only be applied once a trace is over) and with a
   head sampler at ratio 0 (non-recording spans: what the SDK costs when it may forget the trace
   at once). Target ratio <= 1.2.
2. A whole task: enqueue + run (metrics), INFO JSON log lines to a file (task_dispatched,
   task_started, task_completed) and its agent.execute_task span at 10% sampling. Target <= 40 us.

Each figure is the best of several rounds, candidates interleaved. The whole-task figure is also
"scaled" to the reference machine as bench_exporter.py does (by 8.9 us over plain
prometheus-client's task lifecycle measured here), since this machine may be slower or busier.
Prints only; exits 0.
Run: .venv/bin/python benchmarks/bench_tracing.py [rounds]
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_exporter import (REFERENCE_PLAIN_US, file_only_logging, interleaved,  # noqa: E402
                            lifecycle_ours, lifecycle_plain, verdict)
from exporter.instrument import Instrumentation  # noqa: E402
from exporter.tracing import Tracing  # noqa: E402
from observability.load import load  # noqa: E402
from observability.model import Model  # noqa: E402
from observability.spec import TracingRuntime  # noqa: E402

SPAN_RATIO_TARGET = 1.2
TASK_TARGET_US = 40.0
CHILDREN = 9


class Discard(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def tracing_config(model: Model, rate: float) -> TracingRuntime:
    base = model.runtime.tracing
    sampling = base.sampling.model_copy(update={"default": rate, "parallel_operations": rate, "agent_tasks": rate,
                                                "rules": []})
    return base.model_copy(update={"enabled": True, "exporters": [], "sampling": sampling})


def traces(span: Callable[..., object]) -> Callable[[int], None]:
    """`n` traces of 1 + CHILDREN spans through `span(name, attributes)` context managers."""
    def run(n: int) -> None:
        for _ in range(n):
            with span("orchestrator.execute_request", {"request.type": "implementation", "parallel": False}):  # type: ignore[attr-defined]
                for _ in range(CHILDREN):
                    with span("agent.read_file", {"file.path": "src/main.py", "size_bytes": 120}):  # type: ignore[attr-defined]
                        pass

    return run


def raw_provider(sampler: object) -> TracerProvider:
    provider = TracerProvider(sampler=sampler)  # type: ignore[arg-type]
    provider.add_span_processor(BatchSpanProcessor(Discard(), max_queue_size=1_000_000))
    return provider


def raw_span(provider: TracerProvider) -> Callable[..., object]:
    tracer = provider.get_tracer("bench")
    return lambda name, attributes: tracer.start_as_current_span(name, attributes=attributes)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    model = load(ROOT / "observability.yaml").model
    calls = 2_000
    kept = Tracing(tracing_config(model, 1.0), exporters={"otlp": Discard()})
    dropped = Tracing(tracing_config(model, 0.0), exporters={"otlp": Discard()})
    raw_all, raw_head = raw_provider(ALWAYS_ON), raw_provider(ParentBased(TraceIdRatioBased(0.0)))
    try:
        us = interleaved({
            "ours kept": (traces(kept.span), calls),
            "raw kept": (traces(raw_span(raw_all)), calls),
            "ours dropped": (traces(dropped.span), calls),
            "raw head-dropped": (traces(raw_span(raw_head)), calls),
        }, rounds)
    finally:
        kept.shutdown()
        dropped.shutdown()
        raw_all.shutdown()
        raw_head.shutdown()
    per = {name: value / (1 + CHILDREN) for name, value in us.items()}
    ratio_kept = per["ours kept"] / per["raw kept"]
    ratio_dropped = per["ours dropped"] / per["raw kept"]
    print(f"cost per span (best of {rounds} rounds of {calls:,} traces x {1 + CHILDREN} spans)")
    print(f"  raw sdk, BatchSpanProcessor, every span recorded  {per['raw kept']:7.2f} us")
    print(f"  ours, trace kept (rate 1.0)                       {per['ours kept']:7.2f} us   ratio {ratio_kept:.2f}"
          f"  target <= {SPAN_RATIO_TARGET}: {verdict(ratio_kept <= SPAN_RATIO_TARGET)}")
    print(f"  ours, trace dropped (rate 0.0)                    {per['ours dropped']:7.2f} us   ratio {ratio_dropped:.2f}"
          f"  target <= {SPAN_RATIO_TARGET}: {verdict(ratio_dropped <= SPAN_RATIO_TARGET)}")
    print(f"  raw sdk, head sampler ratio 0 (non-recording)     {per['raw head-dropped']:7.2f} us   "
          f"ours dropped / this {per['ours dropped'] / per['raw head-dropped']:.2f} (a tail decision must record)")

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        logging = file_only_logging(model, directory)
        untraced = Instrumentation.from_model(model, CollectorRegistry(), logger_config=logging)
        traced = Instrumentation.from_model(model, CollectorRegistry(),
                                            logger_config=file_only_logging(model, directory / "traced"),
                                            tracing=tracing_config(model, 0.1), trace_exporters={"otlp": Discard()})
        try:
            task_us = interleaved({"plain": (lifecycle_plain(model), 10_000), "untraced": (lifecycle_ours(untraced), 2_500),
                                   "traced": (lifecycle_ours(traced), 2_500)}, rounds)
        finally:
            untraced.close()
            traced.close()
    scale = REFERENCE_PLAIN_US / task_us["plain"]
    print("a whole task: metrics + 3 INFO JSON log lines to a file + its span at 10% sampling")
    print(f"  plain prometheus-client lifecycle (for scaling)   {task_us['plain']:7.2f} us   "
          f"reference {REFERENCE_PLAIN_US} us: this machine x{1 / scale:.2f}")
    print(f"  without tracing                                   {task_us['untraced']:7.2f} us   "
          f"scaled {task_us['untraced'] * scale:7.2f} us")
    print(f"  with tracing                                      {task_us['traced']:7.2f} us   "
          f"scaled {task_us['traced'] * scale:7.2f} us   target <= {TASK_TARGET_US} us: "
          f"{verdict(task_us['traced'] * scale <= TASK_TARGET_US)}")
    print(f"  tracing adds                                      {task_us['traced'] - task_us['untraced']:7.2f} us   "
          f"scaled {(task_us['traced'] - task_us['untraced']) * scale:7.2f} us (one span, 3 span events, ids on 3 lines)")


if __name__ == "__main__":
    main()
