"""The instrumentation API the orchestrator calls, in its words.

    registry = CollectorRegistry()
    obs = Instrumentation.from_model(model, registry, logger_config=model.runtime.logging)
    with obs.agent("Coder", mode="persistent") as coder:        # agent_spawned ... agent_shutdown
        queued = obs.tasks.enqueue("task-1", agent="Coder", priority="high")
        with obs.tasks.run(queued, model="sonnet", observers=(coder,)):
            obs.tokens("Coder", "sonnet", 1200)
            obs.file_operation("read")
    obs.close()

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
from pathlib import Path
from types import TracebackType
from typing import Any

from prometheus_client import CollectorRegistry

from observability.model import Model
from observability.spec import LoggingRuntime

from .catalogue import (AGENT_ERRORS, AGENT_MEMORY, AGENT_SPAWNS, AGENT_TOKENS, AGENTS_ACTIVE, DISK_USAGE,
                        FILE_OPERATIONS, HEALTH, LOG_LINES, LOG_WRITE_ERRORS, MCP_TOOLS, PARALLEL_EFFICIENCY,
                        TEAMS_ACTIVE, TEAMS_FORMED, TRACE_EXPORT_ERRORS, UPTIME)
from .health import HealthBoard
from .logs import LEVELS, StructuredLogger
from .metrics import MetricSet
from .tasks import FAILED, SUCCESS, EventLogger, TaskTracker

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
                 clock: Callable[[], float] = time.monotonic, log_dir: Path | None = None):
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
        self.started_at = clock()
        self.tasks = TaskTracker(metrics, slow_task_seconds=slow_task_seconds, clock=clock, logger=logger)
        self.health = HealthBoard(metrics.fed(HEALTH))
        self._owned_logger: StructuredLogger | None = None
        metrics.fed(UPTIME).set_function(lambda: self.clock() - self.started_at)
        if log_dir is not None:
            metrics.fed(DISK_USAGE).labels(volume=LOG_VOLUME).set_function(lambda: disk_usage_ratio(log_dir))
        if logger is not None:
            metrics.guard.warn = lambda message: logger.log("WARN", message, event="exporter_series_capped")

    @classmethod
    def from_model(cls, model: Model, registry: CollectorRegistry, *, logger_config: LoggingRuntime | None = None,
                   logger_streams: dict[str, Any] | None = None, clock: Callable[[], float] = time.monotonic,
                   max_series_per_metric: int | None = None) -> Instrumentation:
        """Metrics from the catalogue; with `logger_config`, a StructuredLogger wired to them."""
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
        obs = cls(metrics, slow_task_seconds=model.thresholds["slow_task_seconds"], logger=logger,
                  clock=clock, log_dir=log_dir)
        obs._owned_logger = logger
        obs.metrics.fed(TRACE_EXPORT_ERRORS).labels(exporter=model.runtime.tracing.exporter)
        return obs

    def close(self) -> None:
        """Close the logger this object built (files flushed); the metrics stay readable."""
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

    def __enter__(self) -> ParallelBatch:
        self._started = self._obs.clock()
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


class Team:
    """teams_formed_total and teams_active; team_created / team_shutdown events."""

    def __init__(self, obs: Instrumentation, team_id: str, member_count: int):
        self._obs = obs
        self.team_id = team_id
        self.member_count = member_count
        self._started = 0.0

    def __enter__(self) -> Team:
        self._started = self._obs.clock()
        self._obs.metrics.fed(TEAMS_FORMED).inc()
        self._obs.metrics.fed(TEAMS_ACTIVE).inc()
        if self._obs.logger is not None:
            self._obs.logger.event("team_created", team_id=self.team_id, member_count=self.member_count)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._obs.metrics.fed(TEAMS_ACTIVE).dec()
        if self._obs.logger is not None:
            duration_ms = round((self._obs.clock() - self._started) * 1000, 3)
            self._obs.logger.event("team_shutdown", team_id=self.team_id, duration_ms=duration_ms)
