"""Render the dashboards in a forked child that imports grafanalib while the parent loads the spec.

Importing grafanalib builds ~100 attrs classes (~0.16 s); loading the spec builds the pydantic
models (~0.2 s). Both are pure CPU and independent of each other, so `orchestrator generate`
forks before reading the spec and the two imports run side by side on two cores. The child
imports generators.grafana_dashboards alone (it pulls in no pydantic), waits for the model's
dashboards on a pipe and answers with the rendered documents.

The result never depends on the worker: without fork (Windows), with one core, or when the
child dies or fails, the parent renders in-process (which raises the real error, if any).
Nor does it fork a process that runs threads (a lock held by another thread at the fork would
stay held in the child): it renders in-process then too.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from observability.model import Model


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class DashboardsWorker:
    """`with DashboardsWorker() as worker: ... worker.render(model)`; the child never outlives the block."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self._requests: int | None = None  # the parent's write end
        self._replies: int | None = None   # the parent's read end
        self.used = False                  # True when the child's documents were returned

    def __enter__(self) -> DashboardsWorker:
        if not hasattr(os, "fork") or _usable_cores() < 2 or threading.active_count() > 1:
            return self
        fds: list[int] = []
        try:
            fds += os.pipe()
            fds += os.pipe()
            pid = os.fork()
        except OSError:  # out of descriptors, processes or memory: render in-process
            for fd in fds:
                os.close(fd)
            return self
        requests_read, requests_write, replies_read, replies_write = fds
        if pid == 0:
            os.close(requests_write)
            os.close(replies_read)
            _serve(requests_read, replies_write)
        os.close(requests_read)
        os.close(replies_write)
        self.pid, self._requests, self._replies = pid, requests_write, replies_read
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def render(self, model: Model) -> dict[str, Any]:
        if self.pid is not None and self._requests is not None and self._replies is not None:
            try:
                with os.fdopen(self._requests, "wb") as requests:
                    self._requests = None
                    pickle.dump(tuple(model.dashboards), requests, protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(self._replies, "rb") as replies:
                    self._replies = None
                    status, documents = pickle.load(replies)
                if status == "ok":
                    self.used = True
                    return documents
            except (OSError, EOFError, pickle.PickleError, ValueError, TypeError):
                pass  # fall back below
            finally:
                self.stop()
        from .grafana_dashboards import render
        return render(model)

    def stop(self) -> None:
        for fd in (self._requests, self._replies):
            if fd is not None:
                os.close(fd)
        self._requests = self._replies = None
        if self.pid is not None:
            if not self.used:  # it may still be importing: no need to wait for that
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            os.waitpid(self.pid, 0)
            self.pid = None


def _serve(requests_fd: int, replies_fd: int) -> NoReturn:
    """The child: import, read the dashboards, answer, and leave without running the parent's
    exit handlers or flushing its buffers (os._exit)."""
    status = 1
    try:
        from .grafana_dashboards import render_dashboards
        with os.fdopen(requests_fd, "rb") as requests:
            dashboards = pickle.load(requests)
        try:
            reply: tuple[str, Any] = ("ok", render_dashboards(dashboards))
        except Exception as error:  # the parent renders again and raises it with its traceback
            reply = ("error", repr(error))
        with os.fdopen(replies_fd, "wb") as replies:
            pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
        status = 0
    except BaseException:  # noqa: BLE001 - Ctrl-C or a broken pipe: the parent falls back
        pass
    finally:
        os._exit(status)
