"""Bad specs: each case breaks the real spec in one place and must give exit 2, a message
naming file:line:col and the field, and leave the outputs already written untouched.

The seed's own mistakes (DESIGN.md) are put back one by one to prove the lint reports them.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from observability.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPEC = (ROOT / "observability.yaml").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Case:
    id: str
    old: str
    new: str
    anchor: str  # text at the reported position, in the broken spec
    path: str  # field path in the message
    message: str  # part of the message


CASES = [
    Case("malformed yaml", "  queue_backlog_max: 20\n", "  queue_backlog_max: [20\n",
         "  agent_error_rate_max", "(top level)", "not valid YAML"),
    Case("unknown key", "    for: 15m\n    summary: Task queue", "    for: 15m\n    summery: x\n    summary: Task queue",
         "summery: x", "alerts[6].summery", "unknown key 'summery' (did you mean 'summary'?)"),
    Case("wrong type", "queue_backlog_max: 20", "queue_backlog_max: twenty",
         "queue_backlog_max: twenty", "thresholds.queue_backlog_max", "expected a number, got 'twenty'"),
    Case("misspelt severity", "severity: MEDIUM\n    expr: sum(orchestrator_task_queue_size)",
         "severity: CRITCAL\n    expr: sum(orchestrator_task_queue_size)",
         "severity: CRITCAL", "alerts[6].severity", "'CRITCAL' is not one of CRITICAL, HIGH, MEDIUM, LOW, INFO"),
    Case("wrong version", "version: v1", "version: v2", "version: v2", "version", "'v2' is not a supported version"),
    Case("missing required key", "    summary: Task queue has {{ $value }} pending tasks\n", "",
         "name: queue_backlog", "alerts[6].summary", "required key 'summary' is missing"),
    Case("duplicate key", "  queue_backlog_max: 20\n", "  queue_backlog_max: 20\n  queue_backlog_max: 21\n",
         "queue_backlog_max: 21", "thresholds.queue_backlog_max", "duplicate key 'queue_backlog_max'"),
    Case("unknown threshold", "> ${queue_backlog_max}", "> ${queue_backlog_maximum}",
         "expr: sum(orchestrator_task_queue_size) >", "alerts[6].expr", "unknown threshold '${queue_backlog_maximum}'"),
    Case("invalid promql", "expr: sum(orchestrator_task_queue_size) > ${queue_backlog_max}",
         "expr: sum(orchestrator_task_queue_size > ${queue_backlog_max}",
         "expr: sum(orchestrator_task_queue_size >", "alerts[6].expr", "invalid PromQL"),
    Case("unknown metric", "expr: sum(orchestrator_task_queue_size) > ${queue_backlog_max}",
         "expr: sum(orchestrator_task_queue_length) > ${queue_backlog_max}",
         "expr: sum(orchestrator_task_queue_length)", "alerts[6].expr",
         "unknown metric 'orchestrator_task_queue_length'"),
    Case("unknown label in matcher", "expr: sum(orchestrator_task_queue_size) > ${queue_backlog_max}",
         'expr: sum(orchestrator_task_queue_size{queue="main"}) > ${queue_backlog_max}',
         "expr: sum(orchestrator_task_queue_size{queue", "alerts[6].expr",
         "label 'queue' does not exist on orchestrator_task_queue_size"),
    Case("unknown label in by", "expr: sum by (agent_type) (rate(orchestrator_agent_errors_total[5m]))",
         "expr: sum by (agent) (rate(orchestrator_agent_errors_total[5m]))",
         "expr: sum by (agent) (rate(orchestrator_agent_errors", "recording_rules[9].expr",
         "by (agent): the series aggregated by sum has no label 'agent'"),
    Case("unknown label in annotation", "summary: Component {{ $labels.component }} is unhealthy",
         "summary: Component {{ $labels.name }} is unhealthy",
         "summary: Component {{ $labels.name", "alerts[1].summary", "$labels.name is not a label of this alert"),
    Case("counter without rate", "expr: sum(orchestrator_task_queue_size) > ${queue_backlog_max}",
         "expr: sum(orchestrator_tasks_total) > ${queue_backlog_max}",
         "expr: sum(orchestrator_tasks_total)", "alerts[6].expr", "counter 'orchestrator_tasks_total' must be read through rate()"),
    Case("duplicate alert", "- name: queue_wait_high", "- name: queue_backlog",
         "name: queue_backlog\n    severity: MEDIUM\n    expr: orchestrator:queue_wait", "alerts[7].name",
         "duplicate alert name 'queue_backlog' (first defined at alerts[6])"),
    Case("unrouted severity", "    - severity: LOW\n      receivers: [log_only]\n", "    - severity: INFO\n      receivers: [log_only]\n",
         "severity: LOW\n    # The seed compared", "alerts[14].severity", "severity LOW has no route"),
    Case("missing receiver", "receivers: [slack_alerts]", "receivers: [slack_alert]",
         "slack_alert]", "routing.routes[2].receivers[0]", "unknown receiver 'slack_alert' (did you mean 'slack_alerts'?)"),
    Case("secret written inline", "webhook_url_file: slack_alerts_webhook_url",
         "webhook_url: https://hooks.slack.com/services/" + "T0000/B0000/XXXXXXXX",  # fake; split so no scanner takes it for a real one
         "webhook_url: https://hooks", "receivers.slack_alerts.webhook_url", "secrets never go in the spec"),
    Case("pagerduty key inline", "routing_key_file: pagerduty_routing_key",
         "routing_key_file: 0123456789abcdef0123456789abcdef",
         "routing_key_file: 0123", "receivers.pagerduty.routing_key_file", "PagerDuty routing key"),
    Case("example series of an unknown metric", """      - series: {'orchestrator_health_status{component="scheduler"}': '0x5'}""",
         """      - series: {'orchestrator_health{component="scheduler"}': '0x5'}""",
         """'orchestrator_health{component""", 'alerts[1].examples[0].series.orchestrator_health{component="scheduler"}',
         "unknown metric 'orchestrator_health'"),
    # --- dashboards ------------------------------------------------------------------
    Case("unknown panel type", "            type: timeseries\n            unit: ops\n            queries:\n              - expr: sum by (agent) (rate(orchestrator_tasks_total",
         "            type: graph\n            unit: ops\n            queries:\n              - expr: sum by (agent) (rate(orchestrator_tasks_total",
         "type: graph", "dashboards[0].rows[1].panels[0].type", "'graph' is not one of timeseries, stat, gauge, bargauge, piechart, table"),
    Case("panel reads an unknown metric", "              - expr: sum(orchestrator_task_queue_size)\n",
         "              - expr: sum(orchestrator_task_queue_depth)\n",
         "expr: sum(orchestrator_task_queue_depth)", "dashboards[0].rows[2].panels[1].queries[0].expr",
         "unknown metric 'orchestrator_task_queue_depth'"),
    Case("panel uses an unknown variable", 'sum by (agent_type) (orchestrator_agent_active{agent_type=~"$agent"})',
         'sum by (agent_type) (orchestrator_agent_active{agent_type=~"$agent_type"})',
         'expr: sum by (agent_type) (orchestrator_agent_active{agent_type=~"$agent_type', "dashboards[0].rows[2].panels[0].queries[0].expr",
         "unknown variable '$agent_type'"),
    Case("panel ignores a variable", 'sum by (agent_type) (orchestrator_agent_active{agent_type=~"$agent"})',
         "sum by (agent_type) (orchestrator_agent_active)",
         "expr: sum by (agent_type) (orchestrator_agent_active)", "dashboards[0].rows[2].panels[0].queries[0].expr",
         "does not apply $agent"),
    Case("panel reads a counter without rate", "              - expr: sum(orchestrator_task_queue_size)\n",
         "              - expr: sum(orchestrator_agent_tokens_total)\n",
         "expr: sum(orchestrator_agent_tokens_total)", "dashboards[0].rows[2].panels[1].queries[0].expr",
         "counter 'orchestrator_agent_tokens_total' must be read through rate()"),
    Case("panel legend names a missing label", "                legend: '{{agent_type}}'\n                instant: true",
         "                legend: '{{agent}}'\n                instant: true",
         "legend: '{{agent}}'\n                instant: true", "dashboards[0].rows[2].panels[0].queries[0].legend",
         "legend uses {{agent}}"),
    Case("panel without a unit", "            type: piechart\n            unit: none\n", "            type: piechart\n",
         "title: Active agents", "dashboards[0].rows[2].panels[0].unit", "required key 'unit' is missing"),
    Case("panel threshold names an unknown threshold", "{value: queue_depth_warning, color: yellow}",
         "{value: queue_depth_warn, color: yellow}", "value: queue_depth_warn,",
         "dashboards[0].rows[2].panels[1].thresholds[1].value", "unknown threshold 'queue_depth_warn'"),
    Case("variable reads an unknown label", "label_values(orchestrator_tasks_total, model)",
         "label_values(orchestrator_tasks_total, llm)", "query: 'label_values(orchestrator_tasks_total, llm)",
         "dashboards[0].variables[1].query", "label 'llm' does not exist on orchestrator_tasks_total"),
    # --- the seed's mistakes, put back -------------------------------------------
    Case("seed: memory_usage_high reads an undefined metric",
         "expr: max by (agent_type) (orchestrator_agent_memory_bytes) > ${memory_warning_bytes}",
         "expr: orchestrator_memory_bytes / (1024*1024) > ${memory_warning_bytes}",
         "expr: orchestrator_memory_bytes /", "alerts[9].expr", "unknown metric 'orchestrator_memory_bytes'"),
    Case("seed: slow_task_detected compares the histogram itself",
         "expr: sum by (agent) (increase(orchestrator_slow_tasks_total[5m])) > 0",
         "expr: orchestrator_task_duration_seconds > ${slow_task_seconds}",
         "expr: orchestrator_task_duration_seconds >", "alerts[14].expr",
         "'orchestrator_task_duration_seconds' is a histogram"),
    Case("seed: slow_task_detected uses a per-task label",
         "summary: '{{ $value | humanize }} slow tasks on agent {{ $labels.agent }}'",
         "summary: 'Slow task detected: {{ $labels.task_id }} took {{ $value }}s'",
         "summary: 'Slow task detected", "alerts[14].summary", "$labels.task_id is not a label of this alert"),
    Case("seed: task_id as a metric label", "    labels: [agent, status]\n    buckets",
         "    labels: [agent, status, task_id]\n    buckets",
         "task_id]\n    buckets", "metrics.orchestrator_task_duration_seconds.labels[2]",
         "'task_id' is a per-task or per-request label"),
    Case("seed: orchestrator_down cannot fire when the exporter is gone",
         'expr: up{job="orchestrator"} == 0 or absent(up{job="orchestrator"})',
         "expr: orchestrator_health_status == 0",
         "expr: orchestrator_health_status == 0\n    for: 1m\n    summary: Orchestrator exporter", "alerts[0].expr",
         "cannot fire when the exporter is gone"),
    Case("seed: percentiles exported as gauges", "    labels: [operation]\n    source: recording\n  orchestrator_latency_p95_ms:",
         "    labels: [operation]\n    source: exporter\n  orchestrator_latency_p95_ms:",
         "source: exporter\n  orchestrator_latency_p95_ms:", "metrics.orchestrator_latency_p50_ms.source",
         "is recorded by a rule, so the exporter must not export it too"),
    Case("seed: ${SLACK_WEBHOOK_URL} in the config", "webhook_url_file: slack_alerts_webhook_url",
         "webhook_url_file: ${SLACK_WEBHOOK_URL}", "webhook_url_file: ${SLACK", "receivers.slack_alerts.webhook_url_file",
         "Alertmanager does not expand"),
]


def _position(text: str, anchor: str) -> tuple[int, int]:
    index = text.index(anchor)
    # Point at the first non-blank character of the anchor.
    index += len(anchor) - len(anchor.lstrip())
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(directory).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in directory.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    result = CliRunner().invoke(main, ["generate", "--spec", str(ROOT / "observability.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_spec_exits_2_names_file_line_and_field(case: Case, generated: Path, tmp_path: Path) -> None:
    assert SPEC.count(case.old) >= 1, f"the spec no longer contains {case.old!r}: update the case"
    broken = SPEC.replace(case.old, case.new, 1)
    spec = tmp_path / "observability.yaml"
    spec.write_text(broken, encoding="utf-8")
    before = _snapshot(generated)

    result = CliRunner().invoke(main, ["generate", "--spec", str(spec), "--out", str(generated)])

    assert result.exit_code == 2, result.output
    line, col = _position(broken, case.anchor)
    expected = f"{spec}:{line}:{col}: {case.path}: "
    errors = [row for row in result.stderr.splitlines() if row.startswith(str(spec))]
    matching = [row for row in errors if row.startswith(expected) and case.message in row]
    assert matching, f"expected a line starting {expected!r} containing {case.message!r}, got:\n" + "\n".join(errors)
    assert "Traceback" not in result.output
    assert _snapshot(generated) == before, "a failed generate touched the existing outputs"


@pytest.mark.parametrize("case", [c for c in CASES if c.id in ("unknown key", "wrong version")], ids=lambda c: c.id)
def test_config_validate_reports_the_same(case: Case, tmp_path: Path) -> None:
    spec = tmp_path / "observability.yaml"
    spec.write_text(SPEC.replace(case.old, case.new, 1), encoding="utf-8")
    result = CliRunner().invoke(main, ["config", "validate", str(spec)])
    assert result.exit_code == 2
    assert case.message in result.stderr


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    chosen = [case for case in CASES if case.id in ("unknown metric", "unknown label in annotation", "missing receiver")]
    broken = SPEC
    for case in chosen:
        broken = broken.replace(case.old, case.new, 1)
    spec = tmp_path / "observability.yaml"
    spec.write_text(broken, encoding="utf-8")
    result = CliRunner().invoke(main, ["config", "validate", str(spec)])
    assert result.exit_code == 2
    for case in chosen:
        assert case.message in result.stderr
    assert "3 error(s)" in result.stderr


def test_console_script_exits_2(tmp_path: Path) -> None:
    """The installed `orchestrator` entry point, as make and users run it."""
    spec = tmp_path / "observability.yaml"
    spec.write_text(SPEC.replace("version: v1", "version: v2", 1), encoding="utf-8")
    script = Path(sys.executable).with_name("orchestrator")
    proc = subprocess.run([str(script), "config", "validate", str(spec)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert f"{spec}:4:1: version: 'v2' is not a supported version" in proc.stderr


def test_warnings_are_kept_apart_from_errors(tmp_path: Path) -> None:
    spec = tmp_path / "observability.yaml"
    spec.write_text(SPEC.replace("expires: 2027-02-28T00:00:00Z", "expires: 2020-02-28T00:00:00Z", 1), encoding="utf-8")
    result = CliRunner().invoke(main, ["config", "validate", str(spec)])
    assert result.exit_code == 0, result.output
    assert "warning: suppressions.silences[0].expires: the silence expired on 2020-02-28" in result.stderr
    assert "1 warning(s)" in result.stdout
