"""Size-based log rotation (§2.4) that is safe for many writing threads.

Files, for `path` = orchestrator.log:

    orchestrator.log          the file being written
    orchestrator.log.1.gz     the newest rotated file (`.1` without compression)
    orchestrator.log.2.gz     ... up to orchestrator.log.<max_files>.gz, the oldest

Rotation happens when the next line would push the current file past `max_size_mb` (a single
line larger than that still goes into an empty file rather than being refused). It has two steps:

1. under the write lock: close the current file, rename it to `orchestrator.log.rotating-<ns>`
   and open a fresh one. Writers wait only for these renames.
2. under a separate archive lock, still in the thread that rotated: gzip each pending file (when
   `compress`), shift `.N` to `.N+1`, install it as `.1`, drop numbers above `max_files`, and
   delete rotated files whose mtime is older than `retention_days`. Other threads keep writing
   meanwhile. Pending files are installed in the order they were rotated, whoever installs them.

Nothing written is lost on the way: a gzip failure leaves the plain file (installed as `.N`
without `.gz`); a failed rename leaves the `.rotating-*` file, which the next writer opened on the
same path installs first. Archive problems are passed to `on_error` (default: one line on stderr);
they never raise into `write`. Each `write` is one `os.write` on an O_APPEND descriptor, so no line
is torn or interleaved. One writer per path per process.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

_SECONDS_PER_DAY = 86_400


def compress_file(source: Path, target: Path) -> None:
    """gzip `source` into `target` (a module function so that tests can make it fail)."""
    with open(source, "rb") as plain, gzip.open(target, "wb", compresslevel=6) as packed:
        shutil.copyfileobj(plain, packed, length=1 << 20)


def _report_to_stderr(exc: BaseException) -> None:
    sys.stderr.write(f"log rotation: {exc}\n")


class RotatingFileWriter:
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_size_mb: float,
        max_files: int,
        compress: bool,
        retention_days: int,
        clock: Callable[[], float] = time.time,
        on_error: Callable[[BaseException], None] = _report_to_stderr,
    ) -> None:
        if max_size_mb <= 0:
            raise ValueError(f"max_size_mb must be > 0, got {max_size_mb}")
        if max_files < 1:
            raise ValueError(f"max_files must be >= 1, got {max_files}")
        if retention_days < 1:
            raise ValueError(f"retention_days must be >= 1, got {retention_days}")
        self.path = Path(path)
        self.max_bytes = int(max_size_mb * 1024 * 1024)
        self.max_files = max_files
        self.compress = compress
        self.retention_days = retention_days
        self._clock = clock
        self._on_error = on_error
        self._rotated_name = re.compile(rf"^{re.escape(self.path.name)}\.(\d+)(\.gz)?$")
        self._pending_prefix = f"{self.path.name}.rotating-"
        self._lock = threading.Lock()          # guards the descriptor, size and pending list
        self._archive_lock = threading.Lock()  # serialises installing rotated files
        self._pending: list[Path] = []
        self._rotations = 0

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = self._open()
        self._size = os.fstat(self._fd).st_size
        self._pending.extend(self._leftover_pending())
        self._archive_pending()

    @property
    def rotations(self) -> int:
        """How many times this writer has rotated (for tests and diagnostics)."""
        return self._rotations

    def write(self, line: str) -> None:
        """Append `line` (which carries its own newline) in one system call."""
        data = line.encode("utf-8")
        rotated = False
        with self._lock:
            if self._fd is None:
                raise ValueError(f"{self.path}: writer is closed")
            if self._size and self._size + len(data) > self.max_bytes:
                rotated = self._rotate_locked()
            os.write(self._fd, data)
            self._size += len(data)
        if rotated:
            self._archive_pending()

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    # -- rotation ---------------------------------------------------------------------------

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _rotate_locked(self) -> bool:
        """Swap in a fresh file; True when a pending file awaits archiving."""
        assert self._fd is not None
        pending = self.path.with_name(f"{self._pending_prefix}{time.time_ns():020d}")
        try:
            os.rename(self.path, pending)
        except OSError as exc:
            # Keep writing to the current (oversized) file rather than lose lines.
            self._on_error(exc)
            return False
        os.close(self._fd)
        self._fd = self._open()
        self._size = 0
        self._pending.append(pending)
        self._rotations += 1
        return True

    def _leftover_pending(self) -> list[Path]:
        """Files an interrupted earlier run rotated but did not install (newer than any .N)."""
        leftovers = []
        for plain in sorted(self.path.parent.glob(self._pending_prefix + "*")):
            if plain.suffix == ".gz":
                if not plain.with_suffix("").exists():
                    leftovers.append(plain)  # compressed, then interrupted before install
                continue
            plain.with_name(plain.name + ".gz").unlink(missing_ok=True)  # a partial gzip
            leftovers.append(plain)
        return leftovers

    def _archive_pending(self) -> None:
        with self._archive_lock:
            while True:
                with self._lock:
                    if not self._pending:
                        break
                    pending = self._pending.pop(0)
                try:
                    self._install(pending)
                except OSError as exc:
                    # The .rotating-* file stays; the next writer on this path installs it.
                    self._on_error(exc)
            self._apply_retention()

    def _install(self, pending: Path) -> None:
        packed = pending.suffix == ".gz"
        source = self._compressed(pending) if self.compress and not packed else pending
        for index, rotated in sorted(self._rotated_files(), reverse=True):
            if index >= self.max_files:
                rotated.unlink(missing_ok=True)
            else:
                os.replace(rotated, self._numbered(index + 1, rotated.suffix == ".gz"))
        os.replace(source, self._numbered(1, source.suffix == ".gz"))

    def _compressed(self, plain: Path) -> Path:
        """The gzip of `plain` (which is then removed), or `plain` itself if gzip fails."""
        packed = plain.with_name(plain.name + ".gz")
        try:
            stat = plain.stat()
            compress_file(plain, packed)
            # Keep the content's age so that retention judges the lines, not the compression.
            os.utime(packed, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            plain.unlink()
        except Exception as exc:  # noqa: BLE001 - any gzip failure must leave the plain file
            if plain.exists():
                packed.unlink(missing_ok=True)
                self._on_error(exc)
                return plain
        return packed

    def _apply_retention(self) -> None:
        oldest_kept = self._clock() - self.retention_days * _SECONDS_PER_DAY
        for index, rotated in self._rotated_files():
            try:
                if index > self.max_files or rotated.stat().st_mtime < oldest_kept:
                    rotated.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                self._on_error(exc)

    def _rotated_files(self) -> list[tuple[int, Path]]:
        found = []
        for entry in os.scandir(self.path.parent):
            match = self._rotated_name.match(entry.name)
            if match:
                found.append((int(match.group(1)), Path(entry.path)))
        return found

    def _numbered(self, index: int, packed: bool) -> Path:
        return self.path.with_name(f"{self.path.name}.{index}{'.gz' if packed else ''}")
