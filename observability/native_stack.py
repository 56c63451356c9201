"""The monitoring stack without Docker: `orchestrator stack up` and the live tests.

Runs Debian's `prometheus` and `prometheus-alertmanager` on 127.0.0.1 with the files that
`make generate` wrote, the exporter's demo orchestrator, and the local Slack/PagerDuty
receivers (observability.receivers). The generated files are never edited: the launcher reads
them and writes adapted copies into its run directory:

- prometheus.yml: the orchestrator job scrapes the demo(s) on 127.0.0.1:<port>, the
  `prometheus` and `alertmanager` jobs and the `alerting` section name the local ports;
- alertmanager.yml: every `*_file` under the spec's secrets_dir (/run/secrets) points into
  <run>/secrets, where the launcher writes local values: Slack webhook URLs of the local
  receiver and dummy PagerDuty routing keys. The generated PagerDuty configs have no `url`
  (Alertmanager's default is https://events.pagerduty.com/v2/enqueue): the launcher adds one,
  the local Events v2 receiver;
- with Timings (tests, `stack up --fast`): scrape and evaluation intervals, each rule's `for`
  (divided by the demo's speed, so it spans the same simulated time, with a floor) and the
  routes' group_wait/group_interval/repeat_interval. Expressions, labels, routing, inhibition,
  time intervals and templates stay as generated.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .processes import (LOOPBACK, READY_TIMEOUT, Service, StackError, _no_proxy, find_binary, free_port,
                        http_session, loopback_env, require_binary, start_service, wait_http)
from .receivers import Recorder, pagerduty_path, receiver_server, slack_path

# Re-exported: the launcher's users (tests, benchmarks, the CLI) need only this module.
__all__ = ["LOOPBACK", "READY_TIMEOUT", "Service", "StackError", "find_binary", "free_port", "http_session",
           "loopback_env", "require_binary", "start_service", "wait_http"]

RECEIVERS_PORT = 9097  # the local Slack/PagerDuty stand-ins of `orchestrator stack up`
PROMETHEUS_CONFIG = "provisioning/prometheus/prometheus.yml"
RULES_DIR = "alert_rules"
ALERTMANAGER_CONFIG = "provisioning/alertmanager/alertmanager.yml"
TEMPLATES_DIR = "provisioning/alertmanager/templates"
SILENCES_FILE = "provisioning/alertmanager/silences.yml"
PROMETHEUS_BINARIES = ("prometheus",)
ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")
ABSENT_TOOLS = {"Grafana": ("grafana-server", "grafana"), "Jaeger": ("jaeger-all-in-one", "jaeger")}


# --- adapting the generated files ----------------------------------------------------------

_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(duration: str) -> float:
    """A Prometheus duration such as 1m30s in seconds."""
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION.findall(duration))


@dataclass(frozen=True)
class Timings:
    """Shortened intervals for tests and `stack up --fast`; None keeps the generated value."""
    scrape_interval: str | None = None
    evaluation_interval: str | None = None
    for_divisor: float = 1.0          # the demo's speed: `for` spans the same simulated time
    min_for_seconds: float = 0.0
    group_wait: str | None = None
    group_interval: str | None = None
    repeat_interval: str | None = None

    def short_for(self, duration: str) -> str:
        value = seconds(duration)
        if value == 0 or (self.for_divisor == 1 and not self.min_for_seconds):
            return duration
        return f"{max(self.min_for_seconds, math.ceil(value / self.for_divisor)):g}s"

    def describe(self) -> str:
        return (f"scrape {self.scrape_interval or 'as generated'}, evaluation {self.evaluation_interval or 'as generated'}, "
                f"`for` / {self.for_divisor:g} (at least {self.min_for_seconds:g}s), group_wait "
                f"{self.group_wait or 'as generated'}, group_interval {self.group_interval or 'as generated'}")


def fast_timings(speed: float) -> Timings:
    return Timings("1s", "1s", speed, 10, "1s", "2s", "1h")


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def write_yaml(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# adapted at start by observability.native_stack from the generated file\n"
                    + yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def adapt_prometheus(config: dict[str, Any], *, job: str, targets: list[str], self_target: str,
                     alertmanager_target: str | None, timings: Timings) -> dict[str, Any]:
    out = yaml.safe_load(yaml.safe_dump(config))
    if timings.scrape_interval:
        out["global"]["scrape_interval"] = timings.scrape_interval
    if timings.evaluation_interval:
        out["global"]["evaluation_interval"] = timings.evaluation_interval
    jobs = []
    for scrape in out["scrape_configs"]:
        if scrape["job_name"] == job:
            scrape["static_configs"] = [{"targets": targets}]
            if timings.scrape_interval:
                scrape["scrape_interval"] = timings.scrape_interval
        elif scrape["job_name"] == "prometheus":
            scrape["static_configs"] = [{"targets": [self_target]}]
        elif scrape["job_name"] == "alertmanager":
            if alertmanager_target is None:
                continue
            scrape["static_configs"] = [{"targets": [alertmanager_target]}]
        jobs.append(scrape)
    out["scrape_configs"] = jobs
    if alertmanager_target is None:
        out.pop("alerting", None)
    else:
        out["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager_target]}]}]}
    return out


def adapt_rules(document: dict[str, Any], timings: Timings) -> dict[str, Any]:
    out = yaml.safe_load(yaml.safe_dump(document))
    for group in out.get("groups", []):
        for rule in group.get("rules", []):
            if "alert" in rule and "for" in rule:
                rule["for"] = timings.short_for(rule["for"])
    return out


def dummy_routing_key(receiver: str) -> str:
    """32 characters, like an Events v2 integration key, and different for each receiver."""
    return hashlib.md5(f"dummy-{receiver}".encode()).hexdigest()


def adapt_alertmanager(config: dict[str, Any], *, secrets_dir: Path, receivers_base: str,
                       timings: Timings) -> tuple[dict[str, Any], dict[str, str]]:
    """The adapted config and receiver name -> the secret written for it (webhook URL or key)."""
    out = yaml.safe_load(yaml.safe_dump(config))
    secrets_dir.mkdir(parents=True, exist_ok=True)
    secrets: dict[str, str] = {}
    for receiver in out.get("receivers", []):
        name = receiver["name"]
        for slack in receiver.get("slack_configs", []):
            secrets[name] = receivers_base + slack_path(name)
            slack["api_url_file"] = _write_secret(secrets_dir, slack["api_url_file"], secrets[name])
        for pagerduty in receiver.get("pagerduty_configs", []):
            secrets[name] = dummy_routing_key(name)
            pagerduty["routing_key_file"] = _write_secret(secrets_dir, pagerduty["routing_key_file"], secrets[name])
            pagerduty["url"] = receivers_base + pagerduty_path(name)
    for route in out["route"].get("routes", []):
        for key in ("group_wait", "group_interval", "repeat_interval"):
            if getattr(timings, key):
                route[key] = getattr(timings, key)
    return out, secrets


def _write_secret(secrets_dir: Path, generated_path: str, value: str) -> str:
    path = secrets_dir / Path(generated_path).name
    path.write_text(value, encoding="utf-8")
    return str(path)


# --- the stack ------------------------------------------------------------------------------

@dataclass
class NativeStack:
    root: Path
    run_dir: Path
    services: dict[str, Service] = field(default_factory=dict)
    demos: list[Service] = field(default_factory=list)
    recorder: Recorder | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    started: float = 0.0

    @property
    def prometheus(self) -> Service:
        return self.services["prometheus"]

    @property
    def alertmanager(self) -> Service:
        return self.services["alertmanager"]

    def logs(self, last: int = 3000) -> str:
        return "\n".join(f"--- {s.name} log ({s.log_file}):\n{s.log(last)}" for s in [*self.demos, *self.services.values()])

    def urls(self) -> list[str]:
        lines = [f"Prometheus    {self.prometheus.url}", f"Alertmanager  {self.alertmanager.url}"]
        lines += [f"exporter      {d.url}/metrics ({d.name})" for d in self.demos]
        if self.recorder is not None:
            lines.append(f"receivers     {self.recorder.base}/slack/<channel>, {self.recorder.base}/pagerduty/<receiver>")
        return lines


def demo_command(scenario: str, port: int, *, speed: float, log_dir: Path, spec: Path,
                 duration: float | None, seed: int | None) -> list[str]:
    command = [sys.executable, "-c", "from observability.cli import main; main()", "demo", "--scenario", scenario,
               "--speed", f"{speed:g}", "--port", str(port), "--host", LOOPBACK, "--quiet",
               "--log-dir", str(log_dir), "--spec", str(spec)]
    if duration is not None:
        command += ["--duration", f"{duration:g}"]
    if seed is not None:
        command += ["--seed", str(seed)]
    return command


def start_demo(scenario: str, workdir: Path, *, root: Path, speed: float, duration: float | None = None,
               seed: int | None = None, port: int = 0) -> Service:
    log_dir = workdir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    # The demo runs the exporter code of `root`, beside the spec it reads.
    env = loopback_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")]))
    return start_service(
        f"demo-{scenario}",
        lambda p, _: demo_command(scenario, p, speed=speed, log_dir=log_dir, spec=root / "observability.yaml",
                                  duration=duration, seed=seed),
        workdir, "/metrics", port=port, env=env)


def start_alertmanager(config: dict[str, Any], templates_dir: Path, workdir: Path, port: int = 0) -> Service:
    binary = require_binary(ALERTMANAGER_BINARIES, "prometheus-alertmanager")
    config_file = write_yaml(workdir / "alertmanager.yml", config)
    # The config names templates/*.tmpl, which Alertmanager resolves beside the config file.
    shutil.copytree(templates_dir, workdir / "templates", dirs_exist_ok=True)
    return start_service("alertmanager", lambda p, n: [
        binary, f"--config.file={config_file}", f"--storage.path={workdir / f'data-{n}'}",
        f"--web.listen-address={LOOPBACK}:{p}", "--cluster.listen-address=", "--log.level=debug"],
        workdir, "/-/ready", port=port)


def start_prometheus(config_for_port: Callable[[int], dict[str, Any]], rules: dict[str, dict[str, Any]],
                     workdir: Path, port: int = 0) -> Service:
    binary = require_binary(PROMETHEUS_BINARIES, "prometheus")
    for name, document in rules.items():
        write_yaml(workdir / RULES_DIR / Path(name).name, document)

    def command(p: int, n: int) -> list[str]:
        config_file = write_yaml(workdir / "prometheus.yml", config_for_port(p))
        return [binary, f"--config.file={config_file}", f"--storage.tsdb.path={workdir / f'tsdb-{n}'}",
                f"--web.listen-address={LOOPBACK}:{p}", "--log.level=debug"]

    return start_service("prometheus", command, workdir, "/-/ready", port=port)


@contextmanager
def native_stack(root: Path, run_dir: Path, scenarios: Sequence[str] = ("normal",), *, speed: float = 1.0,
                 timings: Timings = Timings(), ports: dict[str, int] | None = None, demo_duration: float | None = None,
                 apply_silences: bool = True, alertmanager_config: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                 echo: Callable[[str], None] | None = None, seed: int | None = None,
                 extra_targets: Sequence[str] = ()) -> Iterator[NativeStack]:
    """Start the receivers, Alertmanager, one demo per scenario and Prometheus (each one waited
    for), apply the generated silences, yield the stack; stop everything on the way out, whatever
    happens. ports: prometheus/alertmanager/exporter/receivers (missing or 0: a free one).
    alertmanager_config: a last change to the adapted Alertmanager config (tests: a window).
    extra_targets: more host:port targets of the orchestrator job (tests: one nobody answers on)."""
    # Absolute paths: each process runs in its own directory under run_dir.
    root, run_dir, ports = Path(root).resolve(), Path(run_dir).resolve(), ports or {}
    stack = NativeStack(root, run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as exits:
        try:
            stack.recorder = exits.enter_context(receiver_server(ports.get("receivers", 0), echo=echo))
            am_config, stack.secrets = adapt_alertmanager(read_yaml(root / ALERTMANAGER_CONFIG),
                                                          secrets_dir=run_dir / "secrets",
                                                          receivers_base=stack.recorder.base, timings=timings)
            if alertmanager_config is not None:
                am_config = alertmanager_config(am_config)
            am = start_alertmanager(am_config, root / TEMPLATES_DIR, run_dir / "alertmanager", ports.get("alertmanager", 0))
            exits.callback(am.stop)
            stack.services["alertmanager"] = am
            for index, scenario in enumerate(scenarios):
                exporter_port = ports.get("exporter", 0) + index if ports.get("exporter") else 0
                demo = start_demo(scenario, run_dir / f"demo-{index}-{scenario}", root=root, speed=speed,
                                  duration=demo_duration, seed=seed, port=exporter_port)
                exits.callback(demo.stop)
                stack.demos.append(demo)
            generated = read_yaml(root / PROMETHEUS_CONFIG)
            job = next(s["job_name"] for s in generated["scrape_configs"] if s["job_name"] not in ("prometheus", "alertmanager"))
            rules = {path.name: adapt_rules(read_yaml(path), timings) for path in sorted((root / RULES_DIR).glob("*.rules.yml"))}
            prometheus = start_prometheus(
                lambda p: adapt_prometheus(generated, job=job, targets=[f"{LOOPBACK}:{d.port}" for d in stack.demos] + list(extra_targets),
                                           self_target=f"{LOOPBACK}:{p}", alertmanager_target=f"{LOOPBACK}:{am.port}",
                                           timings=timings),
                rules, run_dir / "prometheus", ports.get("prometheus", 0))
            exits.callback(prometheus.stop)
            stack.services["prometheus"] = prometheus
            stack.started = time.monotonic()
            if apply_silences:
                from .silences import apply_silences as apply, read_silences
                with _no_proxy():
                    apply(am.url, read_silences(root / SILENCES_FILE))
        except StackError:
            raise
        except Exception as exc:
            raise StackError(f"{type(exc).__name__}: {exc}\n{stack.logs()}") from exc
        yield stack


def absent_tools() -> list[str]:
    """Lines saying which of Grafana and Jaeger are not started because their binary is absent."""
    lines = []
    for name, binaries in ABSENT_TOOLS.items():
        if find_binary(binaries) is None:
            lines.append(f"{name} is not started: no {' or '.join(binaries)} binary on this machine "
                         f"(`make up` runs it in docker compose where Docker is available).")
        else:
            lines.append(f"{name} is installed but not started by the native stack (`make up` runs it in docker compose).")
    return lines
