"""8 threads x 100,000 increments give exact totals, while /metrics is scraped in a loop over HTTP.

Four threads increment through `.labels(...).inc()`, four through whole task lifecycles
(enqueue, run; a token count inside), so both update paths share the lock under contention.
"""

from __future__ import annotations

import threading
import urllib.request

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from exporter.http import ExporterServer
from exporter.instrument import Instrumentation
from observability.load import load

THREADS = 8
UPDATES = 100_000


def test_exact_totals_under_eight_threads_while_scraping(root) -> None:  # type: ignore[no-untyped-def]
    model = load(root / "observability.yaml").model
    registry = CollectorRegistry()
    obs = Instrumentation.from_model(model, registry)
    server = ExporterServer(registry, obs.health, port=0).start()
    total = obs.metrics["orchestrator_tasks_total"]
    tokens = obs.metrics["orchestrator_agent_tokens_total"]
    start = threading.Barrier(THREADS + 2)  # the workers, the scraper and this thread
    done = threading.Event()
    errors: list[BaseException] = []
    scrapes: list[float] = []

    def increments(agent: str) -> None:
        # Through .labels() each time: the cached-children path under contention.
        start.wait()
        for _ in range(UPDATES):
            total.labels(agent=agent, status="success", model="sonnet").inc()

    def lifecycles(agent: str) -> None:
        # Through the task tracker: each lifecycle increments tasks_total once, among its updates.
        start.wait()
        for i in range(UPDATES):
            queued = obs.tasks.enqueue(f"task-{i}", agent=agent, priority="high")
            with obs.tasks.run(queued, model="haiku"):
                tokens.labels(agent_type=agent, model="haiku").inc(4)

    def scrape() -> None:
        start.wait()
        try:
            while not done.is_set() or len(scrapes) < 3:
                with urllib.request.urlopen(server.url, timeout=10) as response:
                    assert response.status == 200
                    text = response.read().decode()
                seen = {(s.name, s.labels.get("agent"), s.labels.get("model")): s.value
                        for family in text_string_to_metric_families(text) for s in family.samples}
                scrapes.append(sum(v for (name, _, model), v in seen.items()
                                   if name == "orchestrator_tasks_total" and model == "sonnet"))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    agents = ["Coder", "Analyzer", "DevOps", "Architect"]
    workers = [threading.Thread(target=increments, args=(agents[i % 4],)) for i in range(THREADS // 2)]
    workers += [threading.Thread(target=lifecycles, args=(agents[i % 4],)) for i in range(THREADS // 2)]
    scraper = threading.Thread(target=scrape)
    try:
        for thread in workers + [scraper]:
            thread.start()
        start.wait()
        for thread in workers:
            thread.join()
        done.set()
        scraper.join(timeout=30)
    finally:
        done.set()
        server.stop()

    assert not errors, errors
    assert len(scrapes) >= 3
    assert scrapes == sorted(scrapes), "a counter went down between scrapes"

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    per_agent = THREADS // 2 // len(agents)
    for agent in agents:
        assert value("orchestrator_tasks_total", agent=agent, status="success", model="sonnet") == per_agent * UPDATES
        assert value("orchestrator_tasks_total", agent=agent, status="success", model="haiku") == per_agent * UPDATES
        assert value("orchestrator_agent_tokens_total", agent_type=agent, model="haiku") == per_agent * UPDATES * 4
        assert value("orchestrator_task_duration_seconds_count", agent=agent, status="success") == per_agent * UPDATES
        assert value("orchestrator_tasks_active", agent=agent) == 0
    assert value("orchestrator_task_queue_size", priority="high") == 0
    assert value("orchestrator_task_queue_wait_seconds_count", priority="high") == THREADS // 2 * UPDATES
