"""Alert latency on the native stack: for each alert a demo scenario makes fire, the time from the
scenario's start to its first notification at a local receiver, next to its floor.

    .venv/bin/python benchmarks/bench_alert_latency.py [--speed 30] [--timeout 240]

Every scenario of exporter.scenarios.SCENARIO_ALERTS runs in its own stack (observability.native_stack,
as `orchestrator stack up --fast` runs it), side by side. Shortened timings, stated in the output:
scrape and evaluation interval 1s, `for` divided by the demo's speed (at least 10s), group_wait 1s.

floor = scrape interval + evaluation interval + `for` + group_wait: the least time from the moment
the condition holds in the exporter to a notification. Two figures per alert:
- from start: from the demo's exporter answering until the first notification - includes the time
  the scenario needs to push the metric past its threshold (a rate over [5m] on a fresh Prometheus
  is increase / 300 s, so agent_error_spike needs ~30 s of errors at 10x its limit);
- from pending: from the evaluation where the condition first held (Prometheus's activeAt) until the
  first notification - the pipeline alone, whose target is floor + 2 evaluation intervals
  (here floor - scrape interval, as the scrape is already behind activeAt).
"from start" also holds Prometheus's own start: the demo answers first, then Prometheus starts and
applies its targets on a 5-second tick, so the first scrape comes up to ~6 s after the demo.
Alerts routed to log_only notify nobody: their time is until Alertmanager holds them in a group.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exporter.scenarios import SCENARIO_ALERTS  # noqa: E402
from observability import native_stack as ns  # noqa: E402
from observability.load import load  # noqa: E402
from observability.receivers import Recorder  # noqa: E402


def first_notifications(recorder: Recorder) -> dict[str, float]:
    """alertname -> time.monotonic() of its first firing notification."""
    out: dict[str, float] = {}
    for at, path, body in recorder.received():
        if path.startswith("/pagerduty/"):
            if body.get("event_action") != "trigger":
                continue
            name = body["payload"]["custom_details"]["alertname"]
        else:
            title = body["attachments"][0]["title"]
            if not title.startswith("[FIRING"):
                continue
            name = title.partition("] ")[2].rsplit(" (", 1)[0]
        out.setdefault(name, at)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=240.0)
    args = parser.parse_args()
    model = load(ROOT / "observability.yaml").model
    timings = ns.fast_timings(args.speed)
    interval = ns.seconds(timings.scrape_interval or "1s")
    evaluation = ns.seconds(timings.evaluation_interval or "1s")
    group_wait = ns.seconds(timings.group_wait or "1s")
    log_only = {route.severity for route in model.routes if route.receivers == (model.routing.default_receiver,)}
    print(f"timings: {timings.describe()}; demo speed {args.speed:g}x")
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as exits:
        stacks = {}
        for scenario, alerts in SCENARIO_ALERTS.items():
            if alerts:
                stacks[scenario] = exits.enter_context(ns.native_stack(
                    ROOT, Path(tmp) / scenario, (scenario,), speed=args.speed, timings=timings,
                    demo_duration=args.timeout + 60))
        wanted = {(scenario, alert) for scenario, alerts in SCENARIO_ALERTS.items() for alert in alerts}
        seen: dict[tuple[str, str], float] = {}
        deadline = time.monotonic() + args.timeout
        while len(seen) < len(wanted) and time.monotonic() < deadline:
            for scenario, stack in stacks.items():
                assert stack.recorder is not None
                notified = first_notifications(stack.recorder)
                groups = stack.alertmanager.get("/api/v2/alerts/groups")
                for alert in SCENARIO_ALERTS[scenario]:
                    if (scenario, alert) in seen:
                        continue
                    if alert in notified:
                        seen[(scenario, alert)] = notified[alert]
                    elif any(g["receiver"]["name"] == model.routing.default_receiver
                             and any(a["labels"]["alertname"] == alert for a in g["alerts"]) for g in groups):
                        seen[(scenario, alert)] = time.monotonic()
            time.sleep(0.2)
        # Prometheus's activeAt (wall clock) of each alert, mapped to the monotonic clock.
        offset = time.time() - time.monotonic()
        print(f"\n{'alert':28} {'scenario':14} {'severity':8} {'floor':>6} {'from start':>10} "
              f"{'from pending':>12} {'target':>7}  within (start, pending)")
        missing = 0
        for scenario, alert in sorted(wanted, key=lambda x: (x[0], x[1])):
            rule = next(a for a in model.alerts if a.name == alert).rules[0]
            floor = interval + evaluation + ns.seconds(timings.short_for(rule.for_)) + group_wait
            target = floor + 2 * evaluation
            stack = stacks[scenario]
            if (scenario, alert) not in seen:
                missing += 1
                print(f"{alert:28} {scenario:14} {rule.severity:8} {floor:6.0f} {'not within ' + str(int(args.timeout)) + ' s':>10}")
                continue
            at = seen[(scenario, alert)]
            active = [a["activeAt"] for a in stack.prometheus.get("/api/v1/alerts")["data"]["alerts"]
                      if a["labels"]["alertname"] == alert]
            pending = ""
            within = ""
            if active:
                first = min(datetime.fromisoformat(x.replace("Z", "+00:00")).timestamp() for x in active) - offset
                pipeline = at - first
                pending = f"{pipeline:12.1f}"
                within = "yes" if pipeline <= target - interval else "NO"
            note = " (log_only: held in a group)" if rule.severity in log_only else ""
            from_start = at - stack.demos[0].ready_at
            print(f"{alert:28} {scenario:14} {rule.severity:8} {floor:6.0f} {from_start:10.1f} "
                  f"{pending:>12} {target:7.0f}  {'yes' if from_start <= target else 'NO'}, {within}{note}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
