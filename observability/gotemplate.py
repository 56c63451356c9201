"""The small part of Prometheus's Go templates that alert annotations may use.

Annotations may print `$value` or `$labels.NAME`, optionally through humanize,
humanize1024, humanizePercentage, humanizeDuration or `printf "%.Nf"`. Keeping to this
subset lets the lint see every label an annotation needs, and lets the promtool tests
state the exact text Prometheus will render.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

_ACTION = re.compile(r"{{-?\s*(.*?)\s*-?}}", re.S)
_LABEL = re.compile(r"^\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)$")
_PRINTF = re.compile(r'^printf\s+"(%\.\d+f)"\s+(\S+)$')
FUNCTIONS = ("humanize", "humanize1024", "humanizePercentage", "humanizeDuration")


class TemplateError(ValueError):
    pass


def _parse_action(action: str) -> tuple[str, list[str]]:
    """Split `$value | humanize` or `humanize $value` into (operand, functions)."""
    stages = [s.strip() for s in action.split("|")]
    head = stages[0]
    functions: list[str] = []
    words = head.split()
    if len(words) == 2 and words[0] in FUNCTIONS:
        head, functions = words[1], [words[0]]
    elif (match := _PRINTF.match(head)) is not None:
        head, functions = match.group(2), [f"printf {match.group(1)}"]
    if head != "$value" and not _LABEL.match(head):
        raise TemplateError(f"unsupported template action '{{{{ {action} }}}}': use $value or $labels.NAME")
    for stage in stages[1:]:
        if stage not in FUNCTIONS:
            raise TemplateError(f"unsupported template function '{stage}': use one of {', '.join(FUNCTIONS)}")
        functions.append(stage)
    return head, functions


def actions(text: str) -> list[tuple[str, list[str]]]:
    """Every action of the template, parsed; raises TemplateError."""
    return [_parse_action(m.group(1)) for m in _ACTION.finditer(text)]


def labels_used(text: str) -> set[str]:
    found = set()
    for operand, _ in actions(text):
        match = _LABEL.match(operand)
        if match:
            found.add(match.group(1))
    return found


def render(text: str, labels: dict[str, str], value: float) -> str:
    """Render as Prometheus would for an alert with these labels and value."""

    def one(match: re.Match[str]) -> str:
        operand, functions = _parse_action(match.group(1))
        label = _LABEL.match(operand)
        current: float | str = labels.get(label.group(1), "") if label else value
        for function in functions:
            current = _apply(function, current)
        return current if isinstance(current, str) else go_float(current)

    return _ACTION.sub(one, text)


def _apply(function: str, value: float | str) -> str:
    number = float(value)
    if function.startswith("printf "):
        return function.split(" ", 1)[1] % number
    return {
        "humanize": humanize,
        "humanize1024": humanize1024,
        "humanizePercentage": lambda v: f"{_g4(v * 100)}%",
        "humanizeDuration": humanize_duration,
    }[function](number)


def _g4(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return "%.4g" % value


def humanize(value: float) -> str:
    if value == 0 or math.isnan(value) or math.isinf(value):
        return _g4(value)
    if abs(value) >= 1:
        prefix = ""
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(value) < 1000:
                break
            prefix, value = p, value / 1000
        return _g4(value) + prefix
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(value) >= 1:
            break
        prefix, value = p, value * 1000
    return _g4(value) + prefix


def humanize1024(value: float) -> str:
    if abs(value) <= 1 or math.isnan(value) or math.isinf(value):
        return _g4(value)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(value) < 1024:
            break
        prefix, value = p, value / 1024
    return _g4(value) + prefix


def humanize_duration(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return _g4(value)
    if value == 0:
        return _g4(value) + "s"
    if abs(value) >= 1:
        sign = "-" if value < 0 else ""
        value = abs(value)
        whole = int(value)
        seconds, minutes = whole % 60, (whole // 60) % 60
        hours, days = (whole // 3600) % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(value)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(value) >= 1:
            break
        prefix, value = p, value * 1000
    return f"{_g4(value)}{prefix}s"


def go_float(value: float) -> str:
    """Go's %v for a float64: shortest digits, exponent form below 1e-4 and from 1e6."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    number = Decimal(repr(value)).normalize()
    _, digits, exp = number.as_tuple()
    exponent = len(digits) + int(exp) - 1
    sign = "-" if value < 0 else ""
    if exponent < -4 or exponent >= 6:
        text = "".join(map(str, digits))
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    return sign + format(abs(number), "f")
