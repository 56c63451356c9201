"""The spec as written in observability.yaml, version v1: strict, typed, nothing inferred.

Cross-references (a threshold, a metric, a receiver that must exist) are checked by
`observability.lint`; this module checks only the shape of each value.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .spec_base import (SEVERITIES, SPEC_VERSION, Duration, Identifier, LabelName, MetricName, Severity,
                        Strict, Timestamp)
from .spec_dashboards import DashboardSpec

__all__ = ["SEVERITIES", "SPEC_VERSION", "Spec"]


# --- metric catalogue -------------------------------------------------------


class MetricSpec(Strict):
    type: Literal["counter", "gauge", "histogram"]
    help: str = Field(min_length=1)
    labels: list[LabelName]
    buckets: str | list[float] | None = None
    source: Literal["exporter", "process", "recording"] = "exporter"


# --- rules and their examples -----------------------------------------------


class SampleExpectation(Strict):
    labels: dict[LabelName, str]
    value: float


class RecordingExample(Strict):
    name: str | None = None
    series: dict[str, str] = Field(min_length=1)
    at: Duration
    interval: Duration = "1m"
    expect: list[SampleExpectation]


class RecordingRuleSpec(Strict):
    record: MetricName
    expr: str = Field(min_length=1)
    labels: dict[LabelName, str] = {}
    examples: list[RecordingExample] = []


class FiringExpectation(Strict):
    labels: dict[LabelName, str]
    value: float
    severity: Severity | None = None


class AlertExample(Strict):
    name: str | None = None
    series: dict[str, str] = Field(min_length=1)
    at: Duration
    interval: Duration = "1m"
    fires: list[FiringExpectation]


class Escalation(Strict):
    severity: Severity
    thresholds: dict[str, str] = Field(min_length=1)


class AlertSpec(Strict):
    name: Identifier
    severity: Severity
    expr: str = Field(min_length=1)
    for_: Duration = Field("0m", alias="for")
    escalate: Escalation | None = None
    labels: dict[LabelName, str] = {}
    summary: str = Field(min_length=1)
    description: str = Field(min_length=1)
    runbook_url: str = Field(pattern=r"^https?://\S+$")
    examples: list[AlertExample] = []


# --- KPIs ---------------------------------------------------------------------


class KpiTarget(Strict):
    above: str | None = None
    below: str | None = None
    between: list[str] | None = Field(None, min_length=2, max_length=2)

    @model_validator(mode="after")
    def _one_kind(self) -> KpiTarget:
        if sum(v is not None for v in (self.above, self.below, self.between)) != 1:
            raise ValueError("give exactly one of above, below or between")
        return self


class KpiSpec(Strict):
    name: Identifier
    title: str
    measure: MetricName
    unit: str
    target: KpiTarget
    alerts: list[str] = []


# --- delivery -----------------------------------------------------------------


class SeverityInfo(Strict):
    color: str
    response: str
    notification: str


_INLINE_SECRET = "secrets are never written in the spec: put the value in a file in the secrets directory and name that file with {field}_file"


class SlackReceiver(Strict):
    type: Literal["slack"]
    channel: str = Field(pattern=r"^[#@]\S+$")
    webhook_url_file: str

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secret(cls, data: object) -> object:
        if isinstance(data, dict) and ("webhook_url" in data or "api_url" in data):
            raise ValueError(_INLINE_SECRET.format(field="webhook_url"))
        return data


class PagerDutyReceiver(Strict):
    type: Literal["pagerduty"]
    routing_key_file: str

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secret(cls, data: object) -> object:
        if isinstance(data, dict) and ("routing_key" in data or "service_key" in data):
            raise ValueError(_INLINE_SECRET.format(field="routing_key"))
        return data


class LogReceiver(Strict):
    type: Literal["log"]


Receiver = Annotated[SlackReceiver | PagerDutyReceiver | LogReceiver, Field(discriminator="type")]


class RouteSpec(Strict):
    severity: Severity
    receivers: list[str] = Field(min_length=1)
    group_wait: Duration
    group_interval: Duration
    repeat_interval: Duration


class RoutingSpec(Strict):
    secrets_dir: str = Field(pattern=r"^/")
    default_receiver: str
    group_by: list[LabelName]
    resolve_timeout: Duration = "5m"
    routes: list[RouteSpec]


class InhibitionSpec(Strict):
    name: Identifier
    source: dict[LabelName, list[str]] = Field(min_length=1)
    target: dict[LabelName, list[str]] = Field(min_length=1)
    equal: list[LabelName] = []


Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
ClockTime = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")]


class MaintenanceWindow(Strict):
    """A one-off window (start, end) or a weekly one (weekdays, start_time, end_time)."""

    name: Identifier
    severities: list[Severity] = Field(min_length=1)
    reason: str
    start: Timestamp | None = None
    end: Timestamp | None = None
    weekdays: list[Weekday] | None = Field(None, min_length=1)
    start_time: ClockTime | None = None
    end_time: ClockTime | None = None
    location: str = "UTC"

    @model_validator(mode="after")
    def _one_kind(self) -> MaintenanceWindow:
        once = (self.start, self.end)
        weekly = (self.weekdays, self.start_time, self.end_time)
        if all(v is not None for v in once) and all(v is None for v in weekly):
            return self
        if all(v is not None for v in weekly) and all(v is None for v in once):
            if self.end_time <= self.start_time:
                raise ValueError("end_time must be after start_time")
            return self
        raise ValueError("give either start and end, or weekdays, start_time and end_time")


class SilenceSpec(Strict):
    name: Identifier
    matchers: dict[LabelName, str] = Field(min_length=1)
    comment: str = Field(min_length=1)
    created_by: str = "orchestrator-observability"
    expires: Timestamp


class SuppressionsSpec(Strict):
    maintenance_windows: list[MaintenanceWindow] = []
    silences: list[SilenceSpec] = []


class ScrapeSpec(Strict):
    job: str
    target: str = Field(pattern=r"^[\w.-]+:\d+$")
    metrics_path: str = Field("/metrics", pattern=r"^/")
    interval: Duration
    evaluation_interval: Duration
    external_labels: dict[LabelName, str] = {}


# --- runtime (§9), read by the exporter -------------------------------------------

LogLevel = Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]


class ExporterRuntime(Strict):
    host: str = "127.0.0.1"
    port: int = Field(9464, ge=1, le=65535)
    path: str = Field("/metrics", pattern=r"^/")
    max_series_per_metric: int = Field(1000, ge=1)


class LogOutput(Strict):
    type: Literal["file", "console"]
    path: str | None = None
    format: Literal["json", "pretty"]
    level: LogLevel | None = None

    @model_validator(mode="after")
    def _file_has_path(self) -> LogOutput:
        if self.type == "file" and not self.path:
            raise ValueError("a file output needs a path")
        return self


class Rotation(Strict):
    max_size_mb: float = Field(gt=0)
    max_files: int = Field(ge=1)
    compress: bool
    retention_days: int = Field(ge=1)


class LoggingRuntime(Strict):
    level: LogLevel
    outputs: list[LogOutput]
    rotation: Rotation


Rate = Annotated[float, Field(ge=0, le=1)]


class AlwaysSample(Strict):
    """Traces kept whatever the rates say; deciding needs the whole trace (a tail decision)."""
    errors: bool = True
    slower_than_seconds: float | None = Field(None, gt=0)
    critical_operations: bool = True


class SamplingRule(Strict):
    """`condition` on span attributes, e.g. "request.type == 'critical'" (==, !=, and, or)."""
    condition: str = Field(min_length=1)
    rate: Rate

    @model_validator(mode="after")
    def _condition_parses(self) -> SamplingRule:
        # The exporter's own evaluator checks it, so that the loader and the runtime agree.
        from exporter.tracing.conditions import parse

        parse(self.condition)
        return self


class Sampling(Strict):
    default: Rate
    parallel_operations: Rate | None = None
    agent_tasks: Rate | None = None
    always_sample: AlwaysSample = AlwaysSample()
    rules: list[SamplingRule] = []


class PendingTraces(Strict):
    """Spans held until their root ends (the tail decision): bounded in traces and time."""
    max_traces: int = Field(2000, ge=1)
    max_spans_per_trace: int = Field(1000, ge=1)
    orphan_timeout_seconds: float = Field(300, gt=0)


class TracingRuntime(Strict):
    enabled: bool
    # Where kept traces go: OTLP to `endpoint` (Jaeger, a collector), and/or JSON lines in `file`.
    exporters: list[Literal["otlp", "file"]] = []
    endpoint: str | None = None
    protocol: Literal["grpc", "http"] = "grpc"
    file: str | None = None
    service_name: str = "orchestrator"
    export_queue_spans: int = Field(8192, ge=1)
    export_timeout_seconds: float = Field(2, gt=0)
    store_traces: int = Field(1000, ge=0)
    pending: PendingTraces = PendingTraces()
    sampling: Sampling

    @model_validator(mode="after")
    def _exporters_have_targets(self) -> TracingRuntime:
        if "otlp" in self.exporters and not self.endpoint:
            raise ValueError("the otlp exporter needs an endpoint")
        if "file" in self.exporters and not self.file:
            raise ValueError("the file exporter needs a file")
        return self


class ExportRuntime(Strict):
    formats: list[Literal["json", "csv", "prometheus"]]


class RuntimeSpec(Strict):
    exporter: ExporterRuntime = ExporterRuntime()
    logging: LoggingRuntime
    tracing: TracingRuntime
    export: ExportRuntime


# --- the whole document ---------------------------------------------------------


class Spec(Strict):
    version: Literal["v1"]
    thresholds: dict[Identifier, float]
    buckets: dict[Identifier, list[float]] = {}
    metrics: dict[MetricName, MetricSpec] = Field(min_length=1)
    recording_rules: list[RecordingRuleSpec] = []
    alerts: list[AlertSpec]
    kpis: list[KpiSpec] = []
    severities: dict[Severity, SeverityInfo]
    receivers: dict[Identifier, Receiver]
    routing: RoutingSpec
    inhibitions: list[InhibitionSpec] = []
    suppressions: SuppressionsSpec = SuppressionsSpec()
    scrape: ScrapeSpec
    runtime: RuntimeSpec
    dashboards: list[DashboardSpec] = []
