"""Golden files: a fixture spec in, the expected files out. `pytest --regen-golden` rewrites them."""

from __future__ import annotations

from pathlib import Path

import pytest

from generators import render_all
from observability.load import load
from observability.writer import render_files

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = Path(__file__).parent / "golden"
SPECS = sorted(p.stem for p in FIXTURES.glob("*.yaml"))


@pytest.mark.parametrize("name", SPECS)
def test_generators_match_golden_files(name: str, regen_golden: bool) -> None:
    files = render_files(render_all(load(FIXTURES / f"{name}.yaml").model))
    expected_dir = GOLDEN / name
    if regen_golden:
        for old in expected_dir.rglob("*"):
            if old.is_file():
                old.unlink()
        for relpath, text in files.items():
            (expected_dir / relpath).parent.mkdir(parents=True, exist_ok=True)
            (expected_dir / relpath).write_text(text, encoding="utf-8")
    expected = {p.relative_to(expected_dir).as_posix(): p.read_text(encoding="utf-8")
                for p in expected_dir.rglob("*") if p.is_file()}
    assert sorted(files) == sorted(expected), "generated file set differs from the golden set"
    for relpath, text in files.items():
        assert text == expected[relpath], f"{relpath} differs from tests/golden/{name}/{relpath} (run pytest --regen-golden after checking the change)"


def test_rendering_is_deterministic() -> None:
    spec = FIXTURES / "small.yaml"
    assert render_files(render_all(load(spec).model)) == render_files(render_all(load(spec).model))
