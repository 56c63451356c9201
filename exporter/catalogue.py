"""Which catalogue metrics the exporter's code updates, by name, checked against the spec at start.

The spec owns every metric's type, help, labels and buckets; the exporter registers them from
there and never restates them. The code must still name the metrics it updates: those names
are here, once. At start `catalogue_problems` checks that each exists with source exporter,
and `selfcheck.label_contract_problems` runs the instrumentation once so that a label the code
sets and the spec lacks is a `file:line:col` error before anything is served.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from prometheus_client import ProcessCollector

from observability.load import Loaded, load
from observability.problems import Problem, SpecError

from .selfcheck import label_contract_problems


@dataclass(frozen=True)
class Feed:
    name: str


# Tasks (§1.1)
TASKS_TOTAL = Feed("orchestrator_tasks_total")
TASKS_ACTIVE = Feed("orchestrator_tasks_active")
TASK_DURATION = Feed("orchestrator_task_duration_seconds")
QUEUE_SIZE = Feed("orchestrator_task_queue_size")
QUEUE_WAIT = Feed("orchestrator_task_queue_wait_seconds")
TASK_RETRIES = Feed("orchestrator_task_retries_total")
SLOW_TASKS = Feed("orchestrator_slow_tasks_total")
# Agents (§1.2)
AGENT_SPAWNS = Feed("orchestrator_agent_spawn_total")
AGENTS_ACTIVE = Feed("orchestrator_agent_active")
AGENT_ERRORS = Feed("orchestrator_agent_errors_total")
AGENT_MEMORY = Feed("orchestrator_agent_memory_bytes")
AGENT_TOKENS = Feed("orchestrator_agent_tokens_total")
# Performance and system health (§1.3, §1.4, §4.4)
PARALLEL_EFFICIENCY = Feed("orchestrator_parallelism_efficiency")
UPTIME = Feed("orchestrator_uptime_seconds")
HEALTH = Feed("orchestrator_health_status")
MCP_TOOLS = Feed("orchestrator_mcp_tools_available")
FILE_OPERATIONS = Feed("orchestrator_file_operations_total")
DISK_USAGE = Feed("orchestrator_disk_usage_ratio")
# Teams (§2.3)
TEAMS_FORMED = Feed("orchestrator_teams_formed_total")
TEAMS_ACTIVE = Feed("orchestrator_teams_active")
# The exporter's own health (§12.4)
EXPORTER_SERIES = Feed("orchestrator_exporter_series")
FOLDED_SAMPLES = Feed("orchestrator_exporter_folded_samples_total")
LOG_LINES = Feed("orchestrator_log_lines_total")
LOG_WRITE_ERRORS = Feed("orchestrator_log_write_errors_total")
TRACE_EXPORT_ERRORS = Feed("orchestrator_trace_export_errors_total")
# Tracing (§3.3, §3.4): tail decisions, bounded pending traces, spans lost on the way out
TRACE_SPANS_DROPPED = Feed("orchestrator_trace_spans_dropped_total")
TRACE_DECISIONS = Feed("orchestrator_trace_decisions_total")
TRACES_EVICTED = Feed("orchestrator_traces_evicted_total")

FEEDS: tuple[Feed, ...] = (
    TASKS_TOTAL, TASKS_ACTIVE, TASK_DURATION, QUEUE_SIZE, QUEUE_WAIT, TASK_RETRIES, SLOW_TASKS,
    AGENT_SPAWNS, AGENTS_ACTIVE, AGENT_ERRORS, AGENT_MEMORY, AGENT_TOKENS,
    PARALLEL_EFFICIENCY, UPTIME, HEALTH, MCP_TOOLS, FILE_OPERATIONS, DISK_USAGE,
    TEAMS_FORMED, TEAMS_ACTIVE,
    EXPORTER_SERIES, FOLDED_SAMPLES, LOG_LINES, LOG_WRITE_ERRORS, TRACE_EXPORT_ERRORS,
    TRACE_SPANS_DROPPED, TRACE_DECISIONS, TRACES_EVICTED,
)


def process_metric_names() -> set[str]:
    """The sample names prometheus_client's process collector gives on this platform."""
    return {s.name for family in ProcessCollector(registry=None).collect() for s in family.samples}


def catalogue_problems(loaded: Loaded) -> list[Problem]:
    metrics = loaded.model.metrics
    problems: list[Problem] = []
    fed = {feed.name for feed in FEEDS}
    for feed in FEEDS:
        metric = metrics.get(feed.name)
        if metric is None:
            problems.append(Problem(("metrics",), f"the exporter feeds {feed.name}, which the catalogue does not define"))
            continue
        if metric.source != "exporter":
            problems.append(Problem(metric.path + ("source",), f"the exporter feeds {feed.name} itself; "
                                                               f"its source must be exporter, not {metric.source}"))
    process_names = process_metric_names()
    for name, metric in metrics.items():
        if metric.source == "exporter" and name not in fed:
            problems.append(Problem(metric.path, "the exporter registers this metric but nothing feeds it; "
                                                 "set it through MetricSet[name] or mark its source", "warning"))
        elif metric.source == "process" and process_names and name not in process_names:
            problems.append(Problem(metric.path + ("source",),
                                    "prometheus-client's process collector does not export this metric; "
                                    f"it gives {', '.join(sorted(process_names))}"))
    if not any(p.level == "error" for p in problems):
        problems += label_contract_problems(loaded.model)
    return problems


def load_for_exporter(path: str | Path, display_name: str | None = None) -> Loaded:
    """`observability.load.load`, then the exporter's own checks, reported the same way."""
    loaded = load(path, display_name=display_name)
    found = catalogue_problems(loaded)
    errors = [loaded.source.format(p) for p in found if p.level == "error"]
    warnings = loaded.warnings + [loaded.source.format(p) for p in found if p.level == "warning"]
    if errors:
        raise SpecError(errors, warnings)
    return replace(loaded, warnings=warnings)
