"""Traces against a real OTLP receiver: rotel (a Rust OpenTelemetry collector, PyPI `rotel`)
on loopback, started here and always stopped. Every assertion reads what rotel printed of the
spans it received (--debug-log traces, detailed), never our exporter's memory.
"""

from __future__ import annotations

import io
import json
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from exporter.catalogue import load_for_exporter
from exporter.instrument import Instrumentation
from observability.load import Loaded
from observability.spec import TracingRuntime

ROTEL_INSTALL = ("rotel is a pinned dependency of this project: `make test` installs it, or "
                 "`.venv/bin/pip install -e .` (the wheel ships the rotel-agent binary)")


def rotel_agent() -> Path:
    try:
        import rotel
    except ImportError:  # never skipped: the receiver tests are the point
        pytest.fail(f"the Python package rotel is missing. {ROTEL_INSTALL}")
    agent = Path(rotel.__file__).parent / "rotel-agent"
    if not agent.is_file():
        pytest.fail(f"{agent} is missing from the rotel package. {ROTEL_INSTALL}")
    return agent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def accepting(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class ReceivedSpan:
    service: str
    trace_id: str
    parent_id: str
    span_id: str
    name: str
    status: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)


_FIELD = re.compile(r"^\s+(Trace ID|Parent ID|ID|Name|Status code)\s+: ?(.*)$")
_ATTRIBUTE = re.compile(r"^\s+-> ([\w.]+): \w+\((.*)\)$")
_EVENT_NAME = re.compile(r"^\s+-> Name: (.*)$")


def parse_rotel(text: str) -> list[ReceivedSpan]:
    """The spans of rotel's detailed debug output (one block per received span)."""
    spans: list[ReceivedSpan] = []
    service, section, current = "", "", None
    for line in text.splitlines():
        if line.startswith("ResourceSpans"):
            section = "resource"
        elif line.startswith("Span #"):
            current = ReceivedSpan(service, "", "", "", "")
            spans.append(current)
            section = "span"
        elif line.startswith("Attributes:"):
            section = "attributes"
        elif line.startswith("Events:"):
            section = "events"
        elif section == "resource" and (m := _ATTRIBUTE.match(line)) and m.group(1) == "service.name":
            service = m.group(2)
        elif current is not None and (m := _FIELD.match(line)) and section == "span":
            key = {"Trace ID": "trace_id", "Parent ID": "parent_id", "ID": "span_id", "Name": "name",
                   "Status code": "status"}[m.group(1)]
            setattr(current, key, m.group(2).strip())
        elif current is not None and section == "attributes" and (m := _ATTRIBUTE.match(line)):
            current.attributes[m.group(1)] = m.group(2)
        elif current is not None and section == "events" and (m := _EVENT_NAME.match(line)):
            current.events.append(m.group(1))
    return spans


class Receiver:
    def __init__(self, output: Path, grpc_port: int, http_port: int):
        self.output, self.grpc_port, self.http_port = output, grpc_port, http_port

    def spans(self, service: str) -> list[ReceivedSpan]:
        return [s for s in parse_rotel(self.output.read_text(errors="replace")) if s.service == service]

    def wait_for(self, service: str, count: int, timeout: float = 15.0) -> list[ReceivedSpan]:
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans(service)
            if len(spans) >= count or time.monotonic() > deadline:
                return spans
            time.sleep(0.1)


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    agent = rotel_agent()
    directory = tmp_path_factory.mktemp("rotel")
    grpc_port, http_port = free_port(), free_port()
    output = directory / "received.txt"
    with output.open("w") as sink:
        process = subprocess.Popen(
            [str(agent), "start", "--exporter", "blackhole", "--debug-log", "traces",
             "--debug-log-verbosity", "detailed", "--disable-batching",
             "--otlp-grpc-endpoint", f"127.0.0.1:{grpc_port}", "--otlp-http-endpoint", f"127.0.0.1:{http_port}",
             "--pid-file", str(directory / "rotel.pid"), "--log-file", str(directory / "rotel.log")],
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while not (accepting(grpc_port) and accepting(http_port)):
            assert process.poll() is None, f"rotel exited with {process.returncode}:\n{output.read_text()}"
            assert time.monotonic() < deadline, f"rotel did not listen in 15 s:\n{output.read_text()}"
            time.sleep(0.05)
        yield Receiver(output, grpc_port, http_port)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture(scope="module")
def loaded(root: Path) -> Loaded:
    return load_for_exporter(root / "observability.yaml")


def tracing_config(loaded: Loaded, **changes: object) -> TracingRuntime:
    base = loaded.model.runtime.tracing
    sampling = base.sampling.model_copy(update=changes.pop("sampling", {}))  # type: ignore[arg-type]
    update = {"enabled": True, "exporters": ["otlp"], "service_name": f"test-{uuid.uuid4().hex[:8]}",
              "sampling": sampling, **changes}
    return base.model_copy(update=update)


def instrumentation(loaded: Loaded, config: TracingRuntime, console: io.StringIO | None = None) -> Instrumentation:
    logging = loaded.model.runtime.logging.model_copy(update={
        "outputs": [type(loaded.model.runtime.logging.outputs[0])(type="console", format="json", level="INFO")]})
    return Instrumentation.from_model(loaded.model, CollectorRegistry(), tracing=config,
                                      logger_config=logging, logger_streams={"console": console or io.StringIO()})


def run_request(obs: Instrumentation, request_type: str = "critical") -> str:
    """A request: decompose, a parallel batch of two agent tasks that read, search, edit, call a tool."""
    with obs.request(request_type, parallel=True) as request:
        with obs.decompose(2):
            pass
        with obs.parallel_batch("batch-1", 2) as batch:
            for number, agent in enumerate(("Coder", "Analyzer")):
                queued = obs.tasks.enqueue(f"task-{number}", agent=agent, priority="high")
                with obs.tasks.run(queued, model="sonnet", observers=(batch,)):
                    with obs.read_file("src/main.py", size_bytes=120):
                        pass
                    with obs.search("def main") as search:
                        search.set(results_count=3)
                    with obs.edit_file("src/main.py", lines_changed=4):
                        pass
                    with obs.mcp_tool("github", "create_pr"):
                        pass
    assert request.span is not None
    return f"{request.span.get_span_context().trace_id:032x}"


SPANS_PER_REQUEST = 1 + 1 + 1 + 2 * (1 + 4)  # request, decompose, batch, 2 x (task + 4 operations)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_a_request_arrives_whole_with_names_parents_attributes_and_events(loaded: Loaded, receiver: Receiver,
                                                                          protocol: str) -> None:
    port = receiver.grpc_port if protocol == "grpc" else receiver.http_port
    config = tracing_config(loaded, endpoint=f"http://127.0.0.1:{port}", protocol=protocol)
    obs = instrumentation(loaded, config)
    try:
        trace_id = run_request(obs)
        assert obs.tracing is not None and obs.tracing.flush(10)
    finally:
        obs.close()
    spans = receiver.wait_for(config.service_name, SPANS_PER_REQUEST)
    assert len(spans) == SPANS_PER_REQUEST
    assert {s.trace_id for s in spans} == {trace_id}
    by_id = {s.span_id: s for s in spans}
    names = sorted(s.name for s in spans)
    assert names == sorted(["orchestrator.execute_request", "orchestrator.decompose", "orchestrator.dispatch_batch"]
                           + 2 * ["agent.execute_task", "agent.read_file", "agent.search", "agent.edit_file",
                                  "mcp.invoke_tool"])
    parent_of = {s.name: by_id[s.parent_id].name if s.parent_id else None for s in spans}
    assert parent_of == {"orchestrator.execute_request": None, "orchestrator.decompose": "orchestrator.execute_request",
                         "orchestrator.dispatch_batch": "orchestrator.execute_request",
                         "agent.execute_task": "orchestrator.dispatch_batch", "agent.read_file": "agent.execute_task",
                         "agent.search": "agent.execute_task", "agent.edit_file": "agent.execute_task",
                         "mcp.invoke_tool": "agent.execute_task"}
    root = next(s for s in spans if s.name == "orchestrator.execute_request")
    assert root.attributes["request.type"] == "critical" and root.attributes["parallel"] == "true"
    assert root.attributes["correlation.id"].startswith("corr-")
    tasks = sorted((s for s in spans if s.name == "agent.execute_task"), key=lambda s: s.attributes["task.id"])
    assert [(t.attributes["agent.type"], t.attributes["model"], t.attributes["task.id"]) for t in tasks] == [
        ("Coder", "sonnet", "task-0"), ("Analyzer", "sonnet", "task-1")]
    assert {"task_dispatched", "task_started", "task_completed"} <= set(tasks[0].events)
    batch = next(s for s in spans if s.name == "orchestrator.dispatch_batch")
    assert batch.attributes["batch.size"] == "2" and {"parallel_batch_start", "parallel_batch_end"} <= set(batch.events)
    read = next(s for s in spans if s.name == "agent.read_file")
    assert read.attributes["file.path"] == "src/main.py" and read.attributes["size_bytes"] == "120"
    assert next(s for s in spans if s.name == "agent.search").attributes["results_count"] == "3"
    assert "mcp_tool_invoked" in next(s for s in spans if s.name == "mcp.invoke_tool").events


def test_a_failed_task_arrives_with_error_status_and_dropped_traces_never_arrive(loaded: Loaded,
                                                                               receiver: Receiver) -> None:
    # Rates of 0: only the always-keep rules keep anything.
    config = tracing_config(loaded, endpoint=f"http://127.0.0.1:{receiver.grpc_port}",
                            sampling={"default": 0.0, "parallel_operations": 0.0, "agent_tasks": 0.0, "rules": []})
    obs = instrumentation(loaded, config)
    try:
        dropped = [run_request(obs, "implementation") for _ in range(5)]
        with obs.request("implementation") as request:
            queued = obs.tasks.enqueue("task-bad", agent="Coder")
            with obs.tasks.run(queued, model="haiku") as run:
                run.fail("E_TIMEOUT")
        assert request.span is not None and obs.tracing is not None and obs.tracing.flush(10)
    finally:
        obs.close()
    kept = f"{request.span.get_span_context().trace_id:032x}"
    spans = receiver.wait_for(config.service_name, 2)
    assert {s.trace_id for s in spans} == {kept}
    assert not {s.trace_id for s in spans} & set(dropped)
    task = next(s for s in spans if s.name == "agent.execute_task")
    assert task.status == "STATUS_CODE_ERROR" and task.attributes["task.status"] == "failed"
    assert "task_failed" in task.events


def test_log_lines_carry_the_trace_and_span_ids_the_receiver_got(loaded: Loaded, receiver: Receiver) -> None:
    console = io.StringIO()
    config = tracing_config(loaded, endpoint=f"http://127.0.0.1:{receiver.http_port}", protocol="http")
    obs = instrumentation(loaded, config, console)
    try:
        trace_id = run_request(obs)
        assert obs.tracing is not None and obs.tracing.flush(10)
    finally:
        obs.close()
    spans = receiver.wait_for(config.service_name, SPANS_PER_REQUEST)
    received = {(s.trace_id, s.span_id): s for s in spans}
    lines = [json.loads(line) for line in console.getvalue().splitlines()]
    completed = [line for line in lines if line["event"] == "task_completed"]
    assert len(completed) == 2
    for line in completed:
        span = received[(line["metadata"]["trace_id"], line["metadata"]["span_id"])]
        assert span.name == "agent.execute_task" and span.attributes["task.id"] == line["metadata"]["task_id"]
        # §2.5 and the trace agree: the log line's correlation id is the root span's.
        root = next(s for s in spans if s.name == "orchestrator.execute_request")
        assert line["correlation_id"] == root.attributes["correlation.id"]
    assert all(line["metadata"]["trace_id"] == trace_id for line in lines if "trace_id" in line["metadata"])


def sample(obs: Instrumentation, name: str, **labels: str) -> float:
    value = obs.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def test_a_closed_port_never_blocks_or_raises_and_drops_are_counted_with_one_warning(loaded: Loaded) -> None:
    closed = free_port()  # bound then released: nothing listens there
    console = io.StringIO()
    config = tracing_config(loaded, endpoint=f"http://127.0.0.1:{closed}", export_timeout_seconds=0.5)
    obs = instrumentation(loaded, config, console)
    try:
        started = time.perf_counter()
        for _ in range(20):
            run_request(obs)
        elapsed = time.perf_counter() - started
        assert obs.tracing is not None
        obs.tracing.flush(15)
    finally:
        obs.close(trace_flush_seconds=5)
    # 20 requests of 13 spans take milliseconds when nothing waits for the network.
    assert elapsed < 2.0, f"instrumented code waited {elapsed:.2f} s for a closed port"
    dropped = sample(obs, "orchestrator_trace_spans_dropped_total", exporter="otlp", reason="export_failed")
    assert dropped == 20 * SPANS_PER_REQUEST
    assert sample(obs, "orchestrator_trace_export_errors_total", exporter="otlp") >= 1
    warnings = [json.loads(line) for line in console.getvalue().splitlines()
                if '"trace_export_failed"' in line]
    assert len(warnings) == 1 and warnings[0]["level"] == "WARN" and "otlp" in warnings[0]["message"]


def test_a_full_export_queue_drops_and_counts_instead_of_waiting(loaded: Loaded) -> None:
    closed = free_port()
    config = tracing_config(loaded, endpoint=f"http://127.0.0.1:{closed}", export_timeout_seconds=1.0,
                            export_queue_spans=SPANS_PER_REQUEST * 2)
    obs = instrumentation(loaded, config)
    try:
        for _ in range(30):
            run_request(obs)
        queue_full = sample(obs, "orchestrator_trace_spans_dropped_total", exporter="otlp", reason="queue_full")
    finally:
        obs.close(trace_flush_seconds=0.1)
    assert queue_full >= 20 * SPANS_PER_REQUEST
    # Every kept span is accounted for: dropped for a full queue, a failed export, or left at shutdown.
    # (A batch still in flight when close() gave up is counted when its export fails: wait for it.)
    def dropped() -> float:
        return sum(sample(obs, "orchestrator_trace_spans_dropped_total", exporter="otlp", reason=reason)
                   for reason in ("queue_full", "export_failed", "shutdown"))

    deadline = time.monotonic() + 10
    while dropped() < 30 * SPANS_PER_REQUEST and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dropped() == 30 * SPANS_PER_REQUEST


def test_the_demo_reaches_any_otlp_endpoint_by_one_setting_in_the_spec(root: Path, tmp_path: Path,
                                                                       receiver: Receiver) -> None:
    from exporter.demo import Demo

    text = (root / "observability.yaml").read_text()
    setting = "    endpoint: http://localhost:4317\n"
    assert text.count(setting) == 1
    spec = tmp_path / "observability.yaml"
    spec.write_text(text.replace(setting, f"    endpoint: http://127.0.0.1:{receiver.grpc_port}\n"))
    demo = Demo(load_for_exporter(spec), "error-spike", speed=400, port=0, log_dir=tmp_path,
                console_stream=io.StringIO(), seed=11)
    demo.start()
    try:
        demo.wait(2.0)
    finally:
        demo.stop()
    spans = receiver.wait_for("orchestrator", 1)
    assert {"agent.execute_task", "agent.read_file", "llm.call"} <= {s.name for s in spans}
    assert any(s.status == "STATUS_CODE_ERROR" for s in spans)  # error-spike's failed tasks are always kept


def test_the_standard_otlp_endpoint_variable_overrides_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    """docker compose points the exporter container at Jaeger this way."""
    from exporter.tracing.export import exporters_from_config
    from observability.load import load

    tracing = load(Path(__file__).resolve().parent.parent / "observability.yaml").model.runtime.tracing
    config = tracing.model_copy(update={"protocol": "http", "exporters": ["otlp"]})
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger:4318")
    assert exporters_from_config(config)["otlp"]._endpoint == "http://jaeger:4318/v1/traces"
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    assert exporters_from_config(config)["otlp"]._endpoint.startswith(tracing.endpoint.rstrip("/"))
