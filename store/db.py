"""The process's engine, created on first use from the ``JINJIAN_*`` settings.

Creation failures (server down) are not cached: the next call tries again, so a
page recovers by itself when the database comes back.
"""
from __future__ import annotations

import threading
from typing import Callable, NoReturn

from settings import Settings
from store import lifecycle
from store.engine import Engine, make_engine

_lock = threading.Lock()
_engine: Engine | None = None


def get_db() -> Engine:
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                _engine = make_engine(Settings.from_env())
    return _engine


def set_db(engine: Engine | None) -> None:
    """Use ``engine`` for this process (tests, tools that already hold one)."""
    global _engine
    with _lock:
        _engine = engine


def close_db() -> None:
    """Close the process's engine (if one was opened); the next use opens a new one."""
    global _engine
    with _lock:
        engine, _engine = _engine, None
    if engine is not None:
        engine.close()


def run_command(main: Callable[[], int]) -> NoReturn:
    """``python -m …`` entry: run ``main`` and end through the same ordered close on every
    path (success, error, exception, SIGTERM/SIGINT/SIGHUP; :func:`store.lifecycle.run_main`)."""
    lifecycle.run_main(main, close_db)
