"""Structured logs (§2): line shape, levels, standard events and their contract, outputs."""

from __future__ import annotations

import io
import json
import re
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from exporter.context import correlation
from exporter.logs import LEVELS, STANDARD_EVENTS, StructuredLogger, format_timestamp
from observability.load import load
from observability.spec import LoggingRuntime

KEYS = ["timestamp", "level", "correlation_id", "session_id", "component", "agent", "model",
        "event", "message", "metadata", "duration_ms", "tags"]
SEED_MOMENT = datetime(2026, 2, 21, 14, 32, 15, 123456, tzinfo=timezone.utc)
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

# §2.3, copied from the seed table: the module must agree with it.
SEED_EVENTS = {
    "session_start": ("INFO", ("session_id",)),
    "session_end": ("INFO", ("session_id", "duration_ms")),
    "task_created": ("DEBUG", ("task_id", "agent")),
    "task_dispatched": ("INFO", ("task_id", "agent", "model")),
    "task_started": ("INFO", ("task_id", "agent")),
    "task_completed": ("INFO", ("task_id", "agent", "duration_ms")),
    "task_failed": ("ERROR", ("task_id", "agent", "error_code")),
    "task_retried": ("WARN", ("task_id", "agent", "retry_count")),
    "agent_spawned": ("INFO", ("agent_type", "mode")),
    "agent_shutdown": ("INFO", ("agent_type", "tasks_completed")),
    "parallel_batch_start": ("INFO", ("batch_id", "task_count")),
    "parallel_batch_end": ("INFO", ("batch_id", "success_count", "failed_count")),
    "team_created": ("INFO", ("team_id", "member_count")),
    "team_shutdown": ("INFO", ("team_id", "duration_ms")),
    "mcp_tool_invoked": ("DEBUG", ("plugin", "tool_name")),
    "alert_fired": ("WARN", ("alert_name", "severity")),
}
SAMPLE_VALUES: dict[str, Any] = {
    "session_id": "sess-xyz789", "duration_ms": 45, "task_id": "task-12345", "agent": "Coder",
    "model": "sonnet", "error_code": "E_TIMEOUT", "retry_count": 2, "agent_type": "Coder",
    "mode": "parallel", "tasks_completed": 7, "batch_id": "batch-1", "task_count": 4,
    "success_count": 3, "failed_count": 1, "team_id": "team-1", "member_count": 3,
    "plugin": "github", "tool_name": "create_pr", "alert_name": "HighErrorRate", "severity": "HIGH",
}


def logging_config(log: Path, level: str = "TRACE", console_level: str | None = None,
                   max_size_mb: float = 100) -> LoggingRuntime:
    console: dict[str, Any] = {"type": "console", "format": "pretty"}
    if console_level:
        console["level"] = console_level
    return LoggingRuntime.model_validate({
        "level": level,
        "outputs": [{"type": "file", "path": str(log), "format": "json"}, console],
        "rotation": {"max_size_mb": max_size_mb, "max_files": 3, "compress": True,
                     "retention_days": 30},
    })


class Harness:
    """A logger on a tmp file and an in-memory console, with its callbacks recorded."""

    def __init__(self, tmp_path: Path, level: str = "TRACE", console_level: str | None = None,
                 strict: bool = False, clock: Any = None, max_size_mb: float = 100) -> None:
        self.log_path = tmp_path / "orchestrator.log"
        self.console = io.StringIO()
        self.counted: list[str] = []
        self.write_errors: list[str] = []
        self.logger = StructuredLogger(
            logging_config(self.log_path, level, console_level, max_size_mb),
            streams={"console": self.console}, on_line=self.counted.append,
            on_write_error=self.write_errors.append, clock=clock, strict=strict)

    def raw_lines(self) -> list[str]:
        text = self.log_path.read_text(encoding="utf-8")
        assert text == "" or text.endswith("\n")
        return text.splitlines()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.raw_lines()]

    def console_lines(self) -> list[str]:
        return self.console.getvalue().splitlines()


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def test_levels_and_codes_are_the_seed_table() -> None:
    assert LEVELS == {"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "ERROR": 4, "FATAL": 5}


def test_standard_events_are_the_seed_table() -> None:
    assert STANDARD_EVENTS == SEED_EVENTS
    assert len(STANDARD_EVENTS) == 16


def test_line_is_the_seed_example_with_exactly_its_keys_in_order(tmp_path: Path) -> None:
    h = Harness(tmp_path, clock=lambda: SEED_MOMENT)
    with correlation(correlation_id="corr-a1b2c3d4-e5f6-7890-abcd-ef1234567890",
                     session_id="sess-xyz789", task_id="task-12340"):
        with correlation(task_id="task-12345", agent="Coder"):
            h.logger.event("task_dispatched", "Task dispatched to Coder agent", model="sonnet",
                           task_type="implementation", files_involved=["src/main.py", "src/utils.py"],
                           duration_ms=45, tags=["task", "dispatch", "parallel"])
    [line] = h.raw_lines()
    assert "\n" not in line and ": " not in line  # one compact line
    record = json.loads(line)
    assert list(record) == KEYS
    assert record == {
        "timestamp": "2026-02-21T14:32:15.123Z",
        "level": "INFO",
        "correlation_id": "corr-a1b2c3d4-e5f6-7890-abcd-ef1234567890",
        "session_id": "sess-xyz789",
        "component": "orchestrator",
        "agent": "Coder",
        "model": "sonnet",
        "event": "task_dispatched",
        "message": "Task dispatched to Coder agent",
        "metadata": {"task_id": "task-12345", "parent_task": "task-12340",
                     "task_type": "implementation",
                     "files_involved": ["src/main.py", "src/utils.py"]},
        "duration_ms": 45,
        "tags": ["task", "dispatch", "parallel"],
    }
    assert list(record["metadata"])[:2] == ["task_id", "parent_task"]


def test_unknown_fields_are_null_metadata_empty_object_tags_empty_list(harness: Harness) -> None:
    harness.logger.info("no context at all")
    [record] = harness.records()
    assert list(record) == KEYS
    assert {k: record[k] for k in KEYS if k not in ("timestamp", "level", "component", "message")} == {
        "correlation_id": None, "session_id": None, "agent": None, "model": None, "event": None,
        "metadata": {}, "duration_ms": None, "tags": [],
    }
    assert record["component"] == "orchestrator"


def test_event_without_message_has_null_message(harness: Harness) -> None:
    harness.logger.event("session_start", session_id="sess-1")
    [record] = harness.records()
    assert record["message"] is None and record["session_id"] == "sess-1"


def test_each_level_method_writes_its_level(harness: Harness) -> None:
    lg = harness.logger
    lg.trace("t"), lg.debug("d"), lg.info("i"), lg.warn("w"), lg.error("e"), lg.fatal("f")
    lg.log("WARN", "via log", event="custom_event", detail=1)
    levels = [r["level"] for r in harness.records()]
    assert levels == ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "WARN"]
    assert harness.records()[-1]["event"] == "custom_event"
    assert harness.records()[-1]["metadata"] == {"detail": 1}


def test_lines_below_the_level_are_dropped_and_not_counted(tmp_path: Path) -> None:
    h = Harness(tmp_path, level="WARN", console_level="ERROR")
    lg = h.logger
    lg.trace("t"), lg.debug("d"), lg.info("i"), lg.warn("w"), lg.error("e"), lg.fatal("f")
    lg.event("task_created", task_id="t", agent="Coder")   # DEBUG
    lg.event("task_started", task_id="t", agent="Coder")   # INFO
    lg.event("task_retried", task_id="t", agent="Coder", retry_count=1)  # WARN
    lg.event("session_start")  # INFO, missing session_id, but dropped: nothing checked
    assert [r["level"] for r in h.records()] == ["WARN", "ERROR", "FATAL", "WARN"]
    assert [line.split()[1] for line in h.console_lines()] == ["ERROR", "FATAL"]
    assert h.counted == ["WARN", "ERROR", "FATAL", "WARN"]
    assert lg.enabled("WARN") and not lg.enabled("INFO")


def test_unknown_level_and_unknown_event_raise_naming_them(harness: Harness) -> None:
    with pytest.raises(ValueError, match="'VERBOSE'"):
        harness.logger.log("VERBOSE", "x")
    with pytest.raises(ValueError, match="'info'"):
        harness.logger.log("info", "lower case is not a level")
    with pytest.raises(ValueError, match="'task_exploded'"):
        harness.logger.event("task_exploded", task_id="t")
    assert harness.raw_lines() == []


@pytest.mark.parametrize("event", sorted(SEED_EVENTS))
def test_standard_event_with_all_required_fields(harness: Harness, event: str) -> None:
    level, required = SEED_EVENTS[event]
    harness.logger.event(event, f"{event} happened", **{f: SAMPLE_VALUES[f] for f in required})
    [record] = harness.records()
    assert (record["event"], record["level"], record["message"]) == (event, level, f"{event} happened")
    assert "missing_fields" not in record["metadata"]
    for field in required:
        where = record if field in KEYS else record["metadata"]
        assert where[field] == SAMPLE_VALUES[field], field
    assert harness.counted == [level]


MISSING_CASES = [(event, field) for event, (_, required) in sorted(SEED_EVENTS.items())
                 for field in required]


@pytest.mark.parametrize(("event", "dropped"), MISSING_CASES)
def test_missing_required_field_is_written_flagged_and_reported(
        harness: Harness, event: str, dropped: str) -> None:
    level, required = SEED_EVENTS[event]
    harness.logger.event(event, **{f: SAMPLE_VALUES[f] for f in required if f != dropped})
    line, violation = harness.records()
    assert (line["event"], line["level"]) == (event, level)
    assert line["metadata"]["missing_fields"] == [dropped]
    assert (violation["event"], violation["level"]) == ("log_contract_violation", "WARN")
    assert violation["metadata"]["violated_event"] == event
    assert violation["metadata"]["missing_fields"] == [dropped]
    assert event in violation["message"] and dropped in violation["message"]
    assert harness.counted == [level, "WARN"]


@pytest.mark.parametrize(("event", "dropped"), MISSING_CASES)
def test_missing_required_field_raises_in_strict_mode(tmp_path: Path, event: str, dropped: str) -> None:
    h = Harness(tmp_path, strict=True)
    _, required = SEED_EVENTS[event]
    with pytest.raises(ValueError, match=rf"'{event}'.*{dropped}"):
        h.logger.event(event, **{f: SAMPLE_VALUES[f] for f in required if f != dropped})
    assert h.raw_lines() == [] and h.counted == []


def test_strict_mode_checks_events_below_the_level_too(tmp_path: Path) -> None:
    h = Harness(tmp_path, level="INFO", strict=True)
    with pytest.raises(ValueError, match="'mcp_tool_invoked'.*tool_name"):
        h.logger.event("mcp_tool_invoked", plugin="github")
    with pytest.raises(ValueError, match="'task_created'.*agent"):
        h.logger.log("DEBUG", "x", event="task_created", task_id="t")
    h.logger.event("mcp_tool_invoked", plugin="github", tool_name="create_pr")  # fine, dropped
    assert h.raw_lines() == []


def test_none_counts_as_missing(harness: Harness) -> None:
    harness.logger.event("task_failed", task_id="t", agent="Coder", error_code=None)
    assert harness.records()[0]["metadata"]["missing_fields"] == ["error_code"]


def test_required_fields_can_come_from_the_context(tmp_path: Path) -> None:
    h = Harness(tmp_path, strict=True)
    with correlation(session_id="sess-abc", task_id="task-100", agent="Coder"):
        h.logger.event("session_start")
        h.logger.event("task_started", "Agent began work")
        h.logger.event("task_completed", duration_ms=12)
    records = h.records()
    assert [r["event"] for r in records] == ["session_start", "task_started", "task_completed"]
    assert all(r["session_id"] == "sess-abc" and r["agent"] == "Coder" for r in records)
    assert all(r["metadata"]["task_id"] == "task-100" for r in records)


def test_log_with_a_standard_event_checks_fields_but_keeps_the_callers_level(harness: Harness) -> None:
    harness.logger.log("ERROR", "odd", event="task_started", task_id="t")
    line, violation = harness.records()
    assert line["level"] == "ERROR" and line["metadata"]["missing_fields"] == ["agent"]
    assert violation["event"] == "log_contract_violation"


def test_correlation_context_is_on_every_line(harness: Harness) -> None:
    with correlation(correlation_id="corr-001", session_id="sess-abc"):
        with correlation(task_id="task-100", agent="Coder"):
            harness.logger.event("task_started")
            harness.logger.event("task_failed")  # missing error_code: two lines
            with correlation(task_id="task-101"):
                harness.logger.debug("sub-task step", step=1)
                harness.logger.info("explicit wins", agent="Analyzer", correlation_id="corr-999")
    records = harness.records()
    assert len(records) == 5
    for record in records:
        assert record["session_id"] == "sess-abc"
        assert record["metadata"]["task_id"] in ("task-100", "task-101")
    assert [r["correlation_id"] for r in records] == ["corr-001"] * 4 + ["corr-999"]
    assert [r["agent"] for r in records] == ["Coder"] * 4 + ["Analyzer"]
    assert records[3]["metadata"] == {"task_id": "task-101", "parent_task": "task-100", "step": 1}


def test_pretty_console_is_one_readable_line_at_its_own_level(tmp_path: Path) -> None:
    h = Harness(tmp_path, level="DEBUG", console_level="INFO", clock=lambda: SEED_MOMENT)
    with correlation(correlation_id="corr-001", session_id="sess-abc", task_id="task-100", agent="Coder"):
        h.logger.event("task_dispatched", "Task dispatched to Coder agent", model="sonnet",
                       duration_ms=45, files_involved=["src/main.py"], tags=["task", "dispatch"])
        h.logger.debug("only in the file")
        h.logger.warn("two\nlines in", note="has space")
    assert h.console_lines() == [
        "2026-02-21T14:32:15.123Z INFO  orchestrator task_dispatched: Task dispatched to Coder agent"
        ' agent=Coder model=sonnet duration_ms=45 task_id=task-100 files_involved=["src/main.py"]'
        " tags=task,dispatch correlation_id=corr-001 session_id=sess-abc",
        '2026-02-21T14:32:15.123Z WARN  orchestrator two\\nlines in agent=Coder task_id=task-100'
        ' note="has space" correlation_id=corr-001 session_id=sess-abc',
    ]
    assert [r["level"] for r in h.records()] == ["INFO", "DEBUG", "WARN"]


def test_console_defaults_to_the_config_level_and_stderr(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    config = logging_config(tmp_path / "o.log", level="WARN")
    logger = StructuredLogger(config)
    logger.info("hidden")
    logger.error("shown", code=7)
    logger.close()
    [line] = capsys.readouterr().err.splitlines()
    assert " ERROR orchestrator shown code=7" in line


def test_write_errors_are_reported_not_raised(tmp_path: Path) -> None:
    class BrokenStream(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError("console gone")

    errors: list[str] = []
    counted: list[str] = []
    logger = StructuredLogger(logging_config(tmp_path / "o.log"), streams={"console": BrokenStream()},
                              on_line=counted.append, on_write_error=errors.append)
    logger.info("still reaches the file")
    assert errors == ["console"] and counted == ["INFO"]
    logger.close()
    logger.error("after close nothing can be written")  # does not raise
    assert errors == ["console", "file", "console"]
    assert counted == ["INFO"]  # a line no output took is not counted
    assert len((tmp_path / "o.log").read_text().splitlines()) == 1


def test_timestamps(tmp_path: Path) -> None:
    assert format_timestamp(SEED_MOMENT) == "2026-02-21T14:32:15.123Z"
    plus_one = timezone(timedelta(hours=1))
    assert format_timestamp(datetime(2026, 2, 21, 15, 32, 15, 999999, tzinfo=plus_one)) == \
        "2026-02-21T14:32:15.999Z"
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000Z"  # naive = UTC

    h = Harness(tmp_path)  # the default clock
    before = datetime.now(timezone.utc)
    h.logger.info("now")
    after = datetime.now(timezone.utc)
    stamp = h.records()[0]["timestamp"]
    assert TIMESTAMP.match(stamp)
    parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert before - timedelta(milliseconds=1) <= parsed <= after


def test_values_json_cannot_encode_do_not_lose_the_line(harness: Harness) -> None:
    loop: list[Any] = []
    loop.append(loop)
    harness.logger.info("path", where=Path("/tmp/x"))
    harness.logger.info("loop", data=loop)
    first, second = harness.records()
    assert first["metadata"] == {"where": "/tmp/x"}
    assert second["message"] == "loop" and second["metadata"]["data"] == "[[...]]"


def test_file_output_expands_home_and_rotates_with_the_spec_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    spec = load(Path(__file__).resolve().parent.parent / "observability.yaml").model.runtime.logging
    assert spec.outputs[0].path is not None and spec.outputs[0].path.startswith("~/")
    small = spec.model_copy(update={"rotation": spec.rotation.model_copy(update={"max_size_mb": 0.001})})
    console = io.StringIO()
    logger = StructuredLogger(small, streams={"console": console})
    for n in range(30):
        logger.info(f"line {n}", task_type="implementation")
    logger.close()
    log = tmp_path / spec.outputs[0].path[2:]
    assert log.exists() and (log.parent / (log.name + ".1.gz")).exists()
    assert len(console.getvalue().splitlines()) == 30


def test_threads_never_interleave_lines(harness: Harness) -> None:
    def produce(n: int) -> None:
        with correlation(task_id=f"task-{n}"):
            for i in range(500):
                harness.logger.info("step", step=i, filler="f" * (i % 50))

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = harness.records()
    assert len(records) == 2_000
    for n in range(4):
        steps = [r["metadata"]["step"] for r in records if r["metadata"]["task_id"] == f"task-{n}"]
        assert steps == list(range(500))
    assert len(harness.console_lines()) == 2_000


def test_a_pretty_line_keeps_a_value_that_cannot_be_printed(tmp_path: Path) -> None:
    from exporter.logs import format_pretty

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no str")

        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    loop: list[Any] = []
    loop.append(loop)
    record = {"timestamp": "t", "level": "INFO", "component": "c", "event": None, "message": "m", "agent": None,
              "model": None, "duration_ms": None, "metadata": {"bad": Unprintable(), "loop": loop}, "tags": [],
              "correlation_id": None, "session_id": None}
    assert format_pretty(record) == "t INFO  c m bad=<unprintable Unprintable> loop=[[...]]"
