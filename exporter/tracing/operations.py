"""One `with` block = one span of §3.2 (when tracing is on) + what the block ends with.

`Operation` is what the instrumentation's context managers return (obs.read_file(...),
obs.request(...), ...): the span is current inside the block, so log lines written there carry
its trace_id/span_id and standard events become its span events. `on_enter()` runs inside the span;
`on_exit(ok)` runs first on exit (the metric of the operation), then the span ends; an exception marks the span ERROR and
propagates. Without tracing the block only runs `on_exit`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Span, Status, StatusCode

if TYPE_CHECKING:
    from .tracer import Tracing

# Span names of §3.2, and the two phases §4.3 profiles that §3.2 does not name.
EXECUTE_REQUEST = "orchestrator.execute_request"
DECOMPOSE = "orchestrator.decompose"
DISPATCH_BATCH = "orchestrator.dispatch_batch"
TEAM_COORDINATE = "team.coordinate"
EXECUTE_TASK = "agent.execute_task"
READ_FILE = "agent.read_file"
EDIT_FILE = "agent.edit_file"
SEARCH = "agent.search"
INVOKE_TOOL = "mcp.invoke_tool"
VALIDATE = "agent.validate"
LLM_CALL = "llm.call"


def span_attributes(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields OpenTelemetry accepts as attribute values (None dropped, lists of scalars kept)."""
    kept: dict[str, Any] = {}
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, (str, bool, int, float)):
            kept[key] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            kept[key] = list(value)
        else:
            kept[key] = str(value)
    return kept


class Operation:
    __slots__ = ("_tracing", "_name", "_attributes", "_on_exit", "_on_enter", "_scope", "span", "failed")

    def __init__(self, tracing: Tracing | None, name: str, attributes: Mapping[str, Any],
                 on_exit: Callable[[bool], None] | None = None, on_enter: Callable[[], None] | None = None):
        self._tracing = tracing
        self._name = name
        self._attributes = attributes
        self._on_exit = on_exit
        self._on_enter = on_enter  # runs inside the span (an event logged there becomes a span event)
        self._scope: Any = None
        self.span: Span | None = None
        self.failed: str | None = None

    def __enter__(self) -> Operation:
        if self._tracing is not None:
            self._scope = self._tracing.span(self._name, span_attributes(self._attributes))
            self.span = self._scope.__enter__()
        if self._on_enter is not None:
            try:
                self._on_enter()
            except BaseException as error:
                # __exit__ will not run: end the span here, or it would stay current.
                if self._scope is not None:
                    self._scope.__exit__(type(error), error, error.__traceback__)
                raise
        return self

    def set(self, **attributes: Any) -> None:
        """Attributes known only during the block (size_bytes, results_count, ...)."""
        if self.span is not None:
            self.span.set_attributes(span_attributes(attributes))

    def fail(self, description: str) -> None:
        """End as failed without raising (the span's status becomes ERROR)."""
        self.failed = description
        if self.span is not None:
            self.span.set_status(Status(StatusCode.ERROR, description))

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool | None:
        try:
            if self._on_exit is not None:
                self._on_exit(exc_type is None and self.failed is None)
        finally:
            if self._scope is not None:
                self._scope.__exit__(exc_type, exc, tb)
        return None
