"""The generated Alertmanager config, templates and silences against a real Alertmanager.

Each test starts its own Alertmanager (see tests/live.py) on a free 127.0.0.1 port with
clustering disabled, on the config rendered in-process from observability.yaml with the
secrets directory moved to a temporary one holding dummy secrets. Slack and PagerDuty are
replaced by a recording HTTP server on loopback.
"""

from __future__ import annotations

import dataclasses
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from observability.model import Model, Window
from observability.silences import apply_silences, read_silences

try:  # tests/ as a package, or the repository root on sys.path
    from tests import live
except ImportError:  # pytest's default rootdir/tests on sys.path
    import live

pytestmark = pytest.mark.live

ROOT = live.ROOT
CLI = ROOT / ".venv" / "bin" / "orchestrator"
SILENCES_FILE = "provisioning/alertmanager/silences.yml"
DELIVERY_TIMEOUT = 20.0
# After the expected notifications arrived: how long to keep watching for ones that must not.
# With group_wait 1s on every route, a misrouted or unmuted notification is flushed together
# with the expected ones, so two more seconds are ample.
GRACE = 2.0
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _alert(name: str, severity: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "severity": severity, **labels},
        "annotations": {
            "summary": f"{name} summary for the live test",
            "description": f"{name} description for the live test",
            "runbook_url": f"https://runbooks.example.com/orchestrator/{name}",
        },
        "startsAt": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _active(silences: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [x for x in silences if x["status"]["state"] == "active"]


def _alert_named(severity: str) -> str:
    """The name of an alert rule of the repository spec with this severity."""
    return next(rule.name for rule in live.spec_model().alert_rules if rule.severity == severity)


@pytest.fixture(autouse=True)
def no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """apply_silences uses requests, which honours HTTP(S)_PROXY: keep 127.0.0.1 off any proxy."""
    env = live.loopback_env()
    for key in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(key, env[key])


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[live.Alertmanager]:
    """Alertmanager on the generated config as it is (dummy secrets, nothing listening at the webhooks)."""
    cfg = live.live_config(tmp_path)
    with live.running_alertmanager(cfg.config, cfg.templates, tmp_path / "alertmanager") as am:
        yield am


@pytest.fixture
def receiver() -> Iterator[live.Recorder]:
    with live.recording_server() as recorder:
        yield recorder


def test_generated_config_loads_in_real_alertmanager(alertmanager: live.Alertmanager) -> None:
    status = alertmanager.get("/api/v2/status")
    assert status["cluster"]["status"] == "disabled"
    original = status["config"]["original"]
    loaded = yaml.safe_load(original)
    critical = [r for r in loaded["route"]["routes"] if r.get("matchers") == ['severity="CRITICAL"']]
    assert len(critical) == 1, original
    assert [leaf["receiver"] for leaf in critical[0]["routes"]] == ["primary_oncall", "slack_critical", "pagerduty"]
    names = {r["name"] for r in loaded["receivers"]}
    assert {"primary_oncall", "slack_critical", "pagerduty", "slack_alerts", "log_only"} <= names
    for name in ("primary_oncall", "slack_critical", "pagerduty", "slack_alerts", "log_only"):
        assert f"name: {name}" in original
    assert 'severity="CRITICAL"' in original
    # templates/*.tmpl is resolved beside the config file, where running_alertmanager put it.
    assert loaded["templates"] == [str(alertmanager.config_file.parent / "templates" / "*.tmpl")]


def _run_cli(url: str) -> str:
    proc = subprocess.run([str(CLI), "alerts", "silence", "apply", "--alertmanager-url", url, "--file", SILENCES_FILE],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, env=live.loopback_env())
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc.stdout


def test_silence_apply_is_idempotent(alertmanager: live.Alertmanager) -> None:
    first = _run_cli(alertmanager.url).split()
    second = _run_cli(alertmanager.url).split()
    assert first[:2] == ["created", "known_issue_suppression"], first
    assert second[:2] == ["unchanged", "known_issue_suppression"], second
    assert first[2] == second[2], "the second run must find the silence the first one created"

    silences = alertmanager.get("/api/v2/silences")
    active = _active(silences)
    assert len(silences) == 1 and len(active) == 1, silences
    silence = active[0]
    assert silence["id"] == first[2]
    assert {(m["name"], m["value"], m["isRegex"], m.get("isEqual", True)) for m in silence["matchers"]} == {
        ("alertname", "memory_usage_high", False, True), ("agent_type", "Architect", False, True)}
    assert "ARCH-1234" in silence["comment"]
    assert _time(silence["endsAt"]) == datetime(2027, 2, 28, tzinfo=timezone.utc)
    assert silence["createdBy"] == "orchestrator-observability"


def test_silence_apply_updates_a_changed_end_in_place(alertmanager: live.Alertmanager) -> None:
    known = read_silences(ROOT / SILENCES_FILE)[0]
    [created] = apply_silences(alertmanager.url, [known])
    later = {**known, "endsAt": "2027-03-31T00:00:00Z"}
    [updated] = apply_silences(alertmanager.url, [later])
    [again] = apply_silences(alertmanager.url, [later])

    assert (created.action, updated.action, again.action) == ("created", "updated", "unchanged")
    assert created.silence_id == updated.silence_id == again.silence_id
    [silence] = alertmanager.get("/api/v2/silences")
    assert silence["status"]["state"] == "active"
    assert _time(silence["endsAt"]) == datetime(2027, 3, 31, tzinfo=timezone.utc)


def test_expired_silence_is_not_created(alertmanager: live.Alertmanager) -> None:
    known = read_silences(ROOT / SILENCES_FILE)[0]
    past = datetime.now(timezone.utc) - timedelta(days=1)
    expired = {**known, "name": "expired_known_issue", "endsAt": past.strftime("%Y-%m-%dT%H:%M:%SZ")}

    outcomes = apply_silences(alertmanager.url, [expired])

    assert [(o.name, o.action, o.silence_id) for o in outcomes] == [("expired_known_issue", "expired", None)]
    assert alertmanager.get("/api/v2/silences") == []


def test_critical_alert_reaches_slack_and_pagerduty(tmp_path: Path, receiver: live.Recorder) -> None:
    """A CRITICAL alert reaches Slack #orchestrator-critical and both PagerDuty receivers, rendered
    with the generated templates, and nothing reaches Slack #orchestrator-alerts.

    The test copy of the generated config differs in two ways only:
    - each pagerduty_config gets a `url` pointing at the local recording server, because the real
      Events v2 endpoint (https://events.pagerduty.com/v2/enqueue) is not reachable here;
    - every severity route's group_wait is 1s (CRITICAL's is 10s, HIGH's 30s, MEDIUM's 5m), so the
      CRITICAL notifications come quickly and a misrouted alert would show up on
      /slack/alerts within the test instead of minutes later.
    The Slack webhook URLs come from the dummy secret files, which name the local server.
    """
    cfg = live.live_config(tmp_path, webhook_base=receiver.base)
    live.point_pagerduty_at(cfg.config, receiver.base)
    live.set_group_wait(cfg.config, "1s")
    alert = _alert("task_failure_rate_critical", "CRITICAL")
    summary, runbook = alert["annotations"]["summary"], alert["annotations"]["runbook_url"]
    critical, alerts = live.slack_path("slack_critical"), live.slack_path("slack_alerts")
    pagerduty = {name: live.pagerduty_path(name) for name in ("primary_oncall", "pagerduty")}

    with live.running_alertmanager(cfg.config, cfg.templates, tmp_path / "alertmanager") as am:
        am.post_alerts([alert])
        try:
            receiver.wait_for(lambda r: bool(r.bodies(critical)) and all(r.bodies(p) for p in pagerduty.values()),
                              DELIVERY_TIMEOUT, f"Slack {critical} and PagerDuty {sorted(pagerduty.values())}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nAlertmanager log:\n{am.log()}") from None
        groups = am.get("/api/v2/alerts/groups")
        time.sleep(GRACE)

    assert sorted(g["receiver"]["name"] for g in groups) == ["pagerduty", "primary_oncall", "slack_critical"]

    [slack] = receiver.bodies(critical)
    assert slack["channel"] == "#orchestrator-critical"
    [attachment] = slack["attachments"]
    text = attachment["text"]
    for expected in ("task_failure_rate_critical", "CRITICAL", summary, runbook):
        assert expected in text, f"{expected!r} not in the Slack text {text!r}"
    assert attachment["title"] == "[FIRING:1] task_failure_rate_critical (CRITICAL)"
    assert attachment["color"] == "#d72c2c"

    for name, path in pagerduty.items():
        [event] = receiver.bodies(path)
        assert event["event_action"] == "trigger"
        assert event["routing_key"] == cfg.secrets[name]
        assert event["payload"]["severity"] == "critical"
        assert event["payload"]["summary"] == f"[CRITICAL] task_failure_rate_critical: {summary}"
        details = event["payload"]["custom_details"]
        assert details["alertname"] == "task_failure_rate_critical"
        assert details["runbook_url"] == runbook

    assert receiver.bodies(alerts) == [], "a CRITICAL alert must not reach the HIGH/MEDIUM Slack channel"
    assert set(receiver.paths()) == {critical, *pagerduty.values()}


def _with_window(model: Model, covers_now: bool) -> Model:
    """The model with its maintenance window (same name and severities) made weekly, all day, on
    yesterday, today and tomorrow (UTC) when covers_now, else on the other four weekdays.
    Three days around today keep the test right when it runs across midnight."""
    today = datetime.now(timezone.utc).weekday()
    around = {WEEKDAYS[(today + d) % 7] for d in (-1, 0, 1)}
    days = [d for d in WEEKDAYS if (d in around) == covers_now]
    [window] = model.windows
    weekly = Window(window.name, window.severities, window.reason, window.path,
                    weekdays=tuple(days), start_time="00:00", end_time="24:00", location="UTC")
    return dataclasses.replace(model, windows=(weekly,))


@pytest.mark.parametrize("in_window", [True, False], ids=["inside_window", "outside_window"])
def test_maintenance_window_mutes_medium_alerts(tmp_path: Path, receiver: live.Recorder, in_window: bool) -> None:
    """Inside the maintenance window a MEDIUM alert is not sent to Slack #orchestrator-alerts while
    a HIGH one is, and a CRITICAL one reaches its channel and pagers; outside it all are (the control that shows the window does the muting).

    The test copy of the config differs from the generated one in the window's schedule (built
    through the model, see _with_window: Alertmanager time intervals follow the wall clock) and in
    group_wait, 1s on every severity route so notifications come within seconds. LOW alerts are
    muted by the same window but go to log_only, which notifies nobody, so there is nothing to
    observe for them here.
    """
    model = _with_window(live.spec_model(), covers_now=in_window)
    [window] = model.windows
    assert {"LOW", "MEDIUM"} <= set(window.severities)
    cfg = live.live_config(tmp_path, webhook_base=receiver.base, model=model)
    live.point_pagerduty_at(cfg.config, receiver.base)
    live.set_group_wait(cfg.config, "1s")
    medium, high = _alert_named("MEDIUM"), _alert_named("HIGH")
    # A CRITICAL alert that inhibits neither of them (orchestrator_down mutes the alerts it causes).
    sources = {name for i in model.inhibitions for name in i.source.get("alertname", ())}
    critical = next(r.name for r in model.alert_rules
                    if r.severity == "CRITICAL" and r.name not in sources | {medium, high})
    alerts_channel = live.slack_path("slack_alerts")

    def names(r: live.Recorder) -> list[str]:
        return [_slack_alertname(body) for body in r.bodies(alerts_channel)]

    with live.running_alertmanager(cfg.config, cfg.templates, tmp_path / "alertmanager") as am:
        am.post_alerts([_alert(medium, "MEDIUM"), _alert(high, "HIGH"), _alert(critical, "CRITICAL")])
        expected = {high} if in_window else {high, medium}
        critical_channel = live.slack_path("slack_critical")
        try:
            receiver.wait_for(lambda r: expected <= set(names(r)) and bool(r.bodies(critical_channel)),
                              DELIVERY_TIMEOUT, f"{sorted(expected)} on Slack {alerts_channel} and {critical}")
            time.sleep(GRACE)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nAlertmanager log:\n{am.log()}") from None
        # Both alerts are active in Alertmanager: the window mutes notifications, not alerts.
        active = {a["labels"]["alertname"] for a in am.get("/api/v2/alerts") if a["status"]["state"] == "active"}
        assert {medium, high} <= active

    assert sorted(names(receiver)) == sorted(expected)
    # HIGH also pages primary_oncall (as a PagerDuty "error"); the window never touches it.
    pages = {p["payload"]["custom_details"]["alertname"]: p for p in receiver.bodies(live.pagerduty_path("primary_oncall"))}
    assert set(pages) == {high, critical}, sorted(pages)
    assert pages[high]["payload"]["severity"] == "error"
    # CRITICAL is in no window either: Slack #orchestrator-critical and both pagers, inside and outside.
    assert [_slack_alertname(b) for b in receiver.bodies(critical_channel)] == [critical]
    assert [p["payload"]["custom_details"]["alertname"] for p in receiver.bodies(live.pagerduty_path("pagerduty"))] \
        == [critical]


def _slack_alertname(body: dict[str, Any]) -> str:
    """The alert name of a Slack message, read back from its title `[FIRING:n] name (SEVERITY)`."""
    title = body["attachments"][0]["title"]
    return title.partition("] ")[2].rsplit(" (", 1)[0]
