"""The launcher's adaptation of the generated rules, without starting anything: range windows are
shortened on the PromQL syntax tree (native_stack.shorten_ranges), only in the alerts asked for,
and the rest of each expression, its labels and the other rules stay as generated."""

from __future__ import annotations

from pathlib import Path

import promql_parser as pp
import pytest

from observability import native_stack as ns

ROOT = Path(__file__).resolve().parent.parent


def tenth(seconds: float) -> float:
    return max(5.0, seconds / 10)


@pytest.mark.parametrize(("expr", "expected"), [
    ('max by (job, instance) (rate(process_cpu_seconds_total{job="orchestrator"}[5m])) > 0.8',
     'max by (job, instance) (rate(process_cpu_seconds_total{job="orchestrator"}[30s])) > 0.8'),
    # the same selector twice, and a name that ends like another one
    ("sum(rate(a[5m])) / sum(rate(a[5m]))", "sum(rate(a[30s])) / sum(rate(a[30s]))"),
    ("rate(foo_bar[5m]) + rate(bar[10m])", "rate(foo_bar[30s]) + rate(bar[1m])"),
    # offset and @ stay; a label value that looks like a range is not a range
    ('rate(x{le="[5m]"}[5m] offset 1m)', 'rate(x{le="[5m]"}[30s] offset 1m)'),
    # a subquery: its range and step, and the range inside it
    ("max_over_time(rate(x[1m])[5m:30s])", "max_over_time(rate(x[6s])[30s:5s])"),
    ("up == 0", "up == 0"),
])
def test_shorten_ranges_divides_only_the_ranges(expr: str, expected: str) -> None:
    got = ns.shorten_ranges(expr, tenth)
    assert " ".join(got.split()) == expected
    # Same tree apart from the ranges: printed alike once each range is put back.
    assert pp.parse(got).prettify().count("[") == pp.parse(expr).prettify().count("[")


def test_adapt_rules_shortens_the_ranges_of_the_named_alerts_only() -> None:
    document = ns.read_yaml(ROOT / ns.RULES_DIR / "alerts.rules.yml")
    timings = ns.fast_timings(30, range_alerts=["process_cpu_high"])
    adapted = ns.adapt_rules(document, timings)
    before = [r for g in document["groups"] for r in g["rules"]]
    after = [r for g in adapted["groups"] for r in g["rules"]]
    assert len(before) == len(after)
    changed = 0
    for old, new in zip(before, after):
        assert {k: v for k, v in old.items() if k not in ("expr", "for")} == \
            {k: v for k, v in new.items() if k not in ("expr", "for")}
        if old.get("alert") == "process_cpu_high":
            assert new["expr"] == old["expr"].replace("[5m]", "[10s]")
            assert new["for"] == "20s"
            changed += 1
        else:
            assert new["expr"] == old["expr"]
    assert changed == 2  # the MEDIUM rule and its CRITICAL escalation
    # Without range_alerts nothing but `for` changes.
    plain = ns.adapt_rules(document, ns.fast_timings(30))
    assert [r["expr"] for g in plain["groups"] for r in g["rules"]] == [r["expr"] for r in before]


def test_durations_print_as_promql() -> None:
    assert [ns.promql_duration(x) for x in (300, 10, 90, 3600, 0.5)] == ["5m", "10s", "1m30s", "1h", "500ms"]
    assert ns.rfc3339("2026-11-28T11:30:00.123456789Z") == pytest.approx(1795865400.123456789)
    assert ns.rfc3339("0001-01-01T00:00:00Z") == 0.0
