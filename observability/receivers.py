"""Local stand-ins for Slack and PagerDuty: one HTTP server on loopback that records (and can
print) what Alertmanager sends.

- POST /slack/<channel-receiver> takes a Slack incoming-webhook body and answers `ok` (200), as
  hooks.slack.com does.
- POST /pagerduty/<receiver> takes a PagerDuty Events v2 event and answers 202 with
  {"status": "success", "message": "Event processed", "dedup_key": ...}, as
  events.pagerduty.com/v2/enqueue does; an event without routing_key or a bad event_action
  gets PagerDuty's 400 {"status": "invalid event"}.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOOPBACK = "127.0.0.1"
EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")


def slack_path(receiver: str) -> str:
    """/slack/critical for slack_critical, /slack/alerts for slack_alerts."""
    return "/slack/" + receiver.removeprefix("slack_")


def pagerduty_path(receiver: str) -> str:
    return "/pagerduty/" + receiver


def describe(path: str, body: Any) -> str:
    """One line on a received notification, as `orchestrator stack up` prints it."""
    if not isinstance(body, dict):
        return f"{path}: {body!r}"
    if path.startswith("/pagerduty/"):
        payload = body.get("payload") or {}
        return (f"PagerDuty {path.rsplit('/', 1)[1]}: {body.get('event_action')} "
                f"[{payload.get('severity')}] {payload.get('summary')} (dedup_key {body.get('dedup_key')})")
    attachments = body.get("attachments") or [{}]
    return f"Slack {body.get('channel')}: {attachments[0].get('title')}"


class Recorder:
    """JSON bodies POSTed to the server, by path, in arrival order, with their arrival times."""

    def __init__(self, base: str = "", echo: Callable[[str], None] | None = None) -> None:
        self.base = base
        self.echo = echo
        self._bodies: dict[str, list[Any]] = defaultdict(list)
        self._times: dict[str, list[float]] = defaultdict(list)
        self._changed = threading.Condition()

    def record(self, path: str, body: Any) -> None:
        with self._changed:
            self._bodies[path].append(body)
            self._times[path].append(time.monotonic())
            self._changed.notify_all()
        if self.echo is not None:
            self.echo(describe(path, body))

    def bodies(self, path: str) -> list[Any]:
        with self._changed:
            return list(self._bodies.get(path, []))

    def received(self) -> list[tuple[float, str, Any]]:
        """(time.monotonic() of arrival, path, body) of every notification, in arrival order."""
        with self._changed:
            out = [(t, path, body) for path in self._bodies for t, body in zip(self._times[path], self._bodies[path])]
        return sorted(out, key=lambda item: item[0])

    def paths(self) -> dict[str, int]:
        with self._changed:
            return {path: len(bodies) for path, bodies in self._bodies.items()}

    def wait_for(self, ready: Callable[[Recorder], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not ready(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; "
                                         f"received so far: {dict(self._bodies)}")
                self._changed.wait(min(left, 0.2))


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", errors="replace")
            recorder.record(self.path, body)
            if self.path.startswith("/pagerduty/"):
                if (isinstance(body, dict) and body.get("routing_key")
                        and body.get("event_action") in EVENT_ACTIONS):
                    reply = json.dumps({"status": "success", "message": "Event processed",
                                        "dedup_key": body.get("dedup_key")}).encode()
                    status = 202
                else:
                    reply, status = b'{"status":"invalid event","message":"Event object is invalid"}', 400
            else:
                reply, status = b"ok", 200
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def do_GET(self) -> None:  # noqa: N802
            """GET /received: what arrived so far, [{"path", "body"}...] in arrival order
            (`orchestrator alerts test` reads it)."""
            if self.path != "/received":
                self.send_error(404)
                return
            reply = json.dumps([{"path": path, "body": body} for _, path, body in recorder.received()]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


@contextmanager
def receiver_server(port: int = 0, echo: Callable[[str], None] | None = None) -> Iterator[Recorder]:
    """Serve on 127.0.0.1:port (0: a free one) in a thread; yield the Recorder (.base is its URL)."""
    recorder = Recorder(echo=echo)
    server = ThreadingHTTPServer((LOOPBACK, port), _handler(recorder))
    server.daemon_threads = True
    recorder.base = f"http://{LOOPBACK}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="local-receivers", daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
