"""Demo scenarios: which alerts each one makes fire on purpose, and the workload that does it.

SCENARIO_ALERTS is the one table of scenario -> alert names (a test checks each name against
the spec). Workloads are derived from the spec's thresholds, so a changed threshold moves the
scenario with it: nothing here repeats a threshold's value.

Time: durations, arrivals and memory are in simulated seconds and bytes; the demo divides
waits by `speed`. Rates that alerts compute with rate() are per real second, so the error
burst of error-spike is paced in real time, whatever the speed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from observability.model import Model

SCENARIO_ALERTS: dict[str, tuple[str, ...]] = {
    "normal": (),
    "error-spike": ("task_failure_rate_critical", "agent_error_spike"),
    "backlog": ("queue_backlog",),
    "slow": ("high_latency_p95", "slow_task_detected"),
    "memory": ("memory_usage_high",),
    "down": ("orchestrator_down",),
}

AGENTS: tuple[str, ...] = ("Coder", "Analyzer", "DevOps", "Architect")
MODELS: tuple[str, ...] = ("sonnet", "haiku")
PRIORITIES: tuple[str, ...] = ("high", "normal", "low")  # in the order the queue serves them
ERROR_CODES: tuple[str, ...] = ("E_TIMEOUT", "E_TOOL", "E_RATE_LIMIT", "E_CONTEXT")
RETRYABLE: dict[str, str] = {"E_RATE_LIMIT": "rate_limit", "E_TIMEOUT": "timeout"}  # error code -> retry reason
MCP_PLUGINS: dict[str, tuple[str, ...]] = {
    "filesystem": ("read_file", "write_file", "list_directory", "search_files"),
    "github": ("get_issue", "create_pull_request", "list_commits"),
    "memory": ("store", "recall"),
}
FILE_OPERATIONS: tuple[str, ...] = ("read", "write")
AGENTS_PER_TYPE = 2
# The known silence (observability.yaml, suppressions) mutes memory_usage_high for Architect:
# the memory scenario loads another agent so that its alert reaches the receivers.
MEMORY_HOG = "Coder"


@dataclass(frozen=True)
class Workload:
    task_seconds: tuple[float, float]   # simulated duration range of one task
    load: float                         # arrivals over capacity: below 1 keeps up, above 1 builds a queue
    failure_ratio: float                # chance an attempt fails
    agent_errors_per_second: float      # agent errors per agent type per REAL second
    memory_bytes: float                 # typical agent memory
    memory_hog_bytes: float             # memory of MEMORY_HOG
    queue_cap: int                      # the producer waits while this many tasks are queued
    exporter_stops_after: float | None  # real seconds after which /metrics stops answering


def workload(scenario: str, model: Model) -> Workload:
    if scenario not in SCENARIO_ALERTS:
        raise ValueError(f"scenario: {scenario!r} is not one of {', '.join(SCENARIO_ALERTS)}")
    t = model.thresholds
    target_s = t["latency_p95_target_ms"] / 1000
    normal = Workload(
        # Comfortably inside the §4.1 targets: p95 below the latency target, failures at half
        # the allowed share, agents 60 % busy, memory at a third of the warning level.
        task_seconds=(0.2 * target_s, 0.6 * target_s),
        load=0.6,
        failure_ratio=(1 - t["task_success_ratio_target"]) / 2,
        agent_errors_per_second=t["agent_error_rate_max"] / 10,
        memory_bytes=t["memory_warning_bytes"] / 3,
        memory_hog_bytes=t["memory_warning_bytes"] / 3,
        queue_cap=int(t["queue_backlog_max"]),
        exporter_stops_after=None,
    )
    if scenario == "error-spike":
        return replace(normal, failure_ratio=min(0.9, 2.4 * t["task_failure_ratio_critical"]),
                        agent_errors_per_second=3 * t["agent_error_rate_max"])
    if scenario == "backlog":
        return replace(normal, load=3.0, queue_cap=int(2 * t["queue_backlog_max"]))
    if scenario == "slow":
        low = max(t["slow_task_seconds"], t["latency_p95_max_ms"] / 1000)
        return replace(normal, task_seconds=(1.2 * low, 2.0 * low))
    if scenario == "memory":
        # Above the warning level, below the critical one: the MEDIUM alert, not the page.
        between = (t["memory_warning_bytes"] + t["memory_critical_bytes"]) / 2
        return replace(normal, memory_hog_bytes=between)
    if scenario == "down":
        # Answer two scrapes so Prometheus has seen the target up, then stop answering.
        return replace(normal, exporter_stops_after=2 * _seconds(model.scrape.interval))
    return normal


_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def _seconds(duration: str) -> float:
    """A Prometheus duration such as 1m30s in seconds (the spec has validated its form)."""
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(duration))
