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
  time intervals and templates stay as generated - except where Timings.range_divisor asks for
  shorter range windows (the cpu scenario's stack, see `shorten_ranges`): then only the durations
  of the range selectors and subqueries of the named alerts change, found on the PromQL syntax
  tree.

With `hold=True` the demos of exporter.scenarios.SWITCHED scenarios (down, error-spike) run the
normal workload until `NativeStack.begin()`: that waits until Prometheus has scraped every demo
(twice, so rate() has a baseline) and evaluated its rules, then switches them to their scenario
(exporter.demo's start file) and sets `started` to that moment. The other scenarios run from their
process's start (scenarios.py says why); for a stack of only those, begin() sets `started` one
scrape interval before Prometheus's first successful scrape of a demo: the condition was there
already, and the floor of a latency counts one scrape interval for the scrape that sees it. Either
way a latency measured from `started` holds neither Prometheus's start nor its first-scrape delay.
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
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import promql_parser as pp
import yaml

from .processes import (LOOPBACK, READY_TIMEOUT, Service, StackError, _no_proxy, find_binary, free_port,
                        http_session, loopback_env, require_binary, start_service, wait_http)
from .promql import range_nodes
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
    # Range windows ([5m] of rate(), subquery ranges) divided by this - only in the rules of the
    # alerts named in range_alerts (all alerting rules when None) - with a floor of
    # min_range_seconds. 1.0 keeps every expression as generated.
    range_divisor: float = 1.0
    min_range_seconds: float = 5.0
    range_alerts: frozenset[str] | None = None

    def short_for(self, duration: str) -> str:
        value = seconds(duration)
        if value == 0 or (self.for_divisor == 1 and not self.min_for_seconds):
            return duration
        return f"{max(self.min_for_seconds, math.ceil(value / self.for_divisor)):g}s"

    def short_range(self, seconds_: float) -> float:
        if self.range_divisor == 1:
            return seconds_
        return max(self.min_range_seconds, math.ceil(seconds_ / self.range_divisor))

    def shortens_ranges_of(self, alert: str) -> bool:
        return self.range_divisor != 1 and (self.range_alerts is None or alert in self.range_alerts)

    def describe(self) -> str:
        text = (f"scrape {self.scrape_interval or 'as generated'}, evaluation {self.evaluation_interval or 'as generated'}, "
                f"`for` / {self.for_divisor:g} (at least {self.min_for_seconds:g}s), group_wait "
                f"{self.group_wait or 'as generated'}, group_interval {self.group_interval or 'as generated'}")
        if self.range_divisor != 1:
            which = ", ".join(sorted(self.range_alerts)) if self.range_alerts is not None else "every alert"
            text += f", range windows / {self.range_divisor:g} (at least {self.min_range_seconds:g}s) in {which}"
        return text


def fast_timings(speed: float, range_alerts: Sequence[str] = ()) -> Timings:
    """`stack up --fast` and the tests: 1s intervals, `for` / speed (at least 10s), group_wait 1s,
    group_interval 2s; the range windows of `range_alerts` (if any) / speed too (at least 5s)."""
    timings = Timings("1s", "1s", speed, 10, "1s", "2s", "1h")
    if range_alerts:
        timings = replace(timings, range_divisor=speed, range_alerts=frozenset(range_alerts))
    return timings


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


def promql_duration(value: float) -> str:
    """Seconds as a PromQL duration: 300 -> 5m, 10 -> 10s, 90 -> 1m30s."""
    whole = int(round(value * 1000))
    parts = []
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    return "".join(parts) or "0s"


def _replace_all(text: str, old: str, new: str, where: str) -> str:
    """Replace each occurrence of the exact node text `old` that is not the tail of a longer name
    (bar[5m] inside foo_bar[5m])."""
    out, start, found = [], 0, 0
    while (index := text.find(old, start)) >= 0:
        before = text[index - 1] if index else " "
        if before.isalnum() or before in "_:":
            out.append(text[start:index + 1])
            start = index + 1
            continue
        out.append(text[start:index] + new)
        start = index + len(old)
        found += 1
    if not found:
        raise ValueError(f"{where}: {old!r} not found in {text!r}")
    return "".join(out) + text[start:]


def _shortened_text(node: Any, divide: Callable[[float], float], where: str) -> str:
    """The text of a MatrixSelector/SubqueryExpr with its range (and a subquery's step) divided,
    and the range nodes inside a subquery shortened too; everything else as the parser prints it."""
    text = node.prettify()
    if isinstance(node, pp.SubqueryExpr):
        for inner in range_nodes(node.expr):
            text = _replace_all(text, inner.prettify(), _shortened_text(inner, divide, where), where)
        step = promql_duration(node.step.total_seconds()) if node.step else ""
        old = f"[{promql_duration(node.range.total_seconds())}:{step}]"
        new_step = promql_duration(divide(node.step.total_seconds())) if node.step else ""
        new = f"[{promql_duration(divide(node.range.total_seconds()))}:{new_step}]"
    else:
        old = f"[{promql_duration(node.range.total_seconds())}]"
        new = f"[{promql_duration(divide(node.range.total_seconds()))}]"
    # The range follows the selector (or the parenthesised subquery expression) and precedes any
    # offset/@ modifier: its last occurrence in the node's own text.
    index = text.rfind(old)
    if index < 0:
        raise ValueError(f"{where}: no {old} in {text!r}")
    return text[:index] + new + text[index + len(old):]


def shorten_ranges(expr: str, divide: Callable[[float], float], where: str = "expr") -> str:
    """`expr` with the range of every matrix selector and subquery divided (rate(x[5m]) ->
    rate(x[10s])), on the syntax tree: each range node's exact text (its prettify()) is replaced
    in the prettified expression by the same node printed with the shorter range. The result is
    parsed again and checked to hold the same selectors with the expected ranges, nothing else
    changed. An expression without range nodes is returned as it was."""
    tree = pp.parse(expr)
    nodes = list(range_nodes(tree))
    if not nodes:
        return expr
    text = tree.prettify()
    replacements = {node.prettify(): _shortened_text(node, divide, where) for node in nodes}  # one per text
    for old, new in replacements.items():
        text = _replace_all(text, old, new, where)

    def ranges(root: Any) -> list[tuple[str, float, str]]:
        out = []
        for n in range_nodes(root):
            inner = n.vector_selector.prettify() if isinstance(n, pp.MatrixSelector) else type(n.expr).__name__
            out.append((type(n).__name__, n.range.total_seconds(), inner))
            if isinstance(n, pp.SubqueryExpr):
                out += ranges(n.expr)
        return out

    expected = [(kind, divide(seconds_), inner) for kind, seconds_, inner in ranges(tree)]
    got = ranges(pp.parse(text))
    if got != expected:
        raise ValueError(f"{where}: shortening the ranges of {expr!r} gave {text!r}: {got} instead of {expected}")
    return text


def adapt_rules(document: dict[str, Any], timings: Timings) -> dict[str, Any]:
    out = yaml.safe_load(yaml.safe_dump(document))
    for group in out.get("groups", []):
        for rule in group.get("rules", []):
            if "alert" in rule and "for" in rule:
                rule["for"] = timings.short_for(rule["for"])
            if "alert" in rule and timings.shortens_ranges_of(rule["alert"]):
                rule["expr"] = shorten_ranges(str(rule["expr"]), timings.short_range, where=f"alert {rule['alert']}")
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
    job: str = "orchestrator"
    held: bool = False  # begin() has yet to run (hold=True)
    scrape_interval: float = 0.0  # of the job, as adapted

    def begin(self, timeout: float = 3 * READY_TIMEOUT) -> float:
        """With hold=True: wait until Prometheus has scraped every demo at least twice with
        success and then evaluated every rule group; switch the held demos to their scenario (each
        demo's start file) and return the new `started` (time.monotonic()): the switch, or with no
        held demo one scrape interval before the first successful scrape of a demo. Without hold,
        or once begun, return `started` as it is. Raises StackError with the logs at the timeout."""
        if not self.held:
            return self.started
        deadline = time.monotonic() + timeout
        targets = {f"{LOOPBACK}:{d.port}" for d in self.demos}
        query = f'count_over_time(up{{job="{self.job}"}}[1h]) and on (instance) up{{job="{self.job}"}} == 1'
        while True:
            answer = self.prometheus.get("/api/v1/query", query=query)
            seen = {r["metric"].get("instance"): float(r["value"][1]) for r in answer["data"]["result"]}
            if all(seen.get(t, 0) >= 2 for t in targets):
                break
            self._before(deadline, f"Prometheus has not scraped every demo twice ({seen}, want {sorted(targets)})")
        scraped = time.time()
        while True:
            groups = self.prometheus.get("/api/v1/rules")["data"]["groups"]
            if groups and all(rfc3339(g.get("lastEvaluation")) > scraped for g in groups):
                break
            self._before(deadline, "Prometheus has not evaluated its rules since the demos were scraped")
        from exporter.scenarios import SWITCHED

        switched = [d for d in self.demos if d.name.removeprefix("demo-") in SWITCHED]
        for demo in switched:
            (demo.log_file.parent / START_FILE).write_text("start\n", encoding="utf-8")
        if switched:
            self.started = time.monotonic()
        else:
            first = min(self._first_scrape(t) for t in targets)
            self.started = first - (time.time() - time.monotonic()) - self.scrape_interval
        self.held = False
        return self.started

    def _first_scrape(self, target: str) -> float:
        """Epoch seconds of Prometheus's first successful scrape of target (its raw `up` samples)."""
        answer = self.prometheus.get("/api/v1/query", query=f'up{{job="{self.job}",instance="{target}"}}[1h]')
        return min(float(t) for r in answer["data"]["result"] for t, v in r["values"] if v == "1")

    def _before(self, deadline: float, problem: str) -> None:
        if time.monotonic() > deadline:
            raise StackError(f"{problem}\n{self.logs()}")
        time.sleep(0.1)

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


START_FILE = "start"  # in a held demo's directory: its scenario starts once this file exists


def rfc3339(text: str | None) -> float:
    """Prometheus's timestamps (nanosecond fractions) as epoch seconds; 0 for none."""
    if not text or text.startswith("0001-"):
        return 0.0
    match = re.fullmatch(r"(.*?T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    whole = datetime.fromisoformat(match.group(1) + (match.group(3).replace("Z", "+00:00")))
    return whole.timestamp() + float("0." + (match.group(2) or "0"))


def demo_command(scenario: str, port: int, *, speed: float, log_dir: Path, spec: Path,
                 duration: float | None, seed: int | None, start_file: Path | None = None) -> list[str]:
    command = [sys.executable, "-c", "from observability.cli import main; main()", "demo", "--scenario", scenario,
               "--speed", f"{speed:g}", "--port", str(port), "--host", LOOPBACK, "--quiet",
               "--log-dir", str(log_dir), "--spec", str(spec)]
    if duration is not None:
        command += ["--duration", f"{duration:g}"]
    if seed is not None:
        command += ["--seed", str(seed)]
    if start_file is not None:
        command += ["--start-file", str(start_file)]
    return command


def start_demo(scenario: str, workdir: Path, *, root: Path, speed: float, duration: float | None = None,
               seed: int | None = None, port: int = 0, hold: bool = False) -> Service:
    """hold: the demo runs the normal workload until workdir/START_FILE exists (NativeStack.begin)."""
    log_dir = workdir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    # The demo runs the exporter code of `root`, beside the spec it reads.
    env = loopback_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")]))
    start_file = workdir / START_FILE if hold else None
    if start_file is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        start_file.unlink(missing_ok=True)
    return start_service(
        f"demo-{scenario}",
        lambda p, _: demo_command(scenario, p, speed=speed, log_dir=log_dir, spec=root / "observability.yaml",
                                  duration=duration, seed=seed, start_file=start_file),
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
                 extra_targets: Sequence[str] = (), hold: bool = False) -> Iterator[NativeStack]:
    """Start the receivers, Alertmanager, one demo per scenario and Prometheus (each one waited
    for), apply the generated silences, yield the stack; stop everything on the way out, whatever
    happens. ports: prometheus/alertmanager/exporter/receivers (missing or 0: a free one).
    alertmanager_config: a last change to the adapted Alertmanager config (tests: a window).
    extra_targets: more host:port targets of the orchestrator job (tests: one nobody answers on).
    hold: the demos run the normal workload until stack.begin() starts their scenario."""
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
                                  duration=demo_duration, seed=seed, port=exporter_port, hold=hold)
                exits.callback(demo.stop)
                stack.demos.append(demo)
            generated = read_yaml(root / PROMETHEUS_CONFIG)
            job = next(s["job_name"] for s in generated["scrape_configs"] if s["job_name"] not in ("prometheus", "alertmanager"))
            stack.job, stack.held = job, hold
            stack.scrape_interval = seconds(timings.scrape_interval or next(
                (s.get("scrape_interval") for s in generated["scrape_configs"] if s["job_name"] == job), None)
                or generated["global"]["scrape_interval"])
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
