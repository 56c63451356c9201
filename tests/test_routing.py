"""The Alertmanager config against the seed's §5.3 table, §5.4 suppressions and the
inhibition the issue asks for (checked on the generated document; amtool checks it too)."""

from __future__ import annotations

from pathlib import Path

import yaml

from generators.alertmanager import CONFIG_FILE, SILENCES_FILE
from observability.checks import routing_table
from observability.load import load

ROOT = Path(__file__).resolve().parent.parent
CONFIG = yaml.safe_load((ROOT / CONFIG_FILE).read_text())

# §5.3, with INFO routed as §5.1 says (log only).
SEED_ROUTES = {
    "CRITICAL": (["primary_oncall", "slack_critical", "pagerduty"], "10s", "1m", "5m"),
    "HIGH": (["primary_oncall", "slack_alerts"], "30s", "5m", "30m"),
    "MEDIUM": (["slack_alerts"], "5m", "30m", "4h"),
    "LOW": (["log_only"], "10m", "1h", "24h"),
    "INFO": (["log_only"], "10m", "1h", "24h"),
}


def _routes() -> dict[str, dict]:
    return {route["matchers"][0].split('"')[1]: route for route in CONFIG["route"]["routes"]}


def test_route_tree_is_the_seed_table() -> None:
    routes = _routes()
    assert sorted(routes) == sorted(SEED_ROUTES)
    for severity, (receivers, wait, interval, repeat) in SEED_ROUTES.items():
        route = routes[severity]
        assert route["matchers"] == [f'severity="{severity}"']
        assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (wait, interval, repeat)
        assert [leaf["receiver"] for leaf in route["routes"]] == receivers
        assert [leaf.get("continue", False) for leaf in route["routes"]] == [True] * (len(receivers) - 1) + [False]


def test_amtool_routing_table_is_the_seed_table() -> None:
    table = routing_table(load(ROOT / "observability.yaml").model)
    for severity, (receivers, *_) in SEED_ROUTES.items():
        assert ({"severity": severity}, receivers) in table


def test_receivers_use_secret_files_and_send_resolved() -> None:
    receivers = {r["name"]: r for r in CONFIG["receivers"]}
    assert sorted(receivers) == ["log_only", "pagerduty", "primary_oncall", "slack_alerts", "slack_critical"]
    assert set(receivers["log_only"]) == {"name"}
    keys = set()
    for name in ("primary_oncall", "pagerduty"):
        (config,) = receivers[name]["pagerduty_configs"]
        assert config["routing_key_file"].startswith("/run/secrets/")
        assert "routing_key" not in config and "service_key" not in config
        assert config["send_resolved"] is True
        keys.add(config["routing_key_file"])
    assert len(keys) == 2, "each PagerDuty receiver has its own routing key"
    channels = set()
    for name in ("slack_critical", "slack_alerts"):
        (config,) = receivers[name]["slack_configs"]
        assert config["api_url_file"].startswith("/run/secrets/") and "api_url" not in config
        assert config["send_resolved"] is True
        channels.add(config["channel"])
    assert len(channels) == 2, "each Slack receiver has its own channel"


def test_slack_message_carries_name_severity_summary_and_runbook() -> None:
    template = (ROOT / "provisioning/alertmanager/templates/orchestrator.tmpl").read_text()
    text = template[template.index('define "orchestrator.slack.text"'):]
    text = text[:text.index("{{ end }}{{ end }}")]
    for field in (".Labels.alertname", ".Labels.severity", ".Annotations.summary", ".Annotations.runbook_url"):
        assert field in text


def test_inhibitions() -> None:
    rules = CONFIG["inhibit_rules"]
    down = next(r for r in rules if r["source_matchers"] == ['alertname="orchestrator_down"'])
    assert "component_unhealthy" in down["target_matchers"][0]
    critical = next(r for r in rules if r["source_matchers"] == ['severity="CRITICAL"'])
    assert critical["target_matchers"] == ['severity=~"HIGH|MEDIUM|LOW|INFO"']
    assert {"alertname", "agent", "agent_type"} <= set(critical["equal"])


def test_maintenance_window_mutes_low_and_medium_only() -> None:
    (interval,) = CONFIG["time_intervals"]
    assert interval["name"] == "scheduled_maintenance"
    assert interval["time_intervals"] == [{"weekdays": ["saturday"], "location": "UTC",
                                           "times": [{"start_time": "02:00", "end_time": "06:00"}]}]
    for severity, route in _routes().items():
        muted = [leaf.get("mute_time_intervals") for leaf in route["routes"]]
        expected = [["scheduled_maintenance"]] * len(muted) if severity in ("LOW", "MEDIUM") else [None] * len(muted)
        assert muted == expected, severity


def test_one_off_window_is_split_per_day() -> None:
    config = yaml.safe_load((ROOT / "tests/golden/small" / CONFIG_FILE).read_text())
    (interval,) = config["time_intervals"]
    days = [(r["months"][0], r["days_of_month"][0], r["times"][0]["start_time"], r["times"][0]["end_time"])
            for r in interval["time_intervals"]]
    assert days == [("march", "30", "22:00", "24:00"), ("march", "31", "00:00", "24:00"), ("april", "1", "00:00", "03:30")]


def test_known_issue_silence() -> None:
    (silence,) = yaml.safe_load((ROOT / SILENCES_FILE).read_text())["silences"]
    assert {(m["name"], m["value"]) for m in silence["matchers"]} == {("alertname", "memory_usage_high"), ("agent_type", "Architect")}
    assert "ARCH-1234" in silence["comment"] and silence["endsAt"] == "2027-02-28T00:00:00Z"


def test_no_secret_in_any_output() -> None:
    for top in ("alert_rules", "provisioning"):
        for path in (ROOT / top).rglob("*"):
            if path.is_file():
                text = path.read_text()
                assert "hooks.slack.com" not in text and "${" not in text, path
