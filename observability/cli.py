"""The `orchestrator` command: generate, config validate, check, alerts silence apply."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from . import SPEC_FILE
from .load import Loaded, load
from .problems import SpecError

EXIT_BAD_INPUT = 2
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def _load_or_exit(spec: Path) -> Loaded:
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
    """Render the spec into alert_rules/ and provisioning/."""
    from generators import MANAGED, render_all

    from .writer import write_outputs

    loaded = _load_or_exit(spec)
    documents = render_all(loaded.model)
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
        mark = "[green]ok[/green]  " if result.ok else "[red]FAIL[/red]"
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
def demo(scenario: str, speed: float, port: int | None, host: str | None, duration: float | None, spec: Path,
         log_dir: Path | None, quiet: bool, seed: int | None) -> None:
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
                            console=not quiet, seed=seed, announce=lambda line: err.print(line, markup=False))
    except OSError as exc:
        err.print(f"the exporter cannot listen: {exc.strerror or exc}", markup=False, style="red")
        sys.exit(1)
    out.print(finished.summary(), markup=False)


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
