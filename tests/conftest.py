from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regen-golden", action="store_true",
                     help="rewrite tests/golden/ from the fixture specs instead of comparing")


@pytest.fixture
def regen_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--regen-golden"))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def grafana_schema(root: Path) -> Path:
    """Grafana's JSON Schemas from the pinned npm @grafana/schema; built here when missing
    (needs node and npm: `make test` builds them first). Never skipped."""
    import subprocess

    out = root / "build" / "grafana-schema"
    if not (out / "VERSION").exists():
        proc = subprocess.run([str(root / "tools/grafana-schema/build.sh"), str(out)], capture_output=True, text=True)
        assert proc.returncode == 0, f"building Grafana's schema failed (node and npm needed):\n{proc.stderr}"
    return out
