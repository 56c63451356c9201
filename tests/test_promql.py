"""The PromQL walk: selectors, output labels and label problems, from real syntax trees."""

from __future__ import annotations

import pytest

from observability.promql import PromQLSyntaxError, analyse, parse, range_nodes, selector_names

SERIES = {
    "tasks_total": frozenset({"agent", "status", "job", "instance"}),
    "agent_active": frozenset({"agent_type", "job", "instance"}),
    "duration_bucket": frozenset({"agent", "le", "job", "instance"}),
    "up": frozenset({"job", "instance"}),
}


def labels(expr: str) -> list[str] | None:
    out = analyse(expr, SERIES.get).output_labels
    return sorted(out) if out is not None else None


@pytest.mark.parametrize("expr, expected", [
    ("tasks_total", ["agent", "instance", "job", "status"]),
    ("sum(rate(tasks_total[5m]))", []),
    ("sum by (agent) (rate(tasks_total[5m]))", ["agent"]),
    ("sum without (instance, job) (rate(tasks_total[5m]))", ["agent", "status"]),
    ("topk(3, tasks_total)", ["agent", "instance", "job", "status"]),
    ("histogram_quantile(0.9, sum by (le, agent) (rate(duration_bucket[5m])))", ["agent"]),
    ("sum by (agent) (tasks_total) > 3", ["agent"]),
    ("2 * sum by (agent) (tasks_total)", ["agent"]),
    ('absent(up{job="o", instance=~"x.*"})', ["job"]),
    ('up == 0 or absent(up{job="o"})', ["instance", "job"]),
    ("sum by (agent) (tasks_total) and on () vector(1)", ["agent"]),
    ('label_replace(agent_active, "agent", "$1", "agent_type", "(.*)")', ["agent", "agent_type", "instance", "job"]),
    ("tasks_total / on (agent) group_left (agent_type) agent_active", ["agent", "agent_type", "instance", "job", "status"]),
    ("tasks_total / ignoring (status) tasks_total", ["agent", "instance", "job"]),
    ("count_values(\"value\", agent_active)", ["value"]),
    ("unknown_metric", None),
])
def test_output_labels(expr: str, expected: list[str] | None) -> None:
    assert labels(expr) == expected


@pytest.mark.parametrize("expr, problem", [
    ('tasks_total{model="x"}', "label 'model' does not exist on tasks_total"),
    ("sum by (model) (tasks_total)", "by (model)"),
    ("sum without (model) (tasks_total)", "without (model)"),
    ("histogram_quantile(0.9, sum(rate(duration_bucket[5m])))", "needs the 'le' label"),
    ("tasks_total / on (agent_type) agent_active", "the left side of '/' has no label 'agent_type'"),
    ("tasks_total / on (agent) group_left (model) tasks_total", "group_left (model)"),
    ('label_replace(agent_active, "agent", "$1", "agent_name", "(.*)")', "reads label 'agent_name'"),
])
def test_label_problems(expr: str, problem: str) -> None:
    problems = analyse(expr, SERIES.get).label_problems
    assert any(problem in p for p in problems), problems


def test_clean_expression_has_no_problems() -> None:
    analysis = analyse('sum by (agent) (rate(tasks_total{status="failed"}[5m])) / sum by (agent) (rate(tasks_total[5m]))', SERIES.get)
    assert analysis.label_problems == []
    assert analysis.metrics == {"tasks_total"}
    assert [s.functions for s in analysis.selectors] == [("rate",), ("rate",)]
    assert analysis.selectors[0].matchers == (("status", "=", "failed"),)


def test_selector_by_name_matcher() -> None:
    analysis = analyse('{__name__="tasks_total", agent="Coder"}', SERIES.get)
    assert analysis.metrics == {"tasks_total"}


def test_syntax_error() -> None:
    with pytest.raises(PromQLSyntaxError):
        analyse("sum(rate(tasks_total[5m])", SERIES.get)


def test_selector_names_and_range_nodes_walk_the_whole_tree() -> None:
    tree = parse('sum(rate(a_total[5m])) / on() group_left max_over_time(b[1h:1m]) + c + histogram_quantile(0.9, d_bucket)')
    assert sorted(selector_names(tree)) == ["a_total", "b", "c", "d_bucket"]
    assert sorted(node.range.total_seconds() for node in range_nodes(tree)) == [300, 3600]
