"""The instrumentation API: task lifecycle, agents, batches, teams, health, and the log wiring."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from exporter.context import correlation
from exporter.instrument import Instrumentation
from observability.load import Loaded, load
from observability.spec import LoggingRuntime


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class BrokenStream(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError("disk full")


@pytest.fixture(scope="module")
def loaded(root) -> Loaded:  # type: ignore[no-untyped-def]
    return load(root / "observability.yaml")


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def console_json(loaded: Loaded, level: str = "DEBUG") -> LoggingRuntime:
    """Only a JSON console output, so a test reads every line from a StringIO."""
    config = loaded.model.runtime.logging
    console = next(o for o in config.outputs if o.type == "console")
    return config.model_copy(update={"level": level, "outputs": [console.model_copy(update={"format": "json", "level": level})]})


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def events(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_task_lifecycle_keeps_queue_active_totals_and_durations(loaded: Loaded, registry: CollectorRegistry,
                                                                   clock: FakeClock) -> None:
    obs = Instrumentation.from_model(loaded.model, registry, clock=clock)
    queued = obs.tasks.enqueue("task-1", agent="Coder", priority="high")
    assert value(registry, "orchestrator_task_queue_size", priority="high") == 1
    clock.now += 4
    with obs.tasks.run(queued, model="sonnet"):
        assert value(registry, "orchestrator_task_queue_size", priority="high") == 0
        assert value(registry, "orchestrator_tasks_active", agent="Coder") == 1
        clock.now += 7
    assert value(registry, "orchestrator_tasks_active", agent="Coder") == 0
    assert value(registry, "orchestrator_tasks_total", agent="Coder", status="success", model="sonnet") == 1
    assert value(registry, "orchestrator_task_queue_wait_seconds_sum", priority="high") == 4
    assert value(registry, "orchestrator_task_queue_wait_seconds_bucket", priority="high", le="2.5") == 0
    assert value(registry, "orchestrator_task_queue_wait_seconds_bucket", priority="high", le="5.0") == 1
    assert value(registry, "orchestrator_task_duration_seconds_sum", agent="Coder", status="success") == 7
    assert value(registry, "orchestrator_slow_tasks_total", agent="Coder") == 0


def test_slow_failed_and_retried_tasks(loaded: Loaded, registry: CollectorRegistry, clock: FakeClock) -> None:
    obs = Instrumentation.from_model(loaded.model, registry, clock=clock)
    slow = loaded.model.thresholds["slow_task_seconds"]
    first = obs.tasks.enqueue("task-1", agent="DevOps", priority="low")
    with obs.tasks.run(first, model="haiku") as run:
        clock.now += slow + 1
        again = run.retry("timeout")
    assert again.attempt == 2 and again.task_id == "task-1"
    assert value(registry, "orchestrator_task_queue_size", priority="low") == 1
    with pytest.raises(RuntimeError):
        with obs.tasks.run(again, model="haiku"):
            clock.now += 1
            raise RuntimeError("agent crashed")
    assert value(registry, "orchestrator_task_retries_total", agent="DevOps", reason="timeout") == 1
    # A retried attempt is not a final outcome; the failure after it is.
    assert value(registry, "orchestrator_tasks_total", agent="DevOps", status="failed", model="haiku") == 1
    assert value(registry, "orchestrator_tasks_total", agent="DevOps", status="success", model="haiku") == 0
    assert value(registry, "orchestrator_task_duration_seconds_count", agent="DevOps", status="retried") == 1
    assert value(registry, "orchestrator_task_duration_seconds_count", agent="DevOps", status="failed") == 1
    assert value(registry, "orchestrator_slow_tasks_total", agent="DevOps") == 1
    assert value(registry, "orchestrator_tasks_active", agent="DevOps") == 0
    with pytest.raises(ValueError, match="task-1: has already left the queue"):
        obs.tasks.run(again, model="haiku").__enter__()


def test_agents_tokens_files_mcp_health_teams_and_batches(loaded: Loaded, registry: CollectorRegistry,
                                                          clock: FakeClock) -> None:
    obs = Instrumentation.from_model(loaded.model, registry, clock=clock)
    with obs.agent("Architect", mode="persistent") as architect:
        assert value(registry, "orchestrator_agent_active", agent_type="Architect") == 1
        with obs.team("team-1", member_count=2):
            assert value(registry, "orchestrator_teams_active") == 1
            with obs.parallel_batch("batch-1", task_count=2) as batch:
                a = obs.tasks.enqueue("t-a", agent="Architect")
                b = obs.tasks.enqueue("t-b", agent="Architect")
                # Two tasks of 10 s and 6 s side by side in 10 s: speedup 1.6 of 2.
                first, second = obs.tasks.run(a, model="sonnet", observers=(architect, batch)), \
                    obs.tasks.run(b, model="sonnet", observers=(architect, batch))
                first.__enter__()
                second.__enter__()
                clock.now += 6
                second.__exit__(None, None, None)
                clock.now += 4
                first.__exit__(None, None, None)
        assert architect.tasks_completed == 2
    assert batch.efficiency == pytest.approx(0.8)
    assert value(registry, "orchestrator_parallelism_efficiency") == pytest.approx(0.8)
    assert value(registry, "orchestrator_teams_formed_total") == 1
    assert value(registry, "orchestrator_teams_active") == 0
    assert value(registry, "orchestrator_agent_spawn_total", agent_type="Architect", mode="persistent") == 1
    assert value(registry, "orchestrator_agent_active", agent_type="Architect") == 0
    obs.agent_error("Architect", "E_TOOL")
    obs.agent_memory("Architect", 123.0)
    obs.tokens("Architect", "sonnet", 500)
    obs.file_operation("read")
    obs.file_operation("write", ok=False)
    obs.mcp_tools_available("github", 26)
    obs.set_health("scheduler", True)
    clock.now += 30
    assert value(registry, "orchestrator_agent_errors_total", agent_type="Architect", error_code="E_TOOL") == 1
    assert value(registry, "orchestrator_agent_memory_bytes", agent_type="Architect") == 123
    assert value(registry, "orchestrator_agent_tokens_total", agent_type="Architect", model="sonnet") == 500
    assert value(registry, "orchestrator_file_operations_total", operation="write", status="failed") == 1
    assert value(registry, "orchestrator_mcp_tools_available", plugin="github") == 26
    assert value(registry, "orchestrator_health_status", component="scheduler") == 1
    assert value(registry, "orchestrator_uptime_seconds") == 40
    ratio = value(registry, "orchestrator_disk_usage_ratio", volume="logs")
    assert ratio is not None and 0 < ratio < 1


def test_the_lifecycle_writes_the_standard_events_and_counts_the_lines(loaded: Loaded, registry: CollectorRegistry,
                                                                       clock: FakeClock) -> None:
    stream = io.StringIO()
    obs = Instrumentation.from_model(loaded.model, registry, clock=clock, logger_config=console_json(loaded),
                                     logger_streams={"console": stream})
    with correlation(session_id="sess-test") as session:
        with obs.agent("Coder", mode="persistent"), obs.team("team-1", member_count=1), \
                obs.parallel_batch("batch-1", task_count=1) as batch:
            queued = obs.tasks.enqueue("task-100", agent="Coder", priority="high")
            with obs.tasks.run(queued, model="sonnet", observers=(batch,)) as run:
                clock.now += 2
                obs.mcp_tool_invoked("github", "get_issue")
                again = run.retry("rate_limit")
            with obs.tasks.run(again, model="sonnet", observers=(batch,)) as run:
                run.fail("E_TOOL")
            last = obs.tasks.enqueue("task-101", agent="Coder")
            with obs.tasks.run(last, model="sonnet", observers=(batch,)):
                clock.now += 1
    obs.close()
    lines = events(stream)
    names = [line["event"] for line in lines]
    assert names == [
        "agent_spawned", "team_created", "parallel_batch_start",
        "task_created", "task_dispatched", "task_started", "mcp_tool_invoked", "task_retried", "task_created",
        "task_dispatched", "task_started", "task_failed",
        "task_created", "task_dispatched", "task_started", "task_completed",
        "parallel_batch_end", "team_shutdown", "agent_shutdown",
    ]
    by_event = {line["event"]: line for line in lines}
    assert not [line for line in lines if line["event"] == "log_contract_violation"]
    assert by_event["task_dispatched"]["model"] == "sonnet"
    assert by_event["task_completed"]["duration_ms"] == 1000
    assert by_event["task_failed"]["metadata"]["error_code"] == "E_TOOL"
    assert by_event["task_retried"]["metadata"]["retry_count"] == 1
    assert by_event["parallel_batch_end"]["metadata"] == {"batch_id": "batch-1", "success_count": 1, "failed_count": 1,
                                                          "efficiency": 1.0}
    # The tasks carry the session's correlation id, and their own task id into their body's lines.
    assert {line["correlation_id"] for line in lines} == {session.correlation_id}
    assert by_event["mcp_tool_invoked"]["metadata"]["task_id"] == "task-100"
    assert value(registry, "orchestrator_log_lines_total", level="DEBUG") == 4
    assert value(registry, "orchestrator_log_lines_total", level="WARN") == 1
    assert value(registry, "orchestrator_log_lines_total", level="ERROR") == 1
    assert value(registry, "orchestrator_log_lines_total", level="INFO") == 13


def test_a_task_queued_in_one_context_runs_in_it_in_another_thread(loaded: Loaded, registry: CollectorRegistry) -> None:
    import threading

    stream = io.StringIO()
    obs = Instrumentation.from_model(loaded.model, registry, logger_config=console_json(loaded, "INFO"),
                                     logger_streams={"console": stream})
    with correlation(task_id="task-parent") as parent:
        queued = obs.tasks.enqueue("task-child", agent="Analyzer")

    def worker() -> None:
        with obs.tasks.run(queued, model="haiku"):
            pass

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    started = next(line for line in events(stream) if line["event"] == "task_started")
    assert started["correlation_id"] == parent.correlation_id
    assert started["metadata"]["parent_task"] == "task-parent"
    assert started["metadata"]["task_id"] == "task-child"


def test_write_errors_are_counted_per_output(loaded: Loaded, registry: CollectorRegistry) -> None:
    obs = Instrumentation.from_model(loaded.model, registry, logger_config=console_json(loaded, "INFO"),
                                     logger_streams={"console": BrokenStream()})
    queued = obs.tasks.enqueue("task-1", agent="Coder")
    with obs.tasks.run(queued, model="sonnet"):
        pass
    assert value(registry, "orchestrator_log_write_errors_total", output="console") == 3
    assert value(registry, "orchestrator_log_lines_total", level="INFO") == 0


def test_the_cap_warning_goes_to_the_structured_log(loaded: Loaded, registry: CollectorRegistry) -> None:
    stream = io.StringIO()
    obs = Instrumentation.from_model(loaded.model, registry, logger_config=console_json(loaded, "INFO"),
                                     logger_streams={"console": stream}, max_series_per_metric=2)
    for plugin in ("a", "b", "c", "d"):
        obs.mcp_tools_available(plugin, 1)
    warnings = [line for line in events(stream) if line["level"] == "WARN"]
    assert len(warnings) == 1
    assert warnings[0]["message"].startswith("orchestrator_mcp_tools_available: reached its cap of 2 series")


def test_the_log_directory_decides_the_disk_volume(loaded: Loaded, registry: CollectorRegistry, tmp_path: Path) -> None:
    config = loaded.model.runtime.logging
    file_output = next(o for o in config.outputs if o.type == "file")
    moved = config.model_copy(update={"outputs": [file_output.model_copy(update={"path": str(tmp_path / "o.log")})]})
    obs = Instrumentation.from_model(loaded.model, registry, logger_config=moved)
    obs.close()
    import shutil

    usage = shutil.disk_usage(tmp_path)
    ratio = value(registry, "orchestrator_disk_usage_ratio", volume="logs")
    assert ratio == pytest.approx(usage.used / usage.total, abs=0.01)
