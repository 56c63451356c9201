"""The instrumentation API the orchestrator calls, in its words.

    registry = CollectorRegistry()
    obs = Instrumentation.from_model(model, registry, logger_config=model.runtime.logging)
    with obs.agent("Coder", mode="persistent") as coder:        # agent_spawned ... agent_shutdown
        queued = obs.tasks.enqueue("task-1", agent="Coder", priority="high")
        with obs.tasks.run(queued, model="sonnet", observers=(coder,)):
            obs.tokens("Coder", "sonnet", 1200)
            obs.file_operation("read")
    obs.close()

With `tracing=model.runtime.tracing`, the same calls also make the spans of §3.2 (a task run is
an `agent.execute_task` span, a batch an `orchestrator.dispatch_batch`, a team a
`team.coordinate`), and `obs.request(...)`, `obs.decompose(...)`, `obs.read_file(...)`,
`obs.edit_file(...)`, `obs.search(...)`, `obs.mcp_tool(...)`, `obs.llm_call(...)`,
`obs.validate()` are blocks that record their metric and their span together:

    with obs.request("implementation", parallel=True) as request:     # root span, new correlation id
        with obs.read_file("src/main.py") as read:
            read.set(size_bytes=1024)

Everything comes from the spec: the metrics (MetricSet), the slow-task threshold, the log
outputs. A StructuredLogger built here feeds log_lines_total{level} and
log_write_errors_total{output} through its callbacks, and the cardinality guard's warnings go
to it. `clock` (seconds, monotonic) measures every duration; the demo passes a clock that runs
`speed` times faster than real time.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from observability.model import Model
from observability.spec import LoggingRuntime, TracingRuntime

from .catalogue import (AGENT_ERRORS, AGENT_MEMORY, AGENT_SPAWNS, AGENT_TOKENS, AGENTS_ACTIVE, DISK_USAGE,
                        FILE_OPERATIONS, HEALTH, LOG_LINES, LOG_WRITE_ERRORS, MCP_TOOLS, PARALLEL_EFFICIENCY,
                        TEAMS_ACTIVE, TEAMS_FORMED, TRACE_EXPORT_ERRORS, UPTIME)
from .health import HealthBoard
from .logs import LEVELS, StructuredLogger
from .metrics import MetricSet
from .context import correlation, new_correlation_id
from .tasks import FAILED, SUCCESS, EventLogger, TaskTracker
from .tracing.operations import (DECOMPOSE, DISPATCH_BATCH, EDIT_FILE, EXECUTE_REQUEST, INVOKE_TOOL, LLM_CALL,
                                 READ_FILE, SEARCH, TEAM_COORDINATE, VALIDATE, Operation)

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.id_generator import IdGenerator

    from .tracing.tracer import Tracing

LOG_VOLUME = "logs"  # the volume label of the filesystem holding logs and traces


def log_directory(config: LoggingRuntime) -> Path:
    """Where the first file output writes (expanded), else the current directory."""
    for output in config.outputs:
        if output.type == "file" and output.path:
            return Path(output.path).expanduser().parent
    return Path.cwd()


def disk_usage_ratio(directory: Path) -> float:
    """Used share of the filesystem holding `directory` (or its nearest existing parent)."""
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    return usage.used / usage.total if usage.total else 0.0


class Instrumentation:
    def __init__(self, metrics: MetricSet, *, slow_task_seconds: float, logger: EventLogger | None = None,
                 clock: Callable[[], float] = time.monotonic, log_dir: Path | None = None,
                 tracing: Tracing | None = None):
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
        self.tracing = tracing
        self.started_at = clock()
        self.tasks = TaskTracker(metrics, slow_task_seconds=slow_task_seconds, clock=clock, logger=logger,
                                 tracing=tracing)
        self.health = HealthBoard(metrics.fed(HEALTH))
        self._owned_logger: StructuredLogger | None = None
        self._owned_tracing: Tracing | None = None
        metrics.fed(UPTIME).set_function(lambda: self.clock() - self.started_at)
        if log_dir is not None:
            metrics.fed(DISK_USAGE).labels(volume=LOG_VOLUME).set_function(lambda: disk_usage_ratio(log_dir))
        if logger is not None:
            metrics.guard.warn = lambda message: logger.log("WARN", message, event="exporter_series_capped")

    @classmethod
    def from_model(cls, model: Model, registry: CollectorRegistry, *, logger_config: LoggingRuntime | None = None,
                   logger_streams: dict[str, Any] | None = None, clock: Callable[[], float] = time.monotonic,
                   max_series_per_metric: int | None = None, tracing: TracingRuntime | None = None,
                   trace_exporters: dict[str, SpanExporter] | None = None,
                   trace_ids: IdGenerator | None = None) -> Instrumentation:
        """Metrics from the catalogue; with `logger_config`, a StructuredLogger wired to them;
        with `tracing` (enabled), spans sampled and exported as it says (`trace_exporters`
        replaces its exporters, `trace_ids` its id generator: tests and benchmarks)."""
        metrics = MetricSet.from_model(model, registry, max_series_per_metric=max_series_per_metric)
        logger = None
        if logger_config is not None:
            lines, errors = metrics.fed(LOG_LINES), metrics.fed(LOG_WRITE_ERRORS)
            # Every line pays this callback: look the children up once.
            line_counters = {level: lines.labels(level=level) for level in LEVELS}
            for output in {o.type for o in logger_config.outputs}:
                errors.labels(output=output)
            logger = StructuredLogger(logger_config, streams=logger_streams,
                                      on_line=lambda level: line_counters[level].inc(),
                                      on_write_error=lambda output: errors.labels(output=output).inc())
        log_dir = log_directory(logger_config if logger_config is not None else model.runtime.logging)
        tracer = None
        if tracing is not None and tracing.enabled:
            from .tracing.tracer import Tracing

            warn = None
            if logger is not None:
                owned = logger
                warn = lambda message: owned.log("WARN", message, event="trace_export_failed")  # noqa: E731
            rotation = (logger_config or model.runtime.logging).rotation
            tracer = Tracing(tracing, metrics=metrics, warn=warn, exporters=trace_exporters, id_generator=trace_ids,
                             file_rotation=rotation)
        obs = cls(metrics, slow_task_seconds=model.thresholds["slow_task_seconds"], logger=logger,
                  clock=clock, log_dir=log_dir, tracing=tracer)
        obs._owned_logger = logger
        obs._owned_tracing = tracer
        for exporter in model.runtime.tracing.exporters:
            obs.metrics.fed(TRACE_EXPORT_ERRORS).labels(exporter=exporter)
        return obs

    def close(self, trace_flush_seconds: float = 10.0) -> None:
        """Close the tracing and the logger this object built (kept traces exported for at most
        `trace_flush_seconds`, files flushed); the metrics stay readable."""
        if self._owned_tracing is not None:
            self._owned_tracing.shutdown(trace_flush_seconds)
        if self._owned_logger is not None:
            self._owned_logger.close()

    # -- agents ------------------------------------------------------------------------------

    def agent(self, agent_type: str, *, mode: str) -> AgentSession:
        """An agent's life: spawned on enter, shut down on exit."""
        return AgentSession(self, agent_type, mode)

    def agent_error(self, agent_type: str, error_code: str) -> None:
        self.metrics.fed(AGENT_ERRORS).labels(agent_type=agent_type, error_code=error_code).inc()

    def agent_memory(self, agent_type: str, used_bytes: float) -> None:
        self.metrics.fed(AGENT_MEMORY).labels(agent_type=agent_type).set(used_bytes)

    def tokens(self, agent_type: str, model: str, count: int) -> None:
        self.metrics.fed(AGENT_TOKENS).labels(agent_type=agent_type, model=model).inc(count)

    # -- files, MCP, health ------------------------------------------------------------------

    # -- spans of §3.2 around the orchestrator's work --------------------------------------------

    def request(self, request_type: str, *, parallel: bool = False, **attributes: Any) -> RequestScope:
        """A user request: the root span `orchestrator.execute_request` and a new correlation id
        (kept when one is current), both current inside the block."""
        return RequestScope(self, request_type, parallel, attributes)

    def decompose(self, task_count: int | None = None) -> Operation:
        """Planning: `orchestrator.decompose` (set task_count on the block when known at its end)."""
        return Operation(self.tracing, DECOMPOSE, {"task.count": task_count})

    def read_file(self, path: str, *, size_bytes: int | None = None) -> Operation:
        """`agent.read_file`; on exit file_operations_total{operation=read} by outcome."""
        return Operation(self.tracing, READ_FILE, {"file.path": path, "size_bytes": size_bytes},
                         lambda ok: self.file_operation("read", ok=ok))

    def edit_file(self, path: str, *, lines_changed: int | None = None) -> Operation:
        """`agent.edit_file`; on exit file_operations_total{operation=write} by outcome."""
        return Operation(self.tracing, EDIT_FILE, {"file.path": path, "lines_changed": lines_changed},
                         lambda ok: self.file_operation("write", ok=ok))

    def search(self, pattern: str) -> Operation:
        """`agent.search` (set results_count on the block)."""
        return Operation(self.tracing, SEARCH, {"pattern": pattern})

    def mcp_tool(self, plugin: str, tool_name: str, **fields: Any) -> Operation:
        """`mcp.invoke_tool` with the mcp_tool_invoked event inside it."""
        logger = self.logger
        on_enter = None if logger is None else (
            lambda: logger.event("mcp_tool_invoked", plugin=plugin, tool_name=tool_name, **fields))
        return Operation(self.tracing, INVOKE_TOOL, {"plugin": plugin, "tool_name": tool_name}, on_enter=on_enter)

    def llm_call(self, model: str, **attributes: Any) -> Operation:
        """`llm.call`: the LLM phase of task profiles (§4.3)."""
        return Operation(self.tracing, LLM_CALL, {"model": model, **attributes})

    def validate(self, **attributes: Any) -> Operation:
        """`agent.validate`: the validation phase of task profiles (§4.3)."""
        return Operation(self.tracing, VALIDATE, attributes)

    # -- metrics-only calls ------------------------------------------------------------------------

    def file_operation(self, operation: str, *, ok: bool = True) -> None:
        status = SUCCESS if ok else FAILED
        self.metrics.fed(FILE_OPERATIONS).labels(operation=operation, status=status).inc()

    def mcp_tools_available(self, plugin: str, count: int) -> None:
        self.metrics.fed(MCP_TOOLS).labels(plugin=plugin).set(count)

    def mcp_tool_invoked(self, plugin: str, tool_name: str, **fields: Any) -> None:
        # No catalogue metric counts invocations; the event (DEBUG) records them.
        if self.logger is not None:
            self.logger.event("mcp_tool_invoked", plugin=plugin, tool_name=tool_name, **fields)

    def set_health(self, component: str, healthy: bool) -> None:
        self.health.set(component, healthy)

    def trace_export_error(self, exporter: str) -> None:
        self.metrics.fed(TRACE_EXPORT_ERRORS).labels(exporter=exporter).inc()

    # -- batches and teams -------------------------------------------------------------------

    def parallel_batch(self, batch_id: str, task_count: int, *, workers: int | None = None) -> ParallelBatch:
        """Pass the batch in `observers=` of each task run; the efficiency gauge is set on exit."""
        return ParallelBatch(self, batch_id, task_count, workers or task_count)

    def team(self, team_id: str, member_count: int) -> Team:
        return Team(self, team_id, member_count)

    # -- zero series for known label values --------------------------------------------------

    def prepare(self, *, agents: Iterable[str], models: Iterable[str], priorities: Iterable[str],
                spawn_modes: Iterable[str] = (), retry_reasons: Iterable[str] = (),
                error_codes: Iterable[str] = (), file_operations: Iterable[str] = ()) -> None:
        """Create series at zero for label values known in advance (rate() then sees the first
        increment, and a dashboard lists every agent before its first task)."""
        agents, models = tuple(agents), tuple(models)
        self.tasks.prepare(agents, models, tuple(priorities), tuple(retry_reasons))
        fed = self.metrics.fed
        for agent in agents:
            fed(AGENTS_ACTIVE).labels(agent_type=agent)
            for mode in spawn_modes:
                fed(AGENT_SPAWNS).labels(agent_type=agent, mode=mode)
            for model in models:
                fed(AGENT_TOKENS).labels(agent_type=agent, model=model)
            for code in error_codes:
                fed(AGENT_ERRORS).labels(agent_type=agent, error_code=code)
        for operation in file_operations:
            for status in (SUCCESS, FAILED):
                fed(FILE_OPERATIONS).labels(operation=operation, status=status)


class AgentSession:
    """agent_spawn_total and agent_active on enter; agent_shutdown with its completed tasks on exit.
    Pass it in `observers=` of the runs it executes to count them."""

    def __init__(self, obs: Instrumentation, agent_type: str, mode: str):
        self._obs = obs
        self.agent_type = agent_type
        self.mode = mode
        self.tasks_completed = 0
        self._lock = threading.Lock()
        self._active = obs.metrics.fed(AGENTS_ACTIVE).labels(agent_type=agent_type)

    def __enter__(self) -> AgentSession:
        self._obs.metrics.fed(AGENT_SPAWNS).labels(agent_type=self.agent_type, mode=self.mode).inc()
        self._active.inc()
        if self._obs.logger is not None:
            self._obs.logger.event("agent_spawned", agent_type=self.agent_type, mode=self.mode)
        return self

    def task_finished(self, seconds: float, status: str) -> None:
        if status == SUCCESS:
            with self._lock:
                self.tasks_completed += 1

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._active.dec()
        if self._obs.logger is not None:
            self._obs.logger.event("agent_shutdown", agent_type=self.agent_type, tasks_completed=self.tasks_completed)


class ParallelBatch:
    """parallel_batch_start/end; on exit sets parallelism_efficiency to the batch's
    actual speedup (busy time / wall time) over its theoretical one (min(tasks, workers))."""

    def __init__(self, obs: Instrumentation, batch_id: str, task_count: int, workers: int):
        if task_count < 1 or workers < 1:
            raise ValueError(f"{PARALLEL_EFFICIENCY.name}: a batch needs at least one task and one worker, "
                             f"got task_count={task_count}, workers={workers}")
        self._obs = obs
        self.batch_id = batch_id
        self.task_count = task_count
        self.workers = workers
        self.busy_seconds = 0.0
        self.succeeded = self.failed = 0
        self.efficiency: float | None = None
        self._started = 0.0
        self._lock = threading.Lock()
        self._span = Operation(obs.tracing, DISPATCH_BATCH, {"batch.id": batch_id, "batch.size": task_count,
                                                               "workers": workers, "parallel": True})

    def __enter__(self) -> ParallelBatch:
        self._started = self._obs.clock()
        self._span.__enter__()
        if self._obs.logger is not None:
            self._obs.logger.event("parallel_batch_start", batch_id=self.batch_id, task_count=self.task_count,
                                   workers=self.workers)
        return self

    def task_finished(self, seconds: float, status: str) -> None:
        with self._lock:
            self.busy_seconds += seconds
            if status == SUCCESS:
                self.succeeded += 1
            elif status == FAILED:
                self.failed += 1

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        wall = self._obs.clock() - self._started
        theoretical = min(self.task_count, self.workers)
        if wall > 0 and self.busy_seconds > 0:
            # Clocks tick in steps: never report more than the theoretical speedup.
            self.efficiency = min(1.0, self.busy_seconds / wall / theoretical)
            self._obs.metrics.fed(PARALLEL_EFFICIENCY).set(self.efficiency)
        if self._obs.logger is not None:
            self._obs.logger.event("parallel_batch_end", batch_id=self.batch_id, success_count=self.succeeded,
                                   failed_count=self.failed, duration_ms=round(wall * 1000, 3),
                                   efficiency=self.efficiency)
        self._span.set(success_count=self.succeeded, failed_count=self.failed, efficiency=self.efficiency)
        self._span.__exit__(exc_type, exc, tb)


class Team:
    """teams_formed_total and teams_active; team_created / team_shutdown events."""

    def __init__(self, obs: Instrumentation, team_id: str, member_count: int):
        self._obs = obs
        self.team_id = team_id
        self.member_count = member_count
        self._started = 0.0
        self._span = Operation(obs.tracing, TEAM_COORDINATE, {"team.id": team_id, "member_count": member_count})

    def __enter__(self) -> Team:
        self._started = self._obs.clock()
        self._obs.metrics.fed(TEAMS_FORMED).inc()
        self._obs.metrics.fed(TEAMS_ACTIVE).inc()
        self._span.__enter__()  # after what can raise: a span left open would stay current
        if self._obs.logger is not None:
            self._obs.logger.event("team_created", team_id=self.team_id, member_count=self.member_count)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._obs.metrics.fed(TEAMS_ACTIVE).dec()
        if self._obs.logger is not None:
            duration_ms = round((self._obs.clock() - self._started) * 1000, 3)
            self._obs.logger.event("team_shutdown", team_id=self.team_id, duration_ms=duration_ms)
        self._span.__exit__(exc_type, exc, tb)


class RequestScope:
    """`orchestrator.execute_request` with its correlation context (§2.5): the span carries the
    correlation and session ids, and log lines inside carry its trace and span ids."""

    def __init__(self, obs: Instrumentation, request_type: str, parallel: bool, attributes: dict[str, Any]):
        self._obs = obs
        self._attributes = {"request.type": request_type, "parallel": parallel, **attributes}
        self._stack = ExitStack()
        self.operation: Operation | None = None

    def __enter__(self) -> Operation:
        # Each request is a new correlation id (§2.5), in the current session if there is one.
        with ExitStack() as stack:  # unwound if entering fails, handed over if not
            context = stack.enter_context(correlation(correlation_id=new_correlation_id()))
            self._attributes.update({"correlation.id": context.correlation_id, "session.id": context.session_id})
            self.operation = stack.enter_context(Operation(self._obs.tracing, EXECUTE_REQUEST, self._attributes))
            self._stack = stack.pop_all()
        return self.operation

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool | None:
        return self._stack.__exit__(exc_type, exc, tb)
