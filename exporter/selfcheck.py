"""Check at start that the spec's catalogue fits what the exporter's code feeds.

The label lists live only in the spec. Rather than restating them, the exporter runs every
call of its instrumentation API once against a scratch registry: a label the code sets that
the spec lacks (or the reverse) raises LabelError, which becomes a `file:line:col` problem at
that metric's labels before anything is served.
"""

from __future__ import annotations

import itertools
import os
import tempfile

from prometheus_client import CollectorRegistry, generate_latest

from observability.model import Model
from observability.problems import Problem
from observability.spec import LoggingRuntime

from .families import LabelError

_AGENT, _MODEL, _PRIORITY = "Coder", "sonnet", "normal"


def _scratch_logging(model: Model, directory: str) -> LoggingRuntime:
    """The spec's logging with one JSON file output in `directory` and no console."""
    output = {"type": "file", "path": os.path.join(directory, "selfcheck.log"), "format": "json"}
    return model.runtime.logging.model_copy(update={"outputs": [type(model.runtime.logging.outputs[0])(**output)]}
                                            if model.runtime.logging.outputs else {})


def exercise(model: Model) -> None:
    """Every instrumentation call once; raises LabelError on the first label that does not fit."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from .instrument import Instrumentation

    ticks = itertools.count()
    slow = model.thresholds["slow_task_seconds"] + 1
    with tempfile.TemporaryDirectory(prefix="orchestrator-selfcheck-") as directory:
        # Tracing on, whatever the spec says, with in-memory exporters under the spec's exporter
        # names: the tracing metrics' label values are checked too, and nothing leaves the process.
        tracing = model.runtime.tracing.model_copy(update={"enabled": True})
        obs = Instrumentation.from_model(model, CollectorRegistry(), logger_config=_scratch_logging(model, directory),
                                         clock=lambda: next(ticks) * slow, tracing=tracing,
                                         trace_exporters={name: InMemorySpanExporter()
                                                          for name in tracing.exporters or ("otlp",)})
        try:
            obs.prepare(agents=[_AGENT], models=[_MODEL], priorities=[_PRIORITY], spawn_modes=["persistent"],
                        retry_reasons=["timeout"], error_codes=["E_SELFCHECK"], file_operations=["read"])
            with obs.agent(_AGENT, mode="persistent") as agent, obs.parallel_batch("selfcheck", 3) as batch, \
                    obs.team("selfcheck", 2):
                for task_id, ending in (("ok", None), ("failed", "fail"), ("retried", "retry")):
                    queued = obs.tasks.enqueue(f"selfcheck-{task_id}", agent=_AGENT, priority=_PRIORITY)
                    with obs.tasks.run(queued, model=_MODEL, observers=(agent, batch)) as run:
                        if ending == "fail":
                            run.fail("E_SELFCHECK")
                        elif ending == "retry":
                            obs.tasks.drop(run.retry("timeout"))
            obs.agent_error(_AGENT, "E_SELFCHECK")
            obs.agent_memory(_AGENT, 1)
            obs.tokens(_AGENT, _MODEL, 1)
            obs.file_operation("read")
            obs.file_operation("write", ok=False)
            obs.mcp_tools_available("selfcheck", 1)
            obs.mcp_tool_invoked("selfcheck", "probe")
            obs.set_health("selfcheck", True)
            with obs.request("selfcheck", parallel=False):
                with obs.decompose(1), obs.read_file("selfcheck.txt"), obs.edit_file("selfcheck.txt"):
                    pass
                with obs.search("selfcheck") as search, obs.mcp_tool("selfcheck", "probe"), obs.llm_call(_MODEL), \
                        obs.validate():
                    search.set(results_count=0)
            for exporter in tracing.exporters or ("otlp",):
                obs.trace_export_error(exporter)
            generate_latest(obs.metrics.registry)
        finally:
            obs.close()


def label_contract_problems(model: Model) -> list[Problem]:
    try:
        exercise(model)
    except LabelError as error:
        metric = model.metrics.get(error.metric)
        path = metric.path + ("labels",) if metric is not None else ("metrics",)
        return [Problem(path, f"the exporter's code does not fit the spec here: {error}")]
    except (AttributeError, TypeError) as error:
        # A metric whose type differs from what the code updates (set() on a counter, ...).
        return [Problem(("metrics",), f"the exporter's code does not fit the catalogue's metric types: {error}")]
    return []
