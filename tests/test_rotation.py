"""Log rotation (§2.4): no line lost or torn across rotations, max_files, gzip, retention."""

from __future__ import annotations

import gzip
import json
import os
import re
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from exporter import rotation
from exporter.rotation import RotatingFileWriter

DAY = 86_400


def rotated_files(log: Path) -> dict[int, Path]:
    """index -> file for orchestrator.log.N and .N.gz beside `log`."""
    pattern = re.compile(rf"^{re.escape(log.name)}\.(\d+)(\.gz)?$")
    found: dict[int, Path] = {}
    for path in log.parent.iterdir():
        match = pattern.match(path.name)
        if match:
            assert int(match.group(1)) not in found, f"two files for index {match.group(1)}"
            found[int(match.group(1))] = path
    return found


def read_text(path: Path) -> str:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as packed:
            return packed.read()
    return path.read_text(encoding="utf-8")


def all_lines_oldest_first(log: Path) -> list[str]:
    """Every line in the rotated files (highest number = oldest) and then the current file."""
    texts = [read_text(p) for _, p in sorted(rotated_files(log).items(), reverse=True)]
    if log.exists():
        texts.append(log.read_text(encoding="utf-8"))
    lines: list[str] = []
    for text in texts:
        assert text == "" or text.endswith("\n"), "a file ends in the middle of a line"
        lines += text.splitlines()
    return lines


def writer(log: Path, **overrides: object) -> RotatingFileWriter:
    settings: dict = {"max_size_mb": 0.05, "max_files": 5, "compress": True, "retention_days": 30}
    settings.update(overrides)
    return RotatingFileWriter(log, **settings)


@pytest.mark.parametrize("compress", [True, False])
def test_eight_threads_across_rotations_lose_and_tear_nothing(tmp_path: Path, compress: bool) -> None:
    log = tmp_path / "orchestrator.log"
    threads_count, per_thread = 8, 5_000
    out = writer(log, max_files=1_000, compress=compress)
    start = threading.Barrier(threads_count)

    def produce(thread: int) -> None:
        start.wait(timeout=10)
        for seq in range(per_thread):
            out.write(json.dumps({"thread": thread, "seq": seq, "pad": "p" * (seq % 40)}) + "\n")

    workers = [threading.Thread(target=produce, args=(t,)) for t in range(threads_count)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.close()

    assert out.rotations >= 30  # the test really crossed many rotations
    files = rotated_files(log)
    assert len(files) == out.rotations
    assert all((p.suffix == ".gz") == compress for p in files.values())
    assert not list(tmp_path.glob("*.rotating-*")), "a rotated file was left uninstalled"
    for path in files.values():
        assert len(read_text(path).encode()) <= out.max_bytes

    records = [json.loads(line) for line in all_lines_oldest_first(log)]  # torn lines fail here
    seen = Counter((r["thread"], r["seq"]) for r in records)
    assert len(records) == threads_count * per_thread
    assert set(seen) == {(t, s) for t in range(threads_count) for s in range(per_thread)}
    assert max(seen.values()) == 1
    # Files are numbered in rotation order: read oldest first, each thread's lines are in order.
    for thread in range(threads_count):
        seqs = [r["seq"] for r in records if r["thread"] == thread]
        assert seqs == list(range(per_thread))


def test_rotates_before_exceeding_max_size_and_keeps_max_files(tmp_path: Path) -> None:
    log = tmp_path / "orchestrator.log"
    out = writer(log, max_size_mb=0.001, max_files=3)  # 1,048 bytes
    line = "x" * 99 + "\n"  # 100 bytes: 10 lines per file
    for n in range(200):
        out.write(f"{n:04d}" + line[4:])
    out.close()

    files = rotated_files(log)
    assert sorted(files) == [1, 2, 3]
    assert len(list(tmp_path.iterdir())) <= out.max_files + 1
    # The newest 40 lines survive: 30 in .3/.2/.1 and 10 in the current file, in order.
    assert [int(line[:4]) for line in all_lines_oldest_first(log)] == list(range(160, 200))
    for path in [*files.values(), log]:
        assert len(read_text(path)) == 1_000


def test_a_line_larger_than_max_size_is_written_whole(tmp_path: Path) -> None:
    log = tmp_path / "orchestrator.log"
    out = writer(log, max_size_mb=0.001)
    out.write("small\n")
    big = "b" * 5_000 + "\n"
    out.write(big)
    out.write("after\n")
    out.close()
    assert all_lines_oldest_first(log) == ["small", big.strip(), "after"]


def test_rotated_files_are_valid_gzip(tmp_path: Path) -> None:
    log = tmp_path / "orchestrator.log"
    out = writer(log, max_size_mb=0.001, max_files=10)
    for n in range(50):
        out.write(f"line {n:03d} " + "z" * 80 + "\n")
    out.close()
    files = rotated_files(log)
    assert files and all(p.name.endswith(".gz") for p in files.values())
    for path in files.values():
        raw = path.read_bytes()
        assert raw[:2] == b"\x1f\x8b"
        gzip.decompress(raw)  # checks the CRC and the length


def test_failing_gzip_leaves_the_plain_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "orchestrator.log"
    errors: list[BaseException] = []

    def broken_gzip(source: Path, target: Path) -> None:
        target.write_bytes(b"\x1f\x8b partial")  # half-written archive, then the failure
        raise OSError("disk full while compressing")

    monkeypatch.setattr(rotation, "compress_file", broken_gzip)
    out = writer(log, max_size_mb=0.001, on_error=errors.append)
    for n in range(15):
        out.write(f"line {n:03d} " + "z" * 90 + "\n")
    assert [str(e) for e in errors] == ["disk full while compressing"]
    # the plain file is installed as .1; the partial archive is gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orchestrator.log", "orchestrator.log.1"]

    monkeypatch.undo()  # gzip works again: the next rotation compresses, the plain file shifts
    for n in range(15, 25):
        out.write(f"line {n:03d} " + "z" * 90 + "\n")
    out.close()
    files = rotated_files(log)
    assert files[1].name == "orchestrator.log.1.gz" and files[2].name == "orchestrator.log.2"
    assert [int(line[5:8]) for line in all_lines_oldest_first(log)] == list(range(25))


def test_retention_deletes_old_rotated_files_at_open(tmp_path: Path) -> None:
    log = tmp_path / "orchestrator.log"
    now = time.time()
    old, recent, unrelated = (tmp_path / "orchestrator.log.2.gz", tmp_path / "orchestrator.log.1.gz",
                              tmp_path / "other.log.3.gz")
    for path, age_days in [(old, 31), (recent, 29), (unrelated, 100)]:
        path.write_bytes(gzip.compress(b"x\n"))
        os.utime(path, (now - age_days * DAY, now - age_days * DAY))
    writer(log, retention_days=30).close()
    assert not old.exists()
    assert recent.exists() and unrelated.exists()


def test_retention_deletes_old_rotated_files_at_rotation(tmp_path: Path) -> None:
    log = tmp_path / "orchestrator.log"
    clock_now = [time.time()]
    out = writer(log, max_size_mb=0.001, retention_days=7, clock=lambda: clock_now[0])
    for n in range(30):  # three rotations
        out.write(f"{n:03d} " + "y" * 95 + "\n")
    files = rotated_files(log)
    assert sorted(files) == [1, 2]
    ten_days_ago = clock_now[0] - 10 * DAY
    os.utime(files[2], (ten_days_ago, ten_days_ago))
    for n in range(30, 40):  # the next rotation applies retention
        out.write(f"{n:03d} " + "y" * 95 + "\n")
    out.close()
    # the old file (now shifted to .3) is gone; .1 and .2 are the two younger files
    assert sorted(rotated_files(log)) == [1, 2]
    assert [int(line[:3]) for line in all_lines_oldest_first(log)] == list(range(10, 40))


def test_files_left_pending_by_an_interrupted_run_are_installed(tmp_path: Path) -> None:
    log = tmp_path / "orchestrator.log"
    (tmp_path / "orchestrator.log.1.gz").write_bytes(gzip.compress(b"oldest\n"))
    pending = tmp_path / "orchestrator.log.rotating-00000000000000000001"
    pending.write_text("interrupted\n")
    pending.with_name(pending.name + ".gz").write_bytes(b"\x1f\x8b half")  # gzip cut short
    log.write_text("current\n")
    out = writer(log)
    out.write("more\n")
    out.close()
    assert not list(tmp_path.glob("*.rotating-*"))
    assert all_lines_oldest_first(log) == ["oldest", "interrupted", "current", "more"]


def test_reopen_appends_and_counts_the_existing_size(tmp_path: Path) -> None:
    log = tmp_path / "orchestrator.log"
    first = writer(log, max_size_mb=0.001)
    first.write("a" * 999 + "\n")
    first.close()
    second = writer(log, max_size_mb=0.001)
    second.write("b" * 59 + "\n")  # 1,000 already there + 60 > 1,048 bytes
    second.close()
    assert second.rotations == 1
    assert all_lines_oldest_first(log) == ["a" * 999, "b" * 59]


def test_write_after_close_and_bad_settings_raise(tmp_path: Path) -> None:
    out = writer(tmp_path / "orchestrator.log")
    out.close()
    with pytest.raises(ValueError, match="closed"):
        out.write("late\n")
    with pytest.raises(ValueError, match="max_files"):
        writer(tmp_path / "x.log", max_files=0)
    with pytest.raises(ValueError, match="max_size_mb"):
        writer(tmp_path / "x.log", max_size_mb=0)


def test_creates_missing_log_directory(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "deeper" / "orchestrator.log"
    out = writer(log)
    out.write("hello\n")
    out.close()
    assert log.read_text() == "hello\n"
