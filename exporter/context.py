"""Correlation context (§2.5): which request, session, task and agent a piece of work belongs to.

The context lives in a `contextvars.ContextVar`, so it follows the code that runs for a request:

- `with correlation(task_id="task-101"):` enters a context derived from the current one and
  restores the previous one on exit, also when the block raises.
- asyncio tasks copy the context when they are created, so each task sees the context of the code
  that created it and its own changes stay its own.
- threads do not inherit contextvars; `wrap(fn)` and `ContextThreadPoolExecutor` carry the
  submitter's context into the worker thread.

Derivation rules for `correlation(...)`:
- a field not given is inherited from the current context;
- without a current correlation id a new `corr-<uuid4>` is made, likewise `sess-<hex>` for the
  session id;
- entering a *different* task_id while a task is current makes the current task the new task's
  `parent_task` (task-100 -> task-101 parent=task-100); re-entering the same task_id (an agent
  taking over the task) keeps the inherited parent;
- `trace_flags`, when given, replace the inherited flags.
"""

from __future__ import annotations

import contextvars
import functools
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class CorrelationContext:
    correlation_id: str
    session_id: str
    task_id: str | None = None
    parent_task: str | None = None
    agent: str | None = None
    trace_flags: tuple[str, ...] = ()


# A ContextVar must be module-level to be shared; it holds no value until a context is entered.
_CURRENT: contextvars.ContextVar[CorrelationContext | None] = contextvars.ContextVar(
    "orchestrator_correlation", default=None
)


def current() -> CorrelationContext | None:
    """The correlation context of the running code, or None outside any `correlation()` block."""
    return _CURRENT.get()


def new_correlation_id() -> str:
    return f"corr-{uuid.uuid4()}"


def new_session_id() -> str:
    return f"sess-{uuid.uuid4().hex[:12]}"


def derive(
    parent: CorrelationContext | None,
    *,
    correlation_id: str | None = None,
    session_id: str | None = None,
    task_id: str | None = None,
    agent: str | None = None,
    trace_flags: Iterable[str] | None = None,
) -> CorrelationContext:
    """The context `correlation(...)` would enter below `parent` (pure; nothing is set)."""
    if parent is None:
        return CorrelationContext(
            correlation_id=correlation_id or new_correlation_id(),
            session_id=session_id or new_session_id(),
            task_id=task_id,
            parent_task=None,
            agent=agent,
            trace_flags=tuple(trace_flags) if trace_flags is not None else (),
        )
    parent_task = parent.parent_task
    if task_id is not None and parent.task_id is not None and task_id != parent.task_id:
        parent_task = parent.task_id
    return CorrelationContext(
        correlation_id=correlation_id or parent.correlation_id,
        session_id=session_id or parent.session_id,
        task_id=task_id if task_id is not None else parent.task_id,
        parent_task=parent_task,
        agent=agent if agent is not None else parent.agent,
        trace_flags=tuple(trace_flags) if trace_flags is not None else parent.trace_flags,
    )


@contextmanager
def correlation(
    *,
    correlation_id: str | None = None,
    session_id: str | None = None,
    task_id: str | None = None,
    agent: str | None = None,
    trace_flags: Iterable[str] | None = None,
) -> Iterator[CorrelationContext]:
    """Run the block inside a context derived from the current one (see the module docstring)."""
    entered = derive(
        _CURRENT.get(),
        correlation_id=correlation_id,
        session_id=session_id,
        task_id=task_id,
        agent=agent,
        trace_flags=trace_flags,
    )
    token = _CURRENT.set(entered)
    try:
        yield entered
    finally:
        _CURRENT.reset(token)


def wrap(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn` bound to the caller's context: each call runs in a fresh copy of it, in any thread.

    The snapshot is taken now; a fresh copy per call lets the wrapped callable run in several
    threads at once (one Context object cannot be entered twice concurrently).
    """
    snapshot = contextvars.copy_context()

    @functools.wraps(fn)
    def run_in_snapshot(*args: P.args, **kwargs: P.kwargs) -> R:
        return snapshot.copy().run(fn, *args, **kwargs)

    return run_in_snapshot


class ContextThreadPoolExecutor(ThreadPoolExecutor):
    """A ThreadPoolExecutor whose tasks run in a copy of the submitter's context.

    `map` goes through `submit`, so it carries the context too.
    """

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)
