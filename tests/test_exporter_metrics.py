"""The exporter's metrics: built from the catalogue, label checks, custom metrics, cardinality guard."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry

from exporter.guard import OVERFLOW
from exporter.metrics import MetricSet
from observability.load import Loaded, load


@pytest.fixture(scope="module")
def loaded(root) -> Loaded:  # type: ignore[no-untyped-def]
    return load(root / "observability.yaml")


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def families_by_name(registry: CollectorRegistry) -> dict[str, object]:
    return {family.name: family for family in registry.collect()}


def test_every_exporter_metric_is_built_as_the_catalogue_says(loaded: Loaded, registry: CollectorRegistry) -> None:
    metrics = MetricSet.from_model(loaded.model, registry)
    exported = {name: m for name, m in loaded.model.metrics.items() if m.source == "exporter"}
    assert {family.name for family in metrics} == set(exported)
    for name, spec in exported.items():
        family = metrics[name]
        assert (family.kind, family.help, family.labelnames) == (spec.type, spec.help, spec.labels), name
        if spec.type == "histogram":
            assert family.bounds == spec.buckets, name


def test_recording_metrics_are_not_exported_and_process_ones_come_from_the_process_collector(
        loaded: Loaded, registry: CollectorRegistry) -> None:
    MetricSet.from_model(loaded.model, registry)
    sample_names = {s.name for family in registry.collect() for s in family.samples}
    recording = [name for name, m in loaded.model.metrics.items() if m.source == "recording"]
    process = [name for name, m in loaded.model.metrics.items() if m.source == "process"]
    assert recording and process
    assert not sample_names & set(recording)
    assert set(process) <= sample_names


def test_the_registry_is_the_injected_one(loaded: Loaded) -> None:
    from prometheus_client import REGISTRY

    before = {family.name for family in REGISTRY.collect()}
    first, second = CollectorRegistry(), CollectorRegistry()
    MetricSet.from_model(loaded.model, first)
    MetricSet.from_model(loaded.model, second)  # a second set in its own registry: no clash
    assert {family.name for family in REGISTRY.collect()} == before


def test_label_values_by_name_or_position_reach_the_same_series(loaded: Loaded, registry: CollectorRegistry) -> None:
    metrics = MetricSet.from_model(loaded.model, registry)
    total = metrics["orchestrator_tasks_total"]
    total.labels(agent="Coder", status="success", model="sonnet").inc()
    total.labels("Coder", "success", "sonnet").inc(2)
    total.labels(model="sonnet", agent="Coder", status="success").inc()
    labels = {"agent": "Coder", "status": "success", "model": "sonnet"}
    assert registry.get_sample_value("orchestrator_tasks_total", labels) == 4


@pytest.mark.parametrize(("call", "message"), [
    (lambda m: m["orchestrator_tasks_total"].labels(agent="Coder", statuss="success", model="sonnet"),
     "orchestrator_tasks_total: unknown label 'statuss'"),
    (lambda m: m["orchestrator_tasks_total"].labels(agent="Coder", status="success"),
     "orchestrator_tasks_total: missing label 'model'"),
    (lambda m: m["orchestrator_tasks_total"].labels(agent="Coder", status="success", model="sonnet", task_id="t1"),
     "orchestrator_tasks_total: unknown label 'task_id'"),
    (lambda m: m["orchestrator_tasks_total"].labels("Coder", "success"),
     "orchestrator_tasks_total: missing label 'model'"),
    (lambda m: m["orchestrator_tasks_active"].labels("Coder", "extra"),
     "orchestrator_tasks_active: got 2 label values for 1 labels (agent); the extra value is 'extra'"),
    (lambda m: m["orchestrator_tasks_active"].inc(),
     "orchestrator_tasks_active: missing label 'agent'"),
    (lambda m: m["orchestrator_teams_active"].labels(team="t1"),
     "orchestrator_teams_active: has no labels, but got team"),
    (lambda m: m["orchestrator_tasks_total"].labels("Coder", "failed", "haiku").inc(-1),
     "orchestrator_tasks_total: a counter only goes up"),
])
def test_a_wrong_label_names_the_metric_and_the_label(loaded: Loaded, registry: CollectorRegistry, call, message) -> None:  # type: ignore[no-untyped-def]
    metrics = MetricSet.from_model(loaded.model, registry)
    with pytest.raises(ValueError) as caught:
        call(metrics)
    assert str(caught.value).startswith(message)


def test_a_wrong_label_fails_also_after_the_right_tuple_is_cached(loaded: Loaded, registry: CollectorRegistry) -> None:
    metrics = MetricSet.from_model(loaded.model, registry)
    active = metrics["orchestrator_tasks_active"]
    active.labels(agent="Coder").inc()
    with pytest.raises(ValueError, match="orchestrator_tasks_active: unknown label 'agnt'"):
        active.labels(agnt="Coder")


def test_custom_metrics_as_in_section_10_2(loaded: Loaded, registry: CollectorRegistry) -> None:
    metrics = MetricSet.from_model(loaded.model, registry)
    custom_counter = metrics.Counter(name="custom_operations_total", description="Custom operation count",
                                     labels=["operation_type", "status"])
    custom_counter.labels(operation_type="backup", status="success").inc()
    latency = metrics.Histogram(name="custom_latency_seconds", description="Custom operation latency",
                                buckets=[0.1, 0.5, 1.0, 2.5, 5.0, 10.0])
    latency.observe(1.23)
    depth = metrics.Gauge(name="custom_depth", description="Custom depth")
    depth.set(7)
    assert registry.get_sample_value("custom_operations_total", {"operation_type": "backup", "status": "success"}) == 1
    assert registry.get_sample_value("custom_latency_seconds_bucket", {"le": "1.0"}) == 0
    assert registry.get_sample_value("custom_latency_seconds_bucket", {"le": "2.5"}) == 1
    assert registry.get_sample_value("custom_latency_seconds_sum") == 1.23
    assert registry.get_sample_value("custom_depth") == 7
    # Same guard: the exporter counts its series.
    assert registry.get_sample_value("orchestrator_exporter_series", {"metric": "custom_operations_total"}) == 1
    with pytest.raises(ValueError, match="custom_operations_total: unknown label 'kind'"):
        custom_counter.labels(kind="backup", status="success")


@pytest.mark.parametrize(("make", "message"), [
    (lambda m: m.Counter(name="orchestrator_tasks_total", description="again"), "orchestrator_tasks_total: a metric of that name is already registered"),
    (lambda m: m.Counter(name="bad-name", description="x"), "'bad-name': not a valid Prometheus metric name"),
    (lambda m: m.Gauge(name="custom_g", description="x", labels=["ok", "__reserved"]), "custom_g: label '__reserved'"),
    (lambda m: m.Histogram(name="custom_h", description="x", buckets=[1, 0.5]), "custom_h: buckets must be finite and strictly increasing"),
    (lambda m: m.Histogram(name="custom_le", description="x", labels=["le"]), "custom_le: label 'le' is reserved"),
    (lambda m: m.Gauge(name="custom_nodoc", description=""), "custom_nodoc: a metric needs a description"),
])
def test_custom_metric_mistakes_are_refused(loaded: Loaded, registry: CollectorRegistry, make, message) -> None:  # type: ignore[no-untyped-def]
    metrics = MetricSet.from_model(loaded.model, registry)
    with pytest.raises(ValueError) as caught:
        make(metrics)
    assert str(caught.value).startswith(message)


def test_the_cap_folds_new_label_sets_counts_them_and_warns_once(loaded: Loaded, registry: CollectorRegistry) -> None:
    warnings: list[str] = []
    metrics = MetricSet.from_model(loaded.model, registry, max_series_per_metric=3)
    metrics.guard.warn = warnings.append
    tokens = metrics["orchestrator_agent_tokens_total"]
    for i in range(3):
        tokens.labels(agent_type=f"agent-{i}", model="sonnet").inc(10)
    for i in range(3, 8):
        tokens.labels(agent_type=f"agent-{i}", model="sonnet").inc(1)
    tokens.labels(agent_type="agent-0", model="sonnet").inc(5)  # an existing series keeps working

    def value(name: str, labels: dict[str, str]) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("orchestrator_agent_tokens_total", {"agent_type": "agent-0", "model": "sonnet"}) == 15
    assert value("orchestrator_agent_tokens_total", {"agent_type": OVERFLOW, "model": OVERFLOW}) == 5
    assert value("orchestrator_agent_tokens_total", {"agent_type": "agent-5", "model": "sonnet"}) is None
    assert value("orchestrator_exporter_folded_samples_total", {"metric": "orchestrator_agent_tokens_total"}) == 5
    assert value("orchestrator_exporter_series", {"metric": "orchestrator_agent_tokens_total"}) == 4  # 3 + overflow
    assert value("orchestrator_exporter_folded_samples_total", {"metric": "orchestrator_tasks_total"}) == 0
    assert len(warnings) == 1
    assert warnings[0].startswith("orchestrator_agent_tokens_total: reached its cap of 3 series")


def test_the_cap_comes_from_the_spec_unless_overridden(loaded: Loaded) -> None:
    assert MetricSet.from_model(loaded.model, CollectorRegistry()).guard.cap == \
        loaded.model.runtime.exporter.max_series_per_metric
    assert MetricSet.from_model(loaded.model, CollectorRegistry(), max_series_per_metric=7).guard.cap == 7


def test_folded_histogram_and_gauge_updates_land_in_the_overflow_series(loaded: Loaded, registry: CollectorRegistry,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    metrics = MetricSet.from_model(loaded.model, registry, max_series_per_metric=1)
    wait = metrics["orchestrator_task_queue_wait_seconds"]
    wait.labels(priority="high").observe(0.2)
    with caplog.at_level(logging.WARNING, logger="exporter"):
        wait.labels(priority="low").observe(3)
        wait.labels(priority="normal").observe(7)
    assert registry.get_sample_value("orchestrator_task_queue_wait_seconds_count", {"priority": OVERFLOW}) == 2
    assert registry.get_sample_value("orchestrator_task_queue_wait_seconds_sum", {"priority": OVERFLOW}) == 10
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["orchestrator_task_queue_wait_seconds"]
    active = metrics["orchestrator_tasks_active"]
    active.labels(agent="Coder").set(2)
    active.labels(agent="Analyzer").inc()
    active.labels(agent="DevOps").inc()
    active.labels(agent="DevOps").dec()
    assert registry.get_sample_value("orchestrator_tasks_active", {"agent": OVERFLOW}) == 1
    assert registry.get_sample_value("orchestrator_exporter_folded_samples_total",
                                     {"metric": "orchestrator_tasks_active"}) == 3
