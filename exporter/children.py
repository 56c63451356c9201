"""The children of a metric family: one series' value each, plain attributes under the lock
of their metric set. FoldedChild stands in for a label tuple past the cardinality cap.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable
from typing import Any


class _Child:
    __slots__ = ("_lock", "_metric", "labelvalues", "_text")

    def __init__(self, lock: threading.Lock, metric: str, labelvalues: tuple[str, ...]):
        self._lock = lock
        self._metric = metric
        self.labelvalues = labelvalues
        self._text: Any = None  # rendered label strings, built at the first scrape


class CounterChild(_Child):
    __slots__ = ("value",)

    def __init__(self, lock: threading.Lock, metric: str, labelvalues: tuple[str, ...]):
        super().__init__(lock, metric, labelvalues)
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError(f"{self._metric}: a counter only goes up; inc({amount}) would lower it")
        with self._lock:
            self.value += amount


class GaugeChild(_Child):
    __slots__ = ("value", "_function")

    def __init__(self, lock: threading.Lock, metric: str, labelvalues: tuple[str, ...]):
        super().__init__(lock, metric, labelvalues)
        self.value = 0.0
        self._function: Callable[[], float] | None = None

    def inc(self, amount: float = 1.0) -> None:
        with self._lock:
            self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        with self._lock:
            self.value -= amount

    def set(self, value: float) -> None:
        with self._lock:
            self.value = float(value)

    def set_function(self, function: Callable[[], float]) -> None:
        """Read the value from `function` at every scrape (uptime, disk usage)."""
        self._function = function

    def read(self) -> float:
        return float(self._function()) if self._function is not None else self.value


class HistogramChild(_Child):
    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, lock: threading.Lock, metric: str, labelvalues: tuple[str, ...], bounds: tuple[float, ...]):
        super().__init__(lock, metric, labelvalues)
        self.bounds = bounds
        # Per bucket, not cumulative; the last one is +Inf. Cumulated when collected.
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        index = bisect_left(self.bounds, value)  # outside the lock: keep the critical section short
        with self._lock:
            self.counts[index] += 1
            self.sum += value


class FoldedChild:
    """What a label tuple past the cap gets: updates go to the overflow series and count as folded.

    Besides the methods, it offers the attributes the task tracker updates under the lock
    (`value`; `bounds`, `counts` and `sum`): writing `value` or `sum` counts one folded sample,
    so `child.value += 1` and `counts[i] += 1; sum += v` work on either kind of child.
    """

    __slots__ = ("_overflow", "_folded", "_lock")

    def __init__(self, overflow: Any, folded: CounterChild | None, lock: threading.Lock):
        self._overflow = overflow
        self._folded = folded
        self._lock = lock

    def _count(self) -> None:
        if self._folded is not None:
            self._folded.value += 1

    @property
    def value(self) -> float:
        return self._overflow.value  # type: ignore[no-any-return]

    @value.setter
    def value(self, value: float) -> None:
        self._overflow.value = value
        self._count()

    @property
    def bounds(self) -> tuple[float, ...]:
        return self._overflow.bounds  # type: ignore[no-any-return]

    @property
    def counts(self) -> list[int]:
        return self._overflow.counts  # type: ignore[no-any-return]

    @property
    def sum(self) -> float:
        return self._overflow.sum  # type: ignore[no-any-return]

    @sum.setter
    def sum(self, value: float) -> None:
        self._overflow.sum = value
        self._count()

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0 and isinstance(self._overflow, CounterChild):
            self._overflow.inc(amount)  # raises the counter's ValueError
        with self._lock:
            self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        with self._lock:
            self.value -= amount

    def set(self, value: float) -> None:
        with self._lock:
            self.value = float(value)

    def set_function(self, function: Callable[[], float]) -> None:
        raise ValueError(f"{self._overflow._metric}: a folded series cannot read its value from a function")

    def observe(self, value: float) -> None:
        index = bisect_left(self.bounds, value)
        with self._lock:
            self.counts[index] += 1
            self.sum += value
