"""Demo scenarios: which alerts each one makes fire on purpose, and the workload that does it.

SCENARIO_ALERTS is the one table of scenario -> alert names (a test checks each name against
the spec). Workloads are derived from the spec's thresholds, so a changed threshold moves the
scenario with it: nothing here repeats a threshold's value.

Time: durations, arrivals and memory are in simulated seconds and bytes; the demo divides
waits by `speed`. Rates that alerts compute with rate() are per real second, so the error
burst of error-spike is paced in real time, whatever the speed.

A scenario starts with the demo's process. Only the SWITCHED scenarios can start later: when the
demo is given a start file (`orchestrator demo --start-file`, which observability.native_stack
passes for `hold=True`),
their demo runs the normal workload until that file exists and then switches - `down` must have
been seen up before it stops answering, and error-spike's opening burst must come after a sample
of the counters at their normal level, or rate() does not see it. The other scenarios' conditions
are averages over a range window ([5m] percentiles, throughput, queue wait, efficiency, CPU): after
a normal phase they would hold only once the window has drained of it, minutes later, so they run
from the process's start, held or not, and their conditions hold from Prometheus's first scrapes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from observability.model import Model
from observability.promql import parse, range_nodes, selector_names

SCENARIO_ALERTS: dict[str, tuple[str, ...]] = {
    "normal": (),
    "error-spike": ("task_failure_rate_critical", "agent_error_spike", "task_success_rate_low"),
    "backlog": ("queue_backlog", "queue_wait_high", "agent_utilization_high"),
    "slow": ("high_latency_p95", "slow_task_detected"),
    "memory": ("memory_usage_high",),
    "down": ("orchestrator_down",),
    # The scheduler hangs: two components report unhealthy, agents sit idle, work piles up.
    "stall": ("component_unhealthy", "task_throughput_low", "queue_backlog", "agent_utilization_low"),
    # The exporter's own process holds real memory and file descriptors; the log volume fills up.
    "resources": ("process_memory_high", "process_open_fds_high", "disk_usage_high"),
    # Parallel batches run their tasks one after another.
    "serial-batches": ("low_parallel_efficiency",),
    # The exporter process really uses CPU: one thread, duty-cycled between the warning and the
    # critical ratio of a core (exporter.demo's CPU burner), from the process's start. Over the
    # rule's [5m] window that is 5 minutes of burning plus its 10m `for`: the live tests and the
    # latency benchmark run it on a stack whose launcher divides the range windows of this alert
    # (native_stack.Timings.range_divisor) as it divides every `for`.
    "cpu": ("process_cpu_high",),
}

# The scenarios that wait for a held demo's start file (see the module docstring).
SWITCHED: tuple[str, ...] = ("down", "error-spike")
# The error-spike burst: that many times the events needed to pass the limit, against rate()'s
# extrapolation and a window that holds the normal minutes before.
BURST_MARGIN = 1.5

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
# the memory scenario loads Coder, whose alert reaches the receivers, and Architect, whose alert
# fires and is silenced.
MEMORY_HOG = "Coder"
MEMORY_HOGS: tuple[str, ...] = (MEMORY_HOG, "Architect")
# Components the stall scenario reports unhealthy (one alert group, two alerts).
STALLED_COMPONENTS: tuple[str, ...] = ("scheduler", "queue")
BATCH_SIZE = 3


@dataclass(frozen=True)
class Workload:
    task_seconds: tuple[float, float]   # simulated duration range of one task
    load: float                         # arrivals over capacity: below 1 keeps up, above 1 builds a queue
    failure_ratio: float                # chance an attempt fails
    agent_errors_per_second: float      # agent errors per agent type per REAL second
    memory_bytes: float                 # typical agent memory
    memory_hog_bytes: float             # memory of MEMORY_HOG
    queue_cap: int                      # the producer waits while this many tasks are queued
    exporter_stops_after: float | None  # real seconds after the start after which /metrics stops answering
                                        # (a held demo, already scraped, stops at its scenario's start)
    unhealthy: tuple[str, ...] = ()     # components reported unhealthy
    agents_take_tasks: bool = True      # False: agents sit idle, parallel batches do not run
    process_extra_bytes: int = 0        # real memory the exporter process holds
    process_extra_fds: int = 0          # real file descriptors the exporter process holds
    disk_usage_ratio: float | None = None  # simulated fill of the log volume (None: measured)
    batch_workers: int = BATCH_SIZE     # tasks of a parallel batch that really run at once
    cpu_ratio: float | None = None      # CPU (of one core) the exporter process really uses
    burst_failure_ratio: float | None = None  # at the start: tasks fail at once until this share of all
    burst_agent_errors: int = 0         # at the start: errors per agent type at once
    opening_tasks: int = 0              # at the start: tasks queued at once for each agent type


def window_seconds(model: Model, alert: str) -> float:
    """The longest range window behind the alert's expression, through the recording rules it
    reads (orchestrator:agent_errors:rate5m -> rate(...[5m]) -> 300): a burst of that many seconds'
    worth of events at the limit moves rate() past it at the first scrape that sees it."""
    exprs = [rule.expr for a in model.alerts if a.name == alert for rule in a.rules]  # escalations too
    recorded = {rule.record: rule.expr for rule in model.recording_rules}

    def longest(text: str) -> float:
        tree = parse(text)
        windows = [node.range.total_seconds() for node in range_nodes(tree)]
        windows += [longest(recorded[name]) for name in set(selector_names(tree)) if name in recorded]
        return max(windows, default=0.0)

    return max(longest(expr) for expr in exprs)


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
        # Errors at ten times the limit: rate(...[5m]) on a Prometheus younger than the window is
        # increase / 300 s, so the alert's rate passes the limit after 30 s instead of 100 s at 3x.
        # It opens with a burst: tasks fail at once until the failed share of every task finished
        # so far is the spike's (the window still holds the normal ones), and each agent type
        # reports BURST_MARGIN x the errors that take rate(...[5m]) past its limit.
        failure = min(0.9, 2.4 * t["task_failure_ratio_critical"])
        return replace(normal, failure_ratio=failure, agent_errors_per_second=10 * t["agent_error_rate_max"],
                       burst_failure_ratio=failure,
                       burst_agent_errors=math.ceil(BURST_MARGIN * window_seconds(model, "agent_error_spike")
                                                    * t["agent_error_rate_max"]))
    if scenario == "backlog":
        # Three times what the agents manage: the queue stays at twice the backlog limit, each task
        # waits for the ones ahead of it (more than queue_wait_max_seconds) and agents never idle.
        return replace(normal, load=3.0, queue_cap=int(2 * t["queue_backlog_max"]))
    if scenario == "slow":
        # From just past the lower limit (the p95 one) to three times the higher (slow_task_seconds),
        # and a task for every agent at once: tasks past the p95 limit then finish from about the
        # earliest moment they can, and steadily, not in waves - Prometheus, just started, must see
        # the counters rise between two of its scrapes (slow_task_detected, the p95's bucket rates).
        p95_limit, slow = t["latency_p95_max_ms"] / 1000, t["slow_task_seconds"]
        return replace(normal, task_seconds=(1.1 * min(p95_limit, slow), 3.0 * max(p95_limit, slow)),
                       opening_tasks=AGENTS_PER_TYPE)
    if scenario == "memory":
        # Above the warning level, below the critical one: the MEDIUM alert, not the page.
        between = (t["memory_warning_bytes"] + t["memory_critical_bytes"]) / 2
        return replace(normal, memory_hog_bytes=between)
    if scenario == "stall":
        # No task finishes while the queue holds twice the backlog limit: throughput 0, agents idle.
        return replace(normal, unhealthy=STALLED_COMPONENTS, agents_take_tasks=False,
                       queue_cap=int(2 * t["queue_backlog_max"]))
    if scenario == "resources":
        # Halfway between the warning and the critical levels: the MEDIUM alerts, not the pages.
        return replace(normal,
                       process_extra_bytes=int((t["memory_warning_bytes"] + t["memory_critical_bytes"]) / 2),
                       process_extra_fds=int((t["open_fds_warning"] + t["open_fds_critical"]) / 2),
                       disk_usage_ratio=(t["disk_warning_ratio"] + t["disk_critical_ratio"]) / 2)
    if scenario == "serial-batches":
        # Efficiency ~ workers / BATCH_SIZE: the most workers that stay below the alert's minimum.
        workers = max(1, math.ceil(BATCH_SIZE * t["parallel_efficiency_min"]) - 1)
        return replace(normal, batch_workers=workers)
    if scenario == "down":
        # Answer two scrapes so Prometheus has seen the target up, then stop answering (a held
        # demo has been scraped already: it stops at its start).
        return replace(normal, exporter_stops_after=2 * _seconds(model.scrape.interval))
    if scenario == "cpu":
        # Halfway between the warning and the critical ratio: the MEDIUM alert, not the page.
        return replace(normal, cpu_ratio=(t["cpu_warning_ratio"] + t["cpu_critical_ratio"]) / 2)
    return normal


_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def _seconds(duration: str) -> float:
    """A Prometheus duration such as 1m30s in seconds (the spec has validated its form)."""
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(duration))
