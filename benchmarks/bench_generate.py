"""How long `orchestrator generate` takes, and how the cost grows with the number of alerts.

For the seed spec (observability.yaml) and for synthetic specs made by repeating its alerts
under new names (100, 1,000 and 3,000 alerts; everything else kept; no size below the seed,
whose KPIs, inhibitions and silences name most of its alerts), it measures:

- the whole process: `orchestrator generate --spec S --out TMP` as a subprocess (interpreter
  start, imports, load, lint, render, write), min and median of several runs, next to
  `python -c pass` as a baseline for interpreter start-up, and the CPU time it used (user +
  system, its dashboards worker included: generate forks a child that imports grafanalib while
  the spec loads, so wall time is below CPU time on two cores);
- in-process phases: load + lint (observability.load.load), render (generators.render_all)
  and serialise + write (observability.writer.write_outputs).

Targets: seed spec <= 0.5 s for the whole process, 1,000 alerts <= 3 s. Always exits 0.
Bytecode is cached in a temporary PYTHONPYCACHEPREFIX after one discarded warm-up run, so
every run sees compiled modules as an installed tool normally does.
Run: .venv/bin/python benchmarks/bench_generate.py [runs]
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generators import MANAGED, render_all  # noqa: E402
from observability.load import load  # noqa: E402
from observability.writer import write_outputs  # noqa: E402

SEED = ROOT / "observability.yaml"
ORCHESTRATOR = Path(sys.executable).with_name("orchestrator")
SIZES = (100, 1000, 3000)
TARGETS = {"seed": 0.5, "1000": 3.0}  # whole-process seconds


def synthetic(seed: dict[str, Any], n: int) -> dict[str, Any]:
    """The seed spec with its alerts repeated, renamed name_rNNNN, until there are n."""
    originals = seed["alerts"]
    alerts = [dict(a) for a in originals]
    copy = 0
    while len(alerts) < n:
        copy += 1
        for a in originals[: n - len(alerts)]:
            alerts.append({**a, "name": f"{a['name']}_r{copy:04d}"})
    return {**seed, "alerts": alerts}


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


class Failed(Exception):
    """The command exited non-zero."""


def run(cmd: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        shown = lines if len(lines) < 4 else lines[:2] + ["...", lines[-1]]
        raise Failed(f"exit {done.returncode}: " + " | ".join(shown))


def children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def generate_process(spec: Path, work: Path, env: dict[str, str], runs: int) -> tuple[list[float], list[float]]:
    """Wall seconds and CPU seconds (the process and the children it waited for) of each run."""
    cpu: list[float] = []

    def once() -> None:
        with tempfile.TemporaryDirectory(dir=work) as out:
            before = children_cpu()
            run([str(ORCHESTRATOR), "generate", "--spec", str(spec), "--out", out], env)
            cpu.append(children_cpu() - before)

    once()  # warm-up: fills the bytecode cache and the page cache
    cpu.clear()
    return timed(once, runs), cpu


def phases(spec: Path, work: Path, runs: int) -> dict[str, float]:
    """Median seconds of each in-process phase."""
    found: dict[str, list[float]] = {"load+lint": [], "render": [], "write": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory(dir=work) as out:
            t0 = time.perf_counter()
            loaded = load(spec)
            t1 = time.perf_counter()
            documents = render_all(loaded.model)
            t2 = time.perf_counter()
            write_outputs(out, documents, MANAGED)
            t3 = time.perf_counter()
        for key, seconds in zip(found, (t1 - t0, t2 - t1, t3 - t2)):
            found[key].append(seconds)
    return {key: statistics.median(values) for key, values in found.items()}


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    seed = yaml.safe_load(SEED.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        run([sys.executable, "-c", "pass"], env)
        start = min(timed(lambda: run([sys.executable, "-c", "pass"], env), runs))
        specs: list[tuple[str, Path, int]] = [("seed", SEED, len(seed["alerts"]))]
        for n in SIZES:
            path = work / f"spec-{n}.yaml"
            path.write_text(yaml.safe_dump(synthetic(seed, n), sort_keys=False, width=4096), encoding="utf-8")
            specs.append((str(n), path, n))
        print(f"orchestrator generate, {runs} runs each; python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
              f"baseline `python -c pass` min {start:.3f} s")
        print("process: whole subprocess, s; cpu: its median user+system s; x start: median / baseline; phases: in-process medians, s; "
              "ms/alert: in-process phases / alerts\n")
        head = (f"{'spec':>6} {'alerts':>6} {'process min':>11} {'median':>7} {'cpu':>6} {'x start':>7} {'load+lint':>9} "
                f"{'render':>7} {'write':>7} {'ms/alert':>8}  target")
        print(f"{head}\n{'-' * len(head)}")
        verdicts: list[str] = []
        rows: list[tuple[int, float]] = []
        for label, path, n in specs:
            target = TARGETS.get(label)
            try:
                whole, cpu = generate_process(path, work, env, runs)
                phase = phases(path, work, max(3, runs // 2))
            except Exception as exc:  # a report: say what failed and go on
                print(f"{label:>6} {n:>6}  ERROR {exc}")
                verdicts += [f"ERROR: {label}: {exc}"] if target else []
                continue
            best, median = min(whole), statistics.median(whole)
            verdict = "" if target is None else f"{'PASS' if median <= target else 'OVER'} (<= {target} s)"
            print(f"{label:>6} {n:>6} {best:>11.3f} {median:>7.3f} {statistics.median(cpu):>6.3f} {median / start:>6.1f}x "
                  f"{phase['load+lint']:>9.3f} {phase['render']:>7.3f} {phase['write']:>7.3f} "
                  f"{1000 * sum(phase.values()) / n:>8.2f}  {verdict}")
            rows.append((n, median))
            if target is not None:
                verdicts.append(f"{verdict.split()[0]}: {'seed spec' if label == 'seed' else f'{n} alerts'}: "
                                f"whole process median {median:.3f} s (min {best:.3f} s), target {target} s")
        if len(rows) > 1:
            (n0, t0), (n1, t1) = rows[0], rows[-1]
            print(f"\nfixed cost (smallest spec, whole process) {t0:.3f} s, of which interpreter start {start:.3f} s; "
                  f"marginal cost per added alert ({n0} -> {n1}) {1000 * (t1 - t0) / (n1 - n0):.2f} ms")
        print("\n".join(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
