"""Helpers for the live tests on top of observability.native_stack (the launcher of
`orchestrator stack up`) and observability.receivers (the local Slack/PagerDuty stand-ins).

- `alertmanager_binary()` finds `prometheus-alertmanager` (Debian) or `alertmanager` on PATH and
  fails the test (never skips: CI installs it) when neither is there.
- `live_config(tmp, webhook_base)` renders the Alertmanager config from the repository spec
  in-process, with the secrets directory moved to a temporary one holding dummy secrets (for tests
  that change the model, e.g. the maintenance window).
- `running_alertmanager(config, templates, workdir)` starts Alertmanager on that config through
  native_stack.start_alertmanager (free loopback port, no clustering, /-/ready polled) and always
  stops it.
- `recording_server()` is observability.receivers.receiver_server on a free loopback port.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import requests

from generators import alertmanager as am_generator
from observability import native_stack as ns
from observability import spec as s
from observability.load import load
from observability.model import Model
from observability.receivers import Recorder, pagerduty_path, receiver_server, slack_path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "observability.yaml"
LOOPBACK = ns.LOOPBACK
free_port = ns.free_port
http = ns.http_session


def refused(url: str) -> bool:
    """True when nothing accepts a connection at url any more."""
    try:
        http().get(url, timeout=2)
    except requests.ConnectionError:
        return True
    return False
loopback_env = ns.loopback_env
dummy_routing_key = ns.dummy_routing_key
__all__ = ["Recorder", "pagerduty_path", "slack_path"]


def alertmanager_binary() -> str:
    found = ns.find_binary(ns.ALERTMANAGER_BINARIES)
    if found is None:
        pytest.fail("neither prometheus-alertmanager nor alertmanager is on PATH: run `make test`, which installs "
                    "Debian's prometheus-alertmanager (or `sudo apt-get install prometheus-alertmanager`; "
                    "macOS: `brew install alertmanager`)", pytrace=False)
    return found


@dataclass
class Alertmanager:
    service: ns.Service
    config_file: Path

    @property
    def url(self) -> str:
        return self.service.url

    @property
    def port(self) -> int:
        return self.service.port

    @property
    def log_file(self) -> Path:
        return self.service.log_file

    def log(self, last: int = 4000) -> str:
        return self.service.log(last)

    def get(self, path: str) -> Any:
        return self.service.get(path)

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        response = self.service.session.post(self.url + "/api/v2/alerts", json=alerts, timeout=5)
        assert response.status_code == 200, f"POST /api/v2/alerts: {response.status_code} {response.text}"


@contextmanager
def running_alertmanager(config: dict[str, Any], templates: str, workdir: Path) -> Iterator[Alertmanager]:
    """Write `config` and templates/orchestrator.tmpl under workdir, start Alertmanager on them,
    yield it once ready, and stop it whatever happens."""
    alertmanager_binary()
    templates_dir = workdir / "generated-templates"
    templates_dir.mkdir(parents=True, exist_ok=True)
    (templates_dir / "orchestrator.tmpl").write_text(templates, encoding="utf-8")
    try:
        service = ns.start_alertmanager(config, templates_dir, workdir)
    except ns.StackError as exc:
        pytest.fail(f"Alertmanager: {exc}", pytrace=False)
    try:
        yield Alertmanager(service, workdir / "alertmanager.yml")
    finally:
        service.stop()


@contextmanager
def recording_server() -> Iterator[Recorder]:
    with receiver_server() as recorder:
        yield recorder


# --- the config, rendered from the repository spec ------------------------------------

@lru_cache(maxsize=1)
def spec_model() -> Model:
    return load(SPEC).model


def with_secrets_dir(model: Model, secrets_dir: Path) -> Model:
    return dataclasses.replace(model, routing=model.routing.model_copy(update={"secrets_dir": str(secrets_dir)}))


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
