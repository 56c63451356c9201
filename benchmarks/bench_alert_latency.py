"""Alert latency on the native stack: for each alert a demo scenario makes fire, the time from the
scenario's start to its first notification at a local receiver, next to its floor.

    .venv/bin/python benchmarks/bench_alert_latency.py [--speed 30] [--timeout 240]

Every scenario of exporter.scenarios.SCENARIO_ALERTS runs in its own stack (observability.native_stack,
as `orchestrator stack up --fast` runs it), side by side, each watched by its own thread; then the
cpu scenario alone (its burner needs most of a core: on 2 cores beside nine stacks it dips below the
warning ratio now and then, and each dip restarts the `for`). Shortened timings, stated in the
output: scrape and evaluation interval 1s, `for` divided by the demo's speed (at least 10s),
group_wait 1s; on the cpu stack also the range windows of process_cpu_high, at two scrape intervals:
the shortest window over which rate() is exact. A longer one on a young Prometheus first reads low
(rate() divides the increase over the samples it has by the whole window): [10s], what the live
tests use, needs ~9 s of samples before 0.875 of a core reads above 0.8.

The clock (NativeStack.begin, with hold=True): down and error-spike run the normal workload until
Prometheus has scraped their demo twice and evaluated its rules; then they switch to their scenario
and the clock starts - down stops answering at once, error-spike opens with a burst that takes the
rates over [5m] past their limits at the next scrape. The other scenarios run from their process's
start (their conditions are averages over a window, which a normal phase before would hold down
for minutes; exporter.scenarios says why); their clock starts one scrape interval before
Prometheus's first successful scrape of the demo. Either way Prometheus's own start and its
first-scrape delay are not counted: they are not part of an alert's way to a receiver.

floor = scrape interval + evaluation interval + `for` + group_wait: the least time from the moment
the condition holds in the exporter to a notification; target = floor + 2 evaluation intervals.
Two figures per alert: from start (the clock above) and from pending (from the evaluation where the
condition first held - Prometheus's activeAt - the pipeline alone, whose target is the target less
the scrape interval, already behind activeAt). Alerts routed to log_only notify nobody: their time
is until Alertmanager holds them (its updatedAt of the alert). A scenario's demo is stopped once all its alerts are in.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exporter.scenarios import SCENARIO_ALERTS, window_seconds  # noqa: E402
from observability import native_stack as ns  # noqa: E402
from observability.load import load  # noqa: E402
from observability.receivers import Recorder  # noqa: E402

CPU = "cpu"  # run after the others, alone: its burner needs a core that the other stacks do not take
POLL = 0.1


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


def watch(scenario: str, stack: ns.NativeStack, default_receiver: str, deadline: float,
          seen: dict[tuple[str, str], float], active_at: dict[tuple[str, str], float]) -> None:
    """Poll one stack (its own thread, every POLL s) until each of the scenario's alerts has been
    notified (or, routed to log_only, is held by Alertmanager); note Prometheus's activeAt of each on the way; then stop
    the stack's demo (the cpu burner, among others)."""
    assert stack.recorder is not None
    offset = time.time() - time.monotonic()  # Prometheus's activeAt (wall clock) on the monotonic clock
    alerts = SCENARIO_ALERTS[scenario]
    while time.monotonic() < deadline and not all((scenario, a) in seen for a in alerts):
        notified = first_notifications(stack.recorder)
        firing = stack.prometheus.get("/api/v1/alerts")["data"]["alerts"]
        held = stack.alertmanager.get("/api/v2/alerts")
        for alert in alerts:
            active = [ns.rfc3339(a["activeAt"]) for a in firing if a["labels"]["alertname"] == alert]
            if active and (scenario, alert) not in seen:
                active_at[(scenario, alert)] = min(active) - offset  # the latest pending period
            if (scenario, alert) in seen:
                continue
            if alert in notified:
                seen[(scenario, alert)] = notified[alert]
            else:
                # Routed to log_only: when Alertmanager took it (its updatedAt; Prometheus resends
                # only after a minute), not when this loop saw it.
                taken = [ns.rfc3339(a["updatedAt"]) for a in held if a["labels"]["alertname"] == alert
                         and any(r["name"] == default_receiver for r in a["receivers"])]
                if taken:
                    seen[(scenario, alert)] = min(taken) - offset
        time.sleep(POLL)
    for demo in stack.demos:
        demo.stop()


def run(scenarios: list[str], args: argparse.Namespace, timings: ns.Timings, default_receiver: str, tmp: Path,
        seen: dict[tuple[str, str], float], active_at: dict[tuple[str, str], float]) -> dict[str, ns.NativeStack]:
    """Start a held stack per scenario, begin them, watch them side by side; stop them."""
    with ExitStack() as exits:
        stacks = {}
        for scenario in scenarios:
            stacks[scenario] = exits.enter_context(ns.native_stack(
                ROOT, tmp / scenario, (scenario,), speed=args.speed, timings=timings,
                demo_duration=args.timeout + 120, hold=True))
        for stack in stacks.values():
            stack.begin()
        deadline = time.monotonic() + args.timeout
        with ThreadPoolExecutor(max_workers=len(stacks)) as pool:
            for future in [pool.submit(watch, scenario, stack, default_receiver, deadline, seen, active_at)
                           for scenario, stack in stacks.items()]:
                future.result()
        return stacks


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
    # The cpu scenario's stack: the range windows of its alert at two scrape intervals (see the docstring).
    [cpu_alert] = SCENARIO_ALERTS[CPU]
    cpu_timings = replace(ns.fast_timings(args.speed, range_alerts=(cpu_alert,)),
                          range_divisor=window_seconds(model, cpu_alert) / (2 * interval),
                          min_range_seconds=2 * interval)
    log_only = {route.severity for route in model.routes if route.receivers == (model.routing.default_receiver,)}
    print(f"timings: {timings.describe()}; demo speed {args.speed:g}x")
    print(f"cpu stack, after the others: {cpu_timings.describe()}")
    seen: dict[tuple[str, str], float] = {}
    active_at: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        others = [name for name, alerts in SCENARIO_ALERTS.items() if alerts and name != CPU]
        stacks = run(others, args, timings, model.routing.default_receiver, Path(tmp), seen, active_at)
        stacks.update(run([CPU], args, cpu_timings, model.routing.default_receiver, Path(tmp), seen, active_at))
    wanted = sorted((scenario, alert) for scenario in stacks for alert in SCENARIO_ALERTS[scenario])
    print(f"\n{'alert':28} {'scenario':14} {'severity':8} {'floor':>6} {'target':>7} {'from start':>10} "
          f"{'from pending':>12}  within target (start, pending)")
    missing = late = 0
    for scenario, alert in wanted:
        rule = next(a for a in model.alerts if a.name == alert).rules[0]
        floor = interval + evaluation + ns.seconds(timings.short_for(rule.for_)) + group_wait
        target = floor + 2 * evaluation
        if (scenario, alert) not in seen:
            missing += 1
            print(f"{alert:28} {scenario:14} {rule.severity:8} {floor:6.0f} {target:7.0f} "
                  f"{'not within ' + str(int(args.timeout)) + ' s':>10}")
            continue
        at = seen[(scenario, alert)]
        pending, within = "", "-"
        if (scenario, alert) in active_at:
            pipeline = at - active_at[(scenario, alert)]
            pending = f"{pipeline:12.1f}"
            within = "yes" if pipeline <= target - interval else "NO"
        note = " (log_only: held by Alertmanager)" if rule.severity in log_only else ""
        from_start = at - stacks[scenario].started
        late += from_start > target
        print(f"{alert:28} {scenario:14} {rule.severity:8} {floor:6.0f} {target:7.0f} {from_start:10.1f} "
              f"{pending:>12}  {'yes' if from_start <= target else 'NO'}, {within}{note}")
    print(f"\n{len(wanted) - missing - late} of {len(wanted)} alerts within floor + 2 evaluation intervals from the "
          f"scenario's start; {missing} not notified within {args.timeout:g} s.")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
