"""The one executor: generator jobs, ticks as cancel points, urgent jobs between ticks, clean shutdown."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QRunnable

from pneumo_desktop.gui.jobs import Executor, current_job


@pytest.fixture
def executor(qapp):
    ex = Executor()
    yield ex
    ex.shutdown()
    assert all(lane.qthread.isFinished() for lane in ex.lanes.values())


def test_a_generator_job_yields_returns_and_runs_off_the_gui_thread(qtbot, executor) -> None:
    threads: list[str] = []

    def count(n: int):
        threads.append(threading.current_thread().name)
        yield from range(n)
        return "done"

    got: list[object] = []
    order: list[str] = []
    first = executor.submit(count, 3, lane="io", yielded=got.append)  # slots connect before it runs
    qtbot.waitUntil(lambda: first.done.is_set() and len(got) == 3)
    job = executor.submit(
        count, 2, started=lambda: order.append("started"), returned=lambda v: order.append(v),
        finished=lambda: order.append("finished"),
    )
    qtbot.waitUntil(lambda: "finished" in order)
    assert got == [0, 1, 2]
    assert order == ["started", "done", "finished"] and job.done.is_set()
    assert threads == ["pneumo-io", "pneumo-model"]


def test_quit_stops_a_job_at_its_next_tick(qtbot, executor) -> None:
    gate = threading.Event()
    ticks: list[int] = []

    def forever():
        i = 0
        while True:
            gate.wait(5)
            ticks.append(i)
            yield i
            i += 1

    returned: list[object] = []
    job = executor.submit(forever, returned=returned.append)
    gate.set()
    qtbot.waitUntil(lambda: len(ticks) > 2)
    job.quit()
    qtbot.waitUntil(job.done.is_set)
    n = len(ticks)
    qtbot.waitUntil(lambda: returned == [None])
    assert len(ticks) == n
    hold = threading.Event()
    executor.submit(hold.wait, 10)  # the lane is busy: the next job waits its turn
    never = executor.submit(forever, started=lambda: returned.append("started"))
    never.quit()  # before it runs: it never starts
    hold.set()
    qtbot.waitUntil(never.done.is_set)
    assert "started" not in returned


def test_errors_are_reported_and_the_lane_goes_on(qtbot, executor) -> None:
    def boom():
        raise ValueError("bad")

    errors: list[BaseException] = []
    got: list[object] = []
    executor.submit(boom, errored=errors.append)
    executor.submit(lambda: 42, returned=got.append)
    qtbot.waitUntil(lambda: got == [42])
    assert isinstance(errors[0], ValueError)


def test_urgent_jobs_run_between_the_ticks_of_a_long_job(qtbot, executor) -> None:
    release, running = threading.Event(), threading.Event()
    seen: list[str] = []

    def long():
        for _ in range(200):
            running.set()
            if release.wait(0.01):
                break
            yield
        seen.append("long done")

    def urgent():
        seen.append(f"urgent inside {current_job() and current_job().name}")
        release.set()

    long_job = executor.submit(long)
    running.wait(5)
    executor.submit(urgent, urgent=True)
    qtbot.waitUntil(long_job.done.is_set, timeout=10_000)
    assert seen == ["urgent inside urgent", "long done"]


def test_shutdown_quits_running_jobs_and_drains_the_io_lane(qtbot, qapp) -> None:
    ex = Executor()
    started = threading.Event()
    wrote: list[int] = []

    def scanning():
        while True:
            started.set()
            yield

    class Export(QRunnable):
        def run(self) -> None:
            wrote.append(1)

    ex.submit(scanning)
    started.wait(5)
    io = ex.lane("io")
    io.start(Export())
    ex.shutdown(drain=("io",))
    assert wrote == [1]
    assert all(lane.qthread.isFinished() for lane in ex.lanes.values())
    assert ex.submit(lambda: 1).done.is_set() is False  # after shutdown nothing runs
    assert io.waitForDone()
