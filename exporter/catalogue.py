"""What the exporter feeds, stated once, and checked against the spec's catalogue at start.

The spec owns every metric's type, help, labels and buckets; the exporter registers them from
there. The code still has to know which metric a task completion updates and with which label
names, so that knowledge lives here, one line per metric, and `check_catalogue` turns any
disagreement with the spec into `file:line:col` errors before anything is served.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from prometheus_client import ProcessCollector

from observability.load import Loaded, load
from observability.problems import Problem, SpecError


@dataclass(frozen=True)
class Feed:
    name: str
    type: str
    labels: tuple[str, ...] = ()


# Tasks (§1.1)
TASKS_TOTAL = Feed("orchestrator_tasks_total", "counter", ("agent", "status", "model"))
TASKS_ACTIVE = Feed("orchestrator_tasks_active", "gauge", ("agent",))
TASK_DURATION = Feed("orchestrator_task_duration_seconds", "histogram", ("agent", "status"))
QUEUE_SIZE = Feed("orchestrator_task_queue_size", "gauge", ("priority",))
QUEUE_WAIT = Feed("orchestrator_task_queue_wait_seconds", "histogram", ("priority",))
TASK_RETRIES = Feed("orchestrator_task_retries_total", "counter", ("agent", "reason"))
SLOW_TASKS = Feed("orchestrator_slow_tasks_total", "counter", ("agent",))
# Agents (§1.2)
AGENT_SPAWNS = Feed("orchestrator_agent_spawn_total", "counter", ("agent_type", "mode"))
AGENTS_ACTIVE = Feed("orchestrator_agent_active", "gauge", ("agent_type",))
AGENT_ERRORS = Feed("orchestrator_agent_errors_total", "counter", ("agent_type", "error_code"))
AGENT_MEMORY = Feed("orchestrator_agent_memory_bytes", "gauge", ("agent_type",))
AGENT_TOKENS = Feed("orchestrator_agent_tokens_total", "counter", ("agent_type", "model"))
# Performance and system health (§1.3, §1.4, §4.4)
PARALLEL_EFFICIENCY = Feed("orchestrator_parallelism_efficiency", "gauge")
UPTIME = Feed("orchestrator_uptime_seconds", "gauge")
HEALTH = Feed("orchestrator_health_status", "gauge", ("component",))
MCP_TOOLS = Feed("orchestrator_mcp_tools_available", "gauge", ("plugin",))
FILE_OPERATIONS = Feed("orchestrator_file_operations_total", "counter", ("operation", "status"))
DISK_USAGE = Feed("orchestrator_disk_usage_ratio", "gauge", ("volume",))
# Teams (§2.3)
TEAMS_FORMED = Feed("orchestrator_teams_formed_total", "counter")
TEAMS_ACTIVE = Feed("orchestrator_teams_active", "gauge")
# The exporter's own health (§12.4)
EXPORTER_SERIES = Feed("orchestrator_exporter_series", "gauge", ("metric",))
FOLDED_SAMPLES = Feed("orchestrator_exporter_folded_samples_total", "counter", ("metric",))
LOG_LINES = Feed("orchestrator_log_lines_total", "counter", ("level",))
LOG_WRITE_ERRORS = Feed("orchestrator_log_write_errors_total", "counter", ("output",))
TRACE_EXPORT_ERRORS = Feed("orchestrator_trace_export_errors_total", "counter", ("exporter",))

FEEDS: tuple[Feed, ...] = (
    TASKS_TOTAL, TASKS_ACTIVE, TASK_DURATION, QUEUE_SIZE, QUEUE_WAIT, TASK_RETRIES, SLOW_TASKS,
    AGENT_SPAWNS, AGENTS_ACTIVE, AGENT_ERRORS, AGENT_MEMORY, AGENT_TOKENS,
    PARALLEL_EFFICIENCY, UPTIME, HEALTH, MCP_TOOLS, FILE_OPERATIONS, DISK_USAGE,
    TEAMS_FORMED, TEAMS_ACTIVE,
    EXPORTER_SERIES, FOLDED_SAMPLES, LOG_LINES, LOG_WRITE_ERRORS, TRACE_EXPORT_ERRORS,
)


def _words(labels: tuple[str, ...]) -> str:
    return ", ".join(labels) if labels else "no labels"


def process_metric_names() -> set[str]:
    """The sample names prometheus_client's process collector gives on this platform."""
    return {s.name for family in ProcessCollector(registry=None).collect() for s in family.samples}


def catalogue_problems(loaded: Loaded) -> list[Problem]:
    metrics = loaded.model.metrics
    problems: list[Problem] = []
    fed = {feed.name for feed in FEEDS}
    for feed in FEEDS:
        metric = metrics.get(feed.name)
        what = f"a {feed.type} with {_words(feed.labels)}"
        if metric is None:
            problems.append(Problem(("metrics",), f"the exporter feeds {feed.name} ({what}), "
                                                  "which the catalogue does not define"))
            continue
        if metric.source != "exporter":
            problems.append(Problem(metric.path + ("source",), f"the exporter feeds {feed.name} itself; "
                                                               f"its source must be exporter, not {metric.source}"))
        if metric.type != feed.type:
            problems.append(Problem(metric.path + ("type",), f"the exporter feeds {feed.name} as {what}, "
                                                             f"not a {metric.type}"))
        if set(metric.labels) != set(feed.labels):
            problems.append(Problem(metric.path + ("labels",), f"the exporter sets {_words(feed.labels)} on "
                                                               f"{feed.name}, not {_words(metric.labels)}"))
    process_names = process_metric_names()
    for name, metric in metrics.items():
        if metric.source == "exporter" and name not in fed:
            problems.append(Problem(metric.path, "the exporter registers this metric but nothing feeds it; "
                                                 "set it through MetricSet[name] or mark its source", "warning"))
        elif metric.source == "process" and process_names and name not in process_names:
            problems.append(Problem(metric.path + ("source",),
                                    "prometheus-client's process collector does not export this metric; "
                                    f"it gives {', '.join(sorted(process_names))}"))
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
