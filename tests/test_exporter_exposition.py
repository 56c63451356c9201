"""The fast text render gives exactly generate_latest's bytes; OpenMetrics goes through prometheus_client."""

from __future__ import annotations

import subprocess

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporter.exposition import encoder_for, render_text
from exporter.metrics import MetricSet
from observability.load import Loaded, load


@pytest.fixture(scope="module")
def loaded(root) -> Loaded:  # type: ignore[no-untyped-def]
    return load(root / "observability.yaml")


def filled(loaded: Loaded) -> CollectorRegistry:
    """Every kind of family and child, awkward label values, a folded series; no process metrics
    (their CPU time changes between two renders)."""
    registry = CollectorRegistry()
    metrics = MetricSet.from_model(loaded.model, registry, max_series_per_metric=4, process=False)
    metrics["orchestrator_tasks_total"].labels(agent='Co"der\\', status="success\n", model="sonnet").inc(3)
    for i in range(6):
        metrics["orchestrator_task_duration_seconds"].labels(agent=f"a{i}", status="failed").observe(i * 40.5)
    metrics["orchestrator_teams_active"].set(2.5)
    metrics["orchestrator_parallelism_efficiency"].set(float("nan"))
    metrics["orchestrator_agent_memory_bytes"].labels(agent_type="Coder").set(1.5e9)
    metrics["orchestrator_agent_memory_bytes"].labels(agent_type="Analyzer").set(float("-inf"))
    metrics.Histogram("custom_latency_seconds", "Custom latency", buckets=[0.1, 1]).observe(0.5)
    metrics.Counter("custom_plain", "A counter named without _total").inc()
    # A collector that is not ours, rendered through prometheus_client inside render_text.
    Counter("foreign_events_total", "Someone else's counter", ["kind"], registry=registry).labels(kind="x").inc()
    return registry


def test_render_text_gives_the_same_bytes_as_generate_latest(loaded: Loaded) -> None:
    registry = filled(loaded)
    ours = render_text(registry)
    assert ours == generate_latest(registry)
    assert b'agent="Co\\"der\\\\"' in ours and b'status="success\\n"' in ours
    assert b'orchestrator_task_duration_seconds_bucket{agent="__overflow__",le="+Inf",status="__overflow__"} 2.0' in ours


def test_the_text_parses_back_with_the_values_written(loaded: Loaded) -> None:
    registry = filled(loaded)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(render_text(registry).decode()) for s in family.samples}
    assert samples[("orchestrator_teams_active", ())] == 2.5
    assert samples[("custom_plain_total", ())] == 1
    assert samples[("custom_latency_seconds_bucket", (("le", "1.0"),))] == 1
    assert samples[("custom_latency_seconds_bucket", (("le", "0.1"),))] == 0


def test_promtool_accepts_the_text(loaded: Loaded) -> None:
    registry = CollectorRegistry()
    metrics = MetricSet.from_model(loaded.model, registry)
    metrics["orchestrator_tasks_total"].labels(agent="Coder", status="success", model="sonnet").inc()
    result = subprocess.run(["promtool", "check", "metrics"], input=render_text(registry), capture_output=True)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


@pytest.mark.parametrize(("accept", "content_type"), [
    (None, "text/plain; version=0.0.4; charset=utf-8"),
    ("text/plain", "text/plain; version=0.0.4; charset=utf-8"),
    ("application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5", "application/openmetrics-text"),
])
def test_the_accept_header_picks_the_format(loaded: Loaded, accept: str | None, content_type: str) -> None:
    registry = filled(loaded)
    render, chosen = encoder_for(accept)
    assert chosen.startswith(content_type)
    body = render(registry)
    if content_type.startswith("application/openmetrics-text"):
        assert body.endswith(b"# EOF\n")
        assert b"# TYPE orchestrator_tasks counter" in body
    else:
        assert render is render_text
