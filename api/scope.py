"""The access scope of the current API request.

Every endpoint computes its queries within :func:`request_scope` and passes it
into ``Filter(region=..., scope=...)`` / ``region_node(db, code, scope)``, so
the query layer refuses regions outside it (``ScopeViolation`` → HTTP 403).
"""
from __future__ import annotations

from queries.filters import NATIONAL, RegionScope


def request_scope() -> RegionScope:
    """The region scope the current request may see.

    For now every caller sees the whole country (:data:`queries.filters.NATIONAL`).
    Issue 9 (login and roles) replaces this with the logged-in user's scope,
    read from the session or API token of the current Flask request; callers
    must keep calling this function once per request rather than caching it.
    """
    return NATIONAL
