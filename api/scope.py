"""The access scope of the current API request.

Every endpoint computes its queries within :func:`request_scope` and passes it
into ``Filter(region=..., scope=...)`` / ``region_node(db, code, scope)``, so
the query layer refuses regions outside it (``ScopeViolation`` → HTTP 403, with
an audit entry written by :mod:`auth.guard`).
"""
from __future__ import annotations

from auth.current import current_scope
from store.filters import RegionScope


def request_scope() -> RegionScope:
    """The region scope the signed-in user (or the local administrator when
    JINJIAN_AUTH=0) may see, within the jurisdiction; read once per request."""
    return current_scope()
