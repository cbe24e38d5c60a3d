"""store/parallel.py: jobs side by side, and a pool that survives a killed thread (dash's test
runner kills every thread started after it; a pool counting a dead worker would hang)."""
from __future__ import annotations

import ctypes
import threading
import time

from store import parallel


def _run_all_within(seconds: float) -> dict | None:
    out: dict = {}
    t = threading.Thread(target=lambda: out.update(parallel.run_all({"a": lambda: 1, "b": lambda: 2, "c": lambda: 3})),
                         daemon=True)
    t.start()
    t.join(seconds)
    return out or None


def test_jobs_run_side_by_side_with_their_results():
    assert parallel.run_all({"a": lambda: 1, "b": lambda: "x"}) == {"a": 1, "b": "x"}
    workers = [t for t in threading.enumerate() if t.name.startswith("jinjian-query")]
    assert len(workers) >= parallel.WORKERS  # started with the pool, not by the first screen


def test_a_pool_with_a_killed_thread_is_made_anew():
    victim = next(t for t in list(parallel._POOL._threads) if t.is_alive())
    assert ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(victim.ident), ctypes.py_object(SystemExit)) == 1
    parallel._POOL.submit(lambda: None)  # wakes a waiting worker: the one killed drops it and ends
    for _ in range(100):
        if not victim.is_alive():
            break
        parallel._POOL.submit(lambda: None)
        time.sleep(0.02)
    assert not victim.is_alive()
    old = parallel._POOL
    assert _run_all_within(10) == {"a": 1, "b": 2, "c": 3}
    assert parallel._POOL is not old


def test_run_beside_keeps_the_main_jobs_own_jobs_side_by_side():
    """The main part's run_all uses the pool (inside a pool job it would run one job after the
    other): two jobs that each wait for the other finish only when they run at once."""
    import pytest

    barrier = threading.Barrier(2, timeout=5)

    def main() -> dict:
        return parallel.run_all({"x": lambda: barrier.wait() >= 0, "y": lambda: barrier.wait() >= 0})

    out, side = parallel.run_beside(main, {"flows": lambda: "f"})
    assert out == {"x": True, "y": True} and side == {"flows": "f"}

    def failing() -> None:
        raise ValueError("main failed")

    with pytest.raises(ValueError, match="main failed"):
        parallel.run_beside(failing, {"flows": lambda: time.sleep(0.1)})
    with pytest.raises(KeyError):
        parallel.run_beside(lambda: 1, {"bad": lambda: {}["k"]})
