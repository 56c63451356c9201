"""The task lifecycle in the orchestrator's words: queue, dispatch, run, finish, retry.

    queued = tasks.enqueue("task-100", agent="Coder", priority="high")
    with tasks.run(queued, model="sonnet") as run:     # leaves the queue, starts
        ...                                            # an exception marks it failed
        run.fail("E_TIMEOUT")                          # or fail explicitly
        again = run.retry("timeout")                   # or end this attempt and queue it again

Metrics: task_queue_size{priority} and task_queue_wait_seconds{priority} around the queue;
tasks_active{agent} while running; at the end tasks_total{agent,status,model} (final outcomes
only: success or failed), task_duration_seconds{agent,status} (every attempt; a retried one
as status="retried"), slow_tasks_total{agent} past the slow threshold, and
task_retries_total{agent,reason} for retries. Events (with a logger): task_created,
task_dispatched, task_started, task_completed / task_failed, task_retried; a running task is
also the correlation context of the code inside it. With tracing, a run is an
`agent.execute_task` span (agent.type, model, task.id, task.priority, task.attempt, the thread
CPU time it used as cpu_time_ms; ERROR when the attempt failed) whose parent is the span that
was current where the task was enqueued, in whichever thread it runs.

Speed: children are looked up once per (priority) and per (agent, model) and kept in small
bundles; each phase makes its updates under one acquire of the metric set's lock.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Status, StatusCode

from .catalogue import QUEUE_SIZE, QUEUE_WAIT, SLOW_TASKS, TASK_DURATION, TASK_RETRIES, TASKS_ACTIVE, TASKS_TOTAL
from .context import CorrelationContext, correlation, current
from .children import FoldedChild
from .metrics import MetricSet
from .tracing.operations import EXECUTE_TASK

if TYPE_CHECKING:
    from .tracing.tracer import Tracing

SUCCESS, FAILED, RETRIED = "success", "failed", "retried"


class EventLogger(Protocol):
    """What the instrumentation needs of exporter.logs.StructuredLogger."""

    def event(self, name: str, message: str | None = None, **fields: Any) -> None: ...

    def log(self, level: str, message: str, *, event: str | None = None, **fields: Any) -> None: ...


class TaskObserver(Protocol):
    """Told when a run ends (a parallel batch, an agent counting its completed tasks)."""

    def task_finished(self, seconds: float, status: str) -> None: ...


class _Queue:
    __slots__ = ("priority", "size", "wait")

    def __init__(self, priority: str, size: Any, wait: Any):
        self.priority, self.size, self.wait = priority, size, wait


class _Lane:
    """The children one (agent, model) pair updates, looked up once."""

    __slots__ = ("agent", "model", "active", "slow", "outcomes")

    def __init__(self, agent: str, model: str, active: Any, slow: Any,
                 outcomes: dict[str, tuple[Any | None, Any]]):
        self.agent, self.model, self.active, self.slow = agent, model, active, slow
        self.outcomes = outcomes  # status -> (tasks_total child or None, duration child)


def _folds(*children: Any) -> bool:
    return any(isinstance(child, FoldedChild) for child in children)


class QueuedTask:
    """A task waiting in the queue; `attempt` is 1 for the first run, 2 after one retry."""

    __slots__ = ("task_id", "agent", "priority", "attempt", "enqueued_at", "_queue", "_left", "_context",
                 "_trace_context")

    def __init__(self, task_id: str, agent: str, priority: str, attempt: int, enqueued_at: float, queue: _Queue,
                 context: CorrelationContext | None = None, trace_context: Any = None):
        self.task_id = task_id
        self.agent = agent
        self.priority = priority
        self.attempt = attempt
        self.enqueued_at = enqueued_at
        self._queue = queue
        self._left = False
        # The enqueuer's correlation context: the run continues it in whichever thread it runs.
        self._context = context
        self._trace_context = trace_context  # the enqueuer's OpenTelemetry context: the run's parent span

    def __repr__(self) -> str:
        return f"QueuedTask({self.task_id!r}, agent={self.agent!r}, priority={self.priority!r}, attempt={self.attempt})"


class TaskTracker:
    def __init__(self, metrics: MetricSet, *, slow_task_seconds: float, clock: Callable[[], float],
                 logger: EventLogger | None = None, tracing: Tracing | None = None):
        self._lock = metrics.lock
        self._tracing = tracing
        self._clock = clock
        self._slow = float(slow_task_seconds)
        self._logger = logger
        self._total = metrics.fed(TASKS_TOTAL)
        self._active = metrics.fed(TASKS_ACTIVE)
        self._duration = metrics.fed(TASK_DURATION)
        self._queue_size = metrics.fed(QUEUE_SIZE)
        self._queue_wait = metrics.fed(QUEUE_WAIT)
        self._retries = metrics.fed(TASK_RETRIES)
        self._slow_tasks = metrics.fed(SLOW_TASKS)
        self._queues: dict[str, _Queue] = {}
        self._lanes: dict[tuple[str, str], _Lane] = {}

    # -- bundles of children ----------------------------------------------------------------

    def _queue_of(self, priority: str) -> _Queue:
        queue = self._queues.get(priority)
        if queue is None:
            queue = _Queue(priority, self._queue_size.labels(priority=priority),
                           self._queue_wait.labels(priority=priority))
            if not _folds(queue.size, queue.wait):  # folded bundles are not kept: unbounded keys
                self._queues[priority] = queue
        return queue

    def _lane_of(self, agent: str, model: str) -> _Lane:
        lane = self._lanes.get((agent, model))
        if lane is None:
            outcomes: dict[str, tuple[Any | None, Any]] = {
                SUCCESS: (self._total.labels(agent=agent, status=SUCCESS, model=model),
                          self._duration.labels(agent=agent, status=SUCCESS)),
                FAILED: (self._total.labels(agent=agent, status=FAILED, model=model),
                         self._duration.labels(agent=agent, status=FAILED)),
                # A retried attempt is not an outcome of the task: only its time is counted.
                RETRIED: (None, self._duration.labels(agent=agent, status=RETRIED)),
            }
            lane = _Lane(agent, model, self._active.labels(agent=agent), self._slow_tasks.labels(agent=agent), outcomes)
            children = [lane.active, lane.slow] + [c for pair in outcomes.values() for c in pair if c is not None]
            if not _folds(*children):
                self._lanes[(agent, model)] = lane
        return lane

    def prepare(self, agents: tuple[str, ...], models: tuple[str, ...], priorities: tuple[str, ...],
                retry_reasons: tuple[str, ...] = ()) -> None:
        """Create the series of known label values at zero, so dashboards and rate() see them at once."""
        for priority in priorities:
            self._queue_of(priority)
        for agent in agents:
            for model in models:
                self._lane_of(agent, model)
            for reason in retry_reasons:
                self._retries.labels(agent=agent, reason=reason)

    # -- lifecycle ---------------------------------------------------------------------------

    def enqueue(self, task_id: str, *, agent: str, priority: str = "normal", attempt: int = 1) -> QueuedTask:
        queue = self._queue_of(priority)
        task = QueuedTask(task_id, agent, priority, attempt, self._clock(), queue,
                          current() if self._logger is not None else None,
                          otel_context.get_current() if self._tracing is not None else None)
        size = queue.size
        with self._lock:
            size.value += 1
        if self._logger is not None:
            self._logger.event("task_created", task_id=task_id, agent=agent, priority=priority, attempt=attempt)
        return task

    def drop(self, task: QueuedTask) -> None:
        """The task leaves the queue without running (cancelled, or the orchestrator stops)."""
        if task._left:
            raise ValueError(f"{task.task_id}: has already left the queue")
        task._left = True
        size = task._queue.size
        with self._lock:
            size.value -= 1

    def run(self, task: QueuedTask, *, model: str, observers: tuple[TaskObserver, ...] = ()) -> TaskRun:
        """Dequeue `task` and run it on `model`: use as a context manager around the work.
        `observers` (an agent session, a parallel batch) are told when the attempt ends."""
        return TaskRun(self, task, self._lane_of(task.agent, model), observers)

    def retry_count(self, task: QueuedTask, reason: str) -> None:
        self._retries.labels(agent=task.agent, reason=reason).inc()


class TaskRun:
    """One attempt of a task; made by TaskTracker.run."""

    __slots__ = ("_tracker", "task", "_lane", "_observers", "started_at", "status", "error_code",
                 "seconds", "_correlation", "span", "_span_token", "_cpu_started")

    def __init__(self, tracker: TaskTracker, task: QueuedTask, lane: _Lane, observers: tuple[TaskObserver, ...]):
        self._tracker = tracker
        self.task = task
        self._lane = lane
        self._observers = observers
        self.started_at = 0.0
        self.status: str | None = None
        self.error_code: str | None = None
        self.seconds = 0.0
        self._correlation: Any = None
        self.span: Any = None
        self._span_token: Any = None
        self._cpu_started = 0

    def _start_span(self, tracing: Tracing) -> None:
        task = self.task
        origin = task._context
        attributes = {"agent.type": task.agent, "model": self._lane.model, "task.id": task.task_id,
                      "task.priority": task.priority, "task.attempt": task.attempt}
        if origin is not None:
            attributes["correlation.id"] = origin.correlation_id
        span = self.span = tracing.tracer.start_span(EXECUTE_TASK, context=task._trace_context, attributes=attributes)
        self._span_token = otel_context.attach(otel_trace.set_span_in_context(span))
        self._cpu_started = time.thread_time_ns()

    def _end_span(self, status: str, exc: BaseException | None) -> None:
        span = self.span
        span.set_attributes({"task.status": status,
                             "cpu_time_ms": round((time.thread_time_ns() - self._cpu_started) / 1e6, 3)})
        if status == FAILED:
            if exc is not None:
                span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, self.error_code or "failed"))
        span.end()
        otel_context.detach(self._span_token)

    def __enter__(self) -> TaskRun:
        task, lane, tracker = self.task, self._lane, self._tracker
        if task._left:
            raise ValueError(f"{task.task_id}: has already left the queue; enqueue it again to rerun it")
        task._left = True
        now = self.started_at = tracker._clock()
        queue = task._queue
        size, waits, active = queue.size, queue.wait, lane.active
        waited = now - task.enqueued_at
        bucket = bisect_left(waits.bounds, waited)
        # Plain arithmetic only inside the lock (see families.py).
        with tracker._lock:
            size.value -= 1
            waits.counts[bucket] += 1
            waits.sum += waited
            active.value += 1
        if tracker._tracing is not None:
            self._start_span(tracker._tracing)
        logger = tracker._logger
        if logger is not None:
            origin = task._context
            if origin is None:
                self._correlation = correlation(task_id=task.task_id, agent=task.agent)
            else:
                self._correlation = correlation(correlation_id=origin.correlation_id, session_id=origin.session_id,
                                                trace_flags=origin.trace_flags, task_id=task.task_id, agent=task.agent)
            self._correlation.__enter__()
            # The task that queued this one, if any, is its parent (§2.5), also across threads.
            parent = origin.task_id if origin is not None and origin.task_id != task.task_id else None
            logger.event("task_dispatched", task_id=task.task_id, agent=task.agent, model=lane.model,
                         priority=task.priority, attempt=task.attempt, parent_task=parent)
            logger.event("task_started", task_id=task.task_id, agent=task.agent, model=lane.model,
                         parent_task=parent)
        return self

    def fail(self, error_code: str) -> None:
        """End this attempt as failed, without raising."""
        self.status, self.error_code = FAILED, error_code

    def retry(self, reason: str, *, priority: str | None = None) -> QueuedTask:
        """End this attempt as retried and put the task back in the queue (attempt + 1)."""
        tracker, task = self._tracker, self.task
        self.status = RETRIED
        tracker.retry_count(task, reason)
        if tracker._logger is not None:
            tracker._logger.event("task_retried", task_id=task.task_id, agent=task.agent,
                                  retry_count=task.attempt, reason=reason)
        return tracker.enqueue(task.task_id, agent=task.agent, priority=priority or task.priority,
                               attempt=task.attempt + 1)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        tracker, lane = self._tracker, self._lane
        seconds = self.seconds = tracker._clock() - self.started_at
        status = self.status
        if status is None:
            status = self.status = FAILED if exc_type is not None else SUCCESS
            if exc_type is not None:
                self.error_code = exc_type.__name__
        total, duration = lane.outcomes[status]
        active, slow = lane.active, lane.slow
        bucket = bisect_left(duration.bounds, seconds)
        is_slow = seconds > tracker._slow
        with tracker._lock:
            active.value -= 1
            if total is not None:
                total.value += 1
            duration.counts[bucket] += 1
            duration.sum += seconds
            if is_slow:
                slow.value += 1
        for observer in self._observers:
            observer.task_finished(seconds, status)
        logger = tracker._logger
        if logger is not None:
            task = self.task
            if status == SUCCESS:
                logger.event("task_completed", task_id=task.task_id, agent=task.agent, model=lane.model,
                             duration_ms=round(seconds * 1000, 3))
            elif status == FAILED:
                logger.event("task_failed", task_id=task.task_id, agent=task.agent, model=lane.model,
                             error_code=self.error_code, duration_ms=round(seconds * 1000, 3))
            # The exception, if any, propagates from here; the context only needs resetting.
            self._correlation.__exit__(None, None, None)
        if self.span is not None:
            self._end_span(status, exc)
