"""How a process ends (issue 28, "dying clean"): background work stopped first, the
embedded engine closed in order, output flushed, then out without the interpreter's
teardown — in which chDB's background threads can crash (SIGSEGV) or hang after work
that has already succeeded.

Every exit path goes through :func:`shutdown`: the end of a command-line run, an
exception (at start-up or later), SIGTERM, SIGINT and SIGHUP. Background threads
(report scheduler, inbox watcher, simulator, risk snapshots, the PDF browser, the
renderer's loopback server) :func:`register` a stop function as they start; shutdown
calls them newest first and waits for each thread up to ``JINJIAN_SHUTDOWN_SECONDS``,
so a batch being loaded finishes (or, past the wait, is recovered at the next start:
ingestion is all or nothing).
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, NoReturn

from settings import ConfigError, setting_number

logger = logging.getLogger(__name__)

#: The exit status of a process stopped by a signal (the shell's 128 + number).
SIGNAL_EXIT = {signal.SIGTERM: 143, signal.SIGINT: 130, signal.SIGHUP: 129}


class Terminated(SystemExit):
    """Raised in the main thread by SIGTERM/SIGINT/SIGHUP, so the running command unwinds
    (its ``finally`` blocks and all-or-nothing batches) before :func:`shutdown`."""

    def __init__(self, signum: int) -> None:
        super().__init__(SIGNAL_EXIT.get(signal.Signals(signum), 128 + signum))
        self.signum = signum


@dataclass
class _Worker:
    name: str
    stop: Callable[[], Any]
    thread: threading.Thread | None


_lock = threading.Lock()
_workers: list[_Worker] = []
_closing: list[Callable[[], Any]] = []
_down = threading.Event()


def register(name: str, stop: Callable[[], Any], thread: threading.Thread | None = None) -> None:
    """Have ``stop`` called (and ``thread`` waited for) when the process ends through
    :func:`shutdown`. (A process that ends otherwise — a gunicorn worker — leaves its
    daemon threads to die with it: an interrupted batch is finished by the next start.)"""
    with _lock:
        _workers.append(_Worker(name, stop, thread))


def on_close(close: Callable[[], Any]) -> None:
    """Have ``close`` called after the background work stopped and before the databases
    close (resources the workers use: the PDF browser, a loopback server)."""
    with _lock:
        _closing.append(close)


def shutdown_seconds() -> float:
    """JINJIAN_SHUTDOWN_SECONDS: how long the end waits for background work."""
    return setting_number("JINJIAN_SHUTDOWN_SECONDS", 0, 3600)


def stop_workers(wait: float | None = None) -> list[str]:
    """Stop the registered background work, newest first, waiting at most ``wait`` seconds
    in all for the threads. Returns the names of those still running afterwards."""
    try:
        wait = shutdown_seconds() if wait is None else wait
    except ConfigError as exc:
        logger.error("%s; waiting 30 s", exc)
        wait = 30.0
    with _lock:
        workers, _workers[:] = list(reversed(_workers)), []
    for w in workers:
        try:
            w.stop()
        except Exception:  # noqa: BLE001 - one failing stop must not keep the others running
            logger.exception("stopping %s failed", w.name)
    deadline = time.monotonic() + wait
    left = []
    for w in workers:
        if w.thread is not None and w.thread is not threading.current_thread():
            w.thread.join(max(0.0, deadline - time.monotonic()))
            if w.thread.is_alive():
                left.append(w.name)
    if left:
        logger.warning("still running after %.0f s, left to the next start's recovery: %s", wait, ", ".join(left))
    return left


def shutdown(code: int, *closers: Callable[[], Any]) -> NoReturn:
    """End the process: stop background work, run ``closers`` and the registered closes
    (each at most once; failures logged), flush, exit with ``code``."""
    _down.set()
    stop_workers()
    with _lock:
        closing, _closing[:] = [*reversed(_closing), *closers], []
    for close in closing:
        try:
            close()
        except Exception:  # noqa: BLE001 - closing is best effort; the exit status stands
            logger.exception("closing failed")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    logging.shutdown()
    os._exit(code)


_signals: list[int] = []


def last_signal() -> int | None:
    """The signal that asked this process to stop (a server loop such as waitress's may
    take the :class:`Terminated` it raised and return normally), or None."""
    return _signals[-1] if _signals else None


def _raise_terminated(signum: int, frame: Any) -> None:  # noqa: ARG001 - signal handler signature
    if _down.is_set():
        return  # already ending: a second signal must not interrupt the closing
    _signals.append(signum)
    raise Terminated(signum)


def handle_signals() -> None:
    """SIGTERM, SIGINT and SIGHUP raise :class:`Terminated` in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in SIGNAL_EXIT:
        signal.signal(sig, _raise_terminated)


def run_main(main: Callable[[], int], *closers: Callable[[], Any]) -> NoReturn:
    """Run a command's ``main`` and end the process through :func:`shutdown` whatever
    happens: its status; 129/130/143 after a signal; 1 with the traceback on stderr
    after an unexpected exception; 0 quietly when the reader of stdout went away
    (``python -m etl status | head``)."""
    handle_signals()
    try:
        code = int(main() or 0)
    except Terminated as exc:
        code = int(exc.code)
        logger.warning("stopped by signal %s", signal.Signals(exc.signum).name)
    except BrokenPipeError:
        try:  # nothing more can be written there; keep the flush in shutdown from failing
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        code = 0
    except SystemExit as exc:  # argparse's --help and usage errors
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - every other way out still closes in order
        traceback.print_exc()
        code = 1
    shutdown(code, *closers)
