"""Tracing: the spans of §3.2, sampled by §3.3, exported through opentelemetry-sdk, and stored.

    tracing = Tracing(model.runtime.tracing, metrics=metric_set, warn=logger_warning)
    with tracing.span("orchestrator.execute_request", {"request.type": "implementation"}):
        ...
    tracing.store.get(trace_id)          # §3.1 document of a recent kept trace
    tracing.shutdown()                   # flushes the export queue

Pipeline: RecordedSpan (a light OpenTelemetry API span, spans.py) -> TailSampler (whole-trace
decision, bounded pending memory) -> kept traces, turned into the SDK's ReadableSpans ->
TraceStore (in memory) and ExportSink (bounded queue, background thread, OTLP gRPC/HTTP and
JSON file). The tracer is our own, never the global one, so that several instances (tests,
the demo) do not share state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Span, Status, StatusCode

from observability.spec import Rotation, TracingRuntime

from ..catalogue import TRACE_DECISIONS, TRACE_EXPORT_ERRORS, TRACE_SPANS_DROPPED, TRACES_EVICTED
from ..metrics import MetricSet
from .export import DROP_REASONS, EXPORT_FAILED, ExportSink, RateLimitedWarning, exporters_from_config
from .sampling import DECISIONS, EVICTIONS, SamplingPolicy, TailSampler
from .spans import ActiveSpan, Readable, RecordedSpan, Tracer
from .store import TraceStore

AttributeValue = str | bool | int | float


class Tracing:
    def __init__(self, config: TracingRuntime, *, metrics: MetricSet | None = None,
                 warn: Callable[[str], None] | None = None, exporters: dict[str, SpanExporter] | None = None,
                 id_generator: IdGenerator | None = None, clock: Callable[[], float] = time.monotonic,
                 warn_every_seconds: float = 30.0, file_rotation: Rotation | None = None):
        """`exporters` replaces the ones the config names (tests, benchmarks); `file_rotation`
        rotates the trace file (the instrumentation passes the logs' rotation)."""
        self.config = config
        self.store = TraceStore(config.store_traces)
        chosen = exporters_from_config(config, file_rotation) if exporters is None else exporters
        count_decision, count_eviction, count_drop, count_error = self._metric_hooks(metrics, tuple(chosen))
        self._count_drop, self._count_error = count_drop, count_error
        self.warn = RateLimitedWarning(warn or (lambda message: None), warn_every_seconds)
        self.sink = ExportSink(chosen, max_queued_spans=config.export_queue_spans, on_dropped=count_drop,
                               on_failed_batch=count_error, warn=self.warn)
        self.sampler = TailSampler(SamplingPolicy(config.sampling), config.pending, deliver=self._deliver,
                                   count_decision=count_decision, on_evicted=count_eviction, clock=clock)
        limits = SpanLimits()
        self.readable = Readable(Resource.create({"service.name": config.service_name}),
                                 InstrumentationScope("orchestrator"), limits)
        self.tracer = Tracer(self.sampler.on_end, id_generator or RandomIdGenerator(), limits)

    @staticmethod
    def _metric_hooks(metrics: MetricSet | None, exporter_names: tuple[str, ...]) -> tuple[Any, Any, Any, Any]:
        if metrics is None:
            return (None, lambda reason: None, lambda name, reason, count: None, lambda name: None)
        # Children looked up once (and so created at zero): every label value is known here.
        decisions = {d: metrics.fed(TRACE_DECISIONS).labels(decision=d) for d in DECISIONS}
        evictions = {r: metrics.fed(TRACES_EVICTED).labels(reason=r) for r in EVICTIONS}
        drops = {(name, reason): metrics.fed(TRACE_SPANS_DROPPED).labels(exporter=name, reason=reason)
                 for name in exporter_names for reason in DROP_REASONS}
        errors = {name: metrics.fed(TRACE_EXPORT_ERRORS).labels(exporter=name) for name in exporter_names}
        return ({d: child.inc for d, child in decisions.items()}, lambda reason: evictions[reason].inc(),
                lambda name, reason, count: drops[(name, reason)].inc(count), lambda name: errors[name].inc())

    def _deliver(self, spans: list[RecordedSpan], decision: str) -> None:
        # Only kept traces become SDK objects (the exporters' and the store's input). This runs
        # inside the root's end() (or a straggler's): a failure here is counted as a failed export
        # and warned about, never raised into the instrumented code.
        try:
            readable = [self.readable(span) for span in spans]
            self.store.add(readable)
            self.sink.submit(readable)
        except Exception as error:  # noqa: BLE001 - a bug in converting must not break the caller
            self._delivery_failed(len(spans), error)

    def _delivery_failed(self, count: int, error: Exception) -> None:
        try:
            for name in self.sink.exporters:
                self._count_error(name)
                self._count_drop(name, EXPORT_FAILED, count)
            self.warn(f"a kept trace could not be converted for export, dropped {count} span(s): "
                      f"{type(error).__name__}: {error}")
        except Exception:  # noqa: BLE001 - counting must not raise either
            pass

    # -- spans ----------------------------------------------------------------------------------

    def span(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> ActiveSpan:
        """A context manager around the block: the span is current inside it, ends on exit, and
        an exception sets its status to ERROR (and is recorded as an event) before propagating."""
        return self.tracer.start_as_current_span(name, attributes=attributes)

    @contextmanager
    def root(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> Iterator[Span]:
        """A new trace even inside another span (a detached request)."""
        from opentelemetry.context import Context

        with self.tracer.start_as_current_span(name, context=Context(), attributes=attributes) as span:
            yield span

    @staticmethod
    def fail(span: Span, description: str) -> None:
        span.set_status(Status(StatusCode.ERROR, description))

    # -- lifecycle ------------------------------------------------------------------------------

    def flush(self, timeout_seconds: float = 10.0) -> bool:
        """Export every trace already kept; False when the exporters did not finish in time."""
        return self.sink.flush(timeout_seconds)

    def shutdown(self, timeout_seconds: float = 10.0) -> None:
        self.sink.shutdown(timeout_seconds)
