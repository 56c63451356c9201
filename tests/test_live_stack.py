"""The generated Prometheus config, recording and alerting rules and Grafana dashboards on the real
stack: /usr/bin/prometheus (and, for one scenario, a real Alertmanager) on loopback, scraping the
real exporter fed by `orchestrator demo`.

What runs is what `make generate` writes, rendered in-process from observability.yaml, with these
test-only changes and no others (the PromQL expressions stay exactly as generated):

- prometheus.yml (generators.prometheus_config.render): the orchestrator job's target becomes the
  demo's 127.0.0.1:<port>; scrape_interval and evaluation_interval become 1s (the spec's 15s would
  leave a minute-long test with four samples); the `prometheus` self-scrape job is dropped (its
  port is only known once it runs); the `alertmanager` job and the `alerting` section point at the
  live Alertmanager where one runs (error-spike) and are dropped elsewhere.
- alert_rules/*.rules.yml (generators.prometheus_rules.render): each alert rule's `for` is
  shortened, because Prometheus measures `for` on the wall clock and the spec's 5m-30m would not
  fit in a test. The demo runs SPEED times faster than real time, so `for` is divided by SPEED
  (the same span of simulated orchestrator time), but never below MIN_FOR_SECONDS, and 0 stays 0.
  A `for` is what keeps a noisy instantaneous ratio from firing: agent utilisation with two agents
  per type is 0, 0.5 or 1 at any instant, and in the normal workload both agents of a type are
  busy at about half the evaluations, so a flat 5s fires agent_utilization_high within a minute
  and 15m/60 = 15s would still fire it in a few percent of runs; 15m/30 = 30s (31 evaluations in
  a row) does not. The floor covers Prometheus's start: it applies scrape targets on a
  5-second tick, so the first scrape comes up to ~6 s after start, and until then
  absent(up{job="orchestrator"}) is true; with a 5s `for`, orchestrator_down fired at start-up.

Range windows are not shortened: rate(x[5m]) over a Prometheus that has run for t < 5m seconds is
increase / 300 s, i.e. about t/300 of the true rate. Ratios of rates (failure ratio, percentiles)
are unaffected; absolute rates compared with a threshold (agent_error_spike) pass it only once
t/300 of the scenario's rate does (error-spike paces 3x the threshold: about 100 s).

The scenarios run side by side: a module fixture starts, for each scenario the selected tests
need, one demo and one Prometheus (plus the Alertmanager and a recording Slack/PagerDuty stand-in
for error-spike), so the file takes about as long as its slowest scenario instead of their sum.
Every process listens on 127.0.0.1 only and is stopped when the module ends, pass or fail.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from exporter.scenarios import AGENTS, MEMORY_HOG, MODELS, SCENARIO_ALERTS, workload
from generators import prometheus_config, prometheus_rules
from observability.lint_dashboards import grafana_to_promql
from observability.model import Model

try:  # tests/ as a package, or the repository root on sys.path
    from tests import live
except ImportError:  # pytest's default rootdir/tests on sys.path
    import live

pytestmark = pytest.mark.live

ROOT = live.ROOT
SPEED = 30.0                 # simulated seconds per real second in every demo; `for` is divided by it
INTERVAL = "1s"              # scrape and evaluation interval of the test's Prometheus
MIN_FOR_SECONDS = 10
DEMO_BACKSTOP = 400.0        # --duration: a demo left behind by a killed test run ends by itself
WARMUP = 20.0                # seconds of data before the dashboards' queries are evaluated
ALERT_TIMEOUT = 170.0        # from the start of a scenario's Prometheus until its alerts must fire
# The normal scenario is watched at least this much longer than the longest shortened `for`
# (30m -> 60s), so that an alert whose condition held from the start would have fired. It runs
# last, so in a full run it is watched as long as the slowest scenario took.
NORMAL_MARGIN = 15.0
POLL = 0.5
# Scenarios in test order: normal last, to watch it while the others make their alerts fire.
SCENARIOS = sorted(SCENARIO_ALERTS, key=lambda name: name == "normal")
AM_SCENARIO = "error-spike"  # the scenario whose Prometheus sends to a real Alertmanager
AM_ALERT = "task_failure_rate_critical"

# Panel queries that are legitimately empty in the normal scenario (every other one must return
# at least one finite sample). Keys are the queries after macro and variable substitution.
# The failure counters of the exporter-health dashboard (folded samples, log write and trace
# export errors) are not here: the exporter creates their series at zero, so they answer 0.
EMPTY_IN_NORMAL: dict[str, str] = {
    # Active alerts table: nothing fires in the normal scenario, which
    # test_each_scenario_makes_its_alerts_fire[normal] asserts.
    'sum by (alertname, severity) (ALERTS{alertstate="firing", agent=~".*"})':
        "no alert fires in the normal scenario",
}

_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
# Grafana's query variable syntaxes: $name, ${name} and ${name:format} (not $1 of label_replace).
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_]\w*)(?::\w+)?\}|([A-Za-z_]\w*))")
_LABEL_VALUES = re.compile(r"^label_values\(\s*(?P<selector>.+?)\s*,\s*(?P<label>[A-Za-z_]\w*)\s*\)$")


# --- the test's copies of the generated configs ---------------------------------------

def _seconds(duration: str) -> float:
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION.findall(duration))


def short_for(duration: str) -> str:
    """The test's `for`: the spec's divided by SPEED, at least MIN_FOR_SECONDS, 0 kept as 0."""
    seconds = _seconds(duration)
    if seconds == 0:
        return "0s"
    return f"{max(MIN_FOR_SECONDS, math.ceil(seconds / SPEED))}s"


def with_short_for(model: Model) -> Model:
    alerts = tuple(dataclasses.replace(alert, rules=tuple(dataclasses.replace(rule, for_=short_for(rule.for_))
                                                          for rule in alert.rules))
                   for alert in model.alerts)
    return dataclasses.replace(model, alerts=alerts)


def rule_files(model: Model) -> dict[str, str]:
    return live.prometheus_rule_files(prometheus_rules.render(with_short_for(model)))


def stack_prometheus_config(model: Model, demo_target: str, alertmanager: str | None) -> dict[str, Any]:
    """The generated prometheus.yml with the test-only changes of the module docstring."""
    config: dict[str, Any] = prometheus_config.render(model)[prometheus_config.CONFIG_FILE]
    assert config["rule_files"] == [f"{live.RULES_DIR}/*.rules.yml"], config["rule_files"]
    config["global"]["scrape_interval"] = config["global"]["evaluation_interval"] = INTERVAL
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {model.scrape.job, "prometheus", "alertmanager"}, sorted(jobs)
    orchestrator = jobs[model.scrape.job]
    orchestrator["scrape_interval"] = INTERVAL
    orchestrator["static_configs"] = [{"targets": [demo_target]}]
    config["scrape_configs"] = [orchestrator]
    if alertmanager is None:
        del config["alerting"]
    else:
        [am] = config["alerting"]["alertmanagers"]
        am["static_configs"] = [{"targets": [alertmanager]}]
        jobs["alertmanager"]["static_configs"] = [{"targets": [alertmanager]}]
        config["scrape_configs"].append(jobs["alertmanager"])
    return config




# --- the stacks --------------------------------------------------------------------------

@dataclass
class Stack:
    scenario: str
    demo: live.DemoProcess
    prometheus: live.Prometheus
    started: float  # time.monotonic() when Prometheus was ready
    alertmanager: live.Alertmanager | None = None
    recorder: live.Recorder | None = None

    def age(self) -> float:
        return time.monotonic() - self.started

    def logs(self) -> str:
        parts = [f"demo output ({self.demo.log_file}):\n{self.demo.log(2000)}",
                 f"Prometheus log ({self.prometheus.log_file}):\n{self.prometheus.log(3000)}"]
        if self.alertmanager is not None:
            parts.append(f"Alertmanager log ({self.alertmanager.log_file}):\n{self.alertmanager.log(3000)}")
        return "\n".join(parts)


def _scenarios_needed(request: pytest.FixtureRequest) -> list[str]:
    """The scenarios of the selected tests of this module (a test without one uses normal)."""
    needed = set()
    for item in request.session.items:
        if item.module is request.module and "stacks" in getattr(item, "fixturenames", ()):
            callspec = getattr(item, "callspec", None)
            needed.add(callspec.params.get("scenario", "normal") if callspec else "normal")
    return [s for s in SCENARIOS if s in needed]


@pytest.fixture(scope="module")
def stacks(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Stack]]:
    model = live.spec_model()
    rules = rule_files(model)
    with ExitStack() as exits:
        out: dict[str, Stack] = {}
        for scenario in _scenarios_needed(request):
            work = tmp_path_factory.mktemp(f"stack-{scenario}")
            am = recorder = None
            if scenario == AM_SCENARIO:
                recorder = exits.enter_context(live.recording_server())
                cfg = live.live_config(work, webhook_base=recorder.base)
                live.point_pagerduty_at(cfg.config, recorder.base)
                # CRITICAL's group_wait is 10s; 1s gets the notification out within the test.
                live.set_group_wait(cfg.config, "1s")
                am = exits.enter_context(live.running_alertmanager(cfg.config, cfg.templates, work / "alertmanager"))
            demo = exits.enter_context(live.running_demo(scenario, work / "demo", speed=SPEED,
                                                         duration=DEMO_BACKSTOP))
            config = stack_prometheus_config(model, demo.target, f"{live.LOOPBACK}:{am.port}" if am else None)
            prometheus = exits.enter_context(live.running_prometheus(config, rules, work / "prometheus"))
            out[scenario] = Stack(scenario, demo, prometheus, time.monotonic(), am, recorder)
        yield out


# --- evaluating queries --------------------------------------------------------------------

def evaluate(prometheus: live.Prometheus, queries: dict[str, str], allowed_empty: dict[str, str]) -> list[str]:
    """Run each query (where -> PromQL) as an instant query; one line per problem: an error
    (status not success), an empty result (unless allowed), a result with no finite sample, or an
    allowed-empty query that is not empty (the allow-list must not hide a working query)."""
    problems = []
    for where, expr in queries.items():
        answer = prometheus.query(expr)
        if answer.get("status") != "success":
            problems.append(f"{where}: {expr}\n    error: {answer.get('errorType')}: {answer.get('error')}")
            continue
        result = answer["data"]["result"]
        if answer["data"]["resultType"] == "scalar":
            result = [{"metric": {}, "value": result}]
        values = [float(sample["value"][1]) for sample in result]
        if expr in allowed_empty:
            if values:
                problems.append(f"{where}: {expr}\n    is allowed to be empty ({allowed_empty[expr]}) "
                                f"but returned {result}: take it off the allow-list")
        elif not values:
            problems.append(f"{where}: {expr}\n    returned no samples")
        elif not any(math.isfinite(v) for v in values):
            problems.append(f"{where}: {expr}\n    returned only non-finite values: {result}")
    return problems


def dashboard_files() -> list[Path]:
    files = sorted((ROOT / "dashboards").glob("*.json"))
    assert files, "no dashboards/*.json: run `make generate`"
    return files


def _all_values(dashboard: dict[str, Any]) -> dict[str, str]:
    """Variable name -> the value it takes with "All" selected (its allValue)."""
    out = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            assert variable.get("includeAll") and variable.get("allValue"), \
                f"{dashboard['uid']}: variable {variable['name']} has no All value"
            out[variable["name"]] = variable["allValue"]
    return out


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def as_promql(expr: str, variables: dict[str, str], where: str) -> str:
    """A panel query as Prometheus gets it from Grafana with every variable on All: the interval
    macros through grafana_to_promql (the dashboard lint's own translation: $__rate_interval ->
    5m), then $agent, ${model}, ${status:regex}... replaced by their allValue `.*`."""
    query = grafana_to_promql(expr)

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in variables, f"{where}: {expr} uses ${name}, which is not a query variable of its dashboard"
        return variables[name]

    return _VARIABLE.sub(one, query)


def panel_queries() -> dict[str, str]:
    """Every target of every panel of the committed dashboards: "uid / panel title / refId" -> PromQL."""
    out = {}
    for file in dashboard_files():
        dashboard = json.loads(file.read_text(encoding="utf-8"))
        variables = _all_values(dashboard)
        for panel in _panels(dashboard.get("panels", [])):
            for target in panel.get("targets", []):
                if "expr" in target:
                    where = f"{file.name} / {panel.get('title')} / {target.get('refId')}"
                    out[where] = as_promql(target["expr"], variables, where)
    return out


def variable_queries() -> list[tuple[str, str, str]]:
    """(where, metric selector, label) of each label_values(metric, label) variable."""
    out = []
    for file in dashboard_files():
        dashboard = json.loads(file.read_text(encoding="utf-8"))
        for variable in dashboard.get("templating", {}).get("list", []):
            if variable.get("type") != "query":
                continue
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            match = _LABEL_VALUES.match(query.strip())
            assert match, f"{file.name}: variable {variable['name']}: {query!r} is not label_values(metric, label)"
            out.append((f"{file.name} / ${variable['name']}", match.group("selector"), match.group("label")))
    return out


def recording_queries(model: Model) -> dict[str, str]:
    """Each recording rule's series, selected by its name and static labels."""
    out = {}
    for rule in model.recording_rules:
        labels = ", ".join(f'{k}="{v}"' for k, v in rule.labels)
        selector = f"{rule.record}{{{labels}}}" if labels else rule.record
        out[f"recording rule {selector}"] = selector
    return out


def _wait_age(stack: Stack, seconds: float) -> None:
    left = seconds - stack.age()
    if left > 0:
        time.sleep(left)


# --- waiting for alerts ----------------------------------------------------------------

def _alert_lines(alerts: list[dict[str, Any]]) -> str:
    if not alerts:
        return "    (none)"
    return "\n".join(f"    {a['state']:8} {a['labels'].get('alertname')} {a['labels'].get('severity')} "
                     f"{ {k: v for k, v in a['labels'].items() if k not in ('alertname', 'severity')} } "
                     f"value={a.get('value')} since {a.get('activeAt')}" for a in alerts)


def wait_firing(prometheus: live.Prometheus, names: set[str], deadline: float) -> list[dict[str, Any]]:
    """Poll /api/v1/alerts until every alert in `names` has a firing instance; return the alerts.
    At the deadline, fail with what is firing and pending."""
    while True:
        alerts = prometheus.alerts()
        firing = {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}
        if names <= firing:
            return alerts
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {sorted(names - firing)} to fire "
                                 f"(expected {sorted(names)}); alerts on Prometheus now:\n{_alert_lines(alerts)}")
        time.sleep(POLL)


def ever_fired(prometheus: live.Prometheus) -> dict[str, float]:
    """"alertname severity {labels}" -> evaluations in state firing, over Prometheus's whole life
    (the ALERTS series the rule manager writes at each evaluation)."""
    answer = prometheus.query('count_over_time(ALERTS{alertstate="firing"}[1h])')
    assert answer["status"] == "success", answer
    return {json.dumps(sample["metric"], sort_keys=True): float(sample["value"][1])
            for sample in answer["data"]["result"]}


# --- the tests -------------------------------------------------------------------------

def test_the_helpers_report_bad_queries_and_missing_alerts(stacks: dict[str, Stack]) -> None:
    """The checks below can fail: a PromQL error, an empty result, a non-finite result and a
    wrongly allowed query are each reported, and waiting for an alert that never fires times out
    naming what fires."""
    prometheus = stacks["normal"].prometheus
    queries = {
        "syntax error": "sum(rate(orchestrator_tasks_total[5m])",
        "unknown metric": "sum(rate(orchestrator_no_such_metric_total[5m]))",
        "not finite": "vector(0) / vector(0)",
        "works": "vector(1)",
        "allowed but not empty": "vector(2)",
    }
    problems = evaluate(prometheus, queries, {"vector(2)": "test"})
    assert len(problems) == 4, problems
    assert problems[0].startswith("syntax error:") and "bad_data" in problems[0], problems[0]
    assert problems[1].startswith("unknown metric:") and "no samples" in problems[1], problems[1]
    assert problems[2].startswith("not finite:") and "non-finite" in problems[2], problems[2]
    assert problems[3].startswith("allowed but not empty:") and "off the allow-list" in problems[3], problems[3]

    with pytest.raises(AssertionError, match=r"timed out waiting for \['no_such_alert'\]"):
        wait_firing(prometheus, {"no_such_alert"}, time.monotonic() + 1)


def test_every_panel_query_and_recording_rule_evaluates_on_live_data(stacks: dict[str, Stack]) -> None:
    """After WARMUP seconds of the normal scenario: every recording rule's series exists with a
    finite value; every panel query of dashboards/*.json (variables on All, $__rate_interval as
    5m: with 1s scrapes any window of a few seconds holds the two samples rate() needs, and 5m is
    what the dashboard lint parses) runs without a PromQL error and returns a finite sample,
    except the commented EMPTY_IN_NORMAL ones, which must be empty; every label_values variable
    finds its values."""
    stack = stacks["normal"]
    _wait_age(stack, WARMUP)
    prometheus = stack.prometheus

    recording = recording_queries(live.spec_model())
    panels = panel_queries()
    assert len(panels) >= 20, sorted(panels)
    stale = set(EMPTY_IN_NORMAL) - set(panels.values())
    assert not stale, f"EMPTY_IN_NORMAL names queries no panel has any more: {sorted(stale)}"

    problems = evaluate(prometheus, recording, {}) + evaluate(prometheus, panels, EMPTY_IN_NORMAL)

    for where, selector, label in variable_queries():
        answer = prometheus.api(f"label/{label}/values", **{"match[]": selector})
        values = set(answer.get("data") or [])
        if answer.get("status") != "success" or not values:
            problems.append(f"{where}: label_values({selector}, {label}) -> {answer}")
        expected = {"agent": set(AGENTS), "model": set(MODELS)}.get(label, set())
        if not expected <= values:
            problems.append(f"{where}: label_values({selector}, {label}) misses {sorted(expected - values)}: "
                            f"{sorted(values)}")

    assert not problems, (f"{len(problems)} of {len(recording) + len(panels)} queries failed on the live "
                          f"Prometheus after {stack.age():.0f} s of the normal scenario:\n" + "\n".join(problems)
                          + "\n" + stack.logs())


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_scenario_makes_its_alerts_fire(stacks: dict[str, Stack], scenario: str) -> None:
    """The scenario's alerts (exporter.scenarios.SCENARIO_ALERTS) all reach state firing on the
    live Prometheus within ALERT_TIMEOUT; normal fires none of the spec's alerts in NORMAL_WINDOW
    (nor at any evaluation before, read back from the ALERTS series)."""
    stack = stacks[scenario]
    prometheus = stack.prometheus
    expected = set(SCENARIO_ALERTS[scenario])
    spec_alerts = {alert.name for alert in live.spec_model().alerts}
    assert expected <= spec_alerts, f"SCENARIO_ALERTS[{scenario!r}] names alerts the spec lacks"

    if not expected:
        model = live.spec_model()
        _wait_age(stack, max(_seconds(short_for(rule.for_)) for rule in model.alert_rules) + NORMAL_MARGIN)
        # Every evaluation since Prometheus started, not only the last: ALERTS keeps them all.
        fired = ever_fired(prometheus)
        alerts = prometheus.alerts()
        assert not fired, (f"the {scenario} scenario fired alerts within {stack.age():.0f} s "
                           f"(firing evaluations per alert): {fired}\nalerts now:\n{_alert_lines(alerts)}")
        # Prometheus loaded and evaluated every rule: one that errors is never pending nor firing.
        rules = [r for g in prometheus.api("rules")["data"]["groups"] for r in g["rules"]]
        unhealthy = [(r["name"], r.get("lastError")) for r in rules if r.get("health") != "ok"]
        assert not unhealthy, unhealthy
        assert {r["name"] for r in rules if r["type"] == "alerting"} == spec_alerts
        assert {r["name"] for r in rules if r["type"] == "recording"} == {r.record for r in model.recording_rules}
        return

    if scenario == "down":
        _check_exporter_stops(stack)
    try:
        alerts = wait_firing(prometheus, expected, stack.started + ALERT_TIMEOUT)
    except AssertionError as exc:
        raise AssertionError(f"{scenario}: {exc}\n{stack.logs()}") from None
    firing = [a for a in alerts if a["state"] == "firing"]
    print(f"{scenario}: all expected alerts firing after {stack.age():.1f} s; firing:\n{_alert_lines(firing)}")

    if scenario == "down":
        _check_down(stack, firing)
    if scenario == "memory":
        # Between the warning and the critical level: the MEDIUM alert for the hog, not the page.
        memory = [a for a in firing if a["labels"]["alertname"] == "memory_usage_high"]
        assert {(a["labels"]["agent_type"], a["labels"]["severity"]) for a in memory} == {(MEMORY_HOG, "MEDIUM")}, \
            _alert_lines(memory)
    if scenario == AM_SCENARIO:
        _check_alertmanager(stack)


def _refused(url: str) -> bool:
    try:
        live.http().get(url, timeout=2)
    except requests.ConnectionError:
        return True
    return False


def _check_exporter_stops(stack: Stack) -> None:
    """Once the down scenario's time is up, the exporter refuses new connections and, within a
    few scrape intervals, Prometheus's scrapes of it fail (up == 0)."""
    stops_after = workload("down", live.spec_model()).exporter_stops_after
    assert stops_after is not None
    time.sleep(max(0.0, stops_after + 3 - (time.monotonic() - stack.demo.started)))
    assert _refused(stack.demo.url + "/metrics"), \
        f"the exporter still accepts connections {stops_after + 3:.0f} s after the demo started:\n{stack.logs()}"
    up = f'up{{job="orchestrator",instance="{stack.demo.target}"}}'
    deadline = time.monotonic() + 10
    while True:
        answer = stack.prometheus.query(up)
        values = [sample["value"][1] for sample in answer["data"]["result"]]
        if values == ["0"]:
            return
        if time.monotonic() > deadline:
            health = stack.prometheus.api("targets")["data"]["activeTargets"]
            raise AssertionError(
                f"the exporter refuses new connections, yet 10 s later Prometheus's scrapes of {stack.demo.target} "
                f"still succeed ({up} = {values}; target {[(t['health'], t['lastScrape']) for t in health]}): "
                "are kept-alive connections still answered after ExporterServer.stop()?")
        time.sleep(POLL)


def _check_down(stack: Stack, firing: list[dict[str, Any]]) -> None:
    """orchestrator_down fired because scrapes of a target that had answered fail (up == 0 for
    the demo's instance), not because the series was absent before the first scrape; the exporter
    stopped answering while the demo process kept running."""
    down = [a for a in firing if a["labels"]["alertname"] == "orchestrator_down"]
    assert [a["labels"].get("instance") for a in down] == [stack.demo.target], _alert_lines(down)
    answer = stack.prometheus.query(f'max_over_time(up{{job="orchestrator",instance="{stack.demo.target}"}}[1h])')
    assert [s["value"][1] for s in answer["data"]["result"]] == ["1"], f"the target was never up: {answer}"
    assert stack.demo.process.poll() is None, f"the demo exited instead of stopping its exporter:\n{stack.demo.log()}"
    assert _refused(stack.demo.url + "/metrics")


def _check_alertmanager(stack: Stack) -> None:
    """The CRITICAL alert goes from Prometheus to the real Alertmanager, which shows it active and
    posts it to Slack #orchestrator-critical (the recording stand-in) with Prometheus's rendered
    summary."""
    am, recorder = stack.alertmanager, stack.recorder
    assert am is not None and recorder is not None
    deadline = time.monotonic() + 20
    while True:
        active = [a for a in am.get("/api/v2/alerts")
                  if a["labels"].get("alertname") == AM_ALERT and a["status"]["state"] == "active"]
        if active or time.monotonic() > deadline:
            break
        time.sleep(POLL)
    assert active, f"{AM_ALERT} fires on Prometheus but is not active on Alertmanager:\n{stack.logs()}"
    [alert] = active
    assert alert["labels"]["severity"] == "CRITICAL"
    # Prometheus's external label and its rendered annotation templates came along.
    assert alert["labels"].get("environment") == "development", alert["labels"]
    summary = alert["annotations"]["summary"]
    assert summary.startswith("Task failure rate is ") and summary.endswith("%") and "{{" not in summary, summary

    channel = live.slack_path("slack_critical")
    titles = lambda r: [b["attachments"][0]["title"] for b in r.bodies(channel)]  # noqa: E731
    try:
        recorder.wait_for(lambda r: any(AM_ALERT in t for t in titles(r)), 20, f"{AM_ALERT} on Slack {channel}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{stack.logs()}") from None
    [body] = [b for b in recorder.bodies(channel) if AM_ALERT in b["attachments"][0]["title"]]
    assert body["channel"] == "#orchestrator-critical"
    assert body["attachments"][0]["title"] == f"[FIRING:1] {AM_ALERT} (CRITICAL)"
    # The summary as Prometheus rendered it when the alert was sent (its value moves since).
    assert re.search(r"\*Summary:\* Task failure rate is \d+(\.\d+)?%\n", body["attachments"][0]["text"]), body
