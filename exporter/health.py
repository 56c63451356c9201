"""Health per component: the orchestrator_health_status gauge and the /healthz answer."""

from __future__ import annotations

import threading
from typing import Any


class HealthBoard:
    def __init__(self, gauge: Any):
        self._gauge = gauge
        self._state: dict[str, bool] = {}
        self._lock = threading.Lock()

    def set(self, component: str, healthy: bool) -> None:
        child = self._gauge.labels(component=component)
        with self._lock:
            self._state[component] = bool(healthy)
            child.set(1.0 if healthy else 0.0)

    def components(self) -> dict[str, bool]:
        with self._lock:
            return dict(self._state)

    def healthy(self) -> bool:
        """True when every component reported is healthy (and vacuously with none reported)."""
        with self._lock:
            return all(self._state.values())
