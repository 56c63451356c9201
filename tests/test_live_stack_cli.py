"""`orchestrator stack up` as a user runs it: it starts, prints where everything is and that
Grafana and Jaeger are not started, its local receivers print what `orchestrator alerts test`
sends, and Ctrl-C stops every process it started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

try:  # tests/ as a package, or the repository root on sys.path
    from tests import live
except ImportError:  # pytest's default rootdir/tests on sys.path
    import live

pytestmark = pytest.mark.live

CLI = [sys.executable, "-c", "from observability.cli import main; main()"]


def test_stack_up_runs_reports_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    """Run from another directory with a relative --run-dir, as `--out` names the generated files."""
    run_dir = tmp_path / "run"
    log = tmp_path / "stack-up.out"
    with log.open("wb") as out:
        proc = subprocess.Popen([*CLI, "stack", "up", "--free-ports", "--fast", "--speed", "30",
                                 "--run-dir", "run", "--out", str(live.ROOT), "--duration", "120"],
                                cwd=tmp_path, env=live.loopback_env(), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        state = run_dir / "stack.json"
        deadline = time.monotonic() + 40
        while not state.is_file() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert state.is_file(), f"stack up did not come up (exit {proc.poll()}):\n{log.read_text()}"
        urls = json.loads(state.read_text())
        text = log.read_text()
        for line in (f"Prometheus    {urls['prometheus']}", f"Alertmanager  {urls['alertmanager']}",
                     "/metrics (demo-normal)", "Ctrl-C stops everything"):
            assert line in text, text
        assert "Grafana is not started" in text and "Jaeger is not started" in text, text
        # The generated Prometheus config, adapted, is what runs; the committed file is untouched.
        loaded = live.http().get(urls["prometheus"] + "/api/v1/status/config", timeout=5).json()["data"]["yaml"]
        assert "127.0.0.1" in loaded and "exporter:9464" not in loaded

        test = subprocess.run([*CLI, "alerts", "test", "--severity", "HIGH", "--run-dir", str(run_dir),
                               "--timeout", "20"], cwd=live.ROOT, env=live.loopback_env(), capture_output=True,
                              text=True, timeout=60)
        assert test.returncode == 0, test.stdout + test.stderr
        assert "routed to: primary_oncall, slack_alerts" in test.stdout
        alertname = test.stdout.split()[1]
        deadline = time.monotonic() + 10
        while f"[FIRING:1] {alertname} (HIGH)" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        text = log.read_text()
        assert f"[receiver] Slack #orchestrator-alerts: [FIRING:1] {alertname} (HIGH)" in text, text
        assert f"[receiver] PagerDuty primary_oncall: trigger [error] [HIGH] {alertname}" in text, text

        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert "stack stopped." in log.read_text()
    assert not (run_dir / "stack.json").exists()
    for url in (urls["prometheus"], urls["alertmanager"], urls["receivers"] + "/received"):
        assert live.refused(url), f"{url} still answers after Ctrl-C"
