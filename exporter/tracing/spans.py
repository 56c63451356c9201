"""Spans as light records until the tail decision; opentelemetry-sdk ReadableSpans only for kept traces.

Why not the SDK's own spans: each one builds a SpanContext, a lock, BoundedAttributes (every
value cleaned) and an event object per event as it is made, yet at a 10 % rate nine traces in
ten are dropped whole once their root ends (§3.3 needs the whole trace before deciding).
A `RecordedSpan` is an OpenTelemetry API Span (so `get_current_span()`, `set_span_in_context`,
`use_span` and other instrumentation work with it) that only stores what it is told: name,
ids, parent, times, attributes, events, links, status. `Readable` turns a kept one into the
SDK's ReadableSpan, applying the SDK's limits and attribute cleaning, for the exporters and the
store; dropped ones never pay for that.

`Tracer` follows the SDK's tracer with the default sampler (ParentBased(ALWAYS_ON)): a new
span is recording unless its parent is valid and not sampled (then it is non-recording, as
the SDK's would be); ids come from an opentelemetry IdGenerator.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from random import getrandbits as _getrandbits
from types import TracebackType
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (INVALID_SPAN, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode,
                                 TraceFlags, TraceState)

_time_ns = time.time_ns
UNSET = _UNSET = Status(StatusCode.UNSET)  # a span's status until set (shared)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_SAMPLED_RANDOM = TraceFlags(TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID)
_EMPTY_STATE = TraceState()
_attach, _detach = context_api.attach, context_api.detach
_get_current_span, _in_context = trace_api.get_current_span, trace_api.set_span_in_context


def _limit(value: int | None) -> int:
    return sys.maxsize if value is None else value


class RecordedSpan(trace_api.Span):
    """A recording span: plain fields, no lock (each field update is one atomic dict/list step).

    Fields most spans never change are class-level defaults, set per span only when they differ
    (the API's Span base has no __slots__, so a span has a __dict__ for them): fewer stores per span.
    """

    __slots__ = ("name", "trace_id", "span_id", "parent_id", "is_root", "trace_flags", "start_time", "end_time",
                 "attributes", "events", "status", "_tracer", "_log_ids")

    parent_context: SpanContext | None = None  # set when the parent is not one of ours (remote, another tracer)
    trace_state: TraceState = _EMPTY_STATE
    kind: SpanKind = SpanKind.INTERNAL
    links: Sequence[trace_api.Link] = ()
    dropped_attributes = 0
    dropped_events = 0
    _context: SpanContext | None = None
    # start_span(record_exception=False / set_status_on_exception=False): set per span only then.
    _record_exception = True
    _set_status_on_exception = True

    def __init__(self, tracer: Tracer, name: str, trace_id: int, span_id: int, parent_id: int, is_root: bool,
                 trace_flags: TraceFlags, attributes: dict[str, Any], start_time: int):
        self._tracer = tracer
        self.name = name
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id  # 0: no parent
        self.is_root = is_root  # no parent, or one not recorded here: the tail decision happens when it ends
        self.trace_flags = trace_flags
        self.start_time = start_time
        self.end_time: int | None = None
        self.attributes = attributes
        self.events: list[tuple[str, Any, int, Callable[[Any], Any] | None]] = []
        self.status = _UNSET
        self._log_ids: tuple[str, str] | None = None

    # -- the OpenTelemetry Span API ---------------------------------------------------------------

    def get_span_context(self) -> SpanContext:
        context = self._context
        if context is None:
            context = self._context = SpanContext(self.trace_id, self.span_id, False, self.trace_flags,
                                                  self.trace_state)
        return context

    @property
    def log_ids(self) -> tuple[str, str]:
        """trace_id and span_id as log lines carry them (formatted once per span)."""
        ids = self._log_ids
        if ids is None:
            ids = self._log_ids = (f"{self.trace_id:032x}", f"{self.span_id:016x}")
        return ids

    def is_recording(self) -> bool:
        return self.end_time is None

    def set_attribute(self, key: str, value: Any) -> None:
        if self.end_time is not None:
            return
        attributes = self.attributes
        if key in attributes:
            del attributes[key]  # as the SDK's BoundedAttributes: a key set again becomes the newest
        elif len(attributes) >= self._tracer.max_attributes:
            del attributes[next(iter(attributes))]  # the SDK's BoundedAttributes drops the oldest too
            self.dropped_attributes += 1
        # A list is read now, not at export (the SDK keeps a tuple of it as it is set).
        attributes[key] = tuple(value) if type(value) is list else value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        if self.end_time is not None:
            return
        mine = self.attributes
        size = len(mine)
        if size + len(attributes) <= self._tracer.max_attributes:
            for value in attributes.values():  # a loop costs less than a check in C for a few values
                if type(value) is list:
                    break
            else:  # the usual case: no list, within the limit
                mine.update(attributes)
                if len(mine) != size + len(attributes):  # a key set again: the newest, as in set_attribute
                    for key in attributes:
                        mine[key] = mine.pop(key)
                return
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None,
                  timestamp: int | None = None) -> None:
        if self.end_time is not None:
            return
        events = self.events
        if len(events) >= self._tracer.max_events:
            self.dropped_events += 1
            if not events:  # a limit of 0
                return
            del events[0]  # as the SDK's BoundedList: the newest are kept (a closing exception event)
        # A copy: the caller may change its mapping afterwards (the SDK copies it too).
        events.append((name, dict(attributes) if attributes else None,
                       _time_ns() if timestamp is None else timestamp, None))

    def log_event(self, name: str, fields: dict[str, Any], to_attributes: Callable[[Any], Any]) -> tuple[str, str]:
        """A log call's event (exporter.logs): `to_attributes(fields)` makes its attributes, only if
        the trace is kept; it must return a new dict of text keys and str/bool/int/float values.
        `fields` is handed over: the caller must not change it afterwards, and it must hold only
        values that cannot change (exporter.logs passes scalars as they are, anything else already
        made into attributes). Nothing is recorded once the span has ended. Past the events limit
        the oldest event is dropped, as in add_event. Returns `log_ids`, for the log line (one
        call for both)."""
        if self.end_time is None:
            events = self.events
            if len(events) < self._tracer.max_events:
                events.append((name, fields, _time_ns(), to_attributes))
            else:
                self.dropped_events += 1
                if events:  # the newest are kept, as in add_event
                    del events[0]
                    events.append((name, fields, _time_ns(), to_attributes))
        ids = self._log_ids
        return ids if ids is not None else self.log_ids

    def add_link(self, context: SpanContext, attributes: Mapping[str, Any] | None = None) -> None:
        if self.end_time is None and context.is_valid:
            self.links = (*self.links, trace_api.Link(context, attributes))

    def update_name(self, name: str) -> None:
        if self.end_time is None:
            self.name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        # As the SDK: once OK it stays OK, and UNSET never replaces a status.
        if self.end_time is not None or self.status.status_code is StatusCode.OK:
            return
        if isinstance(status, Status):
            if status.status_code is not StatusCode.UNSET:
                self.status = status
        elif status is not StatusCode.UNSET:
            self.status = Status(status, description)

    def record_exception(self, exception: BaseException, attributes: Mapping[str, Any] | None = None,
                         timestamp: int | None = None, escaped: bool = False) -> None:
        import traceback

        module, qualname = type(exception).__module__, type(exception).__qualname__
        recorded: dict[str, Any] = {
            "exception.type": f"{module}.{qualname}" if module and module != "builtins" else qualname,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        if attributes:
            recorded.update(attributes)
        self.add_event("exception", recorded, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self.end_time is not None:
            return
        self.end_time = _time_ns() if end_time is None else end_time
        self._tracer.on_end(self)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """`with tracer.start_span(...) as span:` ends it; an exception is recorded first, as the SDK does."""
        if exc is not None and self.end_time is None:
            if self._record_exception:
                self.record_exception(exc, escaped=True)
            if self._set_status_on_exception:
                self.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        self.end()

    def __repr__(self) -> str:
        return f"RecordedSpan({self.name!r}, trace_id=0x{self.trace_id:032x}, span_id=0x{self.span_id:016x})"


class ActiveSpan:
    """What `start_as_current_span` returns: the span is current inside the block, an exception
    (an Exception, not a BaseException such as GeneratorExit) is recorded and sets ERROR, as
    opentelemetry's `use_span` does, and the span ends on exit."""

    __slots__ = ("span", "_token", "_record_exception", "_set_status", "_end_on_exit")

    def __init__(self, span: trace_api.Span, record_exception: bool, set_status_on_exception: bool,
                 end_on_exit: bool):
        self.span = span
        self._token: Any = None
        self._record_exception = record_exception
        self._set_status = set_status_on_exception
        self._end_on_exit = end_on_exit

    def __enter__(self) -> trace_api.Span:
        self._token = _attach(_in_context(self.span))
        return self.span

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        span = self.span
        try:
            _detach(self._token)
            if isinstance(exc, Exception) and span.is_recording():
                if self._record_exception:
                    span.record_exception(exc)
                if self._set_status:
                    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        finally:
            if self._end_on_exit:
                span.end()


class Tracer(trace_api.Tracer):
    """Makes RecordedSpans; `on_end(span)` receives each one as it ends (the tail sampler)."""

    def __init__(self, on_end: Callable[[RecordedSpan], None], id_generator: IdGenerator, limits: SpanLimits):
        self.on_end = on_end
        self._new_trace_id = id_generator.generate_trace_id
        self._new_span_id = id_generator.generate_span_id
        # The SDK's default generator is random.getrandbits: called directly, one Python call less per id.
        self._random_ids = type(id_generator) is RandomIdGenerator
        self._root_flags = _SAMPLED_RANDOM if id_generator.is_trace_id_random() else _SAMPLED
        self.max_attributes = _limit(limits.max_span_attributes)
        self.max_events = _limit(limits.max_events)

    def start_span(self, name: str, context: context_api.Context | None = None, kind: SpanKind = SpanKind.INTERNAL,
                   attributes: Mapping[str, Any] | None = None, links: Sequence[trace_api.Link] | None = None,
                   start_time: int | None = None, record_exception: bool = True,
                   set_status_on_exception: bool = True) -> trace_api.Span:
        parent = _get_current_span(context)
        if parent is INVALID_SPAN:  # no parent: a new trace (checked first: the commonest case)
            trace_id = (_getrandbits(128) if self._random_ids else 0) or self._new_trace_id()
            parent_id, parent_context, is_root = 0, None, True
            flags, state = self._root_flags, _EMPTY_STATE
        elif type(parent) is RecordedSpan:
            trace_id, parent_id, parent_context, is_root = parent.trace_id, parent.span_id, None, False
            flags, state = parent.trace_flags, parent.trace_state
        else:
            parent_context = parent.get_span_context()
            if parent_context.is_valid:
                # A remote parent, or a local one of another tracer (an auto-instrumented server
                # span): our outermost span is where the tail decision is taken.
                trace_id, parent_id, is_root = parent_context.trace_id, parent_context.span_id, True
                flags, state = parent_context.trace_flags, parent_context.trace_state
                if not flags.sampled:  # ParentBased: an unsampled parent makes a non-recording span
                    return NonRecordingSpan(SpanContext(trace_id, self._new_span_id(), False, flags, state))
            else:
                trace_id = (_getrandbits(128) if self._random_ids else 0) or self._new_trace_id()
                parent_id, parent_context, is_root = 0, None, True
                flags, state = self._root_flags, _EMPTY_STATE
        recorded = dict(attributes) if attributes else {}
        for value in recorded.values():  # lists read now, as set_attribute does
            if type(value) is list:
                recorded = {key: tuple(value) if type(value) is list else value for key, value in recorded.items()}
                break
        dropped = len(recorded) - self.max_attributes
        if dropped > 0:  # the newest are kept, as the SDK's BoundedAttributes does
            recorded = dict(list(recorded.items())[dropped:])
        span_id = (_getrandbits(64) if self._random_ids else 0) or self._new_span_id()  # never 0 (invalid)
        span = RecordedSpan(self, name, trace_id, span_id, parent_id, is_root, flags, recorded,
                            _time_ns() if start_time is None else start_time)
        if parent_context is not None:
            span.parent_context = parent_context
        if state is not _EMPTY_STATE:
            span.trace_state = state
        if kind is not SpanKind.INTERNAL:
            span.kind = kind
        if links:
            span.links = tuple(link for link in links if link.context.is_valid)
        if dropped > 0:
            span.dropped_attributes = dropped
        if not record_exception:
            span._record_exception = False
        if not set_status_on_exception:
            span._set_status_on_exception = False
        return span

    def start_as_current_span(self, name: str, context: context_api.Context | None = None,  # type: ignore[override]
                              kind: SpanKind = SpanKind.INTERNAL, attributes: Mapping[str, Any] | None = None,
                              links: Sequence[trace_api.Link] | None = None, start_time: int | None = None,
                              record_exception: bool = True, set_status_on_exception: bool = True,
                              end_on_exit: bool = True) -> ActiveSpan:
        """A context manager (not a decorator, unlike the SDK's) making the new span current."""
        span = self.start_span(name, context, kind, attributes, links, start_time)
        return ActiveSpan(span, record_exception, set_status_on_exception, end_on_exit)


_SCALARS = frozenset((str, bool, int, float))
_TEXT = frozenset((str,))


def _cleaned(values: Mapping[str, Any] | None, maxlen: int | None, max_value_len: int | None,
             dropped: int = 0, trusted: bool = False) -> Any:
    """The SDK's BoundedAttributes of `values`, or a plain copy when that is what cleaning would
    give (text keys, scalar values, no limit reached): most attributes are, and it costs a tenth.
    `trusted`: `values` is a fresh dict known to hold only text keys and scalar values."""
    if not values:
        return None if not dropped else BoundedAttributes(maxlen, None, immutable=False)
    if dropped == 0 and max_value_len is None and (maxlen is None or len(values) <= maxlen) and (
            trusted or (_SCALARS.issuperset(map(type, values.values())) and _TEXT.issuperset(map(type, values))
                        and "" not in values)):  # type checks in C, no Python loop
        return values if trusted else dict(values)
    bounded = BoundedAttributes(maxlen, values, immutable=False, max_value_len=max_value_len)
    bounded.dropped += dropped
    return bounded


class Readable:
    """Turns kept RecordedSpans into the SDK's ReadableSpans (what exporters and the store take),
    with the SDK's limits: what an SDK span would have held."""

    def __init__(self, resource: Resource, scope: InstrumentationScope, limits: SpanLimits):
        self.resource = resource
        self.scope = scope
        self.limits = limits

    def __call__(self, span: RecordedSpan) -> ReadableSpan:
        limits = self.limits
        parent = span.parent_context
        if parent is None and span.parent_id:
            parent = SpanContext(span.trace_id, span.parent_id, False, span.trace_flags, span.trace_state)
        events: Sequence[Event] = ()
        if span.events:
            max_attributes, max_length = limits.max_event_attributes, limits.max_attribute_length
            events = [Event(name, _cleaned(attributes, max_attributes, max_length) if convert is None
                            else _cleaned(convert(attributes), max_attributes, max_length, trusted=True), timestamp)
                      for name, attributes, timestamp, convert in span.events]
        if span.dropped_events:  # a BoundedList only to carry the count (it is what the SDK's spans hold)
            events = BoundedList.from_seq(limits.max_events, events)
            events.dropped += span.dropped_events  # type: ignore[attr-defined]
        links: Sequence[trace_api.Link] = ()
        if span.links:
            links = BoundedList.from_seq(limits.max_links, [
                trace_api.Link(link.context, _cleaned(link.attributes, limits.max_link_attributes,
                                                      limits.max_attribute_length))
                for link in span.links])
        # Not get_span_context(): it would cache the context in the span's __dict__, made for it.
        context = span._context or SpanContext(span.trace_id, span.span_id, False, span.trace_flags, span.trace_state)
        return ReadableSpan(name=span.name, context=context, parent=parent, resource=self.resource,
                            attributes=_cleaned(span.attributes, limits.max_span_attributes,
                                                limits.max_span_attribute_length, span.dropped_attributes),
                            events=events, links=links, kind=span.kind, status=span.status,
                            start_time=span.start_time, end_time=span.end_time, instrumentation_scope=self.scope)


__all__ = ["ActiveSpan", "Readable", "RecordedSpan", "Tracer"]
