"""Kept traces leave the process here, off the instrumented code's thread.

`ExportSink.submit(spans)` only appends to a bounded queue (never blocks, never raises); one
background thread hands batches to each exporter: OTLP over gRPC or HTTP, and JSON lines of
§3.1 documents (one trace per line). When the queue is full, or an exporter fails or times
out (the endpoint is down or slow), the spans are dropped and counted per exporter and reason,
the failed batch is counted in orchestrator_trace_export_errors_total, and a warning is
logged at most once per `warn_every_seconds` with the number of failures since the last one.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from observability.spec import Rotation, TracingRuntime

from ..rotation import RotatingFileWriter

from .store import trace_document

QUEUE_FULL, EXPORT_FAILED, SHUTDOWN = "queue_full", "export_failed", "shutdown"
DROP_REASONS = (QUEUE_FULL, EXPORT_FAILED, SHUTDOWN)
BATCH_SPANS = 512
_IDLE_WAIT_SECONDS = 0.5


class JsonFileSpanExporter(SpanExporter):
    """§3.1 documents, one trace per line, appended to `path` (directories made as needed).
    With `rotation` (the logs' settings, §2.4) the file rotates like the log file, so that a
    long-running orchestrator's traces do not fill the disk; it is opened on the first export,
    so that an unwritable path is a counted export failure, not an error at start."""

    def __init__(self, path: str | Path, rotation: Rotation | None = None):
        self.path = Path(os.path.expanduser(str(path)))
        self._rotation = rotation
        self._writer: RotatingFileWriter | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        by_trace: dict[int, list[ReadableSpan]] = {}
        for span in spans:
            if span.context is not None:
                by_trace.setdefault(span.context.trace_id, []).append(span)
        lines = "".join(json.dumps(trace_document(trace_spans), separators=(",", ":"), default=str) + "\n"
                        for trace_spans in by_trace.values())
        try:
            if self._rotation is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(lines)
            else:
                if self._writer is None:
                    rotation = self._rotation
                    self._writer = RotatingFileWriter(self.path, max_size_mb=rotation.max_size_mb,
                                                      max_files=rotation.max_files, compress=rotation.compress,
                                                      retention_days=rotation.retention_days)
                self._writer.write(lines)
        except (OSError, ValueError):
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        if self._writer is not None:
            self._writer.close()


def otlp_exporter(endpoint: str, protocol: str, timeout_seconds: float) -> SpanExporter:
    """The SDK's OTLP span exporter for `endpoint` (http://host:4317 for gRPC, :4318 for HTTP)."""
    # Our sink reports failures itself (counted, rate-limited): the SDK's per-batch error logs
    # and retry chatter would flood stderr while an endpoint is down.
    logging.getLogger("opentelemetry.exporter.otlp").setLevel(logging.CRITICAL)
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        insecure = not endpoint.startswith("https://")
        return GrpcExporter(endpoint=endpoint, insecure=insecure, timeout=timeout_seconds)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    url = endpoint.rstrip("/")
    if not url.endswith("/v1/traces"):
        url += "/v1/traces"
    return HttpExporter(endpoint=url, timeout=timeout_seconds)


def exporters_from_config(config: TracingRuntime, rotation: Rotation | None = None) -> dict[str, SpanExporter]:
    made: dict[str, SpanExporter] = {}
    # OpenTelemetry's standard variable overrides the spec's endpoint (docker compose sets it to Jaeger).
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or config.endpoint
    for name in config.exporters:
        if name == "otlp" and endpoint:
            made[name] = otlp_exporter(endpoint, config.protocol, config.export_timeout_seconds)
        elif name == "file" and config.file:
            made[name] = JsonFileSpanExporter(config.file, rotation)
    return made


class RateLimitedWarning:
    """Calls `warn(message)` at most once per `every_seconds`, telling how many were held back."""

    def __init__(self, warn: Callable[[str], None], every_seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic):
        self._warn, self._every, self._clock = warn, every_seconds, clock
        self._last = -every_seconds
        self._held = 0
        self._lock = threading.Lock()

    def __call__(self, message: str) -> None:
        with self._lock:
            now = self._clock()
            if now - self._last < self._every:
                self._held += 1
                return
            held, self._held, self._last = self._held, 0, now
        try:
            self._warn(message + (f" ({held} more since the last warning)" if held else ""))
        except Exception:  # noqa: BLE001 - a warning must never break export
            pass


class ExportSink:
    """A bounded queue of kept traces and the thread that exports them."""

    def __init__(self, exporters: dict[str, SpanExporter], *, max_queued_spans: int,
                 on_dropped: Callable[[str, str, int], None] = lambda exporter, reason, count: None,
                 on_failed_batch: Callable[[str], None] = lambda exporter: None,
                 warn: Callable[[str], None] = lambda message: None):
        self.exporters = dict(exporters)
        self._max = max_queued_spans
        self._on_dropped = on_dropped
        self._on_failed_batch = on_failed_batch
        self._warn = warn
        self._queue: deque[Sequence[ReadableSpan]] = deque()
        self._queued_spans = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._stopping = False
        self._thread: threading.Thread | None = None
        if self.exporters:
            self._thread = threading.Thread(target=self._run, name="trace-export", daemon=True)
            self._thread.start()

    def submit(self, spans: Sequence[ReadableSpan]) -> None:
        """Queue one kept trace (or stragglers of one); drops and counts it when the queue is full."""
        if not self.exporters:
            return
        count = len(spans)
        with self._lock:
            accepted = not self._stopping and self._queued_spans + count <= self._max
            if accepted:
                self._queue.append(spans)
                self._queued_spans += count
        if accepted:
            if self._queued_spans >= BATCH_SPANS:
                self._wake.set()
            return
        for name in self.exporters:
            self._on_dropped(name, QUEUE_FULL, count)
        self._warn(f"trace export queue full ({self._max} spans): dropped {count} span(s)")

    def _take_batch(self) -> list[ReadableSpan]:
        batch: list[ReadableSpan] = []
        with self._lock:
            while self._queue and len(batch) < BATCH_SPANS:
                batch.extend(self._queue.popleft())
            self._queued_spans -= len(batch)
            self._in_flight = len(batch)
        return batch

    def _export(self, batch: list[ReadableSpan]) -> None:
        for name, exporter in self.exporters.items():
            try:
                result = exporter.export(batch)
            except Exception as error:  # noqa: BLE001 - an exporter bug must not kill the thread
                result = SpanExportResult.FAILURE
                reason = f"{type(error).__name__}: {error}"
            else:
                reason = "the exporter reported a failure"
            if result is not SpanExportResult.SUCCESS:
                self._on_failed_batch(name)
                self._on_dropped(name, EXPORT_FAILED, len(batch))
                self._warn(f"trace export to {name} failed, dropped {len(batch)} span(s): {reason}")

    def _run(self) -> None:
        while True:
            self._wake.wait(_IDLE_WAIT_SECONDS)
            self._wake.clear()
            while True:
                batch = self._take_batch()
                if batch:
                    self._export(batch)
                with self._lock:
                    self._in_flight = 0
                    self._idle.notify_all()
                    if not self._queue:
                        break
            if self._stopping:
                return

    def flush(self, timeout_seconds: float = 10.0) -> bool:
        """Wait until everything queued so far was handed to the exporters; False on timeout."""
        if self._thread is None:
            return True
        deadline = time.monotonic() + timeout_seconds
        self._wake.set()
        with self._lock:
            while self._queue or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))
                self._wake.set()
        return True

    def shutdown(self, timeout_seconds: float = 10.0) -> None:
        self.flush(timeout_seconds)
        with self._lock:
            self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_seconds)
        with self._lock:  # what the exporters could not take in time is lost: count it
            left = sum(len(spans) for spans in self._queue)
            self._queue.clear()
            self._queued_spans = 0
        if left:
            for name in self.exporters:
                self._on_dropped(name, SHUTDOWN, left)
        for exporter in self.exporters.values():
            try:
                exporter.shutdown()
            except Exception:  # noqa: BLE001 - shutdown must not raise into the caller
                pass
