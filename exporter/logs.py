"""Structured logs (§2): one JSON object per line, the standard events, levels and outputs.

A JSON line has exactly these keys, in this order (§2.1):

    timestamp       UTC, ISO-8601 with milliseconds and Z: 2026-02-21T14:32:15.123Z
    level           TRACE | DEBUG | INFO | WARN | ERROR | FATAL
    correlation_id  \\
    session_id       > passed explicitly, else from the current CorrelationContext, else null
    component       the logger's component ("orchestrator") unless passed per line
    agent           passed, else the context's agent, else null
    model           passed, else null
    event           the event name, or null for a plain message
    message         the message, or null (`event()` without a message)
    metadata        always an object: task_id and parent_task first (passed, else from the
                    context; the key is left out when unknown), then every other field passed,
                    in call order, then the contents of a `metadata={...}` argument, then
                    trace_id and span_id when an OpenTelemetry span is current; {} if none
    duration_ms     passed, else null
    tags            a list, [] when none

So: a top-level field that is not known is null, `metadata` is never null and holds no null
task_id/parent_task, `tags` is never null. trace_id/span_id (32 and 16 hex digits, as in
Jaeger and the trace store) go inside `metadata` rather than at the top level, so that the
§2.1 line keeps exactly its twelve keys for every parser written against it. Lines are written compact (`{"a":1,"b":2}`), one
`json` encode and one write per line per output.

Standard events (§2.3) go through `event(name, ...)`, which takes the level from the table and
checks the required fields (a field is present when it is passed and not None, or, for
session_id/correlation_id/task_id/parent_task/agent, set in the current context). When one is
missing:

- default: the line is still written at its level (an event is never lost) with
  `metadata.missing_fields: [...]`, followed by a WARN line with event `log_contract_violation`
  and `metadata: {violated_event, missing_fields}`. Nothing is checked for a line below the
  configured level; it is dropped before anything is built.
- `strict=True`: ValueError naming the event and the missing fields, whatever the level; nothing
  is written.

`log(level, message, event=...)` with a standard event name checks the same fields but keeps the
caller's level. An unknown level or an unknown event name given to `event()` is a ValueError.

Standard events (through `event()`, or `log()` with a standard event name) also become events of
the current span (§3), when one is recording: with the line's fields as attributes, whatever the
log level for `event()` (a DEBUG task_created is still on the span).

Outputs come from `LoggingRuntime.outputs`: `type` picks where (file: the rotating writer of
exporter/rotation.py on the expanded path, with `rotation`; console: stderr, or
`streams["console"]`), `format` picks how (json: the line above; pretty: one readable line), and
each output's threshold is its own `level` when given, else `LoggingRuntime.level`.

Metrics hooks: `on_line(level)` is called once for each line written to at least one output;
`on_write_error(output_type)` ("file" / "console") for each output whose write failed. A failed
write never raises into the caller; the callbacks must not raise.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TextIO

from opentelemetry.trace import INVALID_SPAN, Span, get_current_span

from observability.spec import LoggingRuntime, LogOutput

from .context import CorrelationContext, current
from .rotation import RotatingFileWriter

LEVELS: dict[str, int] = {"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "ERROR": 4, "FATAL": 5}

STANDARD_EVENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "session_start": ("INFO", ("session_id",)),
    "session_end": ("INFO", ("session_id", "duration_ms")),
    "task_created": ("DEBUG", ("task_id", "agent")),
    "task_dispatched": ("INFO", ("task_id", "agent", "model")),
    "task_started": ("INFO", ("task_id", "agent")),
    "task_completed": ("INFO", ("task_id", "agent", "duration_ms")),
    "task_failed": ("ERROR", ("task_id", "agent", "error_code")),
    "task_retried": ("WARN", ("task_id", "agent", "retry_count")),
    "agent_spawned": ("INFO", ("agent_type", "mode")),
    "agent_shutdown": ("INFO", ("agent_type", "tasks_completed")),
    "parallel_batch_start": ("INFO", ("batch_id", "task_count")),
    "parallel_batch_end": ("INFO", ("batch_id", "success_count", "failed_count")),
    "team_created": ("INFO", ("team_id", "member_count")),
    "team_shutdown": ("INFO", ("team_id", "duration_ms")),
    "mcp_tool_invoked": ("DEBUG", ("plugin", "tool_name")),
    "alert_fired": ("WARN", ("alert_name", "severity")),
}

CONTRACT_VIOLATION = "log_contract_violation"

# Fields a CorrelationContext can supply when the call does not.
_CONTEXT_FIELDS = frozenset({"correlation_id", "session_id", "task_id", "parent_task", "agent"})

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str, allow_nan=False)
_encode_text = json.encoder.encode_basestring  # what _ENCODER does with a str (ensure_ascii=False)
# JSONEncoder.encode builds this C encoder anew on every call; built once, it is about 1.5 us
# less per value. Without the markers dict (its check for circular structures, which a shared
# encoder could not keep per thread), a circular value ends in RecursionError, caught where
# values are encoded, like the other errors.
# allow_nan=False: NaN and the infinities raise instead of being written as the bare tokens NaN
# and Infinity, which are not JSON (a strict parser rejects the whole line); _encode_fallback writes
# them as null.
_C_ENCODER = json.encoder.c_make_encoder and json.encoder.c_make_encoder(
    None, str, _encode_text, None, ":", ",", False, False, False)
_SCALARS = frozenset((str, bool, int, float))
_PLAIN = frozenset((str, bool, int, float, type(None)))


def _encode(value: Any) -> str:
    """`value` as _ENCODER writes it (compact, non-ASCII kept, other objects as str()), always valid
    JSON: what cannot be encoded as it is goes through _encode_fallback. Never raises."""
    try:
        if _C_ENCODER is None:  # no C accelerator (another Python implementation)
            return _ENCODER.encode(value)
        return "".join(_C_ENCODER(value, 0))
    except Exception:  # noqa: BLE001 - NaN, a circular or non-string-keyed structure, a str() that raises
        return _encode_fallback(value, ())


def _encode_fallback(value: Any, path: tuple[int, ...]) -> str:
    """The slow path, only for a value that failed to encode: containers are walked so that only
    the parts that fail are replaced. A non-finite float is written as null: a log pipeline
    (Loki's json parser, Elasticsearch) rejects or mis-types the bare NaN/Infinity tokens, and the
    string "NaN" in a numeric field is a mapping conflict (Elasticsearch rejects the document), while
    null is valid JSON everywhere and indexed as a missing value (JavaScript's JSON.stringify does the
    same). A non-string key becomes its str(); anything else that fails (a str() that raises, a
    circular structure: `path` holds the containers being walked) becomes its repr() as text."""
    if isinstance(value, float):
        return "null" if value != value or value in (_INFINITY, -_INFINITY) else float.__repr__(value)
    if isinstance(value, (dict, list, tuple)) and id(value) not in path:
        inner = (*path, id(value))
        try:
            if isinstance(value, dict):
                return "{" + ",".join(f"{_encode_key(key)}:{_encode_inner(item, inner)}"
                                      for key, item in value.items()) + "}"
            return "[" + ",".join(_encode_inner(item, inner) for item in value) + "]"
        except Exception:  # noqa: BLE001 - e.g. a container changed while it was walked
            pass
    return _encode_text(_printable(value, repr))


def _encode_inner(value: Any, path: tuple[int, ...]) -> str:
    try:
        if _C_ENCODER is None:
            return _ENCODER.encode(value)
        return "".join(_C_ENCODER(value, 0))
    except RecursionError:  # circular (or absurdly deep): its repr, as text (walking it would recurse again)
        return _encode_text(_printable(value, repr))
    except Exception:  # noqa: BLE001 - only this part takes the slow path
        return _encode_fallback(value, path)


def _encode_key(key: Any) -> str:
    if type(key) is str:
        return _encode_text(key)
    if key is None or isinstance(key, (bool, int)):
        return _encode_text(_encode(key))  # as json writes them: "null", "true", "1"
    if isinstance(key, float):
        return _encode_text(float.__repr__(key))
    return _encode_text(_printable(key, str))


_INFINITY = float("inf")


def _printable(value: Any, as_text: Callable[[Any], str]) -> str:
    """`as_text(value)` (str or repr), or `<unprintable TypeName>` when that raises."""
    try:
        text = as_text(value)
        if type(text) is str:
            return text
    except Exception:  # noqa: BLE001 - a broken __str__/__repr__ must not lose the line or the trace
        pass
    return f"<unprintable {type(value).__name__}>"


# The keys of a line (§2.1), in order.
RECORD_KEYS = ("timestamp", "level", "correlation_id", "session_id", "component", "agent", "model", "event",
               "message", "metadata", "duration_ms", "tags")


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and Z; a naive datetime is taken as UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}."
            f"{moment.microsecond // 1000:03d}Z")


def level_number(level: str) -> int:
    try:
        return LEVELS[level]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}; expected one of {', '.join(LEVELS)}") from None


@dataclass
class _Output:
    kind: str  # "file" | "console": the label of the write-error metric
    threshold: int
    pretty: bool
    write: Callable[[str], None]
    close: Callable[[], None]


class StructuredLogger:
    def __init__(
        self,
        config: LoggingRuntime,
        *,
        component: str = "orchestrator",
        streams: dict[str, TextIO] | None = None,
        on_line: Callable[[str], None] | None = None,
        on_write_error: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] | None = None,
        strict: bool = False,
    ) -> None:
        self._component = component
        self._on_line = on_line
        self._on_write_error = on_write_error
        self._clock = clock
        self._strict = strict
        self._second: tuple[int, str] = (-1, "")  # the formatted current second, reused per line
        self._outputs = tuple(self._open_output(o, config, streams or {}) for o in config.outputs)
        # Checked first on every call, so that dropped lines cost one comparison.
        self._min_level = min((o.threshold for o in self._outputs), default=len(LEVELS))

    # -- public API -------------------------------------------------------------------------

    def enabled(self, level: str) -> bool:
        """Whether a line at `level` would reach any output (to skip costly field building)."""
        return level_number(level) >= self._min_level

    def event(self, name: str, message: str | None = None, **fields: Any) -> None:
        try:
            level, required = STANDARD_EVENTS[name]
        except KeyError:
            raise ValueError(
                f"unknown standard event {name!r}; use log(level, message, event=...) for others"
            ) from None
        levelno = LEVELS[level]
        span = get_current_span()
        ids = None
        if span is not INVALID_SPAN:
            log_event = getattr(span, "log_event", None)  # _span_event, inlined: this runs for every event
            if log_event is None:
                ids = _span_event(span, name, fields)
            else:
                for value in fields.values():  # a loop costs less than a check in C for a few values
                    if type(value) not in _PLAIN:  # made now: a later change by the caller must not show
                        ids = log_event(name, _span_event_attributes(fields), dict)
                        break
                else:  # scalars only, the usual case: kept as they are, made into attributes if kept
                    ids = log_event(name, dict(fields), _span_event_attributes)
        if levelno < self._min_level and not self._strict:
            return
        self._checked(level, levelno, name, message, fields, required, ids)

    def log(self, level: str, message: str, *, event: str | None = None, **fields: Any) -> None:
        levelno = LEVELS.get(level)
        if levelno is None:
            level_number(level)  # raises the ValueError naming it
            return
        if levelno < self._min_level and not self._strict:
            return
        standard = STANDARD_EVENTS.get(event) if event is not None else None
        if standard is not None:
            span = get_current_span()
            ids = None if span is INVALID_SPAN else _span_event(span, event, fields)  # type: ignore[arg-type]
            self._checked(level, levelno, event, message, fields, standard[1], ids)
        elif levelno >= self._min_level:
            span = get_current_span()
            ids = None if span is INVALID_SPAN else _trace_ids(span)
            self._emit(level, levelno, event, message, fields, current(), (), ids)

    def trace(self, message: str, *, event: str | None = None, **fields: Any) -> None:
        if self._min_level <= 0 or self._strict:
            self.log("TRACE", message, event=event, **fields)

    def debug(self, message: str, *, event: str | None = None, **fields: Any) -> None:
        if self._min_level <= 1 or self._strict:
            self.log("DEBUG", message, event=event, **fields)

    def info(self, message: str, *, event: str | None = None, **fields: Any) -> None:
        if self._min_level <= 2 or self._strict:
            self.log("INFO", message, event=event, **fields)

    def warn(self, message: str, *, event: str | None = None, **fields: Any) -> None:
        if self._min_level <= 3 or self._strict:
            self.log("WARN", message, event=event, **fields)

    def error(self, message: str, *, event: str | None = None, **fields: Any) -> None:
        if self._min_level <= 4 or self._strict:
            self.log("ERROR", message, event=event, **fields)

    def fatal(self, message: str, *, event: str | None = None, **fields: Any) -> None:
        self.log("FATAL", message, event=event, **fields)

    def close(self) -> None:
        for output in self._outputs:
            try:
                output.close()
            except Exception:  # noqa: BLE001 - closing must not raise into shutdown code
                self._write_failed(output.kind)

    # -- building and writing lines ---------------------------------------------------------

    def _checked(self, level: str, levelno: int, event: str, message: str | None,
                 fields: dict[str, Any], required: tuple[str, ...], ids: tuple[str, str] | None) -> None:
        context = current()
        missing: tuple[str, ...] = ()
        for name in required:  # usually all passed: the full check only when one is not
            if fields.get(name) is None:
                missing = _missing_fields(required, fields, context)
                break
        if missing and self._strict:
            raise ValueError(f"event {event!r} is missing required field(s): {', '.join(missing)}")
        if levelno < self._min_level:
            return
        self._emit(level, levelno, event, message, fields, context, missing, ids)
        if missing:
            self._emit("WARN", LEVELS["WARN"], CONTRACT_VIOLATION,
                       f"event {event} is missing required field(s): {', '.join(missing)}",
                       {"violated_event": event, "missing_fields": list(missing)}, context, (), ids)

    def _emit(self, level: str, levelno: int, event: str | None, message: str | None,
              fields: dict[str, Any], context: CorrelationContext | None,
              missing: tuple[str, ...], ids: tuple[str, str] | None) -> None:
        """One line; `ids`: the current span's trace_id and span_id, None when no span is current."""
        pop = fields.pop
        correlation_id = pop("correlation_id", None)
        session_id = pop("session_id", None)
        agent = pop("agent", None)
        task_id = pop("task_id", None)
        parent_task = pop("parent_task", None)
        if context is not None:
            correlation_id = correlation_id or context.correlation_id
            session_id = session_id or context.session_id
            agent = agent or context.agent
            task_id = task_id or context.task_id
            parent_task = parent_task or context.parent_task
        component = pop("component", self._component)
        model = pop("model", None)
        duration_ms = pop("duration_ms", None)
        tags = pop("tags", None)
        extra = pop("metadata", None)

        metadata: dict[str, Any] = {}
        if task_id is not None:
            metadata["task_id"] = task_id
        if parent_task is not None:
            metadata["parent_task"] = parent_task
        if fields:
            metadata.update(fields)
        if extra:
            metadata.update(extra)
        if missing:
            metadata["missing_fields"] = list(missing)
        if ids is not None:
            metadata["trace_id"], metadata["span_id"] = ids

        values = (self._timestamp(), level, correlation_id, session_id, component, agent, model, event, message,
                  metadata, duration_ms, list(tags) if tags else [])
        json_line = pretty_line = None
        written = False
        for output in self._outputs:
            if levelno < output.threshold:
                continue
            try:
                if output.pretty:
                    if pretty_line is None:
                        pretty_line = format_pretty(dict(zip(RECORD_KEYS, values))) + "\n"
                    output.write(pretty_line)
                else:
                    if json_line is None:
                        json_line = _json_line(*values)
                    output.write(json_line)
                written = True
            except Exception:  # noqa: BLE001 - a failed write is counted, never raised
                self._write_failed(output.kind)
        if written and self._on_line is not None:
            self._on_line(level)

    def _timestamp(self) -> str:
        if self._clock is not None:
            return format_timestamp(self._clock())
        seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
        cached = self._second
        if cached[0] != seconds:
            cached = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
            self._second = cached
        return f"{cached[1]}.{nanos // 1_000_000:03d}Z"

    def _write_failed(self, kind: str) -> None:
        if self._on_write_error is not None:
            self._on_write_error(kind)

    # -- outputs ----------------------------------------------------------------------------

    def _open_output(self, spec: LogOutput, config: LoggingRuntime,
                     streams: dict[str, TextIO]) -> _Output:
        threshold = level_number(spec.level or config.level)
        pretty = spec.format == "pretty"
        if spec.type == "file":
            assert spec.path is not None  # LogOutput validates that a file output has a path
            rotation = config.rotation
            writer = RotatingFileWriter(
                os.path.expanduser(spec.path),
                max_size_mb=rotation.max_size_mb,
                max_files=rotation.max_files,
                compress=rotation.compress,
                retention_days=rotation.retention_days,
            )
            return _Output("file", threshold, pretty, writer.write, writer.close)
        stream = streams.get("console", sys.stderr)
        lock = threading.Lock()

        def write_console(text: str) -> None:
            with lock:
                stream.write(text)

        return _Output("console", threshold, pretty, write_console, stream.flush)


def _missing_fields(required: tuple[str, ...], fields: dict[str, Any],
                    context: CorrelationContext | None) -> tuple[str, ...]:
    missing: list[str] = []
    for name in required:
        if fields.get(name) is not None:
            continue
        if context is not None and name in _CONTEXT_FIELDS and getattr(context, name) is not None:
            continue
        extra = fields.get("metadata")
        if isinstance(extra, dict) and extra.get(name) is not None:
            continue
        missing.append(name)
    return tuple(missing)


def _trace_ids(span: Span) -> tuple[str, str] | None:
    """The span's trace_id and span_id as hex text; None for an invalid span context."""
    context = span.get_span_context()
    return (f"{context.trace_id:032x}", f"{context.span_id:016x}") if context.is_valid else None


def _span_event(span: Span, name: str, fields: dict[str, Any]) -> tuple[str, str] | None:
    """The event on `span` if it is recording; the span's ids for the line."""
    log_event = getattr(span, "log_event", None)
    if log_event is not None:
        # Our RecordedSpan: one call; the attributes are made only if the trace is kept (most are
        # dropped). A copy, since _emit takes fields out of the dict it is given; other values than
        # scalars are made into attributes now, so that the caller changing them later does not
        # change the event (StructuredLogger.event inlines this).
        if _PLAIN.issuperset(map(type, fields.values())):
            return log_event(name, dict(fields), _span_event_attributes)  # type: ignore[no-any-return]
        return log_event(name, _span_event_attributes(fields), dict)  # type: ignore[no-any-return]
    if span.is_recording():
        span.add_event(name, _span_event_attributes(fields))
    return _trace_ids(span)


def _span_event_attributes(fields: dict[str, Any]) -> dict[str, Any]:
    """The event's fields as OpenTelemetry attribute values (None dropped, others as text), in a
    new dict with text keys (RecordedSpan.log_event relies on it).
    Never raises: a value (or a metadata key) whose str() raises becomes `<unprintable TypeName>`."""
    attributes: dict[str, Any] = {}
    for key, value in fields.items():
        if type(value) in _SCALARS:  # the usual case first
            attributes[key] = value
        elif value is None:
            continue
        elif key == "metadata" and isinstance(value, dict):
            attributes.update(_span_event_attributes({k if type(k) is str else _printable(k, str): v
                                                      for k, v in value.items()}))
        elif isinstance(value, (str, bool, int, float)):
            attributes[key] = value
        else:
            attributes[key] = _printable(value, str)
    return attributes


def _json_value(value: Any) -> str:
    """A top-level value as the encoder writes it inside the record (text through its C string encoder)."""
    if value is None:
        return "null"
    return _encode_text(value) if type(value) is str else _encode(value)


def _json_line(timestamp: str, level: str, correlation_id: Any, session_id: Any, component: Any, agent: Any,
               model: Any, event: Any, message: Any, metadata: dict[str, Any], duration_ms: Any,
               tags: list[Any]) -> str:
    """The same bytes as encoding the record dict (tests/test_tracing_logs.py checks), built around fixed
    key text: the encoder only sees the values, which is about twice as fast per line."""
    # A circular structure, a non-string key, NaN or a failing str() in metadata: _encode replaces
    # only those parts (trace_id, span_id and the other values stay as they are).
    encoded_metadata = _encode(metadata)
    # timestamp and level are our own text: nothing to escape. Text values (the usual case) go
    # straight to the C string encoder: a Python call less per value.
    text = _encode_text
    return (f'{{"timestamp":"{timestamp}","level":"{level}",'
            f'"correlation_id":{text(correlation_id) if type(correlation_id) is str else _json_value(correlation_id)},'
            f'"session_id":{text(session_id) if type(session_id) is str else _json_value(session_id)},'
            f'"component":{text(component) if type(component) is str else _json_value(component)},'
            f'"agent":{text(agent) if type(agent) is str else _json_value(agent)},'
            f'"model":{text(model) if type(model) is str else _json_value(model)},'
            f'"event":{text(event) if type(event) is str else _json_value(event)},'
            f'"message":{text(message) if type(message) is str else _json_value(message)},'
            f'"metadata":{encoded_metadata},"duration_ms":{_json_value(duration_ms)},'
            f'"tags":{_encode(tags) if tags else "[]"}}}\n')


def _pretty_value(value: Any) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c in '"=' for c in value):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except Exception:  # noqa: BLE001 - a circular value, a str() that raises: the line is still written
        return _printable(value, repr)


def format_pretty(record: dict[str, Any]) -> str:
    """One readable line: `<time> <LEVEL> <component> <event>: <message> key=value ...`.

    Keys follow in a fixed order: agent, model, duration_ms, the metadata, tags, then the
    correlation and session ids (long, so last). Unknown (null/empty) values are left out.
    """
    head = f"{record['timestamp']} {record['level']:<5} {record['component']}"
    message = record["message"]
    if record["event"]:
        head += f" {record['event']}:" if message else f" {record['event']}"
    if message:
        # The console line must stay one line, whatever the message holds.
        head += " " + str(message).replace("\r", "\\r").replace("\n", "\\n")
    pairs = [("agent", record["agent"]), ("model", record["model"]),
             ("duration_ms", record["duration_ms"]), *record["metadata"].items()]
    if record["tags"]:
        pairs.append(("tags", ",".join(map(str, record["tags"]))))
    pairs += [("correlation_id", record["correlation_id"]), ("session_id", record["session_id"])]
    tail = " ".join(f"{key}={_pretty_value(value)}" for key, value in pairs if value is not None)
    return f"{head} {tail}" if tail else head
