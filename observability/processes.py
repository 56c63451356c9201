"""Processes of the native stack: free loopback ports, a service started and polled until it
answers, stopped whatever happens, its log kept for error messages."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 20.0


class StackError(RuntimeError):
    """A binary is missing or a process did not come up; the message says which and why."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def http_session() -> requests.Session:
    """A session that ignores proxy settings from the environment: everything here is loopback."""
    session = requests.Session()
    session.trust_env = False
    return session


def loopback_env() -> dict[str, str]:
    """The environment for a subprocess talking to loopback: proxies bypassed for 127.0.0.1."""
    env = dict(os.environ)
    for key in ("NO_PROXY", "no_proxy"):
        env[key] = ",".join(filter(None, [env.get(key, ""), LOOPBACK, "localhost"]))
    return env


@contextmanager
def _no_proxy() -> Iterator[None]:
    """requests honours HTTP(S)_PROXY: keep 127.0.0.1 off any proxy for the calls inside."""
    saved = {key: os.environ.get(key) for key in ("NO_PROXY", "no_proxy")}
    os.environ.update({key: value for key, value in loopback_env().items() if key in saved})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def find_binary(names: Sequence[str]) -> str | None:
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None)
        if found:
            return found
    return None


def require_binary(names: Sequence[str], package: str) -> str:
    found = find_binary(names)
    if found is None:
        raise StackError(f"{' / '.join(names)} is not installed: `make system-tools` installs Debian's {package} "
                         f"(or `sudo apt-get install {package}`)")
    return found


@dataclass
class Service:
    name: str
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_file: Path
    session: requests.Session = field(default_factory=http_session)
    ready_at: float = 0.0  # time.monotonic() when it first answered

    def log(self, last: int = 4000) -> str:
        try:
            return self.log_file.read_text(encoding="utf-8", errors="replace")[-last:]
        except OSError:
            return ""

    def get(self, path: str, **params: Any) -> Any:
        response = self.session.get(self.url + path, params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.session.close()


def wait_http(url: str, process: subprocess.Popen[bytes], session: requests.Session, timeout: float) -> str | None:
    """None once `url` answers 200; otherwise why not (the process exited, or the time ran out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"exited with status {process.returncode}"
        try:
            if session.get(url, timeout=1).status_code == 200:
                return None
        except requests.RequestException:
            pass
        time.sleep(0.05)
    return f"did not answer {url} within {timeout:.0f} s"


def start_service(name: str, command: Callable[[int, int], list[str]], workdir: Path, ready_path: str, *,
                  port: int = 0, env: dict[str, str] | None = None, timeout: float = READY_TIMEOUT) -> Service:
    """Run command(port, attempt) with its output in workdir/<name>-<attempt>.log until
    http://127.0.0.1:<port><ready_path> answers; port 0 takes a free one and retries when another
    process took it between the probe and the bind. Raises StackError with the log."""
    workdir.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):
        chosen = port or free_port()
        log_file = workdir / f"{name}-{attempt}.log"
        with log_file.open("wb") as log:
            process = subprocess.Popen(command(chosen, attempt), cwd=workdir, env=env or loopback_env(),
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        service = Service(name, f"http://{LOOPBACK}:{chosen}", chosen, process, log_file)
        problem = wait_http(service.url + ready_path, process, service.session, timeout)
        if problem is None:
            service.ready_at = time.monotonic()
            return service
        service.stop()
        if "in use" in service.log() and not port and attempt < 2:
            continue
        raise StackError(f"{name} {problem}; its log ({log_file}):\n{service.log()}")
    raise AssertionError("unreachable")
