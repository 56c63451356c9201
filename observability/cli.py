"""The `orchestrator` command: generate, config validate, check, alerts silence apply|test, demo, stack up."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import SPEC_FILE

if TYPE_CHECKING:
    from .load import Loaded

EXIT_BAD_INPUT = 2


class _Printer:
    """click.secho behind rich's `print(text, markup=, style=)`: importing rich cost ~30 ms on
    every command, a tenth of `generate`'s budget."""

    def __init__(self, stderr: bool):
        self.stderr = stderr

    def print(self, text: str, markup: bool = False, style: str | None = None) -> None:
        words = (style or "").split()
        colour = next((w for w in words if w != "bold"), None)
        click.secho(text, err=self.stderr, fg=colour, bold="bold" in words)


err = _Printer(stderr=True)
out = _Printer(stderr=False)


def _load_or_exit(spec: Path) -> Loaded:
    # Imported here: `generate` forks its dashboards worker before the spec models are built.
    from .load import load
    from .problems import SpecError

    try:
        loaded = load(spec, display_name=str(spec))
    except SpecError as exc:
        for line in exc.warnings:
            err.print(line, markup=False, style="yellow")
        for line in exc.lines:
            err.print(line, markup=False, style="red")
        err.print(f"{len(exc.lines)} error(s); nothing was written.", style="bold red")
        sys.exit(EXIT_BAD_INPUT)
    for line in loaded.warnings:
        err.print(line, markup=False, style="yellow")
    return loaded


spec_option = click.option("--spec", "spec", type=click.Path(path_type=Path), default=SPEC_FILE,
                           show_default=True, help="The spec to read.")


@click.group()
def main() -> None:
    """Orchestrator observability as code: one spec, every config."""


@main.command()
@spec_option
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=".",
              show_default=True, help="Directory the outputs are written under.")
def generate(spec: Path, out_dir: Path) -> None:
    """Render the spec into alert_rules/, dashboards/, provisioning/ and docker-compose.yml."""
    from generators.dashboards_worker import DashboardsWorker

    # Forked first, so grafanalib's import overlaps the spec's (see generators/dashboards_worker.py).
    with DashboardsWorker() as dashboards:
        loaded = _load_or_exit(spec)
        from generators import MANAGED, render_all

        from .writer import write_outputs

        documents = render_all(loaded.model, render_dashboards=dashboards.render)
    out_dir.mkdir(parents=True, exist_ok=True)
    changed = write_outputs(out_dir, documents, MANAGED)
    for path in changed:
        out.print(f"  wrote {path}", markup=False)
    out.print(f"{len(documents)} files from {spec}, {len(changed)} changed.", markup=False)


@main.group()
def config() -> None:
    """Work with the spec."""


@config.command("validate")
@click.argument("spec", type=click.Path(path_type=Path), default=SPEC_FILE)
def validate(spec: Path) -> None:
    """Check the spec: schema, PromQL lint, cross-references. Exit 2 on errors."""
    loaded = _load_or_exit(spec)
    model = loaded.model
    out.print(f"{spec}: valid ({len(model.metrics)} metrics, {len(model.recording_rules)} recording rules, "
              f"{len(model.alerts)} alerts, {len(model.receivers)} receivers"
              f"{f', {len(loaded.warnings)} warning(s)' if loaded.warnings else ''}).", markup=False)


@main.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=".",
              show_default=True, help="Directory holding the generated outputs.")
@spec_option
@click.option("--grafana-schema", "grafana_schema", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Directory of Grafana's JSON Schemas (tools/grafana-schema/build.sh) to validate dashboards with.")
def check(out_dir: Path, spec: Path, grafana_schema: Path | None) -> None:
    """Validate the generated files with the real promtool and amtool."""
    from .checks import run_all
    from .tools import ToolMissing

    loaded = _load_or_exit(spec)
    try:
        results = run_all(out_dir, loaded.model, grafana_schema)
    except ToolMissing as exc:
        err.print(str(exc), markup=False, style="red")
        sys.exit(EXIT_BAD_INPUT)
    failed = 0
    for result in results:
        mark = click.style("ok  ", fg="green") if result.ok else click.style("FAIL", fg="red")
        out.print(f"{mark} {result.name}")
        if not result.ok:
            failed += 1
            out.print(result.output.rstrip(), markup=False)
    out.print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


@main.group()
def alerts() -> None:
    """Work with a running Alertmanager."""


@alerts.group()
def silence() -> None:
    """Silences from the spec's suppressions."""


@silence.command("apply")
@click.option("--alertmanager-url", default="http://127.0.0.1:9093", show_default=True)
@click.option("--file", "silences_file", type=click.Path(path_type=Path, dir_okay=False),
              default="provisioning/alertmanager/silences.yml", show_default=True)
def silence_apply(alertmanager_url: str, silences_file: Path) -> None:
    """Create the generated silences on Alertmanager; running it again changes nothing."""
    from .silences import SilenceError, apply_silences, read_silences

    try:
        outcomes = apply_silences(alertmanager_url, read_silences(silences_file))
    except SilenceError as exc:
        err.print(str(exc), markup=False, style="red")
        sys.exit(1)
    for outcome in outcomes:
        out.print(f"{outcome.action:>9} {outcome.name} {outcome.silence_id or ''}".rstrip(), markup=False)


@main.command()
@click.option("--scenario", default="normal", show_default=True,
              help="normal, error-spike, backlog, slow, memory or down: which alerts fire on purpose.")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Simulated seconds per real second.")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port of /metrics and /healthz [default: runtime.exporter.port of the spec; 0 picks a free one].")
@click.option("--host", default=None,
              help="Address to listen on [default: runtime.exporter.host of the spec, 127.0.0.1]; "
                   "0.0.0.0 inside a container.")
@click.option("--duration", type=click.FloatRange(min=0), default=None,
              help="Real seconds to run [default: until Ctrl-C].")
@spec_option
@click.option("--log-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Write the file log outputs here instead of the spec's path.")
@click.option("--quiet", is_flag=True, help="Leave out the console log output.")
@click.option("--seed", type=int, default=None, help="Seed of the simulated workload.")
@click.option("--start-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="down and error-spike: run the normal workload until this file exists, then the scenario.")
def demo(scenario: str, speed: float, port: int | None, host: str | None, duration: float | None, spec: Path,
         log_dir: Path | None, quiet: bool, seed: int | None, start_file: Path | None) -> None:
    """Run a simulated orchestrator that feeds the exporter, shaped by a scenario."""
    from exporter.catalogue import catalogue_problems
    from exporter.demo import run_demo
    from exporter.scenarios import SCENARIO_ALERTS

    if scenario not in SCENARIO_ALERTS:
        raise click.BadParameter(f"{scenario!r} is not one of {', '.join(SCENARIO_ALERTS)}", param_hint="--scenario")
    loaded = _load_or_exit(spec)
    # The exporter's own checks of the catalogue, reported like the loader's.
    problems = catalogue_problems(loaded)
    for problem in problems:
        if problem.level == "warning":
            err.print(loaded.source.format(problem), markup=False, style="yellow")
    errors = [loaded.source.format(p) for p in problems if p.level == "error"]
    if errors:
        for line in errors:
            err.print(line, markup=False, style="red")
        err.print(f"{len(errors)} error(s); the exporter did not start.", style="bold red")
        sys.exit(EXIT_BAD_INPUT)
    try:
        finished = run_demo(loaded, scenario, speed=speed, port=port, host=host, duration=duration, log_dir=log_dir,
                            console=not quiet, seed=seed, start_file=start_file,
                            announce=lambda line: err.print(line, markup=False))
    except OSError as exc:
        err.print(f"the exporter cannot listen: {exc.strerror or exc}", markup=False, style="red")
        sys.exit(1)
    out.print(finished.summary(), markup=False)


@alerts.command("test")
@click.option("--severity", type=click.Choice(["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"]), required=True)
@click.option("--alertmanager-url", default=None,
              help="[default: the running `orchestrator stack up`'s, else http://127.0.0.1:9093]")
@click.option("--receivers-url", default=None,
              help="Local receivers to ask whether they got it [default: the running `orchestrator stack up`'s].")
@click.option("--run-dir", type=click.Path(path_type=Path, file_okay=False), default="build/native-stack",
              show_default=True, help="Run directory of `orchestrator stack up` (its stack.json names the URLs).")
@click.option("--timeout", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="Seconds to wait for the route's group_wait and the delivery.")
def alerts_test(severity: str, alertmanager_url: str | None, receivers_url: str | None, run_dir: Path,
                timeout: float) -> None:
    """Post a synthetic alert; report the receivers it was routed to and whether they got it."""
    import json

    import requests

    from .synthetic_alert import send_test_alert

    state = run_dir / "stack.json"
    urls = json.loads(state.read_text(encoding="utf-8")) if state.is_file() else {}
    if alertmanager_url is None:
        alertmanager_url = urls.get("alertmanager", "http://127.0.0.1:9093")
        receivers_url = receivers_url or urls.get("receivers")
    elif receivers_url is None and urls.get("alertmanager") == alertmanager_url:
        receivers_url = urls.get("receivers")
    try:
        report = send_test_alert(alertmanager_url, severity, receivers_url=receivers_url, timeout=timeout)
    except requests.RequestException as exc:
        err.print(f"cannot reach Alertmanager at {alertmanager_url}: {exc}", markup=False, style="red")
        sys.exit(1)
    for line in report.lines():
        out.print(line, markup=False)
    sys.exit(0 if report.ok else 1)


@main.group()
def stack() -> None:
    """The monitoring stack without Docker (Debian's prometheus and prometheus-alertmanager)."""


@stack.command("up")
@click.option("--scenario", "scenarios", multiple=True, default=("normal",), show_default=True,
              help="Demo scenario(s), one exporter each: normal, error-spike, backlog, slow, memory, down, ...")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Simulated seconds per real second of the demo.")
@click.option("--fast", is_flag=True,
              help="Shortened intervals: 1s scrape and evaluation, `for` divided by --speed (at least 10s), "
                   "group_wait 1s, group_interval 2s; with --scenario cpu, process_cpu_high's range "
                   "windows divided by --speed too.")
@click.option("--run-dir", type=click.Path(path_type=Path, file_okay=False), default="build/native-stack",
              show_default=True, help="Adapted configs, data, secrets and logs go here.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=".",
              show_default=True, help="Directory holding the generated outputs.")
@click.option("--free-ports", is_flag=True, help="Take free ports instead of 9090, 9093, 9464 and 9097.")
@click.option("--duration", type=click.FloatRange(min=0), default=None, help="Real seconds to run [default: until Ctrl-C].")
def stack_up(scenarios: tuple[str, ...], speed: float, fast: bool, run_dir: Path, out_dir: Path, free_ports: bool,
             duration: float | None) -> None:
    """Start Prometheus, Alertmanager, the demo exporter and local Slack/PagerDuty receivers on 127.0.0.1."""
    import json
    import shutil
    import signal
    import time

    from exporter.scenarios import SCENARIO_ALERTS

    from . import stack as names
    from .native_stack import RECEIVERS_PORT, StackError, Timings, absent_tools, fast_timings, native_stack

    for scenario in scenarios:
        if scenario not in SCENARIO_ALERTS:
            raise click.BadParameter(f"{scenario!r} is not one of {', '.join(SCENARIO_ALERTS)}", param_hint="--scenario")
    ports = {} if free_ports else {"prometheus": names.PROMETHEUS_PORT, "alertmanager": names.ALERTMANAGER_PORT,
                                   "exporter": names.EXPORTER_PORT, "receivers": RECEIVERS_PORT}
    # The cpu scenario burns real CPU: with --fast its alert's windows shrink as its `for` does.
    real_time = SCENARIO_ALERTS["cpu"] if "cpu" in scenarios else ()
    timings = fast_timings(speed, range_alerts=real_time) if fast else Timings()
    shutil.rmtree(run_dir, ignore_errors=True)

    def terminate(*_: object) -> None:  # `kill` stops the stack as cleanly as Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    echo = lambda line: out.print(f"[receiver] {line}", markup=False)  # noqa: E731
    try:
        with native_stack(out_dir, run_dir, scenarios, speed=speed, timings=timings, ports=ports, echo=echo) as running:
            assert running.recorder is not None
            (run_dir / "stack.json").write_text(json.dumps({
                "prometheus": running.prometheus.url, "alertmanager": running.alertmanager.url,
                "receivers": running.recorder.base}), encoding="utf-8")
            for line in running.urls():
                out.print(line, markup=False)
            for line in absent_tools():
                out.print(line, markup=False, style="yellow")
            if fast:
                out.print(f"shortened intervals: {timings.describe()}", markup=False)
            alerts = sorted({a for s in scenarios for a in SCENARIO_ALERTS[s]})
            out.print(f"alerts the scenario(s) make fire: {', '.join(alerts) or 'none'}", markup=False)
            out.print(f"configs, data and logs in {run_dir}; Ctrl-C stops everything.", markup=False)
            deadline = None if duration is None else time.monotonic() + duration
            while deadline is None or time.monotonic() < deadline:
                dead = [s.name for s in [*running.demos, *running.services.values()] if s.process.poll() is not None]
                if dead:
                    err.print(f"{', '.join(dead)} exited; stopping.\n{running.logs()}", markup=False, style="red")
                    sys.exit(1)
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except StackError as exc:
        err.print(str(exc), markup=False, style="red")
        sys.exit(1)
    finally:
        (run_dir / "stack.json").unlink(missing_ok=True)
    out.print("stack stopped.", markup=False)


@main.group()
def traces() -> None:
    """Kept traces, read from the trace file the spec's runtime.tracing writes."""


@traces.command("profile")
@click.argument("trace_id")
@spec_option
@click.option("--file", "trace_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="JSON lines of traces (default: the spec's runtime.tracing.file).")
@click.option("--task", "task_id", default=None, help="Profile only this task's agent.execute_task span.")
@click.option("--json", "as_json", is_flag=True, help="Print the profile as JSON.")
def traces_profile(trace_id: str, spec: Path, trace_file: Path | None, task_id: str | None, as_json: bool) -> None:
    """The §4.3 profile of TRACE_ID: wall time, phases, CPU time, bottlenecks and suggestions."""
    import json

    from exporter.tracing.profile import find_trace_in_file, profile_trace

    if trace_file is None:
        configured = _load_or_exit(spec).model.runtime.tracing.file
        if not configured:
            err.print(f"{spec}: runtime.tracing.file is not set; pass --file", markup=False, style="red")
            sys.exit(EXIT_BAD_INPUT)
        trace_file = Path(configured).expanduser()
    try:
        document = find_trace_in_file(trace_file, trace_id)
    except OSError as error:
        err.print(f"{trace_file}: {error.strerror or error}", markup=False, style="red")
        sys.exit(EXIT_BAD_INPUT)
    if document is None:
        err.print(f"{trace_file}: no trace {trace_id} (only kept traces are written)", markup=False, style="red")
        sys.exit(1)
    try:
        profile = profile_trace(document, task_id=task_id)
    except ValueError as error:
        err.print(str(error), markup=False, style="red")
        sys.exit(1)
    if as_json:
        out.print(json.dumps(profile.as_dict(), indent=2), markup=False)
        return
    what = f"task {task_id}" if task_id else "trace"
    out.print(f"{what} {profile.trace_id}: wall {profile.wall_time_ms:.1f} ms, cpu "
              + (f"{profile.cpu_time_ms:.1f} ms" if profile.cpu_time_ms is not None else "not measured")
              + f", I/O wait {profile.io_wait_ms:.1f} ms, LLM {profile.llm_time_ms:.1f} ms, "
              f"{profile.file_ops} file op(s), {profile.network_ops} network op(s)", markup=False)
    for phase, milliseconds in profile.breakdown:
        share = milliseconds / profile.wall_time_ms * 100 if profile.wall_time_ms else 0.0
        out.print(f"  {phase:<11} {milliseconds:>10.1f} ms  {share:5.1f}%", markup=False)
    for bottleneck in profile.bottlenecks:
        out.print(f"bottleneck {bottleneck.type} ({bottleneck.severity}): {bottleneck.suggestion}", markup=False, style="yellow")
    if not profile.bottlenecks:
        out.print("no bottleneck found", markup=False)
