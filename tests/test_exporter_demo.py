"""The demo orchestrator end to end: in-process, high speed, a private registry, port 0.

A scrape over HTTP holds every exporter and process metric of the catalogue, the workload
moves them, the real promtool accepts the text, and each scenario pushes its metrics past the
spec's thresholds. The `orchestrator demo` command refuses a bad spec with file:line errors.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from exporter.catalogue import load_for_exporter
from exporter.demo import Demo
from exporter.logs import STANDARD_EVENTS
from exporter.scenarios import MEMORY_HOG, SCENARIO_ALERTS
from observability.cli import main
from observability.load import Loaded

# Counters of failures the demo does not provoke: present, but allowed to stay at zero.
FAILURE_COUNTERS = {"orchestrator_log_write_errors_total", "orchestrator_trace_export_errors_total",
                    "orchestrator_exporter_folded_samples_total", "orchestrator_trace_spans_dropped_total",
                    "orchestrator_traces_evicted_total"}
# Moved only by the scenario made for it (a slow task in any other would fire slow_task_detected).
MOVED_BY_ONE_SCENARIO = {"orchestrator_slow_tasks_total"}
# Events of §2.3 that no task lifecycle emits: alert_fired comes from Alertmanager's side.
NOT_FROM_THE_DEMO = {"alert_fired"}


@pytest.fixture(scope="module")
def loaded(root) -> Loaded:  # type: ignore[no-untyped-def]
    return load_for_exporter(root / "observability.yaml")


@contextmanager
def running(loaded: Loaded, scenario: str, log_dir: Path, *, speed: float = 200, **options: object) -> Iterator[Demo]:
    demo = Demo(loaded, scenario, speed=speed, port=0, log_dir=log_dir, console_stream=io.StringIO(), seed=7,
                **options)  # type: ignore[arg-type]
    demo.start()
    try:
        yield demo
    finally:
        demo.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the demo did not get there in time"
        time.sleep(0.05)


def total(demo: Demo, sample: str, **labels: str) -> float:
    return sum(s.value for family in demo.registry.collect() for s in family.samples
               if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()))


def test_a_scrape_of_the_demo_holds_every_catalogue_metric_and_promtool_accepts_it(loaded: Loaded,
                                                                                   tmp_path: Path) -> None:
    model = loaded.model
    with running(loaded, "error-spike", tmp_path) as demo:
        # Until the workload has been through a team batch, a retry, agent errors and a few failures.
        wait_until(lambda: total(demo, "orchestrator_teams_formed_total") >= 1
                   and total(demo, "orchestrator_task_retries_total") >= 1
                   and total(demo, "orchestrator_agent_errors_total") >= 1
                   and total(demo, "orchestrator_tasks_total", status="failed") >= 3)
        with urllib.request.urlopen(f"http://127.0.0.1:{demo.port}/metrics", timeout=10) as response:
            assert response.status == 200
            scrape = response.read()
    families = {family.name: family for family in text_string_to_metric_families(scrape.decode())}
    for name, metric in model.metrics.items():
        family_name = name[: -len("_total")] if metric.type == "counter" else name
        if metric.source == "recording":
            assert family_name not in families, f"{name} is computed by Prometheus, not exported"
            continue
        assert family_name in families and families[family_name].samples, f"{name} has no samples"
        if metric.source == "exporter" and metric.type in ("counter", "histogram") and name not in FAILURE_COUNTERS | MOVED_BY_ONE_SCENARIO:
            moved = [s for s in families[family_name].samples
                     if s.name in (f"{name}", f"{name}_count") and s.value > 0]
            assert moved, f"the demo never moved {name}"
    result = subprocess.run(["promtool", "check", "metrics"], input=scrape, capture_output=True, timeout=30)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()

    lines = [json.loads(line) for line in (tmp_path / "orchestrator.log").read_text().splitlines()]
    logged = {line["event"] for line in lines}
    # The file output is at INFO: the DEBUG events (task_created, mcp_tool_invoked) stay out of it.
    info_and_up = {name for name, (level, _) in STANDARD_EVENTS.items() if level != "DEBUG"} - NOT_FROM_THE_DEMO
    assert info_and_up <= logged, info_and_up - logged
    assert "log_contract_violation" not in logged
    assert total(demo, "orchestrator_log_lines_total", level="INFO") >= sum(line["level"] == "INFO" for line in lines)


def test_every_alert_of_the_scenario_table_is_in_the_spec(loaded: Loaded) -> None:
    alerts = {alert.name for alert in loaded.model.alerts}
    named = {name for names in SCENARIO_ALERTS.values() for name in names}
    assert named and named <= alerts, named - alerts
    assert set(SCENARIO_ALERTS) >= {"normal", "error-spike", "backlog", "slow", "memory", "down"}
    assert SCENARIO_ALERTS["normal"] == ()


def test_error_spike_fails_tasks_and_raises_agent_errors_past_the_thresholds(loaded: Loaded, tmp_path: Path) -> None:
    t = loaded.model.thresholds
    with running(loaded, "error-spike", tmp_path) as demo:
        started = time.monotonic()
        wait_until(lambda: total(demo, "orchestrator_tasks_total") >= 40)
        time.sleep(max(0.0, 2.0 - (time.monotonic() - started)))
        elapsed = time.monotonic() - started
        failed, finished = total(demo, "orchestrator_tasks_total", status="failed"), total(demo, "orchestrator_tasks_total")
        errors = {agent: total(demo, "orchestrator_agent_errors_total", agent_type=agent)
                  for agent in ("Coder", "Analyzer", "DevOps", "Architect")}
    assert failed / finished > t["task_failure_ratio_critical"]
    # agent_error_spike compares errors per real second, per agent type.
    assert all(count / elapsed > t["agent_error_rate_max"] for count in errors.values()), (errors, elapsed)


def test_normal_stays_inside_every_threshold(loaded: Loaded, tmp_path: Path) -> None:
    t = loaded.model.thresholds
    with running(loaded, "normal", tmp_path) as demo:
        wait_until(lambda: total(demo, "orchestrator_tasks_total") >= 40)
        queued = total(demo, "orchestrator_task_queue_size")
        memory = max(s.value for f in demo.registry.collect() for s in f.samples
                     if s.name == "orchestrator_agent_memory_bytes")
        finished = total(demo, "orchestrator_tasks_total")
        failed = total(demo, "orchestrator_tasks_total", status="failed")
        slow = total(demo, "orchestrator_slow_tasks_total")
        observed = total(demo, "orchestrator_task_duration_seconds_count")
        over_latency_max = observed - total(demo, "orchestrator_task_duration_seconds_bucket",
                                            le=f"{t['latency_p95_max_ms'] / 1000:.1f}")
    assert failed / finished < t["task_failure_ratio_critical"]
    assert queued <= t["queue_backlog_max"]
    assert 0 < memory < t["memory_warning_bytes"]
    assert slow == 0
    assert observed >= finished and over_latency_max == 0


def test_backlog_builds_a_queue_past_the_backlog_threshold(loaded: Loaded, tmp_path: Path) -> None:
    limit = loaded.model.thresholds["queue_backlog_max"]
    with running(loaded, "backlog", tmp_path) as demo:
        wait_until(lambda: total(demo, "orchestrator_task_queue_size") > limit)
        time.sleep(0.5)  # and it stays there
        assert total(demo, "orchestrator_task_queue_size") > limit


def test_slow_runs_tasks_past_the_latency_and_slow_task_thresholds(loaded: Loaded, tmp_path: Path) -> None:
    t = loaded.model.thresholds
    # Every task runs past the p95 limit; most of them past the slow-task threshold too.
    with running(loaded, "slow", tmp_path, speed=400) as demo:
        wait_until(lambda: total(demo, "orchestrator_slow_tasks_total") >= 3)
        finished = total(demo, "orchestrator_tasks_total")
        under_max = total(demo, "orchestrator_task_duration_seconds_bucket", le=f"{t['latency_p95_max_ms'] / 1000:.1f}")
    assert under_max == 0 and finished >= 3


def test_memory_puts_one_agent_between_the_warning_and_critical_levels(loaded: Loaded, tmp_path: Path) -> None:
    t = loaded.model.thresholds

    def hog(demo: Demo) -> float:
        return total(demo, "orchestrator_agent_memory_bytes", agent_type=MEMORY_HOG)

    with running(loaded, "memory", tmp_path) as demo:
        wait_until(lambda: hog(demo) > 0)
        assert t["memory_warning_bytes"] < hog(demo) < t["memory_critical_bytes"]
        others = [total(demo, "orchestrator_agent_memory_bytes", agent_type=a) for a in ("Analyzer", "DevOps")]
        assert all(0 < m < t["memory_warning_bytes"] for m in others)


def test_down_stops_answering_scrapes_while_the_orchestrator_runs_on(loaded: Loaded, tmp_path: Path) -> None:
    with running(loaded, "down", tmp_path, exporter_stops_after=0.3) as demo:
        port = demo.port
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        wait_until(lambda: not demo.server.running)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        before = total(demo, "orchestrator_tasks_total")
        wait_until(lambda: total(demo, "orchestrator_tasks_total") > before)


def test_the_error_burst_is_sized_by_the_window_behind_the_alert(loaded: Loaded) -> None:
    """agent_error_spike reads a recording rule over rate(...[5m]): the window is found through it
    (the alert's own expression has no range), and the burst passes window x limit."""
    from exporter.scenarios import window_seconds, workload

    model = loaded.model
    [alert] = [a for a in model.alerts if a.name == "agent_error_spike"]
    assert "[" not in alert.rules[0].expr  # the window is the recording rule's
    assert window_seconds(model, "agent_error_spike") == 300
    assert window_seconds(model, "process_cpu_high") == 300  # its own expression, escalation included
    assert window_seconds(model, "orchestrator_down") == 0   # up == 0: no window
    burst = workload("error-spike", model).burst_agent_errors
    assert burst > 300 * model.thresholds["agent_error_rate_max"]


def test_the_down_scenario_waits_two_scrape_intervals_by_default(loaded: Loaded) -> None:
    from exporter.scenarios import workload

    assert workload("down", loaded.model).exporter_stops_after == 30  # scrape.interval is 15s
    assert workload("normal", loaded.model).exporter_stops_after is None


def spec_with(root: Path, tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    text = (root / "observability.yaml").read_text()
    assert text.count(old) == 1
    changed = text.replace(old, new)
    path = tmp_path / "observability.yaml"
    path.write_text(changed)
    return path, changed[: changed.index(new)].count("\n") + 1


def test_the_demo_command_runs_and_prints_a_summary(root: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--scenario", "normal", "--speed", "100", "--port", "0",
                                       "--duration", "0.5", "--quiet", "--seed", "3", "--log-dir", str(tmp_path),
                                       "--spec", str(root / "observability.yaml")])
    assert result.exit_code == 0, result.output
    assert "demo normal:" in result.output and "tasks finished" in result.output
    assert (tmp_path / "orchestrator.log").stat().st_size > 0


def test_a_spec_the_loader_refuses_stops_the_demo_with_exit_2(root: Path, tmp_path: Path) -> None:
    spec, line = spec_with(root, tmp_path, "max_series_per_metric: 1000", "max_series_per_metric: none")
    result = CliRunner().invoke(main, ["demo", "--spec", str(spec), "--port", "0", "--duration", "0.1"])
    assert result.exit_code == 2
    assert f"{spec}:{line}:" in result.output
    assert "runtime.exporter.max_series_per_metric" in result.output


def test_a_catalogue_the_exporter_cannot_feed_stops_the_demo_with_exit_2(root: Path, tmp_path: Path) -> None:
    spec, line = spec_with(root, tmp_path, "help: Agent teams currently working.\n    labels: []",
                           "help: Agent teams currently working.\n    labels: [team]")
    result = CliRunner().invoke(main, ["demo", "--spec", str(spec), "--port", "0", "--duration", "0.1"])
    assert result.exit_code == 2, result.output
    assert (f"{spec}:{line + 1}:5: metrics.orchestrator_teams_active.labels: the exporter's code does not fit "
            "the spec here: orchestrator_teams_active: missing label 'team'") in result.output
    assert "the exporter did not start" in result.output


def test_an_unknown_scenario_is_a_usage_error(root: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--scenario", "calm", "--duration", "0.1"])
    assert result.exit_code == 2
    assert "'calm' is not one of normal, error-spike, backlog, slow, memory, down" in result.output


def test_a_label_the_code_does_not_set_stops_the_demo_at_that_metric(root: Path, tmp_path: Path) -> None:
    """The label lists live only in the spec; the start-up self-check runs the code's own calls."""
    spec, line = spec_with(root, tmp_path, "help: Total tasks dispatched by the orchestrator, by final status.\n"
                                           "    labels: [agent, status, model]",
                           "help: Total tasks dispatched by the orchestrator, by final status.\n"
                           "    labels: [agent, status, model, tenant]")
    result = CliRunner().invoke(main, ["demo", "--spec", str(spec), "--port", "0", "--duration", "0.1"])
    assert result.exit_code == 2, result.output
    assert (f"{spec}:{line + 1}:5: metrics.orchestrator_tasks_total.labels: the exporter's code does not fit "
            "the spec here: orchestrator_tasks_total: missing label 'tenant'") in result.output
