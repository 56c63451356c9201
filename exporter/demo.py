"""A simulated orchestrator that feeds the exporter: `orchestrator demo --scenario NAME`.

Agents Coder, Analyzer, DevOps and Architect (two persistent ones per type, one thread each)
take tasks from a priority queue per type; a producer creates tasks on models sonnet and haiku;
every so often a team of agents runs a parallel batch. Tasks read and write files, call MCP
tools, spend tokens, fail, and are retried. Everything goes through exporter.instrument, so
every exporter-sourced metric and the standard log events come out as the real orchestrator
would make them. The scenario (scenarios.py) shapes the workload so that its alerts fire.

Time runs `speed` times faster than real time: simulated waits are divided by `speed`, and
the instrumentation's clock is the simulated one, so recorded durations are simulated seconds
(spans keep real time: OpenTelemetry stamps them itself).

Scenario start: at once, or - for the scenarios.SWITCHED ones, given a start file (`start_file`,
`orchestrator demo --start-file`, which observability.native_stack passes for a held stack) -
the demo runs the normal workload until the file exists and then switches to the scenario, so
that a stack can start its clock once Prometheus is watching. The switch happens on the housekeeping thread (every
HOUSEKEEPING_REAL_SECONDS); what a scenario changes when it starts: health, the held memory and
descriptors, the queue's cap, the bursts of error-spike, the CPU burner of cpu.

Traces follow the spec's `runtime.tracing`: with it enabled, each queued task is its own trace
(an `agent.execute_task` root with file, MCP and LLM spans) and each team batch one
`orchestrator.execute_request` trace; they go to `runtime.tracing.endpoint` (the one setting to
point the demo at any OTLP receiver) and, with `log_dir`, the trace file goes there too.
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from prometheus_client import CollectorRegistry

from observability.load import Loaded
from observability.spec import LoggingRuntime, TracingRuntime

from .catalogue import DISK_USAGE, TASK_RETRIES, TASKS_TOTAL, TEAMS_FORMED
from .context import ContextThreadPoolExecutor, correlation, new_correlation_id, new_session_id, wrap
from .http import ExporterServer
from .instrument import LOG_VOLUME, Instrumentation, ParallelBatch
from .scenarios import (AGENTS, AGENTS_PER_TYPE, BATCH_SIZE, ERROR_CODES, FILE_OPERATIONS, MCP_PLUGINS, MEMORY_HOGS,
                        MODELS, PRIORITIES, RETRYABLE, SCENARIO_ALERTS, SWITCHED, workload)
from .tasks import QueuedTask

COMPONENTS = ("scheduler", "queue", "agents", "logging")
PRIORITY_WEIGHTS = (2, 5, 3)  # high, normal, low
PREFERRED_MODEL = {"Coder": "sonnet", "Architect": "sonnet", "Analyzer": "haiku", "DevOps": "haiku"}
BATCH_EVERY_SECONDS = 60.0   # simulated time between parallel batches
HOUSEKEEPING_REAL_SECONDS = 0.1
# The CPU burner (cpu scenario): it works in slices of at most BURN_SLICE_SECONDS of CPU and keeps
# at most BURN_SLACK_SECONDS of CPU owed or ahead, so a thread starved by other processes does not
# catch up later with a full core (which would pass the critical ratio).
BURN_SLICE_SECONDS = 0.01
BURN_SLACK_SECONDS = 0.05
BURST_ERROR_CODE = "E_TOOL"  # not retryable: a burst task fails for good


def demo_logging(config: LoggingRuntime, *, log_dir: Path | None, console: bool) -> LoggingRuntime:
    """The spec's log outputs, with file outputs moved into `log_dir` and the console dropped if asked."""
    outputs = []
    for output in config.outputs:
        if output.type == "console" and not console:
            continue
        if output.type == "file" and log_dir is not None and output.path:
            output = output.model_copy(update={"path": str(log_dir / Path(output.path).name)})
        outputs.append(output)
    return config.model_copy(update={"outputs": outputs})


def demo_tracing(config: TracingRuntime, *, log_dir: Path | None) -> TracingRuntime:
    """The spec's tracing, with its trace file moved into `log_dir` (like the log files)."""
    if log_dir is None or not config.file:
        return config
    return config.model_copy(update={"file": str(log_dir / Path(config.file).name)})


class SimulatedClock:
    """Monotonic seconds that run `speed` times faster than real ones."""

    def __init__(self, speed: float):
        self.speed = speed
        self._origin = time.monotonic()

    def __call__(self) -> float:
        return (time.monotonic() - self._origin) * self.speed


class _TaskQueues:
    """Waiting tasks per agent type, served by priority then arrival; `cap` bounds the total."""

    def __init__(self, cap: int):
        self.cap = cap
        self._heaps: dict[str, list[tuple[int, int, QueuedTask, str]]] = {agent: [] for agent in AGENTS}
        self._size = 0
        self._order = itertools.count()
        self._changed = threading.Condition()

    def wait_for_room(self, stopping: threading.Event) -> bool:
        with self._changed:
            while self._size >= self.cap and not stopping.is_set():
                self._changed.wait(0.05)
            return not stopping.is_set()

    def put(self, task: QueuedTask, model: str) -> None:
        with self._changed:
            heapq.heappush(self._heaps[task.agent], (PRIORITIES.index(task.priority), next(self._order), task, model))
            self._size += 1
            self._changed.notify_all()

    def get(self, agent: str, timeout: float) -> tuple[QueuedTask, str] | None:
        with self._changed:
            heap = self._heaps[agent]
            if not heap:
                self._changed.wait(timeout)
            if not heap:
                return None
            _, _, task, model = heapq.heappop(heap)
            self._size -= 1
            self._changed.notify_all()
            return task, model

    def drain(self) -> list[QueuedTask]:
        with self._changed:
            left = [entry[2] for heap in self._heaps.values() for entry in heap]
            for heap in self._heaps.values():
                heap.clear()
            self._size = 0
            return left


class Demo:
    def __init__(self, loaded: Loaded, scenario: str, *, speed: float = 1.0, port: int | None = None,
                 host: str | None = None, registry: CollectorRegistry | None = None, log_dir: Path | None = None,
                 console: bool = True, console_stream: TextIO | None = None, seed: int | None = None,
                 exporter_stops_after: float | None = None, start_file: Path | None = None):
        if speed <= 0:
            raise ValueError(f"speed: must be above 0, got {speed}")
        model = loaded.model
        self.scenario = scenario
        self.speed = speed
        self.start_file = start_file if scenario in SWITCHED else None  # the others start at once
        start_file = self.start_file
        self.scenario_workload = workload(scenario, model)
        # Held: the normal workload until the start file exists. Nothing but the scenario switch
        # changes self.workload.
        self.workload = workload("normal", model) if start_file is not None else self.scenario_workload
        if exporter_stops_after is None:
            # A held demo has been scraped before its start: down stops answering at once.
            stops = self.scenario_workload.exporter_stops_after
            exporter_stops_after = 0.0 if stops is not None and start_file is not None else stops
        self.exporter_stops_after = exporter_stops_after
        self.registry = registry if registry is not None else CollectorRegistry()
        self.clock = SimulatedClock(speed)
        streams = {"console": console_stream} if console_stream is not None else None
        self.obs = Instrumentation.from_model(model, self.registry, clock=self.clock, logger_streams=streams,
                                              logger_config=demo_logging(model.runtime.logging, log_dir=log_dir,
                                                                         console=console),
                                              tracing=demo_tracing(model.runtime.tracing, log_dir=log_dir))
        self.server = ExporterServer.from_runtime(self.registry, self.obs.health, model.runtime.exporter,
                                                  port=port, host=host)
        self._rng = random.Random(seed)
        self._queues = _TaskQueues(self.workload.queue_cap)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._batch_thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self._session_id = new_session_id()
        self._session_correlation: str | None = None
        self._started_real = 0.0
        self.scenario_started: float | None = None  # time.monotonic() of the scenario's start
        self._burner: threading.Thread | None = None
        self._exporter_stopped = False
        self._held_memory: bytearray | None = None
        self._held_fds: list[int] = []

    # -- control -----------------------------------------------------------------------------

    def start(self) -> Demo:
        obs = self.obs
        obs.prepare(agents=AGENTS, models=MODELS, priorities=PRIORITIES, spawn_modes=("persistent", "team"),
                    retry_reasons=tuple(RETRYABLE.values()), error_codes=ERROR_CODES, file_operations=FILE_OPERATIONS)
        for plugin, tools in MCP_PLUGINS.items():
            obs.mcp_tools_available(plugin, len(tools))
        for component in COMPONENTS:
            obs.set_health(component, True)
        self.server.start()
        self._started_real = time.monotonic()
        with correlation(session_id=self._session_id) as session:
            self._session_correlation = session.correlation_id
            if obs.logger is not None:
                obs.logger.event("session_start", session_id=self._session_id, scenario=self.scenario,
                                 speed=self.speed, metrics_url=self.server.url)
            # Threads do not inherit contextvars: wrap() carries the session into each of them.
            targets: list[tuple[str, Callable[..., None], tuple[Any, ...]]] = [
                ("demo-producer", self._produce, ()), ("demo-housekeeping", self._housekeep, ())]
            for agent in AGENTS:
                for index in range(AGENTS_PER_TYPE):
                    targets.append((f"demo-{agent}-{index}", self._work, (agent, index)))
            self._threads = [threading.Thread(target=wrap(fn), args=args, name=name, daemon=True)
                             for name, fn, args in targets]
        for thread in self._threads:
            thread.start()
        if self.start_file is None:
            self.begin_scenario()
        return self

    def begin_scenario(self) -> None:
        """Switch from the normal workload to the scenario's (at start, or when the start file
        appears): health, held resources, the queue's cap, the bursts and opening tasks, the CPU
        burner."""
        if self.scenario_started is not None:
            return
        w = self.workload = self.scenario_workload
        for component in COMPONENTS:
            self.obs.set_health(component, component not in w.unhealthy)
        self._queues.cap = w.queue_cap
        self._hold_resources()
        if w.cpu_ratio is not None:
            self._burner = threading.Thread(target=self._burn_cpu, args=(w.cpu_ratio,), name="demo-cpu", daemon=True)
            self._burner.start()
        with correlation(session_id=self._session_id, correlation_id=self._session_correlation):
            self._bursts()
            rng = random.Random(self._rng.random())
            for agent in AGENTS:
                for _ in range(w.opening_tasks):
                    with correlation(correlation_id=new_correlation_id()):
                        queued = self.obs.tasks.enqueue(self._task_id(), agent=agent, priority="normal")
                    self._queues.put(queued, self._model_for(agent, rng))
            if self.obs.logger is not None:
                self.obs.logger.log("INFO", f"scenario {self.scenario} starts", event="scenario_start",
                                    scenario=self.scenario)
        self.scenario_started = time.monotonic()

    def _bursts(self) -> None:
        """error-spike opens with failing tasks and agent errors at once (scenarios.workload says
        how many), so that the rates over the [5m] windows pass their limits at the next scrape."""
        w = self.workload
        rng = random.Random(self._rng.random())
        for agent in AGENTS:
            for _ in range(w.burst_agent_errors):
                self.obs.agent_error(agent, rng.choice(ERROR_CODES))
        if w.burst_failure_ratio is None:
            return
        finished = sum(s.value for family in self.registry.collect() for s in family.samples
                       if s.name == TASKS_TOTAL.name)
        failed = sum(s.value for family in self.registry.collect() for s in family.samples
                     if s.name == TASKS_TOTAL.name and s.labels.get("status") == "failed")
        ratio = w.burst_failure_ratio
        for _ in range(max(0, math.ceil((ratio * finished - failed) / (1 - ratio)))):
            agent = rng.choice(AGENTS)
            with correlation(correlation_id=new_correlation_id()):
                queued = self.obs.tasks.enqueue(self._task_id(), agent=agent, priority="normal")
                with self.obs.tasks.run(queued, model=self._model_for(agent, rng)) as run:
                    run.fail(BURST_ERROR_CODE)

    def _burn_cpu(self, ratio: float) -> None:
        """Hold this process's CPU use at `ratio` of one core - all its threads together, as
        process_cpu_seconds_total counts them - with one busy thread, duty-cycled by
        time.process_time() feedback. One thread: it holds the GIL while it spins and can use at
        most one core, so on 2 cores the other processes keep the other one; the other threads of
        the demo get the GIL at the interpreter's switch interval."""
        owed = 0.0
        last_wall, last_cpu = time.monotonic(), time.process_time()
        while not self._stopping.is_set():
            now, cpu = time.monotonic(), time.process_time()
            owed += ratio * (now - last_wall) - (cpu - last_cpu)
            owed = max(-BURN_SLACK_SECONDS, min(BURN_SLACK_SECONDS, owed))
            last_wall, last_cpu = now, cpu
            if owed > 0:
                end = cpu + min(owed, BURN_SLICE_SECONDS)
                while time.process_time() < end:
                    pass
            else:
                self._stopping.wait(min(BURN_SLICE_SECONDS, -owed / ratio))

    def wait(self, duration: float | None = None) -> None:
        """Block for `duration` real seconds (None: until stop() from another thread)."""
        self._stopping.wait(duration)

    def stop(self) -> None:
        if self._stopping.is_set() and not self._threads:
            return
        self._stopping.set()
        for thread in self._threads + [t for t in (self._batch_thread, self._burner) if t is not None]:
            thread.join(timeout=10)
        self._threads = []
        for task in self._queues.drain():
            self.obs.tasks.drop(task)
        if self.obs.logger is not None:
            with correlation(session_id=self._session_id, correlation_id=self._session_correlation):
                self.obs.logger.event("session_end", session_id=self._session_id,
                                      duration_ms=round(self.clock() * 1000, 3))
        self.server.stop()
        # Kept traces get a short while to leave; an unreachable endpoint must not hold up the stop.
        self.obs.close(trace_flush_seconds=3.0)
        self._release_resources()

    def _hold_resources(self) -> None:
        """The resources scenario: real memory and descriptors held by this process (the process
        collector reports them), and a simulated fill level of the log volume."""
        w = self.workload
        for _ in range(w.process_extra_fds):
            self._held_fds.append(os.open(os.devnull, os.O_RDONLY))
        if w.disk_usage_ratio is not None:
            ratio = w.disk_usage_ratio
            self.obs.metrics.fed(DISK_USAGE).labels(volume=LOG_VOLUME).set_function(lambda: ratio)
        if w.process_extra_bytes:  # last: touching every page takes a moment
            self._held_memory = bytearray(b"\x01") * w.process_extra_bytes  # written, so resident

    def _release_resources(self) -> None:
        self._held_memory = None
        for fd in self._held_fds:
            os.close(fd)
        self._held_fds = []

    def __enter__(self) -> Demo:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self.server.port

    def summary(self) -> str:
        """One line on what the run did, read back from the registry."""
        def total(sample_name: str, **labels: str) -> float:
            return sum(s.value for family in self.registry.collect() for s in family.samples
                       if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items()))

        tasks = total(TASKS_TOTAL.name)
        failed = total(TASKS_TOTAL.name, status="failed")
        retries = total(TASK_RETRIES.name)
        teams = total(TEAMS_FORMED.name)
        return (f"demo {self.scenario}: {tasks:.0f} tasks finished ({failed:.0f} failed, {retries:.0f} retries), "
                f"{teams:.0f} teams, {self.clock():.0f} simulated seconds")

    # -- the simulated orchestrator ------------------------------------------------------------

    def _sleep(self, simulated_seconds: float) -> None:
        self._stopping.wait(simulated_seconds / self.speed)

    def _task_id(self) -> str:
        return f"task-{next(self._ids)}"

    def _model_for(self, agent: str, rng: random.Random) -> str:
        preferred = PREFERRED_MODEL[agent]
        return preferred if rng.random() < 0.8 else next(m for m in MODELS if m != preferred)

    def _produce(self) -> None:
        rng = random.Random(self._rng.random())
        while not self._stopping.is_set():
            low, high = self.workload.task_seconds  # read each time: the scenario may switch
            capacity = len(AGENTS) * AGENTS_PER_TYPE / ((low + high) / 2)  # tasks per simulated second
            self._sleep(rng.expovariate(capacity * self.workload.load))
            if not self._queues.wait_for_room(self._stopping):
                return
            agent = rng.choice(AGENTS)
            priority = rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0]
            # Each task is its own request: a new correlation id within the session.
            with correlation(correlation_id=new_correlation_id()):
                queued = self.obs.tasks.enqueue(self._task_id(), agent=agent, priority=priority)
            self._queues.put(queued, self._model_for(agent, rng))

    def _work(self, agent: str, index: int) -> None:
        rng = random.Random(self._rng.random())
        with self.obs.agent(agent, mode="persistent") as session:
            while not self._stopping.is_set():
                if not self.workload.agents_take_tasks:  # the stall scenario: the agent idles
                    self._stopping.wait(0.05)
                    continue
                taken = self._queues.get(agent, timeout=0.05)
                if taken is not None:
                    self._execute(taken[0], taken[1], (session,), rng)

    def _execute(self, queued: QueuedTask, model: str, observers: tuple[Any, ...], rng: random.Random) -> None:
        obs, agent = self.obs, queued.agent
        low, high = self.workload.task_seconds
        seconds = rng.uniform(low, high)
        with obs.tasks.run(queued, model=model, observers=observers) as run:
            for _ in range(rng.randint(1, 4)):
                with obs.read_file(f"src/module_{rng.randint(1, 40)}.py", size_bytes=rng.randint(200, 20000)) as read:
                    if rng.random() <= 0.01:
                        read.fail("E_IO")
            plugin = rng.choice(tuple(MCP_PLUGINS))
            with obs.mcp_tool(plugin, rng.choice(MCP_PLUGINS[plugin])):
                self._sleep(seconds * 0.1)
            with obs.llm_call(model):
                self._sleep(seconds * 0.3)
                obs.tokens(agent, model, rng.randint(300, 4000))
            with obs.validate():
                self._sleep(seconds * 0.6)
            if rng.random() < self.workload.failure_ratio:
                # Agent errors are not counted here: their alert compares a rate per real
                # second, which would grow with --speed; _housekeep paces them instead.
                code = rng.choice(ERROR_CODES)
                if code in RETRYABLE and queued.attempt < 2:
                    self._queues.put(run.retry(RETRYABLE[code]), model)
                else:
                    run.fail(code)
            else:
                with obs.edit_file(f"src/module_{rng.randint(1, 40)}.py", lines_changed=rng.randint(1, 80)) as edit:
                    if rng.random() <= 0.01:
                        edit.fail("E_IO")

    def _housekeep(self) -> None:
        rng = random.Random(self._rng.random())
        last_batch = -BATCH_EVERY_SECONDS
        owed_errors = 0.0
        last = time.monotonic()
        while not self._stopping.wait(HOUSEKEEPING_REAL_SECONDS):
            if self.scenario_started is None and self.start_file is not None and self.start_file.exists():
                self.begin_scenario()
            now = time.monotonic()
            for agent in AGENTS:
                level = self.workload.memory_hog_bytes if agent in MEMORY_HOGS else self.workload.memory_bytes
                self.obs.agent_memory(agent, level * rng.uniform(0.95, 1.05))
            # agent_error_spike compares a rate per real second: pace the burst in real time.
            owed_errors += self.workload.agent_errors_per_second * (now - last)
            last = now
            while owed_errors >= 1:
                owed_errors -= 1
                for agent in AGENTS:
                    self.obs.agent_error(agent, rng.choice(ERROR_CODES))
            if self.workload.agents_take_tasks and self.clock() - last_batch >= BATCH_EVERY_SECONDS and (
                    self._batch_thread is None or not self._batch_thread.is_alive()):
                last_batch = self.clock()
                self._batch_thread = threading.Thread(target=wrap(self._team_batch), args=(rng.random(),),
                                                      name="demo-batch", daemon=True)
                self._batch_thread.start()
            stops_after, began = self.exporter_stops_after, self.scenario_started
            if stops_after is not None and began is not None and not self._exporter_stopped \
                    and time.monotonic() - began >= stops_after:
                self._exporter_stopped = True
                if self.obs.logger is not None:
                    self.obs.logger.log("WARN", f"scenario {self.scenario}: the exporter stops answering scrapes")
                self.server.stop()

    def _team_batch(self, seed: float) -> None:
        """A team of BATCH_SIZE agents runs one task each, in parallel (at most batch_workers at once)."""
        rng = random.Random(seed)
        number = next(self._ids)
        members = [rng.choice(AGENTS) for _ in range(BATCH_SIZE)]
        with self.obs.request("parallel_batch", parallel=True), self.obs.decompose(BATCH_SIZE), \
                self.obs.team(f"team-{number}", member_count=BATCH_SIZE), \
                self.obs.parallel_batch(f"batch-{number}", BATCH_SIZE, workers=BATCH_SIZE) as batch, \
                ContextThreadPoolExecutor(max_workers=self.workload.batch_workers, thread_name_prefix="demo-team") as pool:
            queued = [self.obs.tasks.enqueue(self._task_id(), agent=agent, priority="high") for agent in members]
            futures = [pool.submit(self._member, task, batch, rng.random()) for task in queued]
            for future in futures:
                future.result()

    def _member(self, task: QueuedTask, batch: ParallelBatch, seed: float) -> None:
        rng = random.Random(seed)
        with self.obs.agent(task.agent, mode="team") as session:
            # A retried batch task goes back to the agents' queues; the batch counts this attempt.
            self._execute(task, self._model_for(task.agent, rng), (session, batch), rng)


def run_demo(loaded: Loaded, scenario: str, *, speed: float, port: int | None, duration: float | None,
             host: str | None = None, log_dir: Path | None = None, console: bool = True, seed: int | None = None,
             start_file: Path | None = None,
             announce: Callable[[str], None] = lambda line: print(line, file=sys.stderr)) -> Demo:
    """What `orchestrator demo` runs: start, serve until `duration` or Ctrl-C, stop."""
    demo = Demo(loaded, scenario, speed=speed, port=port, host=host, log_dir=log_dir, console=console, seed=seed,
                start_file=start_file)
    demo.start()
    try:
        alerts = ", ".join(SCENARIO_ALERTS[scenario]) or "none"
        announce(f"demo {scenario} at {speed}x: metrics on {demo.server.url}, health on "
                 f"http://{demo.server.host}:{demo.port}/healthz; alerts it makes fire: {alerts}")
        demo.wait(duration)
    except KeyboardInterrupt:
        pass
    finally:
        demo.stop()
    return demo

