"""The one writer: serialise documents deterministically, then swap them in atomically.

Everything is rendered into a temporary directory beside the outputs first; only when all
of it is written does each managed top-level entry (a directory or a file) replace the old
one with a rename. Files no longer generated disappear with the old directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

import yaml

HEADER = "generated from observability.yaml — do not edit; run `make generate`"


# libyaml's emitter when PyYAML has it: the same text as the pure-Python one, several times faster.
class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    def ignore_aliases(self, data: Any) -> bool:
        return True


_CLOCK = re.compile(r"^\d+:\d+$")


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Quote clock times: YAML 1.1 readers may take 22:00 for a base-60 number.
    style = "|" if "\n" in value else ("'" if _CLOCK.match(value) else None)
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def serialise(relpath: str, document: Any) -> str:
    """Text of one output file: YAML with a header, JSON, or text as given."""
    if isinstance(document, str):
        return document if document.endswith("\n") else document + "\n"
    if relpath.endswith((".yml", ".yaml")):
        body = yaml.dump(document, Dumper=_Dumper, sort_keys=True, indent=2, width=4096,
                         allow_unicode=True, default_flow_style=False)
        return f"# {HEADER}\n{body}"
    if relpath.endswith(".json"):
        return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    raise ValueError(f"{relpath}: no serialiser for a {type(document).__name__}")


def render_files(documents: Mapping[str, Any]) -> dict[str, str]:
    return {relpath: serialise(relpath, doc) for relpath, doc in sorted(documents.items())}


def write_outputs(root: str | Path, documents: Mapping[str, Any], managed: list[str]) -> list[str]:
    """Write `documents` (relative path -> document) under root; return the changed paths.

    `managed` names the top-level entries the generators own; each is replaced whole.
    """
    root = Path(root)
    files = render_files(documents)
    for relpath in files:
        top = relpath.split("/", 1)[0]
        if top not in managed:
            raise ValueError(f"{relpath}: outside the managed outputs {managed}")
    changed = _changes(root, files, managed)
    staging = Path(tempfile.mkdtemp(prefix=".orchestrator-generate-", dir=root))
    try:
        for relpath, text in files.items():
            target = staging / relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        _swap(root, staging, managed)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return changed


def _changes(root: Path, files: dict[str, str], managed: list[str]) -> list[str]:
    changed = []
    for relpath, text in files.items():
        path = root / relpath
        try:
            if path.read_text(encoding="utf-8") == text:
                continue
        except OSError:
            pass
        changed.append(relpath)
    for top in managed:
        base = root / top
        existing = [base] if base.is_file() else [p for p in base.rglob("*") if p.is_file()]
        for path in existing:
            relpath = path.relative_to(root).as_posix()
            if relpath not in files:
                changed.append(relpath)
    return sorted(changed)


def _swap(root: Path, staging: Path, managed: list[str]) -> None:
    """Move each staged top-level entry into place; on failure put the old ones back."""
    retired = staging / ".retired"
    retired.mkdir()
    moved: list[tuple[Path, Path | None]] = []
    try:
        for top in managed:
            new, live = staging / top, root / top
            old = None
            if live.exists():
                old = retired / top
                os.replace(live, old)
            moved.append((live, old))
            if new.exists():
                os.replace(new, live)
    except BaseException:
        for live, old in reversed(moved):
            if live.exists() and old is not None:
                shutil.rmtree(live) if live.is_dir() else live.unlink()
            if old is not None:
                os.replace(old, live)
        raise
