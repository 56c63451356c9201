"""Load observability.yaml: YAML with positions, the strict spec, the model, then lint.

Every problem is reported at once as `file:line:col: path: message`; `load` raises
SpecError carrying them, and returns the model with its warnings otherwise.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import ValidationError

from .lint import lint
from .model import Model, build_model
from .problems import Path, Problem, SourceMap, SpecError
from .spec import SPEC_VERSION, Spec
from .yamlsource import read_yaml

_SECRET_PATTERNS = (
    (re.compile(r"https://hooks\.slack\.com/\S+"), "a Slack webhook URL"),
    (re.compile(r"^[0-9a-f]{32}$"), "what looks like a PagerDuty routing key"),
    (re.compile(r"\$\{[A-Z_][A-Z0-9_]*\}"), "an environment variable reference, which Alertmanager does not expand"),
)


@dataclass(frozen=True)
class Loaded:
    model: Model
    warnings: list[str]
    source: SourceMap


def load(path: str | FsPath, display_name: str | None = None) -> Loaded:
    path = FsPath(path)
    name = display_name or path.name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([f"{name}: cannot read: {exc.strerror or exc}"]) from None
    return load_text(text, name)


def load_text(text: str, name: str) -> Loaded:
    try:
        data, source, problems = read_yaml(text, name)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{mark.line + 1}:{mark.column + 1}" if mark else "1:1"
        reason = getattr(exc, "problem", None) or str(exc)
        raise SpecError([f"{name}:{where}: (top level): not valid YAML: {reason}"]) from None

    def fail(found: list[Problem]) -> SpecError:
        errors = [source.format(p) for p in found if p.level == "error"]
        warnings = [source.format(p) for p in found if p.level == "warning"]
        return SpecError(errors, warnings)

    if not isinstance(data, dict):
        raise fail([Problem((), "the spec must be a mapping with version: v1 at the top")])
    version = data.get("version")
    if version != SPEC_VERSION:
        where: Path = ("version",) if "version" in data else ()
        raise fail([Problem(where, f"'{version}' is not a supported version: this tool reads version: {SPEC_VERSION}"
                            if version is not None else f"version is missing: start the spec with version: {SPEC_VERSION}")])
    problems += _inline_secrets(data, ())
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        problems += [_problem_from_pydantic(error, data) for error in exc.errors()]
        raise fail(problems) from None
    if problems:
        raise fail(problems)
    model, found = build_model(spec)
    if not any(p.level == "error" for p in found):
        found += lint(model)
    if any(p.level == "error" for p in found):
        raise fail(found)
    return Loaded(model, [source.format(p) for p in found], source)


def _inline_secrets(data: Any, path: Path) -> list[Problem]:
    if isinstance(data, dict):
        return [p for key, value in data.items() for p in _inline_secrets(value, path + (key,))]
    if isinstance(data, list):
        return [p for i, value in enumerate(data) for p in _inline_secrets(value, path + (i,))]
    if isinstance(data, str):
        for pattern, what in _SECRET_PATTERNS:
            if pattern.search(data):
                return [Problem(path, f"this holds {what}: secrets never go in the spec; write the value to a file in the secrets directory and name it with *_file")]
    return []


def _strip_loc(loc: tuple[Any, ...], data: Any) -> Path:
    """Keep the parts of a pydantic location that are real keys or indices of the document."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and not _is_internal(part):
            # A missing or unknown key: name it, it has no position of its own.
            path.append(part)
            node = None
    return tuple(path)


def _is_internal(part: str) -> bool:
    # Union members and validator names that pydantic puts in locations.
    return part in ("slack", "pagerduty", "log") or part.startswith(("function-", "list[", "dict[", "str", "float", "int"))


_TYPE_WORDS = {
    "string_type": "a string", "float_type": "a number", "int_type": "a whole number",
    "bool_type": "true or false", "list_type": "a list", "dict_type": "a mapping",
    "model_type": "a mapping", "float_parsing": "a number", "int_parsing": "a whole number",
}


def _describe(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return repr(value)


def _problem_from_pydantic(error: dict[str, Any], data: Any) -> Problem:
    loc = tuple(error["loc"])
    path = _strip_loc(loc, data)
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        parent = _node_at(data, path[:-1])
        known = _known_keys(error, loc)
        hint = difflib.get_close_matches(str(path[-1]), known, n=1) if known else []
        return Problem(path, f"unknown key '{path[-1]}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
                       + ("" if isinstance(parent, dict) else ""))
    if kind == "missing":
        return Problem(path, f"required key '{loc[-1]}' is missing")
    if kind in ("literal_error", "enum"):
        expected = error.get("ctx", {}).get("expected", "")
        choices = expected.replace("'", "").replace(" or ", ", ")
        return Problem(path, f"{_describe(value)} is not one of {choices}")
    if kind in _TYPE_WORDS:
        return Problem(path, f"expected {_TYPE_WORDS[kind]}, got {_describe(value)}")
    if kind == "value_error":
        message = str(error.get("ctx", {}).get("error", error["msg"]))
        return Problem(path, message)
    if kind == "string_pattern_mismatch":
        return Problem(path, f"{_describe(value)} does not have the expected form ({error['ctx']['pattern']})")
    if kind == "union_tag_invalid":
        expected = error.get("ctx", {}).get("expected_tags", "")
        return Problem(path + ("type",), f"{_describe(error.get('ctx', {}).get('tag'))} is not one of {expected.replace(chr(39), '')}")
    if kind == "union_tag_not_found":
        return Problem(path, "required key 'type' is missing")
    message = error["msg"]
    return Problem(path, message[0].lower() + message[1:] if message else kind)


def _node_at(data: Any, path: Path) -> Any:
    node = data
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _known_keys(error: dict[str, Any], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed where an unknown key was found, for a did-you-mean hint."""
    from . import spec as s

    model: Any = s.Spec
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        fields = getattr(model, "model_fields", None)
        if fields is None:
            return []
        info = next((f for n, f in fields.items() if n == part or f.alias == part), None)
        if info is None:
            # A dict key or a union tag: stay on the value type.
            continue
        model = _inner_model(info.annotation)
    fields = getattr(model, "model_fields", {}) if model is not None else {}
    return [f.alias or n for n, f in fields.items()]


def _inner_model(annotation: Any) -> Any:
    from typing import get_args

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
