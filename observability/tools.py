"""Find promtool and amtool: on PATH, else from the pinned images when a Docker engine
answers, else a message saying how to install them."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import stack

IMAGES = {"promtool": stack.PROMETHEUS_IMAGE, "amtool": stack.ALERTMANAGER_IMAGE}
INSTALL = {
    "promtool": "Debian/Ubuntu: sudo apt-get install prometheus   ·   macOS: brew install prometheus",
    "amtool": "Debian/Ubuntu: sudo apt-get install prometheus-alertmanager   ·   macOS: brew install alertmanager",
}


class ToolMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Result:
    returncode: int
    output: str


@dataclass(frozen=True)
class Tool:
    name: str
    path: str | None  # on PATH; None means run from the image

    def run(self, args: list[str], cwd: Path) -> Result:
        """Run with `args`; paths in args are relative to cwd."""
        if self.path is not None:
            proc = subprocess.run([self.path, *args], cwd=cwd, capture_output=True, text=True, timeout=300)
            return Result(proc.returncode, proc.stdout + proc.stderr)
        return _run_in_docker(self.name, args, cwd)


def docker_run_kwargs(name: str, args: list[str], workdir: Path) -> dict[str, Any]:
    """Arguments for docker-py's containers.run: the tool from its pinned image, workdir mounted read-only."""
    return {
        "image": IMAGES[name],
        "entrypoint": [f"/bin/{name}"],
        "command": list(args),
        "volumes": {str(Path(workdir).resolve()): {"bind": "/work", "mode": "ro"}},
        "working_dir": "/work",
        "network_disabled": True,
        "remove": True,
        "stdout": True,
        "stderr": True,
    }


def _docker_client() -> Any | None:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return client
    except Exception:  # no SDK, no socket, no engine: all mean "not available"
        return None


def _run_in_docker(name: str, args: list[str], cwd: Path) -> Result:
    import docker

    client = _docker_client()
    if client is None:
        raise ToolMissing(f"{name}: the Docker engine stopped answering")
    try:
        output = client.containers.run(**docker_run_kwargs(name, args, cwd))
        return Result(0, output.decode())
    except docker.errors.ContainerError as exc:
        return Result(exc.exit_status, (exc.stderr or b"").decode())


def find(name: str) -> Tool:
    path = shutil.which(name)
    if path:
        return Tool(name, path)
    if _docker_client() is not None:
        return Tool(name, None)
    raise ToolMissing(f"{name} is not on PATH and no Docker engine answers. Install it — {INSTALL[name]}")
