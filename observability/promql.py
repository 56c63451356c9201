"""PromQL as a syntax tree (promql-parser): which series an expression reads, and with which labels.

`analyse` walks the tree once and returns every selector with its matchers and enclosing
functions, the labels the result carries, and each label that a matcher, `by`/`without`,
`on`/`ignoring` or `group_left` names but the series under it cannot have.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Iterator
from typing import Any, Callable

import promql_parser as pp

# Labels of a series: a set, or None when not known (an unknown metric, reported elsewhere).
LabelSet = frozenset[str] | None
SeriesLabels = Callable[[str], LabelSet]

COMPARISONS = frozenset({"==", "!=", ">", "<", ">=", "<="})
SET_OPERATORS = frozenset({"and", "or", "unless"})
# Aggregations that keep the labels of the series they pick.
_SELECTING_AGGREGATIONS = frozenset({"topk", "bottomk", "limitk", "limit_ratio"})


class PromQLSyntaxError(ValueError):
    """The text is not PromQL."""


@dataclass(frozen=True)
class Selector:
    metric: str | None
    matchers: tuple[tuple[str, str, str], ...]  # (label, operator, value)
    functions: tuple[str, ...]  # enclosing function calls, outermost first
    is_range: bool


@dataclass
class Analysis:
    selectors: list[Selector] = field(default_factory=list)
    output_labels: LabelSet = frozenset()
    label_problems: list[str] = field(default_factory=list)

    @property
    def metrics(self) -> set[str]:
        return {s.metric for s in self.selectors if s.metric}


def parse(text: str) -> pp.Expr:
    try:
        return pp.parse(text)
    except (ValueError, TypeError) as exc:
        raise PromQLSyntaxError(str(exc).strip() or "not valid PromQL") from None


def children(node: Any) -> Iterator[Any]:
    """The sub-expressions of a promql-parser node."""
    for name in ("expr", "lhs", "rhs", "param", "vector_selector"):
        child = getattr(node, name, None)
        if child is not None and not isinstance(child, (str, float, int)):
            yield child
    yield from getattr(node, "args", None) or []


def range_nodes(node: Any) -> Iterator[Any]:
    """The outermost MatrixSelector and SubqueryExpr nodes under `node` (a subquery's own range
    nodes are reached through it)."""
    if isinstance(node, (pp.MatrixSelector, pp.SubqueryExpr)):
        yield node
        return
    for child in children(node):
        yield from range_nodes(child)


def selector_names(node: Any) -> Iterator[str]:
    """The metric names of the vector selectors under `node` (those with a name)."""
    if isinstance(node, pp.VectorSelector):
        if node.name:
            yield node.name
        return
    for child in children(node):
        yield from selector_names(child)


def analyse(text: str, series_labels: SeriesLabels) -> Analysis:
    """Parse `text` and describe it; raises PromQLSyntaxError."""
    analysis = Analysis()
    walker = _Walker(series_labels, analysis)
    labels, _ = walker.visit(parse(text), ())
    analysis.output_labels = labels
    return analysis


def _op(node: object) -> str:
    return str(getattr(node, "op", "")).strip().lower()


def _names(modifier: object) -> list[str]:
    return list(getattr(modifier, "labels", None) or [])


def _missing(wanted: list[str], have: LabelSet) -> list[str]:
    if have is None:
        return []
    return [name for name in wanted if name not in have]


class _Walker:
    def __init__(self, series_labels: SeriesLabels, analysis: Analysis):
        self.series_labels = series_labels
        self.analysis = analysis

    def problem(self, text: str) -> None:
        if text not in self.analysis.label_problems:
            self.analysis.label_problems.append(text)

    def visit(self, node: pp.Expr, functions: tuple[str, ...]) -> tuple[LabelSet, bool]:
        """Return (labels of the result, whether the result is a scalar)."""
        if isinstance(node, (pp.NumberLiteral, pp.StringLiteral)):
            return frozenset(), True
        if isinstance(node, (pp.ParenExpr, pp.UnaryExpr, pp.SubqueryExpr)):
            return self.visit(node.expr, functions)
        if isinstance(node, pp.MatrixSelector):
            return self.selector(node.vector_selector, functions, is_range=True), False
        if isinstance(node, pp.VectorSelector):
            return self.selector(node, functions, is_range=False), False
        if isinstance(node, pp.Call):
            return self.call(node, functions)
        if isinstance(node, pp.AggregateExpr):
            return self.aggregate(node, functions), False
        if isinstance(node, pp.BinaryExpr):
            return self.binary(node, functions)
        return None, False

    def selector(self, node: pp.VectorSelector, functions: tuple[str, ...], is_range: bool) -> LabelSet:
        matchers = tuple((m.name, _match_op(m.op), m.value) for m in node.matchers.matchers)
        name = node.name
        if name is None:
            name = next((v for label, op, v in matchers if label == "__name__" and op == "="), None)
        self.analysis.selectors.append(Selector(name, matchers, functions, is_range))
        if name is None:
            return None
        labels = self.series_labels(name)
        if labels is not None:
            for label, _, _ in matchers:
                if label != "__name__" and label not in labels:
                    self.problem(f"label '{label}' does not exist on {name} (it has: {_listing(labels)})")
        return labels

    def call(self, node: pp.Call, functions: tuple[str, ...]) -> tuple[LabelSet, bool]:
        name = node.func.name
        inner = functions + (name,)
        results = [self.visit(arg, inner) for arg in node.args]
        if name in ("time", "scalar", "pi"):
            return frozenset(), True
        if name == "vector":
            return frozenset(), False
        if name in ("absent", "absent_over_time"):
            arg = node.args[0]
            selector = arg.vector_selector if isinstance(arg, pp.MatrixSelector) else arg
            if isinstance(selector, pp.VectorSelector):
                return frozenset(m.name for m in selector.matchers.matchers
                                 if _match_op(m.op) == "=" and m.name != "__name__"), False
            return frozenset(), False
        vectors = [labels for (labels, scalar), arg in zip(results, node.args)
                   if not scalar and not isinstance(arg, pp.StringLiteral)]
        labels = vectors[0] if vectors else frozenset()
        if name == "histogram_quantile":
            if labels is not None and "le" not in labels:
                self.problem("histogram_quantile needs the 'le' label: aggregate buckets with 'by (le)'")
            return (labels - {"le"} if labels is not None else None), False
        if name in ("label_replace", "label_join"):
            strings = [a.val for a in node.args if isinstance(a, pp.StringLiteral)]
            if name == "label_replace" and len(strings) == 4:
                destination, sources = strings[0], [strings[2]]
            else:
                destination, sources = (strings[0], strings[2:]) if strings else ("", [])
            for source in _missing([s for s in sources if s], labels):
                self.problem(f"{name} reads label '{source}', which the series does not have (it has: {_listing(labels)})")
            return (labels | {destination} if labels is not None else None), False
        return labels, False

    def aggregate(self, node: pp.AggregateExpr, functions: tuple[str, ...]) -> LabelSet:
        if node.param is not None:
            self.visit(node.param, functions)
        inner, _ = self.visit(node.expr, functions)
        op = _op(node)
        modifier = node.modifier
        grouping = _names(modifier)
        for label in _missing(grouping, inner):
            keyword = "without" if _is_without(modifier) else "by"
            self.problem(f"{keyword} ({label}): the series aggregated by {op} has no label '{label}' (it has: {_listing(inner)})")
        if op in _SELECTING_AGGREGATIONS:
            return inner
        if modifier is None:
            result: LabelSet = frozenset()
        elif _is_without(modifier):
            result = inner - set(grouping) if inner is not None else None
        else:
            result = frozenset(grouping)
        if op == "count_values" and isinstance(node.param, pp.StringLiteral) and result is not None:
            result = result | {node.param.val}
        return result

    def binary(self, node: pp.BinaryExpr, functions: tuple[str, ...]) -> tuple[LabelSet, bool]:
        lhs, lhs_scalar = self.visit(node.lhs, functions)
        rhs, rhs_scalar = self.visit(node.rhs, functions)
        if lhs_scalar and rhs_scalar:
            return frozenset(), True
        if lhs_scalar:
            return rhs, False
        if rhs_scalar:
            return lhs, False
        op = _op(node)
        modifier = node.modifier
        matching = getattr(modifier, "matching", None) if modifier is not None else None
        on = matching is not None and str(matching.type).endswith("Include")
        match_labels = _names(matching)
        if on:
            for side, labels in (("left", lhs), ("right", rhs)):
                for label in _missing(match_labels, labels):
                    self.problem(f"on ({label}): the {side} side of '{op}' has no label '{label}' (it has: {_listing(labels)})")
        card = str(getattr(modifier, "card", "")) if modifier is not None else ""
        include = list(getattr(modifier, "group_labels", None) or []) if modifier is not None else []
        if "ManyToOne" in card:
            for label in _missing(include, rhs):
                self.problem(f"group_left ({label}): the right side of '{op}' has no label '{label}'")
            return _union(lhs, include), False
        if "OneToMany" in card:
            for label in _missing(include, lhs):
                self.problem(f"group_right ({label}): the left side of '{op}' has no label '{label}'")
            return _union(rhs, include), False
        if op == "or":
            return (lhs | rhs if lhs is not None and rhs is not None else None), False
        if op in SET_OPERATORS:
            return lhs, False
        if lhs is None:
            return None, False
        if on:
            return lhs & set(match_labels), False
        return lhs - set(match_labels), False


def _union(labels: LabelSet, extra: list[str]) -> LabelSet:
    return labels | set(extra) if labels is not None else None


def _is_without(modifier: object) -> bool:
    return str(getattr(modifier, "type", "")).endswith("Without")


_MATCH_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}


def _match_op(op: object) -> str:
    return _MATCH_OPS.get(str(op).rsplit(".", 1)[-1], str(op))


def _listing(labels: LabelSet) -> str:
    return ", ".join(sorted(labels)) if labels else "no labels"
