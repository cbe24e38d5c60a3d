"""Instruments shared by the sections of ``bench/scale.py``: printing, the caches a
cold request finds empty (cleared, or their times to live overridden for a section),
and the query log that tells which query dominates."""
from __future__ import annotations

import logging
import statistics
import threading
from collections import defaultdict
from typing import Any

from bench.stats import md_table, ms


def say(text: str = "") -> None:
    print(text, flush=True)


# ============================================================================ caches
def clear_all_caches() -> None:
    """Everything a first request finds empty: the query cache, region nodes, the
    data-version memo and the list of risk snapshots."""
    from queries import risk_snapshots
    from store import cache
    from store.versions import forget_versions
    from queries.regions import clear_region_cache

    cache.clear()
    clear_region_cache()
    forget_versions()
    risk_snapshots.clear_cache()


class CacheOverride:
    """Set the installed cache's times to live for a section (0 = off), then restore them."""

    def __init__(self, seconds: float, view_seconds: float | None = None) -> None:
        self.seconds = seconds
        self.view_seconds = view_seconds
        self.saved: tuple[Any, float, float] | None = None

    def __enter__(self) -> "CacheOverride":
        from store import cache

        self.saved = (cache._state.backend, cache._state.seconds, cache._state.view_seconds)
        backend = self.saved[0]
        if backend is None and self.seconds > 0:
            return self  # no cache installed (no app): nothing to turn on
        cache.configure(backend if self.seconds > 0 else None, self.seconds, self.view_seconds)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.saved is not None:
            from store import cache

            cache.configure(*self.saved)


def cache_stats() -> str:
    from store import cache

    s = cache.stats()
    on = (f"on, queries {cache._state.seconds:g} s, views {cache._state.view_seconds:g} s"
          if cache._state.backend is not None else "off")
    return f"cache {on}: {s['hits']:,} hits, {s['misses']:,} misses"


# ============================================================================ query log (which query dominates)
#: Loggers whose warnings are not a callback failing (the holiday-calendar notice, the dev server).
NOT_ERRORS = ("werkzeug", "bench", "domain.workdays")


class QueryLog(logging.Handler):
    """Collects (name, ms) of every query the executor logs, and warnings from the app."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.on = False
        self.queries: list[tuple[str, float]] = []
        self.warnings: list[str] = []
        self._mu = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if not self.on:
            return
        with self._mu:
            if record.levelno >= logging.WARNING and not record.name.startswith(NOT_ERRORS):
                self.warnings.append(f"{record.name}: {record.getMessage()[:200]}")
            elif record.name == "store.sql" and record.msg.startswith("query ") and len(record.args) >= 3:
                self.queries.append((str(record.args[0]), float(record.args[2])))

    def take(self) -> tuple[list[tuple[str, float]], list[str]]:
        with self._mu:
            q, w = self.queries, self.warnings
            self.queries, self.warnings = [], []
        return q, w


def install_log() -> QueryLog:
    h = QueryLog()
    root = logging.getLogger()
    root.addHandler(h)
    for name in ("store.sql",):
        logging.getLogger(name).setLevel(logging.INFO)
    if root.level > logging.WARNING or root.level == 0:
        root.setLevel(logging.WARNING)
    # Nothing printed: the root logger has no stream handler; Python's last-resort
    # handler would print warnings, so give it a null sink.
    logging.lastResort = logging.NullHandler()  # type: ignore[assignment]
    return h


def top_queries(queries: list[tuple[str, float]], k: int = 8) -> str:
    agg: dict[str, list[float]] = defaultdict(list)
    for name, t in queries:
        agg[name].append(t)
    total = sum(t for _, t in queries) or 1.0
    rows = sorted(agg.items(), key=lambda kv: -sum(kv[1]))[:k]
    return md_table(["query (executor name)", "runs", "total s", "share", "p50 ms", "max ms"],
                    [[n, len(v), f"{sum(v) / 1000:.1f}", f"{100 * sum(v) / total:.0f}%",
                      ms(statistics.median(v)), ms(max(v))] for n, v in rows])
