"""Task profiles (§4.3) computed from a trace's §3.1 document.

Phases are the spans' operation names: planning = orchestrator.decompose, file_reads =
agent.read_file and agent.search, edits = agent.edit_file, validation = agent.validate,
llm_calls = llm.call. A phase's time is the sum of its spans' durations (parallel spans can
sum to more than the wall time). I/O wait is file reads + edits; LLM time is llm_calls.
CPU time is the sum of the `cpu_time_ms` attributes the task spans carry (thread CPU time,
measured by the instrumentation), None when no span measured it. Memory peak is not measured.

Bottlenecks (§4.3): I/O-bound when I/O wait exceeds 50% of the wall time (severity high),
LLM latency when LLM time exceeds 70% (severity medium).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PHASES: dict[str, tuple[str, ...]] = {
    "planning": ("orchestrator.decompose",),
    "file_reads": ("agent.read_file", "agent.search"),
    "edits": ("agent.edit_file",),
    "validation": ("agent.validate",),
    "llm_calls": ("llm.call",),
}
FILE_SPANS = ("agent.read_file", "agent.edit_file", "agent.search")
NETWORK_SPANS = ("mcp.invoke_tool", "llm.call")
TASK_SPAN = "agent.execute_task"
IO_BOUND_SHARE = 0.5
LLM_BOUND_SHARE = 0.7


@dataclass(frozen=True)
class Bottleneck:
    type: str
    severity: str
    suggestion: str


@dataclass
class TaskProfile:
    trace_id: str
    task_id: str | None
    wall_time_ms: float
    cpu_time_ms: float | None
    io_wait_ms: float
    llm_time_ms: float
    file_ops: int
    network_ops: int
    memory_peak_mb: float | None
    breakdown: list[tuple[str, float]]
    bottlenecks: list[Bottleneck] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def identify_bottlenecks(profile: TaskProfile) -> list[Bottleneck]:
    found: list[Bottleneck] = []
    if profile.io_wait_ms > profile.wall_time_ms * IO_BOUND_SHARE:
        found.append(Bottleneck("io_bound", "high", "Consider batching file operations"))
    if profile.llm_time_ms > profile.wall_time_ms * LLM_BOUND_SHARE:
        found.append(Bottleneck("llm_latency", "medium", "Model may be overloaded, consider haiku for simple tasks"))
    return found


def _descendants(spans: list[dict[str, Any]], top: dict[str, Any]) -> list[dict[str, Any]]:
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        children.setdefault(span.get("parentSpanId"), []).append(span)
    found, stack = [top], [top["spanId"]]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child["spanId"])
    return found


def profile_trace(document: dict[str, Any], task_id: str | None = None) -> TaskProfile:
    """The profile of the whole trace (wall time = the root's), or of one task's span subtree.
    ValueError when the trace has no spans or no task span with `task_id`."""
    spans: list[dict[str, Any]] = document.get("spans") or []
    if not spans:
        raise ValueError(f"trace {document.get('traceId')}: has no spans")
    ids = {span["spanId"] for span in spans}
    if task_id is None:
        top = next((s for s in spans if s.get("parentSpanId") not in ids), spans[0])
    else:
        top = next((s for s in spans if s["operationName"] == TASK_SPAN
                    and s.get("attributes", {}).get("task.id") == task_id), None)
        if top is None:
            raise ValueError(f"trace {document.get('traceId')}: no {TASK_SPAN} span for task {task_id}")
    scope = _descendants(spans, top)
    durations: dict[str, float] = {}
    for span in scope:
        durations[span["operationName"]] = durations.get(span["operationName"], 0.0) + (span.get("durationMs") or 0.0)
    breakdown = [(phase, round(sum(durations.get(name, 0.0) for name in names), 3)) for phase, names in PHASES.items()]
    cpu = [s["attributes"]["cpu_time_ms"] for s in scope if "cpu_time_ms" in s.get("attributes", {})]
    phase = dict(breakdown)
    profile = TaskProfile(
        trace_id=document.get("traceId", ""),
        task_id=task_id,
        wall_time_ms=float(top.get("durationMs") or 0.0),
        cpu_time_ms=round(sum(cpu), 3) if cpu else None,
        io_wait_ms=round(durations.get("agent.read_file", 0.0) + durations.get("agent.search", 0.0)
                         + durations.get("agent.edit_file", 0.0), 3),
        llm_time_ms=phase["llm_calls"],
        file_ops=sum(1 for s in scope if s["operationName"] in FILE_SPANS),
        network_ops=sum(1 for s in scope if s["operationName"] in NETWORK_SPANS),
        memory_peak_mb=None,
        breakdown=breakdown,
    )
    profile.bottlenecks = identify_bottlenecks(profile)
    return profile


def find_trace(lines: Iterable[str], trace_id: str) -> dict[str, Any] | None:
    """The §3.1 document of `trace_id` in JSON lines (the file exporter's output); parts of one
    trace written in several lines (late spans) are merged."""
    wanted = trace_id.lower()
    merged: dict[str, Any] | None = None
    for line in lines:
        if wanted not in line:
            continue
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if document.get("traceId") != wanted:
            continue
        if merged is None:
            merged = document
        else:
            merged["spans"].extend(document.get("spans", []))
    return merged


def find_trace_in_file(path: str | Path, trace_id: str) -> dict[str, Any] | None:
    with Path(path).expanduser().open(encoding="utf-8") as lines:
        return find_trace(lines, trace_id)
