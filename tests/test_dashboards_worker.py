"""generators.dashboards_worker: the forked child renders exactly what the parent would, and the
parent falls back to rendering in-process whenever the child cannot answer.

Each case runs in a fresh interpreter: the worker does not fork a process that runs threads,
and pytest's may (live-test fixtures)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import json, os, signal, sys
from pathlib import Path
from generators.dashboards_worker import DashboardsWorker
from generators.grafana_dashboards import render
from observability.load import load

if sys.argv[2] == "nofork":
    def refuse():
        raise BlockingIOError(11, "Resource temporarily unavailable")
    os.fork = refuse
with DashboardsWorker() as worker:
    forked = worker.pid is not None
    model = load(Path(sys.argv[1])).model
    if sys.argv[2] == "kill":
        os.kill(worker.pid, signal.SIGKILL)
    documents = worker.render(model)
    child = worker.pid
print(json.dumps({"forked": forked, "used": worker.used, "equal": documents == render(model),
                  "documents": len(documents), "child_reaped": child is None}))
"""


def _run(mode: str) -> dict[str, object]:
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT / "observability.yaml"), mode], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_child_renders_what_the_parent_would():
    outcome = _run("normal")
    assert outcome == {"forked": True, "used": True, "equal": True, "documents": outcome["documents"],
                       "child_reaped": True}
    assert outcome["documents"] >= 1


def test_a_dead_child_falls_back_to_rendering_here():
    outcome = _run("kill")
    assert outcome["forked"] is True and outcome["used"] is False
    assert outcome["equal"] is True and outcome["child_reaped"] is True


def test_the_child_imports_no_pydantic():
    """The point of the worker: grafanalib's import overlaps the spec models' only if the child
    does not build them too."""
    code = ("import sys, generators.grafana_dashboards; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'yaml', 'click')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_failed_fork_renders_here():
    outcome = _run("nofork")
    assert outcome["forked"] is False and outcome["used"] is False and outcome["equal"] is True
