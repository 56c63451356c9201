"""Rendering a registry for a scrape: the classic text format through the families' cached
label strings (same bytes as prometheus_client.generate_latest, less work), OpenMetrics and
anything else through prometheus_client's own encoders, chosen by the Accept header.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric


class _One:
    """A collector of one already-collected metric, to reuse generate_latest's formatting."""

    def __init__(self, metric: Metric):
        self._metric = metric

    def collect(self) -> Iterable[Metric]:
        return (self._metric,)


def render_text(registry: CollectorRegistry) -> bytes:
    """The Prometheus text format (0.0.4) of everything in `registry`."""
    parts: list[str] = []
    for metric in registry.collect():
        fast = getattr(metric, "prometheus_text", None)
        parts.append(fast() if fast is not None else generate_latest(_One(metric)).decode("utf-8"))
    return "".join(parts).encode("utf-8")


def encoder_for(accept_header: str | None) -> tuple[Callable[[CollectorRegistry], bytes], str]:
    """(render function, content type) for a request's Accept header."""
    encoder, content_type = choose_encoder(accept_header or "")
    if encoder is generate_latest:
        return render_text, content_type
    return encoder, content_type
