"""The cardinality guard: a cap on series per metric, applied when a label tuple is first seen.

Past the cap, new label tuples share one overflow series whose label values are all OVERFLOW;
each update that lands there counts in the folded-samples counter of that metric, the
series gauge shows how many series the metric holds (the overflow one included), and a
warning is logged once per metric. Series that already exist keep working as before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

OVERFLOW = "__overflow__"


class CardinalityGuard:
    def __init__(self, cap: int, warn: Callable[[str], None] | None = None):
        if cap < 1:
            raise ValueError(f"max_series_per_metric: must be at least 1, got {cap}")
        self.cap = cap
        self.warn: Callable[[str], None] = warn or logging.getLogger("exporter").warning
        self._series: Any = None
        self._folded: Any = None
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def watch(self, series_family: Any, folded_family: Any) -> None:
        """Report into these (unguarded) families: series{metric} and folded_samples_total{metric}."""
        self._series = series_family
        self._folded = folded_family

    def track(self, metric: str, series_count: Callable[[], float]) -> None:
        """Show a guarded metric's series count, read at each scrape (never stale, costs nothing
        when a series is added), and its folded count from zero, so that rate() works."""
        if self._series is not None:
            self._series.labels(metric=metric).set_function(series_count)
        if self._folded is not None:
            self._folded.labels(metric=metric)

    def folded(self, metric: str) -> Any:
        """The folded-samples child of `metric` (or None); warns the first time a metric folds."""
        with self._lock:
            first = metric not in self._warned
            self._warned.add(metric)
        if first:
            self.warn(f"{metric}: reached its cap of {self.cap} series; new label sets are folded "
                      f"into one series with every label set to {OVERFLOW}")
        return self._folded.labels(metric=metric) if self._folded is not None else None
