"""Sampling of §3.3 as a tail decision over whole traces, with bounded memory.

Every span is recorded (as a light RecordedSpan, see spans.py) because "keep every error trace"
and "keep every trace slower than 5 s" can only be decided once the trace is over. Ended spans
wait in `pending` until their root ends; then the whole trace is kept or dropped together:

1. always kept: a span with status ERROR (`errors`), a root longer than `slower_than_seconds`,
   a critical operation (`critical_operations`: some span has `request.type` or
   `task.priority` equal to 'critical', or `critical` true);
2. otherwise kept with a rate: the first rule whose condition matches; else
   `parallel_operations` when the root has `parallel` true or the trace holds a dispatch batch;
   else `agent_tasks` when the root is an `agent.execute_task`; else `default`.
   The draw is the trace id's low 64 bits against rate * 2^64 (as the SDK's
   TraceIdRatioBased), so the same trace id always gets the same decision.

Condition names are looked up in the root's attributes, then in the other spans' in end order;
`agent` also matches `agent.type`.

Memory: at most `max_traces` traces wait (the oldest is evicted, counted as "cap"), each with
at most `max_spans_per_trace` spans (beyond: the trace is evicted as "span_cap"), and a trace
in which no span has ended for `orphan_timeout_seconds` while its root runs on is evicted as
"orphaned" (its held spans are lost). Spans ending after their trace was decided, or evicted by
a cap, follow that fate (a bounded memo of recent trace ids). An orphaned trace's fate is not
remembered: a root that was only slow ends later and is still decided - a slow trace is kept,
with the spans that ended after the eviction. Orphans are swept as spans end (at most once a
second), so an idle process holds at most `max_traces` of them until the next span ends.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.trace import StatusCode

from observability.spec import PendingTraces, Sampling

from .conditions import Condition, parse
from .spans import UNSET as _UNSET
from .spans import RecordedSpan

ERROR, SLOW, CRITICAL, RATE, DROPPED = "error", "slow", "critical", "rate", "dropped"
DECISIONS = (ERROR, SLOW, CRITICAL, RATE, DROPPED)
CAP, SPAN_CAP, ORPHANED = "cap", "span_cap", "orphaned"
EVICTIONS = (CAP, SPAN_CAP, ORPHANED)

ROOT_NAME = "orchestrator.execute_request"
BATCH_NAME = "orchestrator.dispatch_batch"
TASK_NAME = "agent.execute_task"
_LOW_64 = (1 << 64) - 1
_ERROR = StatusCode.ERROR
_SWEEP_EVERY_SECONDS = 1.0


def _threshold(rate: float) -> int:
    return int(rate * (1 << 64))


def keeps(trace_id: int, rate: float) -> bool:
    """The deterministic draw: the same trace id and rate always give the same answer."""
    return (trace_id & _LOW_64) < _threshold(rate)


def _is_critical(attributes: Any) -> bool:
    if not attributes:
        return False
    return (attributes.get("request.type") == "critical" or attributes.get("task.priority") == "critical"
            or attributes.get("critical") is True)


class SamplingPolicy:
    """The decision for one finished trace, from the spec's `sampling` section."""

    def __init__(self, sampling: Sampling):
        self.sampling = sampling
        self.rules: tuple[tuple[Condition, float], ...] = tuple((parse(r.condition), r.rate) for r in sampling.rules)
        always = sampling.always_sample
        self._errors, self._critical = always.errors, always.critical_operations
        self._slow_ns = int(always.slower_than_seconds * 1e9) if always.slower_than_seconds is not None else None
        # Rates as thresholds on the trace id's low 64 bits, computed once (decide runs per trace).
        self._rule_thresholds = tuple((condition, _threshold(rate)) for condition, rate in self.rules)
        parallel, tasks = sampling.parallel_operations, sampling.agent_tasks
        self._parallel = None if parallel is None else _threshold(parallel)
        self._tasks = None if tasks is None else _threshold(tasks)
        self._default = _threshold(sampling.default)

    def rate_for(self, root: RecordedSpan, spans: Sequence[RecordedSpan]) -> float:
        """The rate the trace is drawn with (when no always-keep applies)."""
        return self._threshold_for(root, spans) / (1 << 64)

    def _threshold_for(self, root: RecordedSpan, spans: Sequence[RecordedSpan]) -> int:
        if self._rule_thresholds:
            def lookup(name: str) -> Any:
                for span in (root, *spans):
                    attributes = span.attributes or {}
                    value = attributes.get(name)
                    if value is None and name == "agent":
                        value = attributes.get("agent.type")
                    if value is not None:
                        return value
                return None

            for condition, threshold in self._rule_thresholds:
                if condition.matches(lookup):
                    return threshold
        if self._parallel is not None and (root.attributes.get("parallel") is True
                                           or (spans and any(s.name == BATCH_NAME for s in spans))):
            return self._parallel
        if self._tasks is not None and root.name == TASK_NAME:
            return self._tasks
        return self._default

    def decide(self, root: RecordedSpan, spans: Sequence[RecordedSpan]) -> str:
        """One of DECISIONS; everything but DROPPED keeps the trace. `root` has ended."""
        if self._errors and ((root.status is not _UNSET and root.status.status_code is _ERROR)
                             or (spans and any(s.status.status_code is _ERROR for s in spans))):
            return ERROR
        if self._slow_ns is not None and root.end_time - root.start_time > self._slow_ns:  # type: ignore[operator]
            return SLOW
        attributes = root.attributes  # _is_critical(root.attributes), inlined: this runs for every trace
        if self._critical and (attributes.get("request.type") == "critical"
                               or attributes.get("task.priority") == "critical" or attributes.get("critical") is True
                               or (spans and any(_is_critical(s.attributes) for s in spans))):
            return CRITICAL
        return RATE if (root.trace_id & _LOW_64) < self._threshold_for(root, spans) else DROPPED


class _Pending:
    __slots__ = ("last_seen", "spans")

    def __init__(self, last_seen: float):
        self.last_seen = last_seen  # when a span of the trace last ended
        self.spans: list[RecordedSpan] = []


class TailSampler:
    """Holds ended spans per trace until the root ends, then hands kept traces to `deliver`.

    `count_decision[decision]()` and `on_evicted(reason)` feed the metrics (a mapping rather than
    a function of the decision: one call less per trace); `deliver(spans, decision)`
    must not block (the export sink queues). `clock` (monotonic seconds) times the orphans.
    """

    def __init__(self, policy: SamplingPolicy, limits: PendingTraces, *,
                 deliver: Callable[[list[RecordedSpan], str], None],
                 count_decision: Mapping[str, Callable[[], None]] | None = None,
                 on_evicted: Callable[[str], None] = lambda reason: None,
                 clock: Callable[[], float] = time.monotonic):
        self.policy = policy
        self._max_traces = limits.max_traces
        self._max_spans = limits.max_spans_per_trace
        self._orphan_after = limits.orphan_timeout_seconds
        self._deliver = deliver
        self._count_decision = count_decision or dict.fromkeys(DECISIONS, lambda: None)
        self._on_evicted = on_evicted
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: OrderedDict[int, _Pending] = OrderedDict()  # least recently active first
        self._fates: OrderedDict[int, bool] = OrderedDict()  # decided or evicted: kept?
        self._next_sweep = clock() + _SWEEP_EVERY_SECONDS

    @property
    def pending_traces(self) -> int:
        return len(self._pending)

    @property
    def pending_spans(self) -> int:
        with self._lock:
            return sum(len(p.spans) for p in self._pending.values())

    def on_end(self, span: RecordedSpan) -> None:
        trace_id = span.trace_id
        now = self._clock()
        evicted: list[str] = []
        decision = None
        with self._lock:
            fate = self._fates.get(trace_id)
            if fate is None:
                if span.is_root:
                    pending = self._pending.pop(trace_id, None)
                    children = pending.spans if pending is not None else []
                    # The policy only reads the spans: deciding under the lock costs less than taking it twice.
                    decision = self.policy.decide(span, children)
                    fates = self._fates
                    fates[trace_id] = decision != DROPPED
                    if len(fates) > self._max_traces:
                        fates.popitem(last=False)
                else:
                    self._hold(span, trace_id, now, evicted)
            if now >= self._next_sweep:
                evicted += self._sweep_orphans(now)
        if evicted:
            for reason in evicted:
                self._on_evicted(reason)
        if decision is not None:
            self._count_decision[decision]()
            if decision != DROPPED:
                children.append(span)
                self._deliver(children, decision)
        elif fate:  # a straggler follows its trace's decision
            self._deliver([span], RATE)

    def _hold(self, span: RecordedSpan, trace_id: int, now: float, evicted: list[str]) -> None:
        """Called under the lock: `span` waits for its root, within the caps."""
        pending = self._pending.get(trace_id)
        if pending is None:
            if len(self._pending) >= self._max_traces:
                oldest, _ = self._pending.popitem(last=False)
                self._remember(oldest, False)
                evicted.append(CAP)
            pending = self._pending[trace_id] = _Pending(now)
        else:  # activity: the trace is not an orphan yet, and moves to the back of the sweep order
            pending.last_seen = now
            self._pending.move_to_end(trace_id)
        if len(pending.spans) >= self._max_spans:
            del self._pending[trace_id]
            self._remember(trace_id, False)
            evicted.append(SPAN_CAP)
        else:
            pending.spans.append(span)

    def _remember(self, trace_id: int, kept: bool) -> None:
        """Called under the lock; bounded like the pending traces."""
        self._fates[trace_id] = kept
        if len(self._fates) > self._max_traces:
            self._fates.popitem(last=False)

    def _sweep_orphans(self, now: float) -> list[str]:
        """Called under the lock; the least recently active traces come first, so the sweep stops
        early. No fate is remembered (see the module docstring)."""
        self._next_sweep = now + _SWEEP_EVERY_SECONDS
        evicted: list[str] = []
        deadline = now - self._orphan_after
        while self._pending:
            trace_id, pending = next(iter(self._pending.items()))
            if pending.last_seen > deadline:
                break
            del self._pending[trace_id]
            evicted.append(ORPHANED)
        return evicted

    def sweep(self) -> None:
        """Evict orphans now (also done at most once a second as spans end)."""
        with self._lock:
            evicted = self._sweep_orphans(self._clock())
        for reason in evicted:
            self._on_evicted(reason)
