"""Independent queries of one screen run side by side (a wall refresh waits for the
slowest of them, not for their sum).

Each job runs in a copy of the caller's context, so the request's user, and with it
the region scope that every query and the shared cache key on, goes with it. Jobs
that ask for jobs of their own run those one after the other in their own thread
(the pool is small and shared: waiting on it from inside it could wait forever).
"""
from __future__ import annotations

import contextvars
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

T = TypeVar("T")
logger = logging.getLogger(__name__)

#: Threads shared by every screen of the process. ClickHouse does the work; more
#: threads than this only queue inside the server of a 2-core machine.
WORKERS = 4
_PREFIX = "jinjian-query"
_pool_lock = threading.Lock()


def _started_pool() -> ThreadPoolExecutor:
    """A pool whose threads all run already (not started by the first screen that needs one:
    a thread is then the process's from its start — dash's test runner, for one, kills every
    thread started after it, and a pool thread killed while it waits would take a job with it)."""
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix=_PREFIX)
    ready = threading.Barrier(WORKERS + 1)
    for _ in range(WORKERS):
        pool.submit(ready.wait, 10)
    try:
        ready.wait(10)
    except threading.BrokenBarrierError:  # a slow start: the pool still works, threads come as needed
        pass
    return pool


_POOL = _started_pool()


def _pool() -> ThreadPoolExecutor:
    """The shared pool, made anew when one of its threads has died (killed from outside, or
    not carried over by a fork): a pool that counts a dead worker as busy would queue jobs
    that never run."""
    global _POOL
    with _pool_lock:
        if any(not t.is_alive() for t in list(getattr(_POOL, "_threads", ()))):
            _POOL.shutdown(wait=False)
            _POOL = _started_pool()
        return _POOL


def run_all(jobs: dict[str, Callable[[], T]]) -> dict[str, T]:
    """Run every job and return its result by name; the first failure (in the order of
    ``jobs``) is raised once all have ended."""
    if len(jobs) < 2 or threading.current_thread().name.startswith(_PREFIX):
        return {name: fn() for name, fn in jobs.items()}
    pool = _pool()
    futures = {name: pool.submit(contextvars.copy_context().run, fn) for name, fn in jobs.items()}
    return {name: f.result() for name, f in futures.items()}


def run_beside(main: Callable[[], T], jobs: dict[str, Callable[[], object]]) -> tuple[T, dict[str, object]]:
    """``main`` in this thread while ``jobs`` run in the pool: ``main``'s own :func:`run_all`
    still runs its jobs side by side (inside a pool thread they would run one after the
    other). Returns ``main``'s result and the jobs' results by name; ``main``'s failure, else
    the first job's, is raised once all have ended."""
    if threading.current_thread().name.startswith(_PREFIX):
        return main(), {name: fn() for name, fn in jobs.items()}
    pool = _pool()
    futures = {name: pool.submit(contextvars.copy_context().run, fn) for name, fn in jobs.items()}
    try:
        out = main()
    except BaseException:
        for name, f in futures.items():  # wait for them; main's failure is the one raised
            if f.exception() is not None:
                logger.warning("job %s failed beside another failure: %r", name, f.exception())
        raise
    return out, {name: f.result() for name, f in futures.items()}
