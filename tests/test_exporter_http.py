"""/metrics and /healthz over real HTTP on 127.0.0.1, a free port each time."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from exporter.http import ExporterServer
from exporter.instrument import Instrumentation
from observability.load import Loaded, load


@pytest.fixture(scope="module")
def loaded(root) -> Loaded:  # type: ignore[no-untyped-def]
    return load(root / "observability.yaml")


@pytest.fixture
def served(loaded: Loaded) -> Iterator[tuple[Instrumentation, ExporterServer]]:
    registry = CollectorRegistry()
    obs = Instrumentation.from_model(loaded.model, registry)
    server = ExporterServer.from_runtime(registry, obs.health, loaded.model.runtime.exporter, port=0).start()
    try:
        yield obs, server
    finally:
        server.stop()


def get(url: str, accept: str | None = None) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_defaults_are_the_fixed_port_on_loopback(loaded: Loaded) -> None:
    server = ExporterServer.from_runtime(CollectorRegistry(), None, loaded.model.runtime.exporter)
    assert (server.host, server.requested_port, server.path) == ("127.0.0.1", 9464, "/metrics")
    assert ExporterServer(CollectorRegistry()).host == "127.0.0.1"


def test_port_zero_picks_a_free_port_on_loopback_only(served: tuple[Instrumentation, ExporterServer]) -> None:
    _, server = served
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}/metrics"
    assert server._server is not None and server._server.server_address[0] == "127.0.0.1"
    # This machine's outward address (no packet is sent) must not reach the exporter.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))
        outward = probe.getsockname()[0]
    finally:
        probe.close()
    if not outward.startswith("127."):
        with pytest.raises(OSError):
            socket.create_connection((outward, server.port), timeout=1).close()


def test_metrics_in_the_text_format_and_in_openmetrics(served: tuple[Instrumentation, ExporterServer]) -> None:
    obs, server = served
    obs.tasks.enqueue("task-1", agent="Coder", priority="high")
    status, content_type, body = get(server.url)
    assert status == 200 and content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert b'orchestrator_task_queue_size{priority="high"} 1.0\n' in body
    status, content_type, body = get(server.url, accept="application/openmetrics-text; version=1.0.0; charset=utf-8")
    assert status == 200 and content_type.startswith("application/openmetrics-text")
    assert b'orchestrator_task_queue_size{priority="high"} 1.0\n' in body and body.endswith(b"# EOF\n")


def test_healthz_is_200_then_503_once_a_component_is_unhealthy(served: tuple[Instrumentation, ExporterServer]) -> None:
    obs, server = served
    obs.set_health("scheduler", True)
    obs.set_health("queue", True)
    status, content_type, body = get(f"http://127.0.0.1:{server.port}/healthz")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == {"status": "healthy", "components": {"queue": "healthy", "scheduler": "healthy"}}
    obs.set_health("queue", False)
    status, _, body = get(f"http://127.0.0.1:{server.port}/healthz")
    assert status == 503
    assert json.loads(body) == {"status": "unhealthy", "components": {"queue": "unhealthy", "scheduler": "healthy"}}
    assert b'orchestrator_health_status{component="queue"} 0.0' in get(server.url)[2]


def test_an_unknown_path_is_404(served: tuple[Instrumentation, ExporterServer]) -> None:
    _, server = served
    assert get(f"http://127.0.0.1:{server.port}/other")[0] == 404


def test_stop_closes_the_socket_and_a_busy_port_fails_at_start(loaded: Loaded) -> None:
    first = ExporterServer(CollectorRegistry(), port=0).start()
    try:
        port = first.port
        with pytest.raises(OSError):
            ExporterServer(CollectorRegistry(), port=port).start()
    finally:
        first.stop()
    first.stop()  # twice is fine
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_stop_also_ends_kept_alive_connections() -> None:
    """Prometheus reuses one HTTP/1.1 connection: after stop() it must fail too, or `up`
    stays 1 and orchestrator_down never fires."""
    import http.client

    server = ExporterServer(CollectorRegistry(), port=0).start()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
    try:
        connection.request("GET", "/metrics")
        first = connection.getresponse()
        first.read()
        assert first.status == 200 and not first.will_close
        server.stop()
        with pytest.raises((OSError, http.client.HTTPException)):
            connection.request("GET", "/metrics")
            connection.getresponse().read()
    finally:
        connection.close()
        server.stop()
