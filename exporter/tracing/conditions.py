"""A small, safe evaluator for sampling-rule conditions (§3.3): never `eval`.

Grammar (whitespace between tokens is free):

    condition  := conjunction ("or" conjunction)*
    conjunction:= comparison ("and" comparison)*
    comparison := "(" condition ")" | NAME ("==" | "!=") LITERAL
    NAME       := letters, digits, "_" and "." (an attribute name: request.type, agent)
    LITERAL    := 'text' | "text" | a number | true | false

`parse` turns the text into a `Condition` once (at load time, so a typo is a spec error
with its line); `Condition.matches(attributes)` only compares values. A name missing from
the attributes compares as unequal to every literal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Literal = str | int | float | bool

_TOKEN = re.compile(r"""\s*(?:(?P<string>'[^']*'|"[^"]*")|(?P<op>==|!=|\(|\))|(?P<word>[A-Za-z0-9_.+-]+))""")


@dataclass(frozen=True)
class Condition:
    text: str
    names: frozenset[str]
    _test: Callable[[Callable[[str], Any]], bool]

    def matches(self, attributes: Mapping[str, Any] | Callable[[str], Any]) -> bool:
        """True when the condition holds for `attributes` (a mapping or a name -> value lookup)."""
        lookup = attributes if callable(attributes) else attributes.get
        return self._test(lookup)


class ConditionError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ConditionError(f"unexpected {text[position:].strip()[:20]!r} at column {position + 1}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _literal(kind: str, token: str) -> Literal:
    if kind == "string":
        return token[1:-1]
    if token in ("true", "false"):
        return token == "true"
    try:
        return int(token)
    except ValueError:
        pass
    try:
        return float(token)
    except ValueError:
        raise ConditionError(f"{token!r} is not a literal; quote text as 'text'") from None


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0
        self.names: set[str] = set()

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise ConditionError("the condition ends too early")
        self.at += 1
        return token

    def condition(self) -> Callable[[Callable[[str], Any]], bool]:
        parts = [self.conjunction()]
        while self.peek() == ("word", "or"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda get: any(part(get) for part in parts))

    def conjunction(self) -> Callable[[Callable[[str], Any]], bool]:
        parts = [self.comparison()]
        while self.peek() == ("word", "and"):
            self.take()
            parts.append(self.comparison())
        return parts[0] if len(parts) == 1 else (lambda get: all(part(get) for part in parts))

    def comparison(self) -> Callable[[Callable[[str], Any]], bool]:
        kind, token = self.take()
        if (kind, token) == ("op", "("):
            inner = self.condition()
            if self.take() != ("op", ")"):
                raise ConditionError("a '(' is not closed")
            return inner
        if kind != "word" or token in ("and", "or", "true", "false") or not re.match(r"[A-Za-z_]", token):
            raise ConditionError(f"expected an attribute name, got {token!r}")
        name = token
        op_kind, op = self.take()
        if op_kind != "op" or op not in ("==", "!="):
            raise ConditionError(f"expected == or != after {name}, got {op!r}")
        value = _literal(*self.take())
        self.names.add(name)
        if op == "==":
            return lambda get: _equal(get(name), value)
        return lambda get: not _equal(get(name), value)


def _equal(actual: Any, expected: Literal) -> bool:
    if actual is None:
        return False
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected if isinstance(actual, bool) else str(actual).lower() == str(expected).lower()
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return actual == expected
    return str(actual) == str(expected)


def parse(text: str) -> Condition:
    """The condition in `text`; ConditionError (a ValueError) naming what is wrong."""
    parser = _Parser(text)
    if not parser.tokens:
        raise ConditionError("the condition is empty")
    test = parser.condition()
    if parser.peek() is not None:
        raise ConditionError(f"unexpected {parser.peek()[1]!r} after a complete condition")  # type: ignore[index]
    return Condition(text, frozenset(parser.names), test)
