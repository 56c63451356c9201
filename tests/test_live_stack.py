"""The generated configs on the real stack, end to end: Debian's Prometheus and Alertmanager on
loopback, started by observability.native_stack (the launcher of `orchestrator stack up`) with the
committed generated files, scraping the exporter fed by `orchestrator demo`, notifying the local
Slack/PagerDuty receivers (observability.receivers).

What runs is what `make generate` wrote, adapted at start by the launcher and nowhere else
(see native_stack's docstring): targets, ports, secrets, PagerDuty's URL, and these shortened
timings (native_stack.fast_timings(SPEED)):

- scrape and evaluation interval 1s (the spec's 15s would leave a minute-long test with four samples);
- each alert rule's `for` divided by SPEED - the demo runs SPEED times faster than real time, so the
  same span of simulated orchestrator time - but at least 10 s, and 0 stays 0. A `for` is what keeps
  a noisy instantaneous ratio from firing: agent utilisation with two agents per type is 0, 0.5 or
  1 at any instant, so 15m/30 = 30s (31 evaluations in a row) keeps agent_utilization_high quiet in
  the normal workload where a flat 5s fired it. The floor covers Prometheus's start: it applies
  scrape targets on a 5-second tick, and until the first scrape absent(up{job="orchestrator"}) is
  true;
- group_wait 1s, group_interval 2s, repeat_interval 1h on every severity route (the inhibition stack
  keeps group_wait at 5s, see test_orchestrator_down_inhibits_the_alerts_it_causes).

Range windows are not shortened (except for process_cpu_high, see below): rate(x[5m])
over a Prometheus that has run for t < 5m seconds is increase / 300 s, i.e. about t/300 of the true
rate. Ratios of rates (failure ratio, percentiles) are unaffected; absolute rates compared with a
threshold (agent_error_spike) pass it once the window holds enough events, which error-spike's
opening burst gives at once.

process_cpu_high: the cpu scenario's demo really uses (cpu_warning_ratio + cpu_critical_ratio) / 2
of a core (one duty-cycled thread, exporter.demo), read by prometheus-client's process collector.
The alert compares rate(process_cpu_seconds_total[5m]) with 0.8 for 10m: 15 minutes of a core,
which no test on 2 cores can spend. So its stack (CPU_TIMINGS) also divides that alert's range
windows by SPEED, as every `for` is divided; the rewrite is done on the PromQL syntax tree and
leaves the rest of the expression, the labels and the routing as generated, which the test checks
against what Prometheus loaded. That test runs first, on its own stack, before the other stacks
start: on 2 cores beside eleven stacks the burner's share dips below the warning ratio now and
then, and each dip restarts the `for`. Its stack stops with the test, and with it the burn.

One stack per scenario (plus the inhibition stack) runs side by side for the whole module, so the
file takes about as long as its slowest scenario instead of their sum. The stacks are held
(native_stack(hold=True)): the down and error-spike demos run the normal workload until every stack
is up and Prometheus has scraped them, then NativeStack.begin() switches them to their scenario;
`started` (the tests' clock) is that moment, or for the scenarios that run from their process's
start one scrape interval before Prometheus's first scrape of the demo. Every process listens on
127.0.0.1 only and is stopped when the module ends, pass or fail; a failure message carries the
logs of the demo, Prometheus and Alertmanager of its stack.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from exporter.scenarios import AGENTS, MEMORY_HOG, MEMORY_HOGS, MODELS, SCENARIO_ALERTS, STALLED_COMPONENTS
from generators.alertmanager import PAGERDUTY_SEVERITY
from observability import native_stack as ns
from observability import spec as s
from observability.silences import apply_silences, read_silences

try:  # tests/ as a package, or the repository root on sys.path
    from tests import live
    from tests.live_queries import (POLL, alert_lines, api, evaluate, ever_fired, notification_of, notified,
                                    panel_queries, prometheus_alerts, query, receiver_path, recording_queries,
                                    routed_receivers, variable_queries, wait_firing)
except ImportError:  # pytest's default rootdir/tests on sys.path
    import live
    from live_queries import (POLL, alert_lines, api, evaluate, ever_fired, notification_of, notified,
                              panel_queries, prometheus_alerts, query, receiver_path, recording_queries,
                              routed_receivers, variable_queries, wait_firing)

pytestmark = pytest.mark.live

ROOT = live.ROOT
SPEED = 30.0                 # simulated seconds per real second in every demo; `for` is divided by it
TIMINGS = ns.fast_timings(SPEED)
CPU = "cpu"                  # its own stack and test, first and alone: test_process_cpu_high_...
CPU_TIMINGS = ns.fast_timings(SPEED, range_alerts=SCENARIO_ALERTS[CPU])
DEMO_BACKSTOP = 400.0        # --duration: a demo left behind by a killed test run ends by itself
WARMUP = 20.0                # seconds of data before the dashboards' queries are evaluated
ALERT_TIMEOUT = 170.0        # from the start of a stack until its scenario's alerts must fire
DELIVERY_TIMEOUT = 20.0      # from firing on Prometheus until the receivers have it
RESOLVE_TIMEOUT = 30.0
# After the expected notifications arrived: how long to keep watching for ones that must not
# (group_wait 1s and group_interval 2s flush anything misrouted within it).
GRACE = 3.0
# The normal scenario is watched at least this much longer than the longest shortened `for`
# (30m -> 60s), so that an alert whose condition held from the start would have fired. It runs
# last, so in a full run it is watched as long as the slowest scenario took.
NORMAL_MARGIN = 15.0
# Scenarios in test order: normal last, to watch it while the others make their alerts fire. The cpu
# scenario has its own stack and test (test_process_cpu_high_fires_from_real_cpu_use).
SCENARIOS = sorted((name for name in SCENARIO_ALERTS if name != CPU), key=lambda name: name == "normal")
INHIBITION = "inhibition"    # the stall scenario plus an exporter target nobody answers on
INHIBITED = ("component_unhealthy", "queue_backlog", "task_throughput_low")  # stall's, routed to someone
DELIVERED = sorted({alert for name in SCENARIOS for alert in SCENARIO_ALERTS[name]})
# Scenarios whose alerts test instantaneous gauges, so that they resolve as soon as the demo stops
# (a rate over [5m] keeps its value for five minutes after the last sample).
RESOLVING = ("memory", "resources", "stall")
ALERTS_TEST_STACK = "serial-batches"  # where `orchestrator alerts test` posts its synthetic alerts

# Panel queries that are legitimately empty in the normal scenario (every other one must return
# at least one finite sample there). They must return data on a stack where alerts fire
# (test_the_alerts_panel_shows_the_firing_alerts). Keys are the queries after substitution.
EMPTY_IN_NORMAL: dict[str, str] = {
    'sum by (alertname, severity) (ALERTS{alertstate="firing", agent=~".*"})':
        "no alert fires in the normal scenario",
}



# --- the stacks ------------------------------------------------------------------------------

@dataclass
class Stack:
    name: str
    native: ns.NativeStack
    dead_target: str | None = None

    @property
    def prometheus(self) -> ns.Service:
        return self.native.prometheus

    @property
    def alertmanager(self) -> ns.Service:
        return self.native.alertmanager

    @property
    def recorder(self) -> live.Recorder:
        assert self.native.recorder is not None
        return self.native.recorder

    @property
    def demo(self) -> ns.Service:
        return self.native.demos[0]

    @property
    def started(self) -> float:
        return self.native.started

    def age(self) -> float:
        return time.monotonic() - self.started

    def logs(self) -> str:
        return self.native.logs()


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Stack]]:
    plans: dict[str, dict[str, Any]] = {name: {"scenarios": (name,)} for name in SCENARIOS}
    dead = f"{live.LOOPBACK}:{live.free_port()}"  # nothing listens there: an exporter that is down
    plans[INHIBITION] = {"scenarios": ("stall",), "extra_targets": (dead,),
                         "timings": ns.Timings(**{**TIMINGS.__dict__, "group_wait": "5s"})}
    with ExitStack() as exits:
        out = {}
        for name, plan in plans.items():
            try:
                native = exits.enter_context(ns.native_stack(
                    ROOT, tmp_path_factory.mktemp(f"stack-{name}"), plan["scenarios"], speed=SPEED,
                    timings=plan.get("timings", TIMINGS), demo_duration=DEMO_BACKSTOP,
                    extra_targets=plan.get("extra_targets", ()), hold=True))
            except ns.StackError as exc:
                pytest.fail(f"stack {name}: {exc}", pytrace=False)
            out[name] = Stack(name, native, dead if name == INHIBITION else None)
        for name, stack in out.items():
            try:
                stack.native.begin()
            except ns.StackError as exc:
                pytest.fail(f"stack {name}: {exc}", pytrace=False)
        yield out


def _wait_age(stack: Stack, seconds: float) -> None:
    left = seconds - stack.age()
    if left > 0:
        time.sleep(left)


def am_groups(stack: Stack, alertname: str) -> set[str]:
    """The receivers of Alertmanager's groups holding an alert named `alertname`."""
    return {g["receiver"]["name"] for g in stack.alertmanager.get("/api/v2/alerts/groups")
            if any(a["labels"].get("alertname") == alertname for a in g["alerts"])}


def am_alerts(stack: Stack, alertname: str) -> list[dict[str, Any]]:
    return [a for a in stack.alertmanager.get("/api/v2/alerts") if a["labels"].get("alertname") == alertname]


def summary_pattern(template: str) -> re.Pattern[str]:
    """The spec's summary with each {{ ... }} as `.+`: what a rendered summary must match."""
    parts = re.split(r"\{\{.*?\}\}", template)
    return re.compile(".+".join(re.escape(part) for part in parts))


def _grace_after(recorder: live.Recorder, alert: str) -> None:
    """Wait until GRACE seconds after the alert's last notification (from now where it has none):
    a misrouted notification would have been flushed with the expected ones by then."""
    arrivals = [at for at, path, body in recorder.received() if notification_of(path, body)[0] == alert]
    time.sleep(max(0.0, (max(arrivals) if arrivals else time.monotonic()) + GRACE - time.monotonic()))


def scenario_of(alert: str) -> str:
    return next(name for name in SCENARIOS if alert in SCENARIO_ALERTS[name])


def _fail(stack: Stack, exc: AssertionError) -> AssertionError:
    return AssertionError(f"stack {stack.name}: {exc}\n{stack.logs()}")


# --- the tests: the cpu scenario, alone, first -------------------------------------------------------

@pytest.fixture()
def cpu_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    try:
        with ns.native_stack(ROOT, tmp_path_factory.mktemp("stack-cpu"), (CPU,), speed=SPEED, timings=CPU_TIMINGS,
                             demo_duration=DEMO_BACKSTOP, hold=True) as native:
            native.begin()
            yield Stack(CPU, native)
    except ns.StackError as exc:
        pytest.fail(f"stack {CPU}: {exc}", pytrace=False)


def test_process_cpu_high_fires_from_real_cpu_use(cpu_stack: Stack) -> None:
    """On the cpu stack Prometheus runs process_cpu_high (both severities) as generated, with
    [5m] -> [10s], and no other rule changed. The alert fires at MEDIUM for the demo's instance and
    never at the CRITICAL escalation, reaches exactly the MEDIUM receivers of §5.3 with checked
    payloads, and resolves when the demo stops - which ends the burn."""
    stack = cpu_stack
    [alert] = SCENARIO_ALERTS[CPU]
    generated = [r for g in ns.read_yaml(ROOT / ns.RULES_DIR / "alerts.rules.yml")["groups"]
                 for r in g["rules"] if r.get("alert") == alert]
    window = f"[{ns.promql_duration(CPU_TIMINGS.short_range(300))}]"
    assert window == "[10s]"
    rules = [r for g in api(stack.prometheus, "rules")["data"]["groups"] for r in g["rules"]]
    assert sorted((" ".join(r["query"].split()), r["labels"]["severity"]) for r in rules if r["name"] == alert) == \
        sorted((" ".join(r["expr"].replace("[5m]", window).split()), r["labels"]["severity"]) for r in generated), \
        (rules, generated)
    assert not [r for r in rules if r["name"] != alert and window in r["query"]]
    try:
        alerts = wait_firing(stack.prometheus, {alert}, stack.started + ALERT_TIMEOUT)
    except AssertionError as exc:
        raise _fail(stack, exc) from None
    firing = [a for a in alerts if a["labels"]["alertname"] == alert and a["state"] == "firing"]
    assert [(a["labels"]["severity"], a["labels"]["instance"]) for a in firing] == \
        [("MEDIUM", _target(stack))], alert_lines(firing)
    check_receivers(stack, alert)
    critical = [key for key in ever_fired(stack.prometheus)
                if json.loads(key).get("alertname") == alert and json.loads(key).get("severity") != "MEDIUM"]
    assert not critical, f"the CRITICAL escalation fired: {critical}\n{stack.logs()}"
    check_resolved(stack, {alert})


# --- the tests: queries and panels --------------------------------------------------------------

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
        answer = api(prometheus, f"label/{label}/values", **{"match[]": selector})
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


# --- the tests: every alert fires, and reaches exactly its receivers ---------------------------

def test_every_alert_of_the_spec_fires_from_a_scenario() -> None:
    """Each alert of the spec is made to fire by some scenario, and the table names no alert the
    spec lacks; every scenario's alerts are checked on a live stack (the generic tests below, or
    the cpu scenario's in tests/test_live_cpu.py)."""
    spec_alerts = {alert.name for alert in live.spec_model().alerts}
    from_scenarios = {alert for alerts in SCENARIO_ALERTS.values() for alert in alerts}
    assert from_scenarios <= spec_alerts, sorted(from_scenarios - spec_alerts)
    assert from_scenarios == spec_alerts, f"alerts no scenario makes fire: {sorted(spec_alerts - from_scenarios)}"
    assert set(DELIVERED) | set(SCENARIO_ALERTS[CPU]) == from_scenarios


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_scenario_makes_its_alerts_fire(stacks: dict[str, Stack], scenario: str) -> None:
    """The scenario's alerts (exporter.scenarios.SCENARIO_ALERTS) all reach state firing on the
    live Prometheus within ALERT_TIMEOUT; normal fires none of the spec's alerts (at any
    evaluation, read back from the ALERTS series) and notifies nobody."""
    stack = stacks[scenario]
    prometheus = stack.prometheus
    expected = set(SCENARIO_ALERTS[scenario])
    model = live.spec_model()

    if not expected:
        _wait_age(stack, max(ns.seconds(TIMINGS.short_for(rule.for_)) for rule in model.alert_rules) + NORMAL_MARGIN)
        fired = ever_fired(prometheus)
        assert not fired, (f"the {scenario} scenario fired alerts within {stack.age():.0f} s "
                           f"(firing evaluations per alert): {fired}\nalerts now:\n"
                           f"{alert_lines(prometheus_alerts(prometheus))}")
        assert stack.recorder.received() == [], stack.recorder.received()
        # Prometheus loaded and evaluated every rule: one that errors is never pending nor firing.
        rules = [r for g in api(prometheus, "rules")["data"]["groups"] for r in g["rules"]]
        unhealthy = [(r["name"], r.get("lastError")) for r in rules if r.get("health") != "ok"]
        assert not unhealthy, unhealthy
        assert {r["name"] for r in rules if r["type"] == "alerting"} == {a.name for a in model.alerts}
        assert {r["name"] for r in rules if r["type"] == "recording"} == {r.record for r in model.recording_rules}
        return

    if scenario == "down":
        _check_exporter_stops(stack)
    try:
        alerts = wait_firing(prometheus, expected, stack.started + ALERT_TIMEOUT)
    except AssertionError as exc:
        raise _fail(stack, exc) from None
    firing = [a for a in alerts if a["state"] == "firing"]
    print(f"{scenario}: all expected alerts firing after {stack.age():.1f} s; firing:\n{alert_lines(firing)}")
    if scenario == "down":
        _check_down(stack, firing)
    if scenario == "memory":
        # Between the warning and the critical level: the MEDIUM alert for the hogs, not the page.
        memory = [a for a in firing if a["labels"]["alertname"] == "memory_usage_high"]
        assert {(a["labels"]["agent_type"], a["labels"]["severity"]) for a in memory} == \
            {(hog, "MEDIUM") for hog in MEMORY_HOGS}, alert_lines(memory)
    if scenario == "resources":
        # Halfway between the levels: the MEDIUM rule of each escalating alert, never the CRITICAL one.
        assert {a["labels"]["severity"] for a in firing} == {"MEDIUM"}, alert_lines(firing)


@pytest.mark.parametrize("alert", DELIVERED)
def test_each_alert_reaches_exactly_its_receivers(stacks: dict[str, Stack], alert: str) -> None:
    """Once the alert fires on Prometheus (from its scenario), Alertmanager routes it to exactly the
    receivers §5.3 names for its severity (its groups, one per receiver), and each of those with an
    integration gets a notification while no other receiver does. The payloads: Slack - the
    receiver's channel, title with alert name and severity, the summary as rendered from the spec's
    template, the runbook link; PagerDuty - event_action trigger, the routing key from the secrets
    file, the severity mapping, a dedup key, the summary and runbook in the details."""
    check_receivers(stacks[scenario_of(alert)], alert)


def check_receivers(stack: Stack, alert: str) -> None:
    """test_each_alert_reaches_exactly_its_receivers for one alert on its stack."""
    model = live.spec_model()
    try:
        alerts = wait_firing(stack.prometheus, {alert}, stack.started + ALERT_TIMEOUT)
        severities = {a["labels"]["severity"] for a in alerts if a["labels"]["alertname"] == alert
                      and a["state"] == "firing"}
        expected = routed_receivers(model, severities)
        paths = {r: receiver_path(model, r) for r in expected}
        notifying = {r: p for r, p in paths.items() if p is not None}
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        while am_groups(stack, alert) != set(expected) and time.monotonic() < deadline:
            time.sleep(POLL)
        assert am_groups(stack, alert) == set(expected), \
            f"{alert} ({sorted(severities)}) is in Alertmanager groups of {sorted(am_groups(stack, alert))}"
        stack.recorder.wait_for(lambda r: set(notified(r, alert)) >= set(notifying.values()), DELIVERY_TIMEOUT,
                                f"{alert} at {sorted(notifying.values())}")
        _grace_after(stack.recorder, alert)
    except AssertionError as exc:
        raise _fail(stack, exc) from None
    got = notified(stack.recorder, alert)
    assert set(got) == set(notifying.values()), f"{alert} reached {sorted(got)}; §5.3 says {sorted(notifying.values())}"

    rules = [r for a in model.alerts if a.name == alert for r in a.rules if r.severity in severities]
    assert len(rules) == 1, (alert, severities)
    rule = rules[0]
    pattern = summary_pattern(rule.summary)
    for receiver, path in notifying.items():
        for body in got[path]:
            if path.startswith("/slack/"):
                spec = model.receivers[receiver]
                assert isinstance(spec, s.SlackReceiver)
                assert body["channel"] == spec.channel
                [attachment] = body["attachments"]
                assert re.fullmatch(rf"\[FIRING:\d+\] {alert} \({rule.severity}\)", attachment["title"]), attachment
                summaries = re.findall(r"\*Summary:\* (.*)\n", attachment["text"])
                assert summaries and all(pattern.fullmatch(x) and "{{" not in x for x in summaries), \
                    (rule.summary, attachment["text"])
                assert f"*Runbook:* <{rule.runbook_url}|{rule.runbook_url}>" in attachment["text"]
                assert f"*Severity:* {rule.severity}" in attachment["text"]
            else:
                assert body["event_action"] == "trigger"
                assert body["routing_key"] == stack.native.secrets[receiver]
                assert re.fullmatch(r"[0-9a-f]{64}", body["dedup_key"]), body["dedup_key"]
                payload = body["payload"]
                assert payload["severity"] == PAGERDUTY_SEVERITY[rule.severity]
                prefix = f"[{rule.severity}] {alert}: "
                assert payload["summary"].startswith(prefix), payload["summary"]
                # A group whose alerts differ in summary (component_unhealthy for two components)
                # shows the first one's, counted: "... (1 of 2)".
                alone = payload["custom_details"]["firing"].count("Labels:") == 1
                summary = payload["summary"][len(prefix):]
                counted = re.fullmatch(rf"(?:{pattern.pattern}) \(1 of \d+\)", summary)
                assert pattern.fullmatch(summary) if alone else (pattern.fullmatch(summary) or counted), \
                    payload["summary"]
                assert payload["custom_details"]["runbook_url"] == rule.runbook_url
                assert payload["custom_details"]["severity"] == rule.severity


def _check_exporter_stops(stack: Stack) -> None:
    """The held down demo, already scraped, stops answering when its scenario starts: the exporter
    refuses new connections and, within a few scrape intervals, Prometheus's scrapes of it fail
    (up == 0)."""
    time.sleep(max(0.0, 3 - stack.age()))
    assert live.refused(stack.demo.url + "/metrics"), \
        f"the exporter still accepts connections 3 s after the down scenario started:\n{stack.logs()}"
    up = f'up{{job="orchestrator",instance="{_target(stack)}"}}'
    deadline = time.monotonic() + 10
    while True:
        values = [sample["value"][1] for sample in query(stack.prometheus, up)["data"]["result"]]
        if values == ["0"]:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the exporter refuses new connections, yet 10 s later Prometheus's scrapes of "
                                 f"{_target(stack)} still succeed ({up} = {values}):\n{stack.logs()}")
        time.sleep(POLL)


def _target(stack: Stack) -> str:
    return f"{live.LOOPBACK}:{stack.demo.port}"


def _check_down(stack: Stack, firing: list[dict[str, Any]]) -> None:
    """orchestrator_down fired because scrapes of a target that had answered fail (up == 0 for
    the demo's instance), not because the series was absent before the first scrape; the exporter
    stopped answering while the demo process kept running."""
    down = [a for a in firing if a["labels"]["alertname"] == "orchestrator_down"]
    assert [a["labels"].get("instance") for a in down] == [_target(stack)], alert_lines(down)
    answer = query(stack.prometheus, f'max_over_time(up{{job="orchestrator",instance="{_target(stack)}"}}[1h])')
    assert [x["value"][1] for x in answer["data"]["result"]] == ["1"], f"the target was never up: {answer}"
    assert stack.demo.process.poll() is None, f"the demo exited instead of stopping its exporter:\n{stack.logs()}"
    assert live.refused(stack.demo.url + "/metrics")


# --- the tests: inhibition, grouping, silence, `alerts test` --------------------------------------

def test_orchestrator_down_inhibits_the_alerts_it_causes(stacks: dict[str, Stack]) -> None:
    """A stack scraping the stall demo and an exporter that does not answer (nothing listens on its
    port): orchestrator_down fires for that instance and reaches its CRITICAL receivers; the stall
    alerts it inhibits (INHIBITED) fire on Prometheus, are active in Alertmanager but inhibited, and
    reach nobody. The stall stack, without the dead exporter, delivers the same alerts
    (test_each_alert_reaches_exactly_its_receivers): the inhibition is what mutes them here.
    group_wait is 5s on this stack so that orchestrator_down, whose `for` is as short as
    component_unhealthy's, is in Alertmanager before the first group of a target is flushed."""
    stack = stacks[INHIBITION]
    model = live.spec_model()
    try:
        wait_firing(stack.prometheus, {"orchestrator_down", *INHIBITED}, stack.started + ALERT_TIMEOUT)
        fired_by = time.monotonic()
        critical = [p for r in routed_receivers(model, {"CRITICAL"}) if (p := receiver_path(model, r))]
        stack.recorder.wait_for(lambda r: set(notified(r, "orchestrator_down")) >= set(critical), DELIVERY_TIMEOUT,
                                f"orchestrator_down at {critical}")
        time.sleep(max(0.0, fired_by + 5 + GRACE - time.monotonic()))
        for alertname in INHIBITED:
            states = [(a["status"]["state"], a["status"]["inhibitedBy"]) for a in am_alerts(stack, alertname)]
            assert states and all(state == "suppressed" and by for state, by in states), (alertname, states)
            assert notified(stack.recorder, alertname) == {}, f"{alertname} was delivered despite orchestrator_down"
    except AssertionError as exc:
        raise _fail(stack, exc) from None
    [down] = [a for a in am_alerts(stack, "orchestrator_down") if a["status"]["state"] == "active"]
    assert down["labels"]["instance"] == stack.dead_target, down


def test_alerts_of_one_group_arrive_in_one_notification(stacks: dict[str, Stack]) -> None:
    """group_by [alertname, severity, agent, agent_type]: the stall scenario's two unhealthy
    components (label `component`, not grouped by) arrive in one Slack message [FIRING:2] and one
    PagerDuty event naming both; agent_error_spike, one alert per agent_type, arrives as one
    message per agent type."""
    stall, spike = stacks["stall"], stacks["error-spike"]
    for stack in (stall, spike):
        wait_firing(stack.prometheus, set(SCENARIO_ALERTS[stack.name]), stack.started + ALERT_TIMEOUT)
    channel, pager = live.slack_path("slack_alerts"), live.pagerduty_path("primary_oncall")
    try:
        stall.recorder.wait_for(lambda r: {channel, pager} <= set(notified(r, "component_unhealthy")),
                                DELIVERY_TIMEOUT, "component_unhealthy")
        time.sleep(GRACE)
    except AssertionError as exc:
        raise _fail(stall, exc) from None
    got = notified(stall.recorder, "component_unhealthy")
    [slack] = got[channel]
    assert slack["attachments"][0]["title"] == f"[FIRING:{len(STALLED_COMPONENTS)}] component_unhealthy (HIGH)"
    for component in STALLED_COMPONENTS:
        assert f"Component {component} is unhealthy" in slack["attachments"][0]["text"]
    [event] = got[pager]
    assert all(component in event["payload"]["custom_details"]["firing"] for component in STALLED_COMPONENTS), event

    messages = notified(spike.recorder, "agent_error_spike")[channel]
    agents = [re.findall(r"\*Summary:\* Agent (\w+) error rate", m["attachments"][0]["text"]) for m in messages]
    assert all(len(a) == 1 for a in agents), agents
    assert len({a[0] for a in agents}) == len(agents) >= 2, agents
    assert all(m["attachments"][0]["title"] == "[FIRING:1] agent_error_spike (HIGH)" for m in messages)


def test_the_known_issue_silence_mutes_exactly_its_alert(stacks: dict[str, Stack]) -> None:
    """The launcher applied the generated silences through Alertmanager's API. In the memory
    scenario memory_usage_high fires for Architect (the silence's matchers) and Coder: Architect's
    alert is suppressed by that silence and never notified, Coder's reaches Slack. Applying the
    silences again changes nothing: one silence."""
    stack = stacks["memory"]
    [known] = read_silences(ROOT / ns.SILENCES_FILE)
    try:
        wait_firing(stack.prometheus, {"memory_usage_high"}, stack.started + ALERT_TIMEOUT)
        channel = live.slack_path("slack_alerts")
        stack.recorder.wait_for(lambda r: channel in notified(r, "memory_usage_high"), DELIVERY_TIMEOUT,
                                "memory_usage_high on Slack")
        time.sleep(GRACE)
    except AssertionError as exc:
        raise _fail(stack, exc) from None
    [silence] = [x for x in stack.alertmanager.get("/api/v2/silences") if x["status"]["state"] == "active"]
    states = {a["labels"]["agent_type"]: (a["status"]["state"], a["status"]["silencedBy"])
              for a in am_alerts(stack, "memory_usage_high")}
    assert states == {"Architect": ("suppressed", [silence["id"]]), MEMORY_HOG: ("active", [])}, states
    texts = [b["attachments"][0]["text"] for b in notified(stack.recorder, "memory_usage_high")[channel]]
    assert all(f"Agent {MEMORY_HOG} uses" in t and "Architect" not in t for t in texts), texts

    with pytest.MonkeyPatch.context() as patch:
        for key, value in live.loopback_env().items():
            if key in ("NO_PROXY", "no_proxy"):
                patch.setenv(key, value)
        [again] = apply_silences(stack.alertmanager.url, [known])
    assert (again.action, again.silence_id) == ("unchanged", silence["id"])
    assert len(stack.alertmanager.get("/api/v2/silences")) == 1


@pytest.mark.parametrize("severity", ["HIGH", "CRITICAL", "LOW"])
def test_alerts_test_reports_routing_and_delivery(stacks: dict[str, Stack], severity: str) -> None:
    """`orchestrator alerts test --severity S` against a running stack: the receivers it reports
    are §5.3's for S, and each with an integration received it (the local receivers say so)."""
    stack = stacks[ALERTS_TEST_STACK]
    model = live.spec_model()
    proc = subprocess.run([sys.executable, "-c", "from observability.cli import main; main()", "alerts", "test",
                           "--severity", severity, "--alertmanager-url", stack.alertmanager.url,
                           "--receivers-url", stack.recorder.base, "--timeout", "20"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, env=live.loopback_env())
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}\n{stack.logs()}"
    expected = routed_receivers(model, {severity})
    assert f"routed to: {', '.join(expected)}\n" in proc.stdout, proc.stdout
    for receiver in expected:
        word = "received" if receiver_path(model, receiver) else "has no integration (notifies nobody)"
        assert f"  {receiver}: {word}\n" in proc.stdout, proc.stdout


def test_alerts_test_without_local_receivers_reports_alertmanagers_counts(stacks: dict[str, Stack]) -> None:
    """Against an Alertmanager whose receivers cannot be asked (no --receivers-url, no stack.json):
    the routed receivers, and Alertmanager's own notification counts per integration, moved and
    without failures."""
    stack = stacks[ALERTS_TEST_STACK]
    proc = subprocess.run([sys.executable, "-c", "from observability.cli import main; main()", "alerts", "test",
                           "--severity", "CRITICAL", "--alertmanager-url", stack.alertmanager.url,
                           "--run-dir", str(stack.native.run_dir / "no-such-dir"), "--timeout", "20"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, env=live.loopback_env())
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}\n{stack.logs()}"
    expected = routed_receivers(live.spec_model(), {"CRITICAL"})
    assert f"routed to: {', '.join(expected)}\n" in proc.stdout, proc.stdout
    for receiver in expected:
        assert f"  {receiver}: not a local receiver; see Alertmanager's counts below\n" in proc.stdout, proc.stdout
    assert re.search(r"Alertmanager slack: [1-9]\d* notification\(s\) sent, 0 failed", proc.stdout), proc.stdout
    assert re.search(r"Alertmanager pagerduty: [1-9]\d* notification\(s\) sent, 0 failed", proc.stdout), proc.stdout


def test_the_alerts_panel_shows_the_firing_alerts(stacks: dict[str, Stack]) -> None:
    """The panel queries allowed to be empty in the normal scenario return data where alerts fire."""
    stack = stacks["stall"]
    wait_firing(stack.prometheus, set(SCENARIO_ALERTS["stall"]), stack.started + ALERT_TIMEOUT)
    problems = evaluate(stack.prometheus, {f"{where} (stall)": expr for where, expr in panel_queries().items()
                                           if expr in EMPTY_IN_NORMAL}, {})
    assert not problems, problems


# --- the tests: resolved notifications (they stop demos: last) -----------------------------------

@pytest.mark.parametrize("scenario", RESOLVING)
def test_resolved_notifications_follow_when_the_scenario_ends(stacks: dict[str, Stack], scenario: str) -> None:
    """Stop the scenario's demo: each of its alerts that was notified is followed, at the same
    receivers, by a resolved notification (every receiver has send_resolved on) - Slack
    [RESOLVED] in green, PagerDuty event_action resolve with the trigger's dedup key."""
    check_resolved(stacks[scenario], set(SCENARIO_ALERTS[scenario]))


def check_resolved(stack: Stack, expected: set[str]) -> None:
    """Stop the stack's demo; resolved notifications follow as test_resolved_notifications_... says."""
    try:
        wait_firing(stack.prometheus, expected, stack.started + ALERT_TIMEOUT)
        stack.recorder.wait_for(lambda r: all(notified(r, a) for a in expected if routed_somewhere(a)),
                                DELIVERY_TIMEOUT, f"{sorted(expected)} notified")
        triggered = {alert: notified(stack.recorder, alert) for alert in expected}
        stack.demo.stop()
        stack.recorder.wait_for(
            lambda r: all(set(notified(r, a, "resolved")) >= set(paths) for a, paths in triggered.items()),
            RESOLVE_TIMEOUT, "resolved notifications")
    except AssertionError as exc:
        raise _fail(stack, exc) from None
    for alert, paths in triggered.items():
        resolved = notified(stack.recorder, alert, "resolved")
        for path, bodies in paths.items():
            for body in resolved[path]:
                if path.startswith("/slack/"):
                    assert body["attachments"][0]["title"].startswith(f"[RESOLVED] {alert} (")
                    assert body["attachments"][0]["color"] == "#2eb67d"
                else:
                    assert body["event_action"] == "resolve"
                    assert body["dedup_key"] in {b["dedup_key"] for b in bodies}
                    assert body["routing_key"] == bodies[0]["routing_key"]


def routed_somewhere(alert: str) -> bool:
    """Whether the alert's severity routes to a receiver with an integration."""
    model = live.spec_model()
    severities = {r.severity for a in model.alerts if a.name == alert for r in a.rules[:1]}
    return any(receiver_path(model, r) for r in routed_receivers(model, severities))
