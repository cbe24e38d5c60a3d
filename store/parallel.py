"""Independent queries of one screen run side by side (a wall refresh waits for the
slowest of them, not for their sum).

Each job runs in a copy of the caller's context, so the request's user, and with it
the region scope that every query and the shared cache key on, goes with it. Jobs
that ask for jobs of their own run those one after the other in their own thread
(the pool is small and shared: waiting on it from inside it could wait forever).
"""
from __future__ import annotations

import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

T = TypeVar("T")

#: Threads shared by every screen of the process. ClickHouse does the work; more
#: threads than this only queue inside the server of a 2-core machine.
WORKERS = 4
_PREFIX = "jinjian-query"
_POOL = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix=_PREFIX)


def run_all(jobs: dict[str, Callable[[], T]]) -> dict[str, T]:
    """Run every job and return its result by name; the first failure (in the order of
    ``jobs``) is raised once all have ended."""
    if len(jobs) < 2 or threading.current_thread().name.startswith(_PREFIX):
        return {name: fn() for name, fn in jobs.items()}
    futures = {name: _POOL.submit(contextvars.copy_context().run, fn) for name, fn in jobs.items()}
    return {name: f.result() for name, f in futures.items()}
