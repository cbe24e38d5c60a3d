"""The shared cache of screen queries, in front of :func:`store.executor.run`.

Many wall screens show the same view and refresh every few seconds; with the cache
they cost one query per view and time-to-live instead of one per screen.

- **What is cached**: the aggregate queries behind the wall, drill-down, indicator
  and report screens (:data:`CACHEABLE`, by query name). Detail lists, personal
  data, ingestion bookkeeping and the data version itself are never cached.
- **Key**: SHA-256 of the engine's identity, the query name, the SQL text with its
  bound parameters, the **region scope of the current viewer** and the **data
  version** (the newest loaded ingestion batch). The scope is part of the key even
  though the SQL already names the region: one viewer's answer can never be served
  to another scope. A new batch changes the version, so live data never waits for
  the time-to-live.
- **Time-to-live**: ``JINJIAN_CACHE_SECONDS`` (default: the wall refresh interval) for
  query answers; whole screen views (:func:`shared_view`) live ``JINJIAN_VIEW_CACHE_SECONDS``
  (300): they carry the data version too, so the time-to-live only bounds how long a
  change that bypasses ingestion (a regenerated demo, a bulk load) takes to show.
- **Backend**: flask-caching on the app's Flask server, in process memory by default
  or Redis (``JINJIAN_CACHE_URL=redis://…``) shared by every worker.
- **One query per key at a time**: concurrent misses of the same key in a process
  wait for the first one instead of all running the query.
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping, TypeVar

import pandas as pd

from settings import ConfigError, _SPECS, parse_number

logger = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["CacheSettings", "CACHEABLE", "install", "configure", "clear", "cached", "cacheable", "shared_view",
           "stats"]

#: Query names (or name prefixes ending in ``_``) whose answers may be shared.
CACHEABLE: tuple[str, ...] = (
    "indicators_", "registration_flow", "entity_counts_by_child", "entity_totals",
    "recent_events", "recent_event_names", "risk_distribution", "risk_by_child", "risk_warning_trend",
    "risk_warning_feed", "risk_batch_alerts", "task_ageing", "task_count", "efficiency_", "report_quality_",
)
MAX_ENTRIES = 5000


@dataclass(frozen=True)
class CacheSettings:
    seconds: float
    url: str
    view_seconds: float = 300.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "CacheSettings":
        env = os.environ if env is None else env

        def get(name: str) -> str:
            return env.get(name, _SPECS[name].default).strip()

        raw = get("JINJIAN_CACHE_SECONDS") or get("JINJIAN_WALL_REFRESH_SECONDS")
        seconds = parse_number(raw, "JINJIAN_CACHE_SECONDS", 0, 86400)
        url = get("JINJIAN_CACHE_URL")
        if url and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"JINJIAN_CACHE_URL={url!r} must be empty or a redis:// URL")
        views = parse_number(get("JINJIAN_VIEW_CACHE_SECONDS"), "JINJIAN_VIEW_CACHE_SECONDS", 0, 86400)
        return cls(seconds=seconds, url=url, view_seconds=views)

    def flask_config(self) -> dict[str, Any]:
        if self.url:
            return {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": self.url,
                    "CACHE_DEFAULT_TIMEOUT": self.seconds, "CACHE_KEY_PREFIX": "jinjian:"}
        return {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": self.seconds,
                "CACHE_THRESHOLD": MAX_ENTRIES}


class _State:
    backend: Any = None          # an object with get(key) / set(key, value, timeout=) / clear()
    seconds: float = 0.0
    view_seconds: float = 0.0
    hits = 0
    misses = 0


_state = _State()
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def configure(backend: Any, seconds: float, view_seconds: float | None = None) -> None:
    """Use ``backend`` (cachelib / flask-caching interface) with ``seconds`` to live for
    queries and ``view_seconds`` for whole views (default: as queries); None turns caching off."""
    _state.backend = backend if backend is not None and seconds > 0 else None
    _state.seconds = seconds
    _state.view_seconds = seconds if view_seconds is None else view_seconds
    _state.hits = _state.misses = 0


def install(server: Any, settings: CacheSettings | None = None) -> None:
    """Attach a flask-caching ``Cache`` to the Flask ``server`` and route cacheable queries through it."""
    settings = settings or CacheSettings.from_env()
    if settings.seconds <= 0:
        configure(None, 0)
        logger.info("query cache off (JINJIAN_CACHE_SECONDS=0)")
        return
    if settings.url:
        try:
            import redis  # noqa: F401
        except ImportError:
            raise ConfigError("JINJIAN_CACHE_URL names Redis but the redis package is not installed") from None
    from flask_caching import Cache

    cache = Cache(app=server, config=settings.flask_config())
    configure(cache, settings.seconds, settings.view_seconds)
    logger.info("query cache on: %s, %g s (views %g s)", "redis" if settings.url else "in-process",
                settings.seconds, settings.view_seconds)


def clear() -> None:
    """Drop every cached answer (benchmarks' cold runs, after a bulk load)."""
    if _state.backend is not None:
        _state.backend.clear()


def stats() -> dict[str, int]:
    return {"hits": _state.hits, "misses": _state.misses}


def cacheable(name: str) -> bool:
    return _state.backend is not None and any(
        name.startswith(p) if p.endswith("_") else name == p for p in CACHEABLE)


def cache_key(identity: str, name: str, text: str, scope: str, version: int) -> str:
    raw = "\0".join((identity, name, scope, str(version), text))
    return "q:" + hashlib.sha256(raw.encode()).hexdigest()


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        if len(_locks) > MAX_ENTRIES:
            for k in [k for k, lock in _locks.items() if not lock.locked()]:
                del _locks[k]
        return _locks.setdefault(key, threading.Lock())


def shared_view(db: Any, name: str, parts: tuple, compute: Callable[[], T]) -> T:
    """What a screen shows (a callback's outputs) for ``parts`` — the inputs that decide it —
    computed once per data version and viewer scope and shared by every screen showing
    the same view for up to ``JINJIAN_VIEW_CACHE_SECONDS``; ``compute()`` itself when the
    cache is off."""
    if _state.backend is None or _state.view_seconds <= 0:
        return compute()
    from store import versions
    from store.filters import default_scope

    key = cache_key(db.identity, f"view:{name}", repr(parts), default_scope().prefix,
                    versions.data_version_or_zero(db))
    return cached(key, compute, _state.view_seconds)


def cached(key: str, compute: Callable[[], T], timeout: float | None = None) -> T:
    """The value cached under ``key``, or ``compute()`` stored under it for ``timeout``
    seconds (default: the query time-to-live); one computation per key at a time."""
    backend = _state.backend
    hit = _get(backend, key)
    if hit is not None:
        _state.hits += 1
        return hit
    with _lock_for(key):
        hit = _get(backend, key)  # another thread may have filled it while this one waited
        if hit is not None:
            _state.hits += 1
            return hit
        _state.misses += 1
        df = compute()
        try:
            # whole seconds: cachelib warns on every float timeout (thousands of identical lines)
            backend.set(key, df, timeout=math.ceil(_state.seconds if timeout is None else timeout))
        except Exception as exc:  # a cache outage must not break the screen
            logger.warning("query cache unavailable (set): %s", exc)
        return df


def _get(backend: Any, key: str) -> Any:
    try:
        value = backend.get(key)
    except Exception as exc:
        logger.warning("query cache unavailable (get): %s", exc)
        return None
    # A backend may keep the object itself: hand out a copy so a caller cannot change the cached frame.
    return value.copy() if isinstance(value, pd.DataFrame) else value
