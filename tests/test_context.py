"""Correlation context (§2.5): nesting, the sub-task chain, threads and asyncio."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest

from exporter.context import ContextThreadPoolExecutor, CorrelationContext, correlation, current, wrap


def test_no_context_outside_any_block() -> None:
    assert current() is None


def test_new_root_gets_generated_ids() -> None:
    with correlation() as ctx:
        assert re.fullmatch(r"corr-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                            ctx.correlation_id)
        assert re.fullmatch(r"sess-[0-9a-f]+", ctx.session_id)
        assert current() is ctx
        assert (ctx.task_id, ctx.parent_task, ctx.agent, ctx.trace_flags) == (None, None, None, ())
    with correlation() as other:
        assert other.correlation_id != ctx.correlation_id
        assert other.session_id != ctx.session_id


def test_seed_propagation_chain_and_restore() -> None:
    # [User Request] corr-001 -> [Orchestrator] sess-abc -> [Task T1] task-100
    #   -> [Coder Agent] task-100 -> [Sub-task T1.1] task-101 parent=task-100
    with correlation(correlation_id="corr-001") as request:
        with correlation(session_id="sess-abc") as session:
            assert session.correlation_id == "corr-001"
            with correlation(task_id="task-100") as task:
                assert (task.task_id, task.parent_task) == ("task-100", None)
                with correlation(agent="Coder", task_id="task-100") as agent:
                    assert agent == CorrelationContext("corr-001", "sess-abc", "task-100", None, "Coder")
                    with correlation(task_id="task-101") as sub:
                        assert sub == CorrelationContext("corr-001", "sess-abc", "task-101",
                                                         "task-100", "Coder")
                        with correlation(task_id="task-102") as subsub:
                            assert subsub.parent_task == "task-101"
                        assert current() is sub
                    assert current() is agent
                assert current() is task
            assert current() is session
        assert current() is request
    assert current() is None


def test_trace_flags_inherited_unless_given() -> None:
    with correlation(trace_flags=["debug"]):
        with correlation(task_id="t1") as inner:
            assert inner.trace_flags == ("debug",)
        with correlation(trace_flags=("sampled",)) as replaced:
            assert replaced.trace_flags == ("sampled",)


def test_exception_restores_previous_context() -> None:
    with correlation(task_id="task-1") as outer:
        with pytest.raises(RuntimeError):
            with correlation(task_id="task-2"):
                raise RuntimeError("boom")
        assert current() is outer
    assert current() is None


def test_plain_thread_does_not_inherit_but_wrap_does() -> None:
    seen: dict[str, CorrelationContext | None] = {}

    def look(key: str) -> None:
        seen[key] = current()

    with correlation(task_id="task-100") as ctx:
        plain = threading.Thread(target=look, args=("plain",))
        wrapped = threading.Thread(target=wrap(look), args=("wrapped",))
        plain.start(), wrapped.start()
        plain.join(), wrapped.join()
    assert seen["plain"] is None
    assert seen["wrapped"] is ctx


def test_wrap_snapshot_is_taken_at_wrap_time_and_callable_reusable_concurrently() -> None:
    barrier = threading.Barrier(4)

    def sub_task(n: int) -> tuple[str | None, str | None]:
        with correlation(task_id=f"task-10{n}") as sub:
            barrier.wait(timeout=5)  # all four threads inside the same snapshot at once
            return sub.task_id, sub.parent_task

    with correlation(task_id="task-100"):
        wrapped = wrap(sub_task)
    results: list[tuple[str | None, str | None]] = []
    threads = [threading.Thread(target=lambda n=n: results.append(wrapped(n))) for n in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [(f"task-10{n}", "task-100") for n in range(1, 5)]


def test_executor_carries_submitters_context_and_subtask_sees_parent() -> None:
    def sub_task(task_id: str) -> CorrelationContext:
        with correlation(task_id=task_id) as sub:
            return sub

    with ContextThreadPoolExecutor(max_workers=2) as pool:
        with correlation(correlation_id="corr-001", task_id="task-100"):
            future = pool.submit(sub_task, "task-101")
            mapped = list(pool.map(sub_task, ["task-102", "task-103"]))
        outside = pool.submit(current).result()
    sub = future.result()
    assert (sub.correlation_id, sub.task_id, sub.parent_task) == ("corr-001", "task-101", "task-100")
    assert [(m.task_id, m.parent_task) for m in mapped] == [("task-102", "task-100"),
                                                             ("task-103", "task-100")]
    assert outside is None  # a worker thread does not keep an earlier submitter's context


def test_plain_executor_would_lose_the_context() -> None:
    # Guards the test above: without the subclass the worker sees nothing.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool, correlation(task_id="task-100"):
        assert pool.submit(current).result() is None


def test_asyncio_tasks_each_keep_their_own_context() -> None:
    async def task(task_id: str) -> tuple[str | None, str | None, str | None]:
        with correlation(task_id=task_id, agent=f"agent-{task_id}"):
            await asyncio.sleep(0)  # interleave with the other tasks
            inner = current()
            assert inner is not None
            await asyncio.sleep(0)
            return inner.task_id, inner.parent_task, inner.agent

    async def main() -> tuple[list[tuple[str | None, str | None, str | None]], CorrelationContext | None]:
        with correlation(correlation_id="corr-001", task_id="task-100") as root:
            results = await asyncio.gather(*(task(f"task-10{n}") for n in range(1, 4)))
            assert current() is root  # the tasks' changes did not leak back
        return list(results), current()

    results, after = asyncio.run(main())
    assert results == [(f"task-10{n}", "task-100", f"agent-task-10{n}") for n in range(1, 4)]
    assert after is None
