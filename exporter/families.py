"""Metric families with cheap updates, exposed through a prometheus_client registry.

Why not prometheus_client's own Counter/Gauge/Histogram: `.labels(...)` costs several
microseconds (label checks, str() and a lock on every call) and each value has its own lock,
so one task lifecycle (seven updates) pays seven locks. Here:

- children are cached per label tuple; label names are checked only when a tuple is new;
- every value of a metric set is a plain float under ONE lock, so the task tracker can make
  several updates under a single acquire, as plain attribute arithmetic: no call inside the
  critical section, where a thread switch would make the other threads queue on the lock;
- new label tuples pass the cardinality guard, which folds them into one overflow series
  once a metric holds its cap of series;
- each family is a collector in the injected registry, so generate_latest and the OpenMetrics
  encoder see it like any other metric. `Snapshot.prometheus_text` renders the classic text
  format from label strings cached per child, which is faster than generate_latest and gives
  the same bytes (tests/test_exporter_exposition.py checks that).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any, ClassVar

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString as _untyped_go_string

from .children import CounterChild, FoldedChild, GaugeChild, HistogramChild
from .guard import OVERFLOW, CardinalityGuard

# Go's float formatting, as prometheus_client writes values and le bounds (untyped upstream).
format_value: Callable[[float], str] = _untyped_go_string


def _escape_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _label_text(names: Sequence[str], values: Sequence[str]) -> str:
    """`{a="x",b="y"}` with names sorted, as prometheus_client's text exposition writes them."""
    pairs = sorted(zip(names, values))
    return "{" + ",".join(f'{n}="{_escape_value(v)}"' for n, v in pairs) + "}" if pairs else ""


class LabelError(ValueError):
    """A label set that does not fit a metric's labels; `metric` names the metric."""

    def __init__(self, metric: str, message: str):
        super().__init__(message)
        self.metric = metric


class Snapshot(Metric):
    """One family's values, copied under the lock. Samples are built only if asked for."""

    def __init__(self, family: Family, rows: list[tuple[Any, Any]]):
        # Metric.__init__ would assign samples; the property below builds them lazily instead.
        self.name = family.base_name
        self.documentation = family.help
        self.unit = ""
        self.type = family.kind
        self._family = family
        self._rows = rows
        self._samples: list[Sample] | None = None

    @property
    def samples(self) -> list[Sample]:
        if self._samples is None:
            self._samples = self._family._samples(self._rows)
        return self._samples

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        self._samples = value

    def prometheus_text(self) -> str:
        return self._family._text(self._rows)


class Family:
    """A metric and its children. Subclasses say how a child stores and renders its value."""

    kind: ClassVar[str]

    def __init__(self, name: str, help: str, labelnames: Sequence[str], *, lock: threading.Lock,
                 guard: CardinalityGuard | None):
        self.name = name
        self.help = help
        self.labelnames = tuple(labelnames)
        self.base_name = name
        self._lock = lock
        self._guard = guard
        self._arity = len(self.labelnames)
        self._key: Callable[[dict[str, Any]], Any] | None = itemgetter(*self.labelnames) if self.labelnames else None
        self._children: dict[Any, Any] = {}
        self._series: dict[tuple[str, ...], Any] = {}
        self._overflow: Any = None
        self._folded_proxy: FoldedChild | None = None
        self._structure = threading.Lock()
        self._help_lines = ""
        if not self.labelnames:
            self._only = self._series[()] = self._create(())

    # -- children ---------------------------------------------------------------------------

    def labels(self, *values: Any, **named: Any) -> Any:
        """The child for these label values, by name or by position (not both)."""
        if named:
            if values or len(named) != self._arity or self._key is None:
                return self._resolve(values, named, None)
            try:
                key = self._key(named)
            except KeyError:
                return self._resolve(values, named, None)
        else:
            key = values
        try:
            child = self._children.get(key)
        except TypeError:  # an unhashable value: resolve through str(), never cached
            return self._resolve(values, named, None)
        if child is None:
            return self._resolve(values, named, key)
        return child

    def _validated(self, values: tuple[Any, ...], named: dict[str, Any]) -> tuple[str, ...]:
        if not self.labelnames:
            given = ", ".join(named) or ", ".join(map(repr, values)) or "a call to labels()"
            raise LabelError(self.name, f"{self.name}: has no labels, but got {given}; update it directly")
        if values and named:
            raise LabelError(self.name, f"{self.name}: pass label values by name or by position, not both")
        if named:
            for label in named:
                if label not in self.labelnames:
                    raise LabelError(self.name, f"{self.name}: unknown label '{label}'; its labels are {', '.join(self.labelnames)}")
            for label in self.labelnames:
                if label not in named:
                    raise LabelError(self.name, f"{self.name}: missing label '{label}'; its labels are {', '.join(self.labelnames)}")
            return tuple(str(named[label]) for label in self.labelnames)
        if len(values) < self._arity:
            raise LabelError(self.name, f"{self.name}: missing label '{self.labelnames[len(values)]}'; "
                             f"its labels are {', '.join(self.labelnames)}")
        if len(values) > self._arity:
            raise LabelError(self.name, f"{self.name}: got {len(values)} label values for {self._arity} labels "
                             f"({', '.join(self.labelnames)}); the extra value is {values[self._arity]!r}")
        return tuple(str(v) for v in values)

    def _resolve(self, values: tuple[Any, ...], named: dict[str, Any], key: Any) -> Any:
        labelvalues = self._validated(values, named)
        with self._structure:
            child = self._series.get(labelvalues)
            if child is None and (self._guard is None or len(self._series) < self._guard.cap):
                child = self._series[labelvalues] = self._create(labelvalues)
            if child is not None:
                if key is not None:
                    self._children[key] = child
                return child
            if self._overflow is None:
                self._overflow = self._create((OVERFLOW,) * self._arity)
        # Past the cap. The guard may log: never while holding a lock.
        assert self._guard is not None
        folded_counter = self._guard.folded(self.name)
        if self._folded_proxy is None:
            self._folded_proxy = FoldedChild(self._overflow, folded_counter, self._lock)
        return self._folded_proxy

    def series_count(self) -> float:
        """Series this metric exposes, the overflow one included (read at each scrape)."""
        return float(len(self._series) + (self._overflow is not None))

    def _create(self, labelvalues: tuple[str, ...]) -> Any:
        raise NotImplementedError

    def _require_unlabelled(self) -> Any:
        if self.labelnames:
            raise LabelError(self.name, f"{self.name}: missing label '{self.labelnames[0]}'; "
                             f"its labels are {', '.join(self.labelnames)}; call .labels(...) first")
        return self._only

    # -- collection -------------------------------------------------------------------------

    def _rows(self) -> list[tuple[Any, Any]]:
        raise NotImplementedError

    def _children_now(self) -> list[Any]:
        with self._structure:
            children = list(self._series.values())
            if self._overflow is not None:
                children.append(self._overflow)
        return children

    def collect(self) -> list[Metric]:
        return [Snapshot(self, self._rows())]

    def describe(self) -> list[Metric]:
        # Lets the registry detect a duplicate name at registration without collecting.
        return [Metric(self.base_name, self.help, self.kind)]

    def _header(self, exposed_name: str, kind: str) -> str:
        if not self._help_lines:
            documentation = self.help.replace("\\", r"\\").replace("\n", r"\n")
            self._help_lines = f"# HELP {exposed_name} {documentation}\n# TYPE {exposed_name} {kind}\n"
        return self._help_lines

    def _samples(self, rows: list[tuple[Any, Any]]) -> list[Sample]:
        raise NotImplementedError

    def _text(self, rows: list[tuple[Any, Any]]) -> str:
        raise NotImplementedError


class _ScalarFamily(Family):
    """Counters and gauges: one float per child."""

    sample_suffix: ClassVar[str] = ""

    def _rows(self) -> list[tuple[Any, Any]]:
        children = self._children_now()
        with self._lock:
            rows = [(child, child.value) for child in children]
        return rows

    def _samples(self, rows: list[tuple[Any, Any]]) -> list[Sample]:
        name = self.base_name + self.sample_suffix
        names = self.labelnames
        return [Sample(name, dict(zip(names, child.labelvalues)), value, None, None) for child, value in rows]

    def _text(self, rows: list[tuple[Any, Any]]) -> str:
        exposed = self.base_name + self.sample_suffix
        lines = [self._header(exposed, self.kind)]
        for child, value in rows:
            prefix = child._text
            if prefix is None:
                prefix = child._text = exposed + _label_text(self.labelnames, child.labelvalues) + " "
            lines.append(prefix + format_value(value) + "\n")
        return "".join(lines)


class CounterFamily(_ScalarFamily):
    kind = "counter"
    sample_suffix = "_total"

    def __init__(self, name: str, help: str, labelnames: Sequence[str], *, lock: threading.Lock,
                 guard: CardinalityGuard | None):
        super().__init__(name, help, labelnames, lock=lock, guard=guard)
        # prometheus_client's convention: the family is named without _total, samples with it.
        self.base_name = name[: -len("_total")] if name.endswith("_total") else name

    def _create(self, labelvalues: tuple[str, ...]) -> CounterChild:
        return CounterChild(self._lock, self.name, labelvalues)

    def inc(self, amount: float = 1.0) -> None:
        self._require_unlabelled().inc(amount)


class GaugeFamily(_ScalarFamily):
    kind = "gauge"

    def _create(self, labelvalues: tuple[str, ...]) -> GaugeChild:
        return GaugeChild(self._lock, self.name, labelvalues)

    def _rows(self) -> list[tuple[Any, Any]]:
        rows = super()._rows()
        # Functions run outside the lock: they may do I/O (disk usage).
        return [(child, child.read() if child._function is not None else value) for child, value in rows]

    def inc(self, amount: float = 1.0) -> None:
        self._require_unlabelled().inc(amount)

    def dec(self, amount: float = 1.0) -> None:
        self._require_unlabelled().dec(amount)

    def set(self, value: float) -> None:
        self._require_unlabelled().set(value)

    def set_function(self, function: Callable[[], float]) -> None:
        self._require_unlabelled().set_function(function)


class HistogramFamily(Family):
    kind = "histogram"

    def __init__(self, name: str, help: str, labelnames: Sequence[str], buckets: Iterable[float], *,
                 lock: threading.Lock, guard: CardinalityGuard | None):
        bounds = tuple(float(b) for b in buckets)
        if bounds and bounds[-1] == math.inf:
            bounds = bounds[:-1]
        if not bounds or any(not math.isfinite(b) for b in bounds) or list(bounds) != sorted(set(bounds)):
            raise ValueError(f"{name}: buckets must be finite and strictly increasing, got {list(buckets)}")
        if "le" in labelnames:
            raise ValueError(f"{name}: label 'le' is reserved for histogram buckets")
        self.bounds = bounds
        self._le = tuple(format_value(b) for b in bounds) + ("+Inf",)
        super().__init__(name, help, labelnames, lock=lock, guard=guard)

    def _create(self, labelvalues: tuple[str, ...]) -> HistogramChild:
        return HistogramChild(self._lock, self.name, labelvalues, self.bounds)

    def observe(self, value: float) -> None:
        self._require_unlabelled().observe(value)

    def _rows(self) -> list[tuple[Any, Any]]:
        children = self._children_now()
        with self._lock:
            rows = [(child, (child.counts.copy(), child.sum)) for child in children]
        return rows

    def _samples(self, rows: list[tuple[Any, Any]]) -> list[Sample]:
        samples: list[Sample] = []
        bucket, count, total = self.base_name + "_bucket", self.base_name + "_count", self.base_name + "_sum"
        for child, (counts, sum_) in rows:
            labels = dict(zip(self.labelnames, child.labelvalues))
            cumulative = 0
            for le, n in zip(self._le, counts):
                cumulative += n
                samples.append(Sample(bucket, {**labels, "le": le}, float(cumulative), None, None))
            samples.append(Sample(count, labels, float(cumulative), None, None))
            samples.append(Sample(total, labels, sum_, None, None))
        return samples

    def _text(self, rows: list[tuple[Any, Any]]) -> str:
        lines = [self._header(self.base_name, "histogram")]
        names = self.labelnames + ("le",)
        for child, (counts, sum_) in rows:
            prefixes = child._text
            if prefixes is None:
                bucket = self.base_name + "_bucket"
                plain = _label_text(self.labelnames, child.labelvalues)
                prefixes = child._text = (
                    [bucket + _label_text(names, child.labelvalues + (le,)) + " " for le in self._le],
                    f"{self.base_name}_count{plain} ",
                    f"{self.base_name}_sum{plain} ",
                )
            cumulative = 0
            for prefix, n in zip(prefixes[0], counts):
                cumulative += n
                lines.append(prefix + format_value(float(cumulative)) + "\n")
            lines.append(prefixes[1] + format_value(float(cumulative)) + "\n")
            lines.append(prefixes[2] + format_value(sum_) + "\n")
        return "".join(lines)
