"""Read YAML keeping the line and column of every node, and refusing duplicate keys."""

from __future__ import annotations

from typing import Any

import yaml

from .problems import Path, Problem, SourceMap


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings: the spec model parses them itself."""


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The same, parsed by libyaml when PyYAML has it: the same nodes and marks, several times faster."""


_Loader.yaml_implicit_resolvers = _FastLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _compose(text: str, loader_class: type) -> yaml.Node | None:
    loader = loader_class(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def read_yaml(text: str, filename: str) -> tuple[Any, SourceMap, list[Problem]]:
    """Parse text; return the data, where each path starts, and structural problems.

    Raises yaml.YAMLError (with a mark) for text that is not YAML at all.
    """
    try:
        node = _compose(text, _FastLoader)
    except yaml.YAMLError:
        # Parse again in pure Python so the error reads as it always has.
        node = _compose(text, _Loader)
    source = SourceMap(filename)
    problems: list[Problem] = []
    if node is None:
        return None, source, problems
    constructor = _Loader("")
    data = _build(node, (), source, problems, constructor)
    return data, source, problems


def _build(node: yaml.Node, path: Path, source: SourceMap, problems: list[Problem], constructor: _Loader) -> Any:
    source.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        constructor.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                problems.append(Problem(path, f"a key must be a plain value, not {type(key).__name__}"))
                continue
            key = str(key) if not isinstance(key, str) else key
            child = path + (key,)
            if key in result:
                source.positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                problems.append(Problem(child, f"duplicate key '{key}'"))
                continue
            result[key] = _build(value_node, child, source, problems, constructor)
            # Point at the key, which is where a reader looks for it.
            source.positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), source, problems, constructor) for i, item in enumerate(node.value)]
    return constructor.construct_object(node, deep=True)
