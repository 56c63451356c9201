"""The writer: deterministic text, atomic swap, stale files removed, nothing touched on failure."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from observability.writer import HEADER, serialise, write_outputs


def test_yaml_is_sorted_with_header_and_trailing_newline() -> None:
    text = serialise("a/b.yml", {"z": 1, "a": {"y": "02:00", "b": "x\ny"}})
    assert text.startswith(f"# {HEADER}\n")
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert text.index("a:") < text.index("z:")
    assert "'02:00'" in text  # clock times quoted for YAML 1.1 readers
    assert yaml.safe_load(text) == {"z": 1, "a": {"y": "02:00", "b": "x\ny"}}


def test_json_and_text() -> None:
    assert serialise("d.json", {"b": 1, "a": [1]}) == '{\n  "a": [\n    1\n  ],\n  "b": 1\n}\n'
    assert serialise("t.tmpl", "x") == "x\n"
    with pytest.raises(ValueError):
        serialise("x.bin", {"a": 1})


def test_write_replaces_managed_dirs_and_removes_stale_files(tmp_path: Path) -> None:
    write_outputs(tmp_path, {"out/a.yml": {"a": 1}, "out/sub/b.yml": {"b": 2}}, ["out"])
    (tmp_path / "keep.txt").write_text("not managed")
    changed = write_outputs(tmp_path, {"out/a.yml": {"a": 1}, "out/c.yml": {"c": 3}}, ["out"])
    assert changed == ["out/c.yml", "out/sub/b.yml"]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == \
        ["keep.txt", "out/a.yml", "out/c.yml"]
    assert not list(tmp_path.glob(".orchestrator-generate-*")), "staging directory left behind"


def test_second_write_of_same_documents_changes_nothing(tmp_path: Path) -> None:
    docs = {"out/a.yml": {"a": 1}}
    assert write_outputs(tmp_path, docs, ["out"]) == ["out/a.yml"]
    before = (tmp_path / "out/a.yml").read_bytes()
    assert write_outputs(tmp_path, docs, ["out"]) == []
    assert (tmp_path / "out/a.yml").read_bytes() == before


def test_failure_while_rendering_leaves_old_outputs(tmp_path: Path) -> None:
    write_outputs(tmp_path, {"out/a.yml": {"a": 1}}, ["out"])
    with pytest.raises(ValueError):
        write_outputs(tmp_path, {"out/a.yml": {"a": 2}, "out/b.bin": object()}, ["out"])
    assert yaml.safe_load((tmp_path / "out/a.yml").read_text()) == {"a": 1}
    assert not list(tmp_path.glob(".orchestrator-generate-*"))


def test_failure_during_swap_restores_old_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_outputs(tmp_path, {"one/a.yml": {"a": 1}, "two/b.yml": {"b": 1}}, ["one", "two"])
    import observability.writer as writer

    real_replace = writer.os.replace
    calls = {"n": 0}

    def flaky(src: str, dst: str) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # after "one" is swapped, while moving "two" aside
            raise OSError("disk trouble")
        real_replace(src, dst)

    monkeypatch.setattr(writer.os, "replace", flaky)
    with pytest.raises(OSError):
        write_outputs(tmp_path, {"one/a.yml": {"a": 2}, "two/b.yml": {"b": 2}}, ["one", "two"])
    monkeypatch.setattr(writer.os, "replace", real_replace)
    assert yaml.safe_load((tmp_path / "one/a.yml").read_text()) == {"a": 1}
    assert yaml.safe_load((tmp_path / "two/b.yml").read_text()) == {"b": 1}


def test_refuses_paths_outside_managed(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_outputs(tmp_path, {"elsewhere/a.yml": {}}, ["out"])
