"""Helpers for the live tests: a real Alertmanager process and a recording webhook receiver,
both on 127.0.0.1 only.

- `alertmanager_binary()` finds `prometheus-alertmanager` (Debian) or `alertmanager` on PATH and
  fails the test (never skips: CI installs it) when neither is there.
- `live_config(tmp, webhook_base)` renders the Alertmanager config from the repository spec
  in-process, with the secrets directory moved to a temporary one holding dummy secrets.
- `running_alertmanager(config, templates, workdir)` writes the config beside
  templates/orchestrator.tmpl, starts Alertmanager on a free loopback port without clustering,
  waits for /-/ready and always stops the process on the way out.
- `recording_server()` is a small HTTP server recording the JSON bodies POSTed to it by path,
  standing in for Slack and the PagerDuty Events v2 API.
- `running_prometheus(config, rule_files, workdir)` writes prometheus.yml and alert_rules/*.rules.yml
  under workdir, starts /usr/bin/prometheus on a free loopback port with its TSDB under workdir,
  waits for /-/ready and always stops the process on the way out.
- `running_demo(scenario, workdir)` runs `orchestrator demo` (the exporter fed by the simulated
  orchestrator) on a free loopback port until its /metrics answers, and always stops it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from generators import alertmanager as am_generator
from observability import spec as s
from observability.load import load
from observability.model import Model
from observability.writer import serialise

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "observability.yaml"
BINARY_NAMES = ("prometheus-alertmanager", "alertmanager")
READY_TIMEOUT = 20.0
LOOPBACK = "127.0.0.1"


# --- finding and starting Alertmanager ------------------------------------------------

def alertmanager_binary() -> str:
    for name in BINARY_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("neither prometheus-alertmanager nor alertmanager is on PATH: run `make test`, which installs "
                "Debian's prometheus-alertmanager (or `sudo apt-get install prometheus-alertmanager`; "
                "macOS: `brew install alertmanager`)", pytrace=False)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def http() -> requests.Session:
    """A session that ignores proxy settings from the environment: everything here is loopback."""
    session = requests.Session()
    session.trust_env = False
    return session


def loopback_env() -> dict[str, str]:
    """The environment for a subprocess talking to loopback: proxies bypassed for 127.0.0.1."""
    env = dict(os.environ)
    for key in ("NO_PROXY", "no_proxy"):
        env[key] = ",".join(filter(None, [env.get(key, ""), LOOPBACK, "localhost"]))
    return env


@dataclass
class Alertmanager:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_file: Path
    config_file: Path
    session: requests.Session

    def log(self, last: int = 4000) -> str:
        try:
            return self.log_file.read_text(encoding="utf-8", errors="replace")[-last:]
        except OSError:
            return ""

    def get(self, path: str) -> Any:
        response = self.session.get(self.url + path, timeout=5)
        response.raise_for_status()
        return response.json()

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        response = self.session.post(self.url + "/api/v2/alerts", json=alerts, timeout=5)
        assert response.status_code == 200, f"POST /api/v2/alerts: {response.status_code} {response.text}"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def _start(binary: str, config_file: Path, workdir: Path, attempt: int) -> Alertmanager:
    port = free_port()
    storage = workdir / f"data-{attempt}"
    storage.mkdir(parents=True, exist_ok=True)
    log_file = workdir / f"alertmanager-{attempt}.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [binary,
             f"--config.file={config_file}",
             f"--storage.path={storage}",
             f"--web.listen-address={LOOPBACK}:{port}",
             "--cluster.listen-address=",
             "--log.level=debug"],
            cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
    return Alertmanager(f"http://{LOOPBACK}:{port}", port, process, log_file, config_file, http())


def _wait_ready(am: Alertmanager, timeout: float) -> str | None:
    """None once /-/ready answers 200; otherwise why not (the process exited, or the time ran out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if am.process.poll() is not None:
            return f"exited with status {am.process.returncode}"
        try:
            if am.session.get(am.url + "/-/ready", timeout=1).status_code == 200:
                return None
        except requests.RequestException:
            pass
        time.sleep(0.05)
    return f"did not answer {am.url}/-/ready within {timeout:.0f} s"


@contextmanager
def running_alertmanager(config: dict[str, Any], templates: str, workdir: Path,
                         ready_timeout: float = READY_TIMEOUT) -> Iterator[Alertmanager]:
    """Write `config` and templates/orchestrator.tmpl under workdir, start Alertmanager on them,
    yield it once ready, and stop it whatever happens."""
    binary = alertmanager_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "alertmanager.yml"
    config_file.write_text(serialise(am_generator.CONFIG_FILE, config), encoding="utf-8")
    # The config names templates/*.tmpl, which Alertmanager resolves beside the config file.
    (workdir / "templates").mkdir(exist_ok=True)
    (workdir / "templates" / "orchestrator.tmpl").write_text(templates, encoding="utf-8")
    am = None
    try:
        for attempt in range(3):
            am = _start(binary, config_file, workdir, attempt)
            problem = _wait_ready(am, ready_timeout)
            if problem is None:
                break
            _stop(am.process)
            # Another process may have taken the free port between the probe and the bind.
            if "address already in use" in am.log() and attempt < 2:
                continue
            pytest.fail(f"Alertmanager ({binary}) {problem}; its log ({am.log_file}):\n{am.log()}", pytrace=False)
        assert am is not None
        yield am
    finally:
        if am is not None:
            _stop(am.process)


# --- the config, rendered from the repository spec ------------------------------------

@lru_cache(maxsize=1)
def spec_model() -> Model:
    return load(SPEC).model


def with_secrets_dir(model: Model, secrets_dir: Path) -> Model:
    return dataclasses.replace(model, routing=model.routing.model_copy(update={"secrets_dir": str(secrets_dir)}))


def dummy_routing_key(receiver: str) -> str:
    """32 characters, like an Events v2 integration key, and different for each receiver."""
    return hashlib.md5(f"dummy-{receiver}".encode()).hexdigest()


def slack_path(receiver: str) -> str:
    """/slack/critical for slack_critical, /slack/alerts for slack_alerts."""
    return "/slack/" + receiver.removeprefix("slack_")


def pagerduty_path(receiver: str) -> str:
    return "/pagerduty/" + receiver


def write_secrets(model: Model, secrets_dir: Path, webhook_base: str) -> dict[str, str]:
    """Write a dummy secret file for every receiver that names one; return receiver -> value."""
    secrets_dir.mkdir(parents=True, exist_ok=True)
    values = {}
    for name, receiver in model.receivers.items():
        if isinstance(receiver, s.SlackReceiver):
            values[name] = webhook_base + slack_path(name)
            (secrets_dir / receiver.webhook_url_file).write_text(values[name], encoding="utf-8")
        elif isinstance(receiver, s.PagerDutyReceiver):
            values[name] = dummy_routing_key(name)
            (secrets_dir / receiver.routing_key_file).write_text(values[name], encoding="utf-8")
    return values


@dataclass
class LiveConfig:
    model: Model
    config: dict[str, Any]
    templates: str
    secrets: dict[str, str]  # receiver name -> webhook URL or routing key written to its file


def live_config(tmp: Path, webhook_base: str = f"http://{LOOPBACK}:9/unused",
                model: Model | None = None) -> LiveConfig:
    """The generated Alertmanager config and templates for `model` (default: the repository spec),
    with the secrets directory moved to tmp/secrets and filled with dummy values."""
    model = with_secrets_dir(model or spec_model(), tmp / "secrets")
    secrets = write_secrets(model, tmp / "secrets", webhook_base)
    documents = am_generator.render(model)
    return LiveConfig(model, documents[am_generator.CONFIG_FILE], documents[am_generator.TEMPLATE_FILE], secrets)


def point_pagerduty_at(config: dict[str, Any], base: str) -> None:
    """Send each PagerDuty receiver's events to base + /pagerduty/<receiver> instead of PagerDuty."""
    for receiver in config["receivers"]:
        for pagerduty in receiver.get("pagerduty_configs", []):
            pagerduty["url"] = base + pagerduty_path(receiver["name"])


def set_group_wait(config: dict[str, Any], value: str, severities: set[str] | None = None) -> None:
    """Override group_wait on the severity routes (all of them unless `severities` is given)."""
    for route in config["route"]["routes"]:
        severity = route["matchers"][0].split("=", 1)[1].strip('~"')
        if severities is None or severity in severities:
            route["group_wait"] = value


# --- a recording stand-in for Slack and PagerDuty -------------------------------------

class Recorder:
    """JSON bodies POSTed to the server, by path, in arrival order."""

    def __init__(self, base: str) -> None:
        self.base = base
        self._bodies: dict[str, list[Any]] = defaultdict(list)
        self._changed = threading.Condition()

    def record(self, path: str, body: Any) -> None:
        with self._changed:
            self._bodies[path].append(body)
            self._changed.notify_all()

    def bodies(self, path: str) -> list[Any]:
        with self._changed:
            return list(self._bodies.get(path, []))

    def paths(self) -> dict[str, int]:
        with self._changed:
            return {path: len(bodies) for path, bodies in self._bodies.items()}

    def wait_for(self, ready: Callable[[Recorder], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not ready(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; "
                                         f"received so far: {dict(self._bodies)}")
                self._changed.wait(min(left, 0.2))


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", errors="replace")
            recorder.record(self.path, body)
            if self.path.startswith("/pagerduty/"):
                reply, status = b'{"status":"success","message":"Event processed"}', 202
            else:
                reply, status = b"ok", 200
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


@contextmanager
def recording_server() -> Iterator[Recorder]:
    """Serve on a free loopback port in a thread; yield the Recorder (its .base is the URL)."""
    recorder = Recorder("")
    server = ThreadingHTTPServer((LOOPBACK, 0), _handler(recorder))
    server.daemon_threads = True
    recorder.base = f"http://{LOOPBACK}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="recording-server", daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- a real Prometheus ------------------------------------------------------------------

PROMETHEUS_BINARY = "/usr/bin/prometheus"
RULES_DIR = "alert_rules"  # the generated config names alert_rules/*.rules.yml beside itself


def prometheus_binary() -> str:
    """Debian's Prometheus; fails the test (never skips: `make test` installs it) when missing."""
    if Path(PROMETHEUS_BINARY).is_file() and os.access(PROMETHEUS_BINARY, os.X_OK):
        return PROMETHEUS_BINARY
    pytest.fail(f"{PROMETHEUS_BINARY} is missing: run `make test`, which installs Debian's prometheus "
                "(or `sudo apt-get install prometheus`)", pytrace=False)


@dataclass
class Prometheus:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_file: Path
    config_file: Path
    session: requests.Session

    def log(self, last: int = 4000) -> str:
        try:
            return self.log_file.read_text(encoding="utf-8", errors="replace")[-last:]
        except OSError:
            return ""

    def api(self, path: str, **params: Any) -> dict[str, Any]:
        """The JSON body of GET /api/v1/<path>, errors included (a bad query answers 400 with
        {"status": "error", "error": ...}, which the caller reports)."""
        response = self.session.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            raise AssertionError(f"GET /api/v1/{path} {params}: {response.status_code} {response.text[:500]}") from None
        return body

    def query(self, expr: str) -> dict[str, Any]:
        """An instant query at the current time: the whole answer (status, data or error)."""
        return self.api("query", query=expr)

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts of every rule, pending and firing (GET /api/v1/alerts)."""
        body = self.api("alerts")
        assert body.get("status") == "success", body
        return list(body["data"]["alerts"])

    def firing(self) -> dict[str, set[str]]:
        """Alert name -> the severities of its firing instances."""
        out: dict[str, set[str]] = {}
        for alert in self.alerts():
            if alert["state"] == "firing":
                out.setdefault(alert["labels"]["alertname"], set()).add(alert["labels"].get("severity", ""))
        return out


def prometheus_rule_files(documents: dict[str, Any]) -> dict[str, str]:
    """Rule documents as generators.prometheus_rules.render gives them (relative path -> dict),
    serialised as the writer would write them."""
    return {path: serialise(path, document) for path, document in documents.items()}


def _wait_http(url: str, process: subprocess.Popen[bytes], session: requests.Session, timeout: float) -> str | None:
    """None once `url` answers 200; otherwise why not (the process exited, or the time ran out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"exited with status {process.returncode}"
        try:
            if session.get(url, timeout=1).status_code == 200:
                return None
        except requests.RequestException:
            pass
        time.sleep(0.05)
    return f"did not answer {url} within {timeout:.0f} s"


@contextmanager
def running_prometheus(config: dict[str, Any], rule_files: dict[str, str], workdir: Path,
                       ready_timeout: float = READY_TIMEOUT) -> Iterator[Prometheus]:
    """Write `config` as workdir/prometheus.yml and each rule file (name -> text; only the base
    name is kept) as workdir/alert_rules/<name>, start Prometheus on them on a free loopback port
    with its TSDB under workdir, yield it once /-/ready answers, and stop it whatever happens."""
    binary = prometheus_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "prometheus.yml"
    config_file.write_text(serialise("prometheus.yml", config), encoding="utf-8")
    rules_dir = workdir / RULES_DIR
    rules_dir.mkdir(exist_ok=True)
    for name, text in rule_files.items():
        (rules_dir / Path(name).name).write_text(text, encoding="utf-8")
    prometheus = None
    try:
        for attempt in range(3):
            port = free_port()
            storage = workdir / f"tsdb-{attempt}"
            log_file = workdir / f"prometheus-{attempt}.log"
            with log_file.open("wb") as log:
                process = subprocess.Popen(
                    [binary,
                     f"--config.file={config_file}",
                     f"--storage.tsdb.path={storage}",
                     f"--web.listen-address={LOOPBACK}:{port}",
                     "--log.level=debug"],
                    cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                )
            prometheus = Prometheus(f"http://{LOOPBACK}:{port}", port, process, log_file, config_file, http())
            problem = _wait_http(prometheus.url + "/-/ready", process, prometheus.session, ready_timeout)
            if problem is None:
                break
            _stop(process)
            # Another process may have taken the free port between the probe and the bind.
            if "address already in use" in prometheus.log() and attempt < 2:
                continue
            pytest.fail(f"Prometheus ({binary}) {problem}; its log ({log_file}):\n{prometheus.log()}", pytrace=False)
        assert prometheus is not None
        yield prometheus
    finally:
        if prometheus is not None:
            _stop(prometheus.process)


# --- the exporter's demo orchestrator as a subprocess -----------------------------------

def orchestrator_cli() -> str:
    """The `orchestrator` console script of the running interpreter's environment (the project's
    .venv); fails the test when it is not installed there."""
    for candidate in (Path(sys.executable).parent / "orchestrator", ROOT / ".venv" / "bin" / "orchestrator"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    pytest.fail("the `orchestrator` console script is not installed: run `make test` (it installs the "
                "project into .venv)", pytrace=False)


@dataclass
class DemoProcess:
    scenario: str
    url: str  # base URL: /metrics and /healthz below it
    port: int
    process: subprocess.Popen[bytes]
    log_file: Path
    started: float  # time.monotonic() when /metrics first answered

    @property
    def target(self) -> str:
        """host:port, as a Prometheus static target."""
        return f"{LOOPBACK}:{self.port}"

    def log(self, last: int = 4000) -> str:
        try:
            return self.log_file.read_text(encoding="utf-8", errors="replace")[-last:]
        except OSError:
            return ""


@contextmanager
def running_demo(scenario: str, workdir: Path, *, speed: float = 60.0, duration: float = 600.0,
                 seed: int | None = None, spec: Path = SPEC,
                 ready_timeout: float = READY_TIMEOUT) -> Iterator[DemoProcess]:
    """Run `orchestrator demo --scenario <scenario> --speed <speed> --port <free> --duration <duration>
    --quiet --log-dir <workdir>/logs --host 127.0.0.1`, yield it once its /metrics answers, and stop
    it whatever happens. `duration` is only a backstop so that a process left behind ends by itself."""
    cli = orchestrator_cli()
    workdir.mkdir(parents=True, exist_ok=True)
    log_dir = workdir / "logs"
    log_dir.mkdir(exist_ok=True)
    session = http()
    demo = None
    try:
        for attempt in range(3):
            port = free_port()
            log_file = workdir / f"demo-{scenario}-{attempt}.log"
            command = [cli, "demo", "--scenario", scenario, "--speed", str(speed), "--port", str(port),
                       "--duration", str(duration), "--quiet", "--log-dir", str(log_dir), "--host", LOOPBACK,
                       "--spec", str(spec)]
            if seed is not None:
                command += ["--seed", str(seed)]
            with log_file.open("wb") as log:
                process = subprocess.Popen(command, cwd=ROOT, env=loopback_env(), stdin=subprocess.DEVNULL,
                                           stdout=log, stderr=subprocess.STDOUT)
            demo = DemoProcess(scenario, f"http://{LOOPBACK}:{port}", port, process, log_file, 0.0)
            problem = _wait_http(demo.url + "/metrics", process, session, ready_timeout)
            if problem is None:
                demo.started = time.monotonic()
                break
            _stop(process)
            if "in use" in demo.log() and attempt < 2:
                continue
            pytest.fail(f"orchestrator demo --scenario {scenario} {problem}; its output ({log_file}):\n{demo.log()}",
                        pytrace=False)
        assert demo is not None
        yield demo
    finally:
        session.close()
        if demo is not None:
            _stop(demo.process)
