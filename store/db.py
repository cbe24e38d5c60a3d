"""The process's engine, created on first use from the ``JINJIAN_*`` settings.

Creation failures (server down) are not cached: the next call tries again, so a
page recovers by itself when the database comes back.
"""
from __future__ import annotations

import logging
import os
import sys
import threading

from store.engine import Engine, make_engine
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


def exit_process(code: int, *engines: Engine | None) -> None:
    """End a command-line process: close ``engines`` and the process's engine in order,
    flush the output, then leave without the interpreter's teardown, in which the
    embedded engine's background threads can crash (SIGSEGV) or hang after a command
    that has already succeeded and written its output."""
    for engine in (*engines, _engine):
        if engine is not None:
            try:
                engine.close()
            except Exception:  # noqa: BLE001 - closing is best effort; the exit status stands
                logging.getLogger(__name__).exception("closing the database failed")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    logging.shutdown()
    os._exit(code)
