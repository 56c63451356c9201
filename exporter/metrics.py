"""The exporter's metrics: every catalogue metric built from the spec into an injected registry,
the process collector for `source: process`, and custom metrics shaped like §10.2.

    registry = CollectorRegistry()
    metrics = MetricSet.from_model(model, registry)
    metrics["orchestrator_tasks_total"].labels(agent="Coder", status="success", model="sonnet").inc()
    backups = metrics.Counter(name="custom_operations_total", description="Custom operation count",
                              labels=["operation_type", "status"])

All families share one value lock and one cardinality guard (see families.py and guard.py).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.metrics import Histogram as _ClientHistogram

from observability.model import Metric, Model

from .catalogue import EXPORTER_SERIES, FOLDED_SAMPLES, Feed
from .families import CounterFamily, Family, GaugeFamily, HistogramFamily
from .guard import CardinalityGuard

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
DEFAULT_BUCKETS: tuple[float, ...] = tuple(b for b in _ClientHistogram.DEFAULT_BUCKETS if b != float("inf"))


class MetricSet:
    """Families by name, registered in `registry`, sharing one lock and one guard."""

    def __init__(self, registry: CollectorRegistry, *, max_series_per_metric: int,
                 warn: Callable[[str], None] | None = None):
        self.registry = registry
        # One lock for every value: the task tracker updates several metrics under one acquire.
        self.lock = threading.Lock()
        self.guard = CardinalityGuard(max_series_per_metric, warn)
        self._families: dict[str, Family] = {}
        self._define = threading.Lock()

    @classmethod
    def from_model(cls, model: Model, registry: CollectorRegistry, *, max_series_per_metric: int | None = None,
                   warn: Callable[[str], None] | None = None, process: bool = True) -> MetricSet:
        """Every `source: exporter` metric of the catalogue, plus the process collector.

        `max_series_per_metric` overrides runtime.exporter.max_series_per_metric.
        """
        cap = max_series_per_metric if max_series_per_metric is not None else model.runtime.exporter.max_series_per_metric
        metrics = cls(registry, max_series_per_metric=cap, warn=warn)
        exported = [m for m in model.metrics.values() if m.source == "exporter"]
        own = {EXPORTER_SERIES.name, FOLDED_SAMPLES.name}
        # The guard's own metrics first and unguarded: they count the others.
        for metric in exported:
            if metric.name in own:
                metrics._add(metric, guarded=False)
        metrics.guard.watch(metrics._families.get(EXPORTER_SERIES.name), metrics._families.get(FOLDED_SAMPLES.name))
        for metric in exported:
            if metric.name not in own:
                metrics._add(metric, guarded=True)
        if process and any(m.source == "process" for m in model.metrics.values()):
            ProcessCollector(registry=registry)
        return metrics

    # -- lookup ------------------------------------------------------------------------------

    def __getitem__(self, name: str) -> Any:
        try:
            return self._families[name]
        except KeyError:
            raise KeyError(f"{name}: no such metric in the exporter; the catalogue defines "
                           f"{', '.join(sorted(self._families))}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._families

    def __iter__(self) -> Any:
        return iter(self._families.values())

    def fed(self, feed: Feed) -> Any:
        """The family the exporter updates for `feed`; catalogue.check_catalogue vouched for its shape."""
        return self[feed.name]

    # -- building ----------------------------------------------------------------------------

    def _add(self, metric: Metric, *, guarded: bool) -> Family:
        return self._define_family(metric.name, metric.type, metric.help, metric.labels, metric.buckets, guarded)

    def _define_family(self, name: str, kind: str, help: str, labels: Sequence[str],
                       buckets: Iterable[float] | None, guarded: bool) -> Family:
        guard = self.guard if guarded else None
        family: Family
        if kind == "counter":
            family = CounterFamily(name, help, labels, lock=self.lock, guard=guard)
        elif kind == "gauge":
            family = GaugeFamily(name, help, labels, lock=self.lock, guard=guard)
        elif kind == "histogram":
            family = HistogramFamily(name, help, labels, buckets if buckets is not None else DEFAULT_BUCKETS,
                                     lock=self.lock, guard=guard)
        else:
            raise ValueError(f"{name}: type {kind!r} is not one of counter, gauge, histogram")
        with self._define:
            if name in self._families:
                raise ValueError(f"{name}: a metric of that name is already registered")
            self.registry.register(family)  # raises ValueError on a name another collector holds
            self._families[name] = family
        if guarded:
            self.guard.track(name, family.series_count)
        return family

    # -- custom metrics (§10.2) --------------------------------------------------------------

    def _custom(self, kind: str, name: str, description: str, labels: Sequence[str],
                buckets: Iterable[float] | None) -> Family:
        if not _METRIC_NAME.match(name):
            raise ValueError(f"{name!r}: not a valid Prometheus metric name")
        labels = tuple(labels)
        for label in labels:
            if not _LABEL_NAME.match(label) or label.startswith("__"):
                raise ValueError(f"{name}: label {label!r} is not a valid Prometheus label name")
        if len(set(labels)) != len(labels):
            raise ValueError(f"{name}: label names repeat: {', '.join(labels)}")
        if not description:
            raise ValueError(f"{name}: a metric needs a description")
        return self._define_family(name, kind, description, labels, buckets, guarded=True)

    def Counter(self, name: str, description: str, labels: Sequence[str] = ()) -> CounterFamily:  # noqa: N802
        """A custom counter in the same registry, under the same cardinality guard."""
        return cast(CounterFamily, self._custom("counter", name, description, labels, None))

    def Gauge(self, name: str, description: str, labels: Sequence[str] = ()) -> GaugeFamily:  # noqa: N802
        return cast(GaugeFamily, self._custom("gauge", name, description, labels, None))

    def Histogram(self, name: str, description: str, labels: Sequence[str] = (),  # noqa: N802
                  buckets: Iterable[float] = DEFAULT_BUCKETS) -> HistogramFamily:
        return cast(HistogramFamily, self._custom("histogram", name, description, labels, buckets))
