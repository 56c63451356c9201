"""The exporter's HTTP endpoint: /metrics for Prometheus and /healthz for probes.

    server = ExporterServer(registry, obs.health, host="127.0.0.1", port=0).start()
    server.port  # the bound port (port 0 picks a free one)
    server.stop()

A ThreadingHTTPServer in a daemon thread: scrapes never wait for each other nor for the
instrumented code, which keeps running in its own threads. Binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry

from observability.spec import ExporterRuntime

from .exposition import encoder_for
from .health import HealthBoard

HEALTH_PATH = "/healthz"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Fail fast on a port in use rather than sharing it with an old process.
    allow_reuse_address = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open: set[Any] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End kept-alive connections too: their handler threads would go on answering."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _handler(registry: CollectorRegistry, health: HealthBoard | None, metrics_path: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the http.server naming
            path = self.path.split("?", 1)[0]
            if path == metrics_path:
                render, content_type = encoder_for(self.headers.get("Accept"))
                self._reply(200, content_type, render(registry))
            elif path == HEALTH_PATH:
                components = health.components() if health is not None else {}
                healthy = all(components.values())
                body = {"status": "healthy" if healthy else "unhealthy",
                        "components": {name: "healthy" if ok else "unhealthy" for name, ok in sorted(components.items())}}
                self._reply(200 if healthy else 503, "application/json", json.dumps(body).encode() + b"\n")
            else:
                self._reply(404, "text/plain; charset=utf-8", f"not found; try {metrics_path} or {HEALTH_PATH}\n".encode())

        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            # One line per scrape on stderr would drown the orchestrator's own logs.
            pass

    return Handler


class ExporterServer:
    def __init__(self, registry: CollectorRegistry, health: HealthBoard | None = None, *,
                 host: str = "127.0.0.1", port: int = 9464, path: str = "/metrics"):
        if not path.startswith("/") or path == HEALTH_PATH:
            raise ValueError(f"path: {path!r} must start with / and differ from {HEALTH_PATH}")
        self.registry = registry
        self.health = health
        self.host = host
        self.requested_port = port
        self.path = path
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_runtime(cls, registry: CollectorRegistry, health: HealthBoard | None, runtime: ExporterRuntime, *,
                     port: int | None = None, host: str | None = None) -> ExporterServer:
        """Host, port and path from runtime.exporter of the spec; `port`/`host` override them."""
        return cls(registry, health, host=host or runtime.host, port=runtime.port if port is None else port,
                   path=runtime.path)

    def start(self) -> ExporterServer:
        if self._server is not None:
            raise RuntimeError(f"the exporter already listens on {self.url}")
        self._server = _Server((self.host, self.requested_port), _handler(self.registry, self.health, self.path))
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"exporter-http-{self.port}", daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the exporter is not listening; call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def stop(self) -> None:
        """Stop answering and close the socket; waits for the serving thread. Safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> ExporterServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
