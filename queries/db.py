"""The process's engine, created on first use from the ``JINJIAN_*`` settings.

Creation failures (server down) are not cached: the next call tries again, so a
page recovers by itself when the database comes back.
"""
from __future__ import annotations

import threading

from queries.engine import Engine, make_engine
from settings import Settings

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
